"""The correlation table of a study: every graph property against every robustness measure.

:func:`correlation_table` follows the study's procedure [1]_ (outlier filter, mean over
initialisations, Spearman and Kendall over graphs) and adds p-values, q-values, bootstrap
intervals and partial correlations; :func:`study_table` spreads it into the paper's layout.

References
----------
.. [1] Ben Amor, Stier, Granitzer, 2021 (see :mod:`structrob.stats`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from structrob.stats._checks import (
    check_bootstrap_args,
    check_choice,
    measure_attack,
    numeric_column,
    require_columns,
)
from structrob.stats.coefficients import (
    benjamini_hochberg,
    kendall,
    partial_spearman,
    spearman,
    strength,
)
from structrob.stats.filtering import OUTLIER_RULES, aggregate
from structrob.stats.uncertainty import bootstrap_intervals
from structrob.vocabulary import ARM, ARMS, CLEAN, CLEAN_MEASURES

__all__ = [
    "MIN_GRAPHS",
    "PRUNING_ROWS",
    "TABLE_COLUMNS",
    "correlation_table",
    "default_properties",
    "small_sample_warning",
    "study_table",
    "too_few_graphs",
]

#: Fewest graphs (rows, ``n_graphs``) for a correlation to mean anything: the smallest n at
#: which a correlation Cohen calls large, ``|rho| = 0.5``, reaches two-sided p < 0.05
#: (Student's t with n - 2 df, scipy's test; n = 15 gives p = 0.058, n = 16 p = 0.049), for a
#: single test with no correction. Below it even a large correlation cannot be told from
#: chance, let alone after Benjamini-Hochberg over a table's tens of tests.
MIN_GRAPHS = 16

#: What a row of :func:`correlation_table` is (``pruning_rows``), the default first.
PRUNING_ROWS = ("step_means", "pooled")

#: Columns of :func:`correlation_table`, in order.
TABLE_COLUMNS = (
    "property", "measure", "attack", "n_graphs",
    "rho", "rho_p", "rho_q", "rho_ci_low", "rho_ci_high",
    "tau", "tau_p", "tau_q", "tau_ci_low", "tau_ci_high",
    "partial_rho", "partial_p", "strength",
)  # fmt: skip


def _default_measures(runs: pd.DataFrame) -> list[str]:
    attacked = [c for c in runs.columns if measure_attack(c) not in (CLEAN, "other")]
    return attacked + [c for c in CLEAN_MEASURES if c in runs.columns]


def default_properties(graphs: pd.DataFrame) -> list[str]:
    """The graph-property columns :func:`correlation_table` takes when none are named.

    Numeric ``dag_*`` and ``prior_*`` columns that vary over the graphs, in column order
    (a constant column has no rank correlation).

    Parameters
    ----------
    graphs : pandas.DataFrame
        One row per graph.

    Returns
    -------
    list of str

    Examples
    --------
    >>> import pandas as pd
    >>> default_properties(pd.DataFrame({"dag_edges": [1, 2], "dag_study_radius": [0, 0],
    ...                                  "prior_edges": [3, 3], "size": [5, 6]}))
    ['dag_edges']
    """
    chosen = []
    for column in graphs.columns:
        if not (isinstance(column, str) and column.startswith(("dag_", "prior_"))):
            continue
        if not pd.api.types.is_numeric_dtype(graphs[column]):
            continue
        if graphs[column].nunique(dropna=True) > 1:
            chosen.append(column)
    return chosen


def correlation_table(
    runs: pd.DataFrame,
    graphs: pd.DataFrame,
    properties: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
    control: str | None = "dag_parameters",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    *,
    outlier_rule: str = "per_measure",
    pruning_rows: str = "step_means",
) -> pd.DataFrame:
    """Rank correlations between graph properties and robustness measures, with uncertainty.

    The runs are filtered and averaged per graph by :func:`aggregate` (IQR filter per measure,
    the study's procedure [1]_, applied to ``accuracy`` and ``f1_macro`` too; ``outlier_rule``
    chooses the rule, see :func:`iqr_keep`), joined to the graph properties on ``graph_id``,
    and every (property, measure) pair is correlated over the graphs where both are present
    (NaNs dropped pairwise). With ``pruning_rows="pooled"`` (for Table 2, the random-pruning
    baseline, as the study's code computed it) nothing is filtered or averaged: every ok run is
    one row, with its own graph's properties, and ``n_graphs`` counts those rows. Columns:

    - ``rho``, ``rho_p``: :func:`spearman`, ``tau``, ``tau_p``: :func:`kendall` (tau-b): scipy's
      coefficients, with exact permutation p-values for at most ``EXACT_SPEARMAN_MAX_N``
      graphs, ties kept (:func:`spearman_exact_pvalue`, :func:`permutation_pvalue`, scipy's
      exact Kendall test without ties), scipy's p-values beyond;
    - ``rho_q``, ``tau_q``: :func:`benjamini_hochberg` over the whole table, rho and tau apart;
    - ``*_ci_low``, ``*_ci_high``: :func:`bootstrap_ci` over graphs; every pair with the same
      ``n_graphs`` uses the same resamples (drawn from ``seed``), so each interval equals
      ``bootstrap_ci(x, y, method, n_boot, level, seed)`` on that pair's complete graphs;
    - ``partial_rho``, ``partial_p``: :func:`partial_spearman` controlling for ``control``,
      over the graphs where the control is present too (NaN for the control itself);
    - ``strength``: :func:`strength` of ``rho``.

    Coefficients are NaN where fewer than 3 graphs remain or a column is constant; below
    :data:`MIN_GRAPHS` graphs they mean little (:func:`too_few_graphs`).

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run: ``graph_id``, ``status`` (only ``"ok"`` rows count), and the measure
        columns (``{attack}_{error_rate|avg_confidence|avg_eps}``, ``accuracy``, ``f1_macro``).
    graphs : pandas.DataFrame
        One row per graph: ``graph_id`` and the property columns.
    properties : sequence of str, optional
        Numeric columns of ``graphs``. Default: every numeric ``dag_*`` / ``prior_*`` column
        that is not constant.
    measures : sequence of str, optional
        Numeric columns of ``runs``. Default: every attacked measure column
        (``{attack}_{measure}`` for a measure of ``vocabulary.ROBUSTNESS_MEASURES``, as
        ``vocabulary.split_measure`` reads it), then ``vocabulary.CLEAN_MEASURES`` if present.
    control : str or None
        Column of ``graphs`` to control for in the partial correlation; None leaves
        ``partial_rho`` and ``partial_p`` NaN.
    n_boot : int
        Bootstrap resamples, ``>= 0``; 0 skips the bootstrap (intervals NaN).
    seed : int
        Seed of the bootstrap.
    level : float
        Confidence level of the intervals, in (0, 1).
    outlier_rule : {"per_measure", "per_attack"}
        The IQR filter's rule (:func:`iqr_keep`): each measure on its own (default), or all
        measures of an attack dropped for a run when one of them is outside its fences (the
        study code's rule). Unused with ``pruning_rows="pooled"``.
    pruning_rows : {"step_means", "pooled"}
        What a row of the correlation is. ``"step_means"`` (default): one row per graph, its
        measures filtered and averaged over its runs (for the pruning arm, a graph is one step
        of the chain). ``"pooled"``: one row per ok run, unfiltered, with the properties of the
        run's ``graph_id``; the study code's Table 2 pooled 10 pruning chains x 6
        initialisations x 20 steps, about 1,200 rows. The driver passes it for the pruning
        arm; the runs' ``step`` and ``repetition`` columns are not needed.

    Returns
    -------
    pandas.DataFrame
        One row per (property, measure), property-major, with columns ``TABLE_COLUMNS``:
        ``property, measure, attack, n_graphs, rho, rho_p, rho_q, rho_ci_low, rho_ci_high, tau,
        tau_p, tau_q, tau_ci_low, tau_ci_high, partial_rho, partial_p, strength``; ``attack`` is
        the measure's attack prefix, ``"clean"`` for accuracy and F1, ``"other"`` otherwise.

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see :mod:`structrob.stats`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> graphs = pd.DataFrame({"graph_id": range(20), "dag_density": rng.uniform(size=20),
    ...                        "dag_parameters": rng.integers(50_000, 90_000, size=20)})
    >>> runs = pd.DataFrame({"graph_id": np.repeat(range(20), 3), "status": "ok",
    ...                      "fgsm_error_rate": np.repeat(graphs.dag_density, 3)
    ...                      + rng.normal(0, 0.1, size=60)})
    >>> table = correlation_table(runs, graphs, n_boot=200)
    >>> table[["property", "measure", "attack", "n_graphs", "strength"]]
             property          measure attack  n_graphs    strength
    0     dag_density  fgsm_error_rate   fgsm        20       large
    1  dag_parameters  fgsm_error_rate   fgsm        20  negligible
    >>> pooled = correlation_table(runs, graphs, n_boot=0, pruning_rows="pooled")
    >>> pooled["n_graphs"].tolist()  # every run is a row
    [60, 60]
    """
    check_bootstrap_args("spearman", n_boot, level, minimum_boot=0)
    require_columns("runs", runs, ["graph_id"])
    require_columns("graphs", graphs, ["graph_id"])
    if graphs["graph_id"].duplicated().any():
        duplicated = graphs.loc[graphs["graph_id"].duplicated(), "graph_id"].unique()[:5].tolist()
        raise ValueError(f"graphs must hold one row per graph_id; repeated: {duplicated}")
    properties = default_properties(graphs) if properties is None else list(properties)
    measures = _default_measures(runs) if measures is None else list(measures)
    if control is not None and control not in graphs.columns:
        raise ValueError(f"control column {control!r} not in graphs; pass control=None to skip")
    require_columns("graphs", graphs, properties)
    check_choice("outlier_rule", outlier_rule, OUTLIER_RULES)
    check_choice("pruning_rows", pruning_rows, PRUNING_ROWS)

    if pruning_rows == "pooled":
        require_columns("runs", runs, measures)
        rows_of = runs[runs["status"] == "ok"] if "status" in runs.columns else runs
        keys = pd.Index(rows_of["graph_id"])
        measure_values = {m: numeric_column("runs", rows_of, m) for m in measures}
    else:
        rows_of = aggregate(runs, measures, outlier_rule=outlier_rule)
        keys = rows_of.index
        measure_values = {m: rows_of[m].to_numpy(dtype=float) for m in measures}
    if len(keys) and not keys.isin(graphs["graph_id"]).any():
        raise ValueError(
            "no graph_id of runs occurs in graphs; check that both use the same ids and dtype "
            f"(runs: {keys.dtype}, graphs: {graphs['graph_id'].dtype})"
        )
    by_row = graphs.set_index("graph_id").reindex(keys)
    property_values = {p: numeric_column("graphs", by_row, p) for p in properties}
    control_values = None if control is None else numeric_column("graphs", by_row, control)

    pairs = [(p, m) for p in properties for m in measures]
    rows: list[dict[str, Any]] = []
    masks: list[np.ndarray] = []
    for p, m in pairs:
        x, y = property_values[p], measure_values[m]
        mask = np.isfinite(x) & np.isfinite(y)
        xs, ys = x[mask], y[mask]
        rho, rho_p = spearman(xs, ys)
        tau, tau_p = kendall(xs, ys)
        partial = (float("nan"), float("nan"))
        if control_values is not None:
            partial = partial_spearman(xs, ys, control_values[mask])
        rows.append({
            "property": p, "measure": m, "attack": measure_attack(m), "n_graphs": int(mask.sum()),
            "rho": rho, "rho_p": rho_p, "tau": tau, "tau_p": tau_p,
            "partial_rho": partial[0], "partial_p": partial[1], "strength": strength(rho),
        })  # fmt: skip
        masks.append(mask)

    skip = [not np.isfinite(row["rho"]) for row in rows]  # constant or too few: no interval
    intervals = bootstrap_intervals(
        pairs, masks, property_values, measure_values, n_boot, level, seed, skip=skip
    )
    row_columns = [c for c in TABLE_COLUMNS if c not in intervals and not c.endswith("_q")]
    table = pd.DataFrame(rows, columns=row_columns)
    for name, column in intervals.items():
        table[name] = column
    table["n_graphs"] = table["n_graphs"].astype(int)
    table["rho_q"] = benjamini_hochberg(table["rho_p"].to_numpy(dtype=float))
    table["tau_q"] = benjamini_hochberg(table["tau_p"].to_numpy(dtype=float))
    return table[list(TABLE_COLUMNS)]


def study_table(corr: pd.DataFrame, value: str = "rho") -> pd.DataFrame:
    """Wide property x measure view of a :func:`correlation_table` (the layout of [1]_, Table 1).

    The one pivot of the correlation table: the report's
    :func:`structrob.report.tables.correlation_pivot` keys an arm's rows by their runs-table
    column and spreads them with this function.

    Parameters
    ----------
    corr : pandas.DataFrame
        Output of :func:`correlation_table`.
    value : str
        The column to spread, e.g. ``"rho"``, ``"tau"``, ``"rho_q"``, ``"strength"``.

    Returns
    -------
    pandas.DataFrame
        Index: properties; columns: measures; both in their order of first appearance.

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see :mod:`structrob.stats`).

    Examples
    --------
    >>> corr = pd.DataFrame({"property": ["dag_a", "dag_a", "dag_b", "dag_b"],
    ...                      "measure": ["fgsm_error_rate", "accuracy"] * 2,
    ...                      "rho": [0.5, -0.1, 0.2, 0.0]})
    >>> wide = study_table(corr)
    >>> wide.index.tolist(), wide.columns.tolist()
    (['dag_a', 'dag_b'], ['fgsm_error_rate', 'accuracy'])
    >>> wide.to_numpy().tolist()
    [[0.5, -0.1], [0.2, 0.0]]
    """
    require_columns("corr", corr, ["property", "measure", value])
    if corr.duplicated(["property", "measure"]).any():
        raise ValueError("corr holds a (property, measure) pair twice; pass one correlation_table")
    wide = corr.pivot(index="property", columns="measure", values=value)
    return wide.reindex(index=pd.unique(corr["property"]), columns=pd.unique(corr["measure"]))


# Columns that split a long correlation table into blocks: the report's, then the driver's.
_BLOCK_COLUMNS = (ARM, "study")


def _small_blocks(correlations: pd.DataFrame | None) -> list[tuple[str | None, int]]:
    """(block, n) of each block of the table whose largest ``n_graphs`` is below MIN_GRAPHS."""
    if correlations is None or "n_graphs" not in getattr(correlations, "columns", ()):
        return []
    block = next((c for c in _BLOCK_COLUMNS if c in correlations.columns), None)
    keys = correlations[block].astype(str) if block else pd.Series("", index=correlations.index)
    n_graphs = pd.to_numeric(correlations["n_graphs"], errors="coerce")
    small = []
    for key, n in n_graphs.groupby(keys, sort=False).max().items():
        if pd.notna(n) and n < MIN_GRAPHS:
            small.append((key or None, int(n)))
    return small


def too_few_graphs(correlations: pd.DataFrame | None) -> bool:
    """Whether a correlation table rests on fewer than :data:`MIN_GRAPHS` graphs.

    A table with an ``arm`` column (the report's) or a ``study`` column (the study driver's)
    is judged block by block: True when any block's largest ``n_graphs`` is below
    :data:`MIN_GRAPHS`. An empty table, or one without ``n_graphs``, is not too small.

    Parameters
    ----------
    correlations : pandas.DataFrame or None
        Output of :func:`correlation_table`, optionally with ``arm`` or ``study``.

    Returns
    -------
    bool

    Examples
    --------
    >>> too_few_graphs(pd.DataFrame({"n_graphs": [3, 3]}))
    True
    >>> too_few_graphs(pd.DataFrame({"study": ["prior", "pruning"], "n_graphs": [40, 1200]}))
    False
    """
    return bool(_small_blocks(correlations))


def small_sample_warning(correlations: pd.DataFrame | None) -> str:
    """The warning a report or a headline shows when :func:`too_few_graphs` holds, else ``""``.

    Parameters
    ----------
    correlations : pandas.DataFrame or None
        As for :func:`too_few_graphs`.

    Returns
    -------
    str
        One sentence naming each block that is too small (by its table, ``Table 1``, where the
        block is an arm of ``vocabulary.ARMS``) and its n, then why that is too few.

    Examples
    --------
    >>> table = pd.DataFrame({"arm": ["prior", "pruning"], "n_graphs": [3, 1200]})
    >>> print(small_sample_warning(table))  # doctest: +NORMALIZE_WHITESPACE
    Too few graphs for a correlation to mean anything: Table 1 (graph priors) has n = 3,
    fewer than 16. Below 16 graphs even a large correlation (|rho| = 0.5) has p > 0.05 before
    any correction for the table's many tests; read these coefficients as a description of
    these few graphs, not as evidence.
    >>> small_sample_warning(pd.DataFrame({"n_graphs": [20]}))
    ''
    """
    small = _small_blocks(correlations)
    if not small:
        return ""
    parts = []
    for key, n in small:
        if key is None:
            parts.append(f"n = {n}")
        elif key in ARMS:
            parts.append(f"{ARMS[key].table} ({ARMS[key].title}) has n = {n}")
        else:
            parts.append(f"{key} has n = {n}")
    return (
        f"Too few graphs for a correlation to mean anything: {'; '.join(parts)}, fewer than "
        f"{MIN_GRAPHS}. Below {MIN_GRAPHS} graphs even a large correlation (|rho| = 0.5) has "
        "p > 0.05 before any correction for the table's many tests; read these coefficients "
        "as a description of these few graphs, not as evidence."
    )
