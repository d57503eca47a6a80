"""Outlier filtering with Tukey's fences and the mean over initialisations per graph.

The study [1]_ discards the runs outside the fences ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]`` [2]_
before it averages the initialisations of each graph; the quartiles are taken over all runs by
``numpy.percentile``'s default linear interpolation (Hyndman-Fan type 7).

Two outlier rules (:data:`OUTLIER_RULES`), both with each measure's fences over all runs:

- ``"per_measure"`` (the default, as the paper reads): each measure is filtered on its own;
- ``"per_attack"`` (as the study's code does it): a run's values of every measure of an attack
  are discarded when any measure of that attack is outside its fences. Attacks are read with
  :func:`structrob.vocabulary.split_measure`; the clean measures (accuracy, F1) form their own
  group ``"clean"``, and a column that is no measure is a group of its own.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] J. W. Tukey, "Exploratory Data Analysis", Addison-Wesley, 1977.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from structrob.stats._checks import (
    as_float_vector,
    check_choice,
    measure_attack,
    numeric_column,
    require_columns,
)

__all__ = ["OUTLIER_RULES", "aggregate", "iqr_bounds", "iqr_filter", "iqr_keep"]

#: The outlier rules of :func:`iqr_keep`, the default first.
OUTLIER_RULES = ("per_measure", "per_attack")


def iqr_bounds(values: Any) -> tuple[float, float]:
    """Tukey fences ``(Q1 - 1.5 IQR, Q3 + 1.5 IQR)`` of the finite values.

    The quartiles are ``numpy.percentile(values, [25, 75])`` with numpy's default linear
    interpolation (Hyndman-Fan type 7), the study's choice [1]_ [2]_.

    Parameters
    ----------
    values : array-like [N]
        Any real numbers; NaN and infinite entries are ignored.

    Returns
    -------
    (low, high) : tuple of float
        The fences; ``(nan, nan)`` when no value is finite.

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see the module docstring).
    .. [2] J. W. Tukey, "Exploratory Data Analysis", 1977.

    Examples
    --------
    >>> iqr_bounds([1, 2, 3, 4, 100])  # Q1 = 2, Q3 = 4, IQR = 2
    (-1.0, 7.0)
    """
    array = as_float_vector("values", values)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return float("nan"), float("nan")
    q1, q3 = np.percentile(finite, [25.0, 75.0])
    spread = 1.5 * (q3 - q1)
    return float(q1 - spread), float(q3 + spread)


def iqr_filter(values: Any) -> np.ndarray:
    """Mask of the values inside the Tukey fences of :func:`iqr_bounds` (fences included).

    Parameters
    ----------
    values : array-like [N]
        Any real numbers.

    Returns
    -------
    numpy.ndarray of bool [N]
        True where the value is finite and within ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]``;
        NaN and infinite values are False.

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see the module docstring).

    Examples
    --------
    >>> iqr_filter([1, 2, 3, 4, 100, float("nan")]).tolist()
    [True, True, True, True, False, False]
    """
    array = as_float_vector("values", values)
    low, high = iqr_bounds(array)
    with np.errstate(invalid="ignore"):
        return np.isfinite(array) & (array >= low) & (array <= high)


def _outliers(values: np.ndarray) -> np.ndarray:
    """Values outside the Tukey fences of the finite ones; NaN is never an outlier, inf is."""
    low, high = iqr_bounds(values)
    with np.errstate(invalid="ignore"):
        return (values < low) | (values > high)


def iqr_keep(
    runs: pd.DataFrame, measures: str | Sequence[str], outlier_rule: str = "per_measure"
) -> pd.DataFrame:
    """Which values of each measure survive the IQR filter, under either outlier rule.

    Each measure's fences are :func:`iqr_bounds` of its values over all rows of ``runs``. With
    ``outlier_rule="per_measure"`` a value is kept when :func:`iqr_filter` keeps it. With
    ``"per_attack"`` a row's values of all the given measures of one attack are discarded
    when any of them is outside its fences (the study code's rule [1]_); a NaN never makes a
    row an outlier, an infinite value does. Either way only finite values are kept.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run.
    measures : str or sequence of str
        Numeric columns of ``runs``. Under ``"per_attack"`` they are grouped by attack
        (``vocabulary.split_measure``; ``accuracy`` and ``f1_macro`` form the group
        ``"clean"``, any other column a group of its own); only the measures given count.
    outlier_rule : {"per_measure", "per_attack"}

    Returns
    -------
    pandas.DataFrame of bool
        Same index as ``runs``, one column per measure: True where the value is kept.

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see the module docstring).

    Examples
    --------
    >>> runs = pd.DataFrame({"fgsm_error_rate": [0.2, 0.3, 0.2, 0.3],
    ...                      "fgsm_avg_confidence": [0.5, 0.5, 0.5, 0.9],
    ...                      "accuracy": [0.9, 0.9, 0.8, 0.9]})
    >>> iqr_keep(runs, list(runs)).sum().tolist()  # 0.9 and 0.8 are outliers of their measure
    [4, 3, 3]
    >>> iqr_keep(runs, list(runs), "per_attack").sum().tolist()  # run 3 loses its FGSM values
    [3, 3, 3]
    """
    check_choice("outlier_rule", outlier_rule, OUTLIER_RULES)
    measures = [measures] if isinstance(measures, str) else list(measures)
    require_columns("runs", runs, measures)
    values = {m: numeric_column("runs", runs, m) for m in measures}
    keep = {m: iqr_filter(v) for m, v in values.items()}
    if outlier_rule == "per_attack":
        groups: dict[str, list[str]] = {}
        for m in measures:
            attack = measure_attack(m)
            groups.setdefault(m if attack == "other" else attack, []).append(m)
        for members in groups.values():
            dropped = np.logical_or.reduce([_outliers(values[m]) for m in members])
            for m in members:
                keep[m] = np.isfinite(values[m]) & ~dropped
    return pd.DataFrame(keep, index=runs.index, columns=measures)


def aggregate(
    runs: pd.DataFrame,
    measures: str | Sequence[str],
    by: str = "graph_id",
    outlier_rule: str = "per_measure",
) -> pd.DataFrame:
    """Per graph, the mean of each measure over the initialisations that survive the IQR filter.

    Only runs with ``status == "ok"`` count (all rows when there is no ``status`` column).
    For each measure, the runs outside the Tukey fences of that measure's values over all ok
    runs are discarded (:func:`iqr_keep`: each measure on its own by default, or, with
    ``outlier_rule="per_attack"``, all measures of an attack when one of them is outside),
    then the remaining runs of each graph are averaged [1]_. A graph all of whose runs were
    discarded for a measure gets NaN there.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run, with columns ``by``, the measures and optionally ``status``.
    measures : str or sequence of str
        Numeric columns of ``runs`` to aggregate.
    by : str
        Column identifying the graph.
    outlier_rule : {"per_measure", "per_attack"}
        See :func:`iqr_keep`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by`` (sorted), one row per graph with an ok run: the measure columns
        (means), then one count column ``n_inits_{measure}`` per measure (runs kept).

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see the module docstring).

    Examples
    --------
    >>> runs = pd.DataFrame({"graph_id": [0, 0, 1, 1, 2, 2],
    ...                      "status": ["ok"] * 5 + ["failed"],
    ...                      "fgsm_error_rate": [0.1, 0.3, 0.2, 0.4, 0.3, 9.0]})
    >>> aggregate(runs, "fgsm_error_rate").reset_index()
       graph_id  fgsm_error_rate  n_inits_fgsm_error_rate
    0         0              0.2                        2
    1         1              0.3                        2
    2         2              0.3                        1
    """
    measures = [measures] if isinstance(measures, str) else list(measures)
    require_columns("runs", runs, [by, *measures])
    ok = runs[runs["status"] == "ok"] if "status" in runs.columns else runs
    keys = ok[by].to_numpy()
    keep = iqr_keep(ok, measures, outlier_rule)
    means: dict[str, pd.Series] = {}
    counts: dict[str, pd.Series] = {}
    for measure in measures:
        values = numeric_column("runs", ok, measure)
        kept = pd.Series(np.where(keep[measure].to_numpy(), values, np.nan))
        grouped = kept.groupby(keys, sort=True)
        means[measure] = grouped.mean()
        counts[f"n_inits_{measure}"] = grouped.count()
    index = pd.Index(pd.unique(keys), name=by).sort_values() if len(keys) else pd.Index([], name=by)
    frame = pd.DataFrame({**means, **counts}, index=index)
    for name in counts:
        frame[name] = frame[name].fillna(0).astype(int)
    frame.index.name = by
    return frame
