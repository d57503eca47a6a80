"""Outlier filtering with Tukey's fences and the mean over initialisations per graph.

The study [1]_ discards the runs outside the fences ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]`` [2]_
before it averages the initialisations of each graph; the quartiles are taken over all runs by
``numpy.percentile``'s default linear interpolation (Hyndman-Fan type 7).

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

from structrob.stats._checks import as_float_vector, numeric_column, require_columns

__all__ = ["aggregate", "iqr_bounds", "iqr_filter"]


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


def aggregate(
    runs: pd.DataFrame, measures: str | Sequence[str], by: str = "graph_id"
) -> pd.DataFrame:
    """Per graph, the mean of each measure over the initialisations that survive the IQR filter.

    Only runs with ``status == "ok"`` count (all rows when there is no ``status`` column).
    For each measure separately, the runs outside the Tukey fences of that measure's values over
    all ok runs are discarded (:func:`iqr_filter`), then the remaining runs of each graph are
    averaged [1]_. A graph all of whose runs were discarded for a measure gets NaN there.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run, with columns ``by``, the measures and optionally ``status``.
    measures : str or sequence of str
        Numeric columns of ``runs`` to aggregate.
    by : str
        Column identifying the graph.

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
    means: dict[str, pd.Series] = {}
    counts: dict[str, pd.Series] = {}
    for measure in measures:
        values = numeric_column("runs", ok, measure)
        kept = pd.Series(np.where(iqr_filter(values), values, np.nan))
        grouped = kept.groupby(keys, sort=True)
        means[measure] = grouped.mean()
        counts[f"n_inits_{measure}"] = grouped.count()
    index = pd.Index(pd.unique(keys), name=by).sort_values() if len(keys) else pd.Index([], name=by)
    frame = pd.DataFrame({**means, **counts}, index=index)
    for name in counts:
        frame[name] = frame[name].fillna(0).astype(int)
    frame.index.name = by
    return frame
