"""The study's vocabulary: names of attacks, measures and arms, and their definitions.

One place for every name that crosses a module boundary, so that stats, the store, the report
and the command line parse and label columns the same way. This module holds data and the two
functions that compose and split column names; it holds no science.

A *measure column* of the runs table is ``"{attack}_{measure}"`` for a robustness measure
(``"fgsm_error_rate"``) or the bare name of a clean measure (``"f1_macro"``). A study has two
*arms*: ``"prior"`` (networks built from sampled graph priors, Table 1 of [1]_) and
``"pruning"`` (the random-pruning baseline, Table 2 of [1]_); the column that says which is
:data:`ARM`.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.

Examples
--------
>>> measure_column("min_fgsm", "avg_eps"), split_measure("min_fgsm_avg_eps")
('min_fgsm_avg_eps', ('min_fgsm', 'avg_eps'))
>>> split_measure("f1_macro"), split_measure("dag_layers") is None
(('clean', 'f1_macro'), True)
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ARM",
    "ARMS",
    "Arm",
    "ATTACKS",
    "CLEAN",
    "CLEAN_MEASURES",
    "DEFINITIONS",
    "INIT_LABELS",
    "INIT_SCHEMES",
    "MEASURES",
    "ROBUSTNESS_MEASURES",
    "Measure",
    "SIGN_NOTE",
    "measure_column",
    "split_measure",
]

#: Attacks in the order the report shows them, name -> display name.
ATTACKS: dict[str, str] = {
    "fgsm": "FGSM",
    "min_fgsm": "min-FGSM",
    "onepixel": "One-Pixel",
    "pgd": "PGD",
}

#: The pseudo-attack of measures taken on unperturbed images (accuracy, F1).
CLEAN = "clean"


class Measure(NamedTuple):
    """A measure's display name, unit, factor from the stored value to that unit, definition,
    and sign convention: what a higher value means (``direction``).

    Examples
    --------
    >>> MEASURES["error_rate"].label, MEASURES["error_rate"].unit
    ('error rate', '%')
    >>> MEASURES["error_rate"].direction, MEASURES["avg_eps"].direction
    ('higher = less robust', 'higher = more robust')
    """

    label: str
    unit: str
    factor: float
    definition: str
    direction: str = ""


#: Every measure of a run, in report order. Rates are stored as fractions in [0, 1].
MEASURES: dict[str, Measure] = {
    "accuracy": Measure(
        "accuracy",
        "%",
        100.0,
        "images classified correctly / images, on the 10,000 test images",
        "higher = better",
    ),
    "f1_macro": Measure(
        "macro F1",
        "%",
        100.0,
        "macro F1 over the 10 classes on the 10,000 test images",
        "higher = better",
    ),
    "error_rate": Measure(
        "error rate",
        "%",
        100.0,
        "successful attacks / images classified correctly when clean",
        "higher = less robust",
    ),
    "avg_confidence": Measure(
        "avg confidence",
        "%",
        100.0,
        "mean softmax probability of the wrong predicted class, over successful attacks",
        "higher = less robust",
    ),
    "avg_eps": Measure(
        "avg ε",
        "pixels, 0–1",
        1.0,
        "mean minimal eps over images fooled within the grid (censored count reported beside it)",
        "higher = more robust",
    ),
}
#: Measures of the unattacked model; their attack is :data:`CLEAN`.
CLEAN_MEASURES: tuple[str, ...] = ("accuracy", "f1_macro")
#: Measures an attack produces; a runs column ``{attack}_{measure}`` holds one.
ROBUSTNESS_MEASURES: tuple[str, ...] = ("error_rate", "avg_confidence", "avg_eps")

#: How to read the sign of a correlation with a measure, and where the study code differs.
SIGN_NOTE = (
    "Signs: a positive ρ or τ means that graphs with more of the property have higher values "
    "of the measure; "
    + "; ".join(f"{m.label}: {m.direction}" for m in MEASURES.values())
    + ". So a positive ρ with error rate means the property goes with less robustness. The "
    "study code's “error rate” column was 100 − success rate (its robustness), so its "
    "error-rate signs are the opposite of these."
)

#: Column naming a row's arm.
ARM = "arm"


class Arm(NamedTuple):
    """An arm's table number, its title, and a short title for figure panels.

    Examples
    --------
    >>> ARMS["pruning"].table, ARMS["pruning"].short
    ('Table 2', 'random pruning')
    """

    table: str
    title: str
    short: str


#: The two arms of a study, name -> :class:`Arm`.
ARMS: dict[str, Arm] = {
    "prior": Arm("Table 1", "graph priors", "graph priors"),
    "pruning": Arm("Table 2", "random-pruning baseline", "random pruning"),
}

#: The initialisation schemes (:func:`structrob.initialization.initialize`), in order; named
#: here, apart from torch, so the study's settings check them without importing it.
INIT_SCHEMES = ("glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "normal", "uniform")

#: Initialisation schemes with short display names, in report order.
INIT_LABELS: dict[str, str] = {
    "glorot_normal": "Glorot N",
    "glorot_uniform": "Glorot U",
    "he_normal": "He N",
    "he_uniform": "He U",
    "normal": "Normal",
    "uniform": "Uniform",
}

#: The definitions a report states, (quantity, definition), exactly as the README writes them.
DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("parameters", "784 x sources + edges + 10 x sinks + hidden vertices + 10"),
    ("error rate", MEASURES["error_rate"].definition),
    ("average confidence", MEASURES["avg_confidence"].definition),
    (
        "minimal eps",
        "first eps in 0.001 + 0.01 k (k = 0, 1, ...) that misclassifies; "
        "censored if none up to max",
    ),
    ("average eps", MEASURES["avg_eps"].definition),
    ("F1", MEASURES["f1_macro"].definition),
    (
        "pixels, eps",
        "pixels are in [0, 1]; eps is a change of pixel value on that scale (L-infinity)",
    ),
)


def measure_column(attack: str | None, measure: str) -> str:
    """Runs-table column of ``measure`` under ``attack``.

    Parameters
    ----------
    attack : str or None
        Attack name (``"fgsm"``, ...); None, ``""`` or :data:`CLEAN` for a clean measure.
    measure : str
        Measure name, bare (``"error_rate"``) or already prefixed (``"fgsm_error_rate"``).

    Returns
    -------
    str
        ``"{attack}_{measure}"``, or ``measure`` for clean or already prefixed measures.

    Examples
    --------
    >>> measure_column("fgsm", "error_rate"), measure_column("fgsm", "fgsm_error_rate")
    ('fgsm_error_rate', 'fgsm_error_rate')
    >>> measure_column(None, "f1_macro")
    'f1_macro'
    """
    if attack in (None, "", CLEAN) or measure.startswith(f"{attack}_"):
        return measure
    return f"{attack}_{measure}"


def split_measure(column: str) -> tuple[str, str] | None:
    """``(attack, measure)`` of a runs-table column, or None if it is no measure column.

    Parameters
    ----------
    column : str
        A column name: a clean measure (attack :data:`CLEAN`) or ``"{attack}_{measure}"``
        with a non-empty attack and a measure of :data:`ROBUSTNESS_MEASURES`.

    Returns
    -------
    tuple of (str, str) or None

    Examples
    --------
    >>> split_measure("onepixel_avg_confidence"), split_measure("accuracy")
    (('onepixel', 'avg_confidence'), ('clean', 'accuracy'))
    >>> split_measure("fgsm_n_correct") is None, split_measure("error_rate") is None
    (True, True)
    """
    if not isinstance(column, str):
        return None
    if column in CLEAN_MEASURES:
        return CLEAN, column
    for measure in sorted(ROBUSTNESS_MEASURES, key=len, reverse=True):
        suffix = f"_{measure}"
        if column.endswith(suffix) and len(column) > len(suffix):
            return column[: -len(suffix)], measure
    return None
