"""Outlier filtering, aggregation over initialisations, and rank correlations with uncertainty.

The study's procedure [1]_, exactly:

1. for each robustness measure, discard the runs (one trained model per graph and
   initialisation) outside the Tukey fences ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]`` [2]_, with the
   quartiles taken over all runs of that measure by ``numpy.percentile``'s default linear
   interpolation (Hyndman-Fan type 7);
2. average the remaining initialisations of each graph;
3. for every (graph property, measure) pair compute Spearman's rho and Kendall's tau-b over
   the graphs, and label the strength of rho with Cohen's bands [3]_.

Beyond the study, every coefficient carries scipy's p-value, a Benjamini-Hochberg q-value
over the whole table [4]_, a bootstrap 95% percentile confidence interval over graphs [5]_,
and a partial Spearman correlation controlling for a covariate (by default the number of
parameters); :func:`rank_regression_curve` is the rank regression line [6]_ the report draws
through its scatter plots. Measure and attack names are read with
:func:`structrob.vocabulary.split_measure`. The module works on pandas DataFrames and arrays
only; it never reads the study store.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
.. [2] J. W. Tukey, "Exploratory Data Analysis", Addison-Wesley, 1977.
.. [3] J. Cohen, "Statistical Power Analysis for the Behavioral Sciences", 2nd ed., 1988.
.. [4] Y. Benjamini, Y. Hochberg, "Controlling the false discovery rate: a practical and
   powerful approach to multiple testing", J. R. Stat. Soc. B 57(1), 1995.
.. [5] B. Efron, R. J. Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall, 1993.
.. [6] R. L. Iman, W. J. Conover, "The use of the rank transform in regression",
   Technometrics 21(4), 1979.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from structrob.vocabulary import CLEAN, CLEAN_MEASURES, split_measure

__all__ = [
    "EXACT_SPEARMAN_MAX_N",
    "TABLE_COLUMNS",
    "aggregate",
    "benjamini_hochberg",
    "bootstrap_ci",
    "correlation_table",
    "iqr_bounds",
    "iqr_filter",
    "partial_spearman",
    "rank_regression_curve",
    "spearman_exact_pvalue",
    "strength",
    "study_table",
]

#: Columns of :func:`correlation_table`, in order.
TABLE_COLUMNS = (
    "property", "measure", "attack", "n_graphs",
    "rho", "rho_p", "rho_q", "rho_ci_low", "rho_ci_high",
    "tau", "tau_p", "tau_q", "tau_ci_low", "tau_ci_high",
    "partial_rho", "partial_p", "strength",
)  # fmt: skip

_METHODS = ("spearman", "kendall")
# Fewest graphs a coefficient is computed from: below this scipy's p-values are undefined
# (spearman's t test has n - 2 df; the partial correlation's has n - 3).
_MIN_N = 3
_MIN_N_PARTIAL = 4


# ---------------------------------------------------------------------------- filtering


def _as_float_vector(name: str, values: Any) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        message = f"{name} must be numeric (convert the column with pd.to_numeric)"
        raise ValueError(message) from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


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
    array = _as_float_vector("values", values)
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
    array = _as_float_vector("values", values)
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
    _require_columns("runs", runs, [by, *measures])
    ok = runs[runs["status"] == "ok"] if "status" in runs.columns else runs
    keys = ok[by].to_numpy()
    means: dict[str, pd.Series] = {}
    counts: dict[str, pd.Series] = {}
    for measure in measures:
        values = _numeric_column("runs", ok, measure)
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


def _require_columns(frame_name: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{frame_name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{frame_name} lacks column(s) {missing}; available: {list(frame.columns)}"
        )


def _numeric_column(frame_name: str, frame: pd.DataFrame, column: str) -> np.ndarray:
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) or series.isna().all()):
        raise ValueError(
            f"column {column!r} of {frame_name} is not numeric (dtype {series.dtype}); "
            "convert it with pd.to_numeric or leave it out"
        )
    return series.to_numpy(dtype=float, na_value=np.nan)


# --------------------------------------------------------------------- coefficients


def strength(r: float) -> str:
    """Cohen's verbal label for the size of a correlation coefficient [1]_.

    The thresholds apply to ``|r|`` as a number: ``< 0.10`` negligible, ``< 0.30`` small,
    ``< 0.50`` moderate, otherwise large. So ``0.295`` is small and ``0.30`` is moderate;
    nothing is rounded first.

    Parameters
    ----------
    r : float
        A correlation coefficient in [-1, 1]; NaN allowed.

    Returns
    -------
    str
        One of ``"negligible"``, ``"small"``, ``"moderate"``, ``"large"``, or ``"n/a"`` for NaN.

    References
    ----------
    .. [1] J. Cohen, "Statistical Power Analysis for the Behavioral Sciences", 1988.

    Examples
    --------
    >>> [strength(r) for r in (0.05, -0.10, 0.295, 0.30, -0.72, float("nan"))]
    ['negligible', 'small', 'small', 'moderate', 'large', 'n/a']
    """
    size = abs(float(r))
    if np.isnan(size):
        return "n/a"
    if size < 0.10:
        return "negligible"
    if size < 0.30:
        return "small"
    if size < 0.50:
        return "moderate"
    return "large"


def benjamini_hochberg(pvalues: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) controlling the false discovery rate [1]_.

    With the ``m`` non-NaN p-values sorted, ``p_(1) <= ... <= p_(m)``,
    ``q_(i) = min(1, min_{j >= i} m p_(j) / j)``. Rejecting every hypothesis with
    ``q <= alpha`` controls the FDR at ``alpha`` for independent or positively dependent tests.
    Equals ``scipy.stats.false_discovery_control(p, method="bh")`` on NaN-free input.

    Parameters
    ----------
    pvalues : array-like, any shape
        p-values in [0, 1]; NaN entries stay NaN and do not count in ``m``.

    Returns
    -------
    numpy.ndarray of float, same shape
        The q-values.

    References
    ----------
    .. [1] Y. Benjamini, Y. Hochberg, J. R. Stat. Soc. B 57(1), 289-300, 1995.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, float("nan"), 0.03]).round(3).tolist()
    [0.03, 0.04, nan, 0.04]
    """
    p = np.asarray(pvalues, dtype=float)
    present = ~np.isnan(p)
    if np.any((p[present] < 0) | (p[present] > 1)):
        raise ValueError("p-values must lie in [0, 1] (NaN allowed)")
    q = np.full(p.shape, np.nan)
    finite = p[present]
    m = finite.size
    if m == 0:
        return q
    order = np.argsort(finite, kind="stable")
    scaled = finite[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    q[present] = out
    return q


def _is_constant(values: np.ndarray) -> bool:
    return values.size == 0 or bool(np.all(values == values[0]))


def _pairwise_complete(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return tuple(a[keep] for a in arrays)


# Up to this many graphs (n! <= 40,320 orderings) Spearman's p-value is exact: the t
# approximation gives |rho| = 1 a p-value of 0 on a handful of samples (e.g. pruning steps).
EXACT_SPEARMAN_MAX_N = 8


@cache
def _spearman_null(n: int) -> np.ndarray:
    """Spearman's rho under every one of the n! orderings of n untied ranks."""
    orderings = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
    squared = ((orderings - np.arange(n)) ** 2).sum(1)
    return 1.0 - 6.0 * squared / (n * (n * n - 1))


def spearman_exact_pvalue(rho: float, n: int) -> float:
    """Exact two-sided p-value of Spearman's rho for n untied pairs: P(|rho_perm| >= |rho|).

    Every one of the n! orderings is equally likely under independence; ``n`` may be at most
    ``EXACT_SPEARMAN_MAX_N``.

    Examples
    --------
    >>> spearman_exact_pvalue(1.0, 4)  # 2 of the 24 orderings reach |rho| = 1
    0.08333333333333333
    """
    if not 2 <= n <= EXACT_SPEARMAN_MAX_N:
        raise ValueError(f"exact p-values need 2 <= n <= {EXACT_SPEARMAN_MAX_N}, got {n}")
    null = _spearman_null(n)
    return float(np.mean(np.abs(null) >= abs(rho) - 1e-12))


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if x.size < _MIN_N or _is_constant(x) or _is_constant(y):
        return float("nan"), float("nan")
    result = sps.spearmanr(x, y)
    rho, p = float(result.statistic), float(result.pvalue)
    untied = np.unique(x).size == x.size and np.unique(y).size == y.size
    if x.size <= EXACT_SPEARMAN_MAX_N and untied:
        p = spearman_exact_pvalue(rho, x.size)
    return rho, p


def _kendall(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if x.size < _MIN_N or _is_constant(x) or _is_constant(y):
        return float("nan"), float("nan")
    result = sps.kendalltau(x, y, variant="b")
    return float(result.statistic), float(result.pvalue)


def _partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    n = x.size
    if n < _MIN_N_PARTIAL or _is_constant(x) or _is_constant(y) or _is_constant(z):
        return float("nan"), float("nan")
    ranks = np.vstack([sps.rankdata(x), sps.rankdata(y), sps.rankdata(z)])
    r = np.corrcoef(ranks)
    r_xy, r_xz, r_yz = r[0, 1], r[0, 2], r[1, 2]
    denominator = (1.0 - r_xz**2) * (1.0 - r_yz**2)
    # x or y a monotone function of z: nothing is left once z is accounted for.
    if denominator <= 1e-12:
        return float("nan"), float("nan")
    rho = float(np.clip((r_xy - r_xz * r_yz) / np.sqrt(denominator), -1.0, 1.0))
    df = n - 3
    if abs(rho) == 1.0:
        return rho, 0.0
    t = rho * np.sqrt(df / (1.0 - rho**2))
    return rho, float(2.0 * sps.t.sf(abs(t), df))


def partial_spearman(x: Any, y: Any, z: Any) -> tuple[float, float]:
    """Partial Spearman correlation of ``x`` and ``y`` controlling for ``z``, with its p-value.

    Spearman's rho is Pearson's r on average ranks; the partial coefficient is the first-order
    partial correlation of the ranks,
    ``r_xy.z = (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))``, which equals the Pearson
    correlation of the residuals of ``rank(x)`` and ``rank(y)`` each regressed on ``rank(z)``.
    The p-value is two-sided from Student's t with ``n - 3`` degrees of freedom,
    ``t = r sqrt((n - 3) / (1 - r^2))``. Used to ask whether a graph property still predicts
    robustness once the number of parameters is accounted for (beyond [1]_).

    Parameters
    ----------
    x, y, z : array-like [N]
        Paired observations; a triple with any NaN is dropped.

    Returns
    -------
    (rho, p) : tuple of float
        NaN (both) when fewer than 4 complete triples remain, when a variable is constant, or
        when ``x`` or ``y`` is a monotone function of ``z`` (``|r_xz| = 1`` or ``|r_yz| = 1``).

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see the module docstring).

    Examples
    --------
    >>> z = np.arange(10.0)
    >>> x = z + np.array([0, 2, -1, 1, 0, -2, 1, 0, 2, -1])
    >>> y = z + np.array([1, 0, 2, -1, 0, 1, -2, 0, 1, 0])
    >>> rho, p = partial_spearman(x, y, z)
    >>> round(rho, 3), round(p, 3)
    (-0.622, 0.074)
    """
    x, y, z = (_as_float_vector(name, v) for name, v in (("x", x), ("y", y), ("z", z)))
    if not x.size == y.size == z.size:
        raise ValueError(f"x, y, z must have equal lengths, got {x.size}, {y.size}, {z.size}")
    return _partial_spearman(*_pairwise_complete(x, y, z))


# ------------------------------------------------------------------------- bootstrap
#
# Resampling n graphs with replacement is described by an index matrix [n_boot, n]; all the
# statistics below depend on it only through the count of each graph in each resample,
# counts [n_boot, n]. Average ranks and Kendall's pair sums are then matrix products with the
# counts, so 1000 resamples cost a few BLAS calls instead of 1000 sorts.


class _BootstrapParts(NamedTuple):
    """What one variable contributes to every replicate of its correlations."""

    centred_ranks: np.ndarray  # [n_boot, n]: average rank of graph i in resample b, minus (n+1)/2
    rank_ss: np.ndarray  # [n_boot]: sum over resample b of centred rank squared
    signs: np.ndarray  # [n, n]: sign(v_i - v_j)
    untied_pairs: np.ndarray  # [n_boot]: twice the number of pairs of resample b not tied in v


def _resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Counts [n_boot, n] of each index in ``rng.integers(0, n, (n_boot, n))``."""
    indices = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    offsets = indices + n * np.arange(n_boot)[:, None]
    return np.bincount(offsets.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)


def _bootstrap_parts(values: np.ndarray, counts: np.ndarray, method: str) -> _BootstrapParts:
    n = values.size
    below = values[None, :] < values[:, None]  # [i, j]: v_j < v_i
    equal = values[None, :] == values[:, None]
    empty = np.empty(0)
    if method == "spearman":
        # Copies of graph i in a resample share the average rank
        # #{copies strictly below} + (#{copies equal, i's own included} + 1) / 2.
        ranks = counts @ (below + 0.5 * equal).T + 0.5
        centred = ranks - 0.5 * (n + 1)
        rank_ss = np.einsum("bi,bi,bi->b", counts, centred, centred)
        return _BootstrapParts(centred, rank_ss, empty, empty)
    signs = below.astype(float) - below.T
    untied = np.einsum("bi,bi->b", counts @ np.abs(signs), counts)
    return _BootstrapParts(empty, empty, signs, untied)


def _bootstrap_replicates(
    px: _BootstrapParts, py: _BootstrapParts, counts: np.ndarray, method: str
) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "spearman":
            covariance = np.einsum("bi,bi,bi->b", counts, px.centred_ranks, py.centred_ranks)
            return covariance / np.sqrt(px.rank_ss * py.rank_ss)
        # Tau-b = sum over pairs of sx*sy / sqrt(#pairs untied in x * #pairs untied in y); pairs
        # of copies of one graph are tied in both, and sign(0) = 0 drops them from the numerator.
        concordance = np.einsum("bi,bi->b", counts @ (px.signs * py.signs), counts)
        return concordance / np.sqrt(px.untied_pairs * py.untied_pairs)


def _percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    # A resample in which a variable is constant has no coefficient; it is left out.
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def _check_bootstrap_args(method: str, n_boot: int, level: float, minimum_boot: int) -> None:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    is_integer = isinstance(n_boot, (int, np.integer)) and not isinstance(n_boot, bool)
    if not is_integer or n_boot < minimum_boot:
        raise ValueError(f"n_boot must be an integer >= {minimum_boot}, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level!r}")


def bootstrap_ci(
    x: Any,
    y: Any,
    method: Literal["spearman", "kendall"] = "spearman",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap percentile confidence interval of Spearman's rho or Kendall's tau-b [1]_.

    The ``n`` complete pairs are resampled with replacement ``n_boot`` times (the index matrix
    is ``numpy.random.default_rng(seed).integers(0, n, (n_boot, n))``); the coefficient of each
    resample is computed exactly as scipy would (average ranks for rho, tau-b for tau), and the
    interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the replicates.
    Resamples in which a variable is constant have no coefficient and are left out. The work is
    vectorised over resamples (ranks and pair counts as matrix products), so 1000 resamples of
    100 graphs take milliseconds.

    Parameters
    ----------
    x, y : array-like [N]
        Paired observations; pairs with a NaN are dropped first.
    method : {"spearman", "kendall"}
    n_boot : int
        Number of resamples, ``>= 1``.
    level : float
        Confidence level in (0, 1).
    seed : int
        Seed of the numpy Generator; the same seed gives the same interval.

    Returns
    -------
    (low, high) : tuple of float
        NaN (both) when fewer than 3 complete pairs remain or a variable is constant.

    References
    ----------
    .. [1] B. Efron, R. J. Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=50)
    >>> y = x + rng.normal(size=50)
    >>> low, high = bootstrap_ci(x, y, seed=1)
    >>> bool(low < 0.6 < high), (low, high) == bootstrap_ci(x, y, seed=1)
    (True, True)
    """
    _check_bootstrap_args(method, n_boot, level, minimum_boot=1)
    x, y = _as_float_vector("x", x), _as_float_vector("y", y)
    if x.size != y.size:
        raise ValueError(f"x and y must have equal lengths, got {x.size} and {y.size}")
    x, y = _pairwise_complete(x, y)
    if x.size < _MIN_N or _is_constant(x) or _is_constant(y):
        return float("nan"), float("nan")
    counts = _resample_counts(x.size, n_boot, seed)
    replicates = _bootstrap_replicates(
        _bootstrap_parts(x, counts, method), _bootstrap_parts(y, counts, method), counts, method
    )
    return _percentile_interval(replicates, level)


# -------------------------------------------------------------------- rank regression


def rank_regression_curve(
    x: Sequence[float], y: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Rank regression of y on x, back-transformed to the data's scale [1]_.

    Fits the least-squares line ``rank(y) = a + b rank(x)`` (average ranks for ties), then maps
    each fitted rank back to a y value by linear interpolation in the sorted y values. The
    result is a monotone curve through the data whose direction and steepness in rank space is
    the one Spearman's rho measures: without ties, ``b`` equals Spearman's rho.

    Parameters
    ----------
    x, y : sequence of float, shape [n]
        Paired finite observations, ``n >= 2``.

    Returns
    -------
    x_sorted : numpy.ndarray, shape [n]
        ``x`` in ascending order.
    y_fit : numpy.ndarray, shape [n]
        Fitted y at ``x_sorted``; non-decreasing when ``slope >= 0``, non-increasing otherwise.
    slope : float
        Least-squares slope ``b`` in rank space; 0 when x is constant.

    References
    ----------
    .. [1] R. L. Iman, W. J. Conover, "The use of the rank transform in regression",
       Technometrics 21(4), 1979.

    Examples
    --------
    >>> xs, fit, slope = rank_regression_curve([1, 2, 3, 4], [10, 30, 20, 40])
    >>> round(slope, 2), xs.tolist()
    (0.8, [1.0, 2.0, 3.0, 4.0])
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of equal length, got shapes {x.shape} and {y.shape}")
    if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y need at least 2 finite pairs; drop NaN/inf values first")
    rank_x = sps.rankdata(x)
    rank_y = sps.rankdata(y)
    centred_x = rank_x - rank_x.mean()
    spread = float(centred_x @ centred_x)
    slope = 0.0 if spread == 0 else float(centred_x @ (rank_y - rank_y.mean())) / spread
    intercept = rank_y.mean() - slope * rank_x.mean()
    order = np.argsort(x, kind="stable")
    fitted_rank = intercept + slope * rank_x[order]
    # tied y values share one rank; np.interp needs strictly increasing knots
    knots, first = np.unique(np.sort(rank_y), return_index=True)
    y_fit = np.interp(fitted_rank, knots, np.sort(y)[first])
    return x[order], y_fit, slope


# ---------------------------------------------------------------------------- tables


def _attack(measure: str) -> str:
    """The attack of a measure column (``vocabulary.split_measure``); ``"other"`` if none."""
    parts = split_measure(measure)
    return "other" if parts is None else parts[0]


def _default_measures(runs: pd.DataFrame) -> list[str]:
    attacked = [c for c in runs.columns if _attack(c) not in (CLEAN, "other")]
    return attacked + [c for c in CLEAN_MEASURES if c in runs.columns]


def _default_properties(graphs: pd.DataFrame) -> list[str]:
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
) -> pd.DataFrame:
    """Rank correlations between graph properties and robustness measures, with uncertainty.

    The runs are filtered and averaged per graph by :func:`aggregate` (IQR filter per measure,
    the study's procedure [1]_, applied to ``accuracy`` and ``f1_macro`` too), joined to the
    graph properties on ``graph_id``, and every (property, measure) pair is correlated over the
    graphs where both are present (NaNs dropped pairwise):

    - ``rho``, ``rho_p``: ``scipy.stats.spearmanr``, with the exact permutation p-value
      (:func:`spearman_exact_pvalue`) for at most ``EXACT_SPEARMAN_MAX_N`` graphs without
      ties; ``tau``, ``tau_p``: ``scipy.stats.kendalltau`` (tau-b; scipy's exact p-value for
      small samples without ties);
    - ``rho_q``, ``tau_q``: :func:`benjamini_hochberg` over the whole table, rho and tau apart;
    - ``*_ci_low``, ``*_ci_high``: :func:`bootstrap_ci` over graphs; every pair with the same
      ``n_graphs`` uses the same resamples (drawn from ``seed``), so each interval equals
      ``bootstrap_ci(x, y, method, n_boot, level, seed)`` on that pair's complete graphs;
    - ``partial_rho``, ``partial_p``: :func:`partial_spearman` controlling for ``control``,
      over the graphs where the control is present too (NaN for the control itself);
    - ``strength``: :func:`strength` of ``rho``.

    Coefficients are NaN where fewer than 3 graphs remain or a column is constant.

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

    Returns
    -------
    pandas.DataFrame
        One row per (property, measure), property-major, with columns ``TABLE_COLUMNS``:
        ``property, measure, attack, n_graphs, rho, rho_p, rho_q, rho_ci_low, rho_ci_high, tau,
        tau_p, tau_q, tau_ci_low, tau_ci_high, partial_rho, partial_p, strength``; ``attack`` is
        the measure's attack prefix, ``"clean"`` for accuracy and F1, ``"other"`` otherwise.

    References
    ----------
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see the module docstring).

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
    """
    _check_bootstrap_args("spearman", n_boot, level, minimum_boot=0)
    _require_columns("runs", runs, ["graph_id"])
    _require_columns("graphs", graphs, ["graph_id"])
    if graphs["graph_id"].duplicated().any():
        duplicated = graphs.loc[graphs["graph_id"].duplicated(), "graph_id"].unique()[:5].tolist()
        raise ValueError(f"graphs must hold one row per graph_id; repeated: {duplicated}")
    properties = _default_properties(graphs) if properties is None else list(properties)
    measures = _default_measures(runs) if measures is None else list(measures)
    if control is not None and control not in graphs.columns:
        raise ValueError(f"control column {control!r} not in graphs; pass control=None to skip")
    _require_columns("graphs", graphs, properties)

    per_graph = aggregate(runs, measures)
    if len(per_graph) and not per_graph.index.isin(graphs["graph_id"]).any():
        raise ValueError(
            "no graph_id of runs occurs in graphs; check that both use the same ids and dtype "
            f"(runs: {per_graph.index.dtype}, graphs: {graphs['graph_id'].dtype})"
        )
    by_graph = graphs.set_index("graph_id").reindex(per_graph.index)
    property_values = {p: _numeric_column("graphs", by_graph, p) for p in properties}
    measure_values = {m: per_graph[m].to_numpy(dtype=float) for m in measures}
    control_values = None if control is None else _numeric_column("graphs", by_graph, control)

    pairs = [(p, m) for p in properties for m in measures]
    rows: list[dict[str, Any]] = []
    masks: list[np.ndarray] = []
    for p, m in pairs:
        x, y = property_values[p], measure_values[m]
        mask = np.isfinite(x) & np.isfinite(y)
        xs, ys = x[mask], y[mask]
        rho, rho_p = _spearman(xs, ys)
        tau, tau_p = _kendall(xs, ys)
        partial = (float("nan"), float("nan"))
        if control_values is not None:
            partial = _partial_spearman(*_pairwise_complete(xs, ys, control_values[mask]))
        rows.append({
            "property": p, "measure": m, "attack": _attack(m), "n_graphs": int(mask.sum()),
            "rho": rho, "rho_p": rho_p, "tau": tau, "tau_p": tau_p,
            "partial_rho": partial[0], "partial_p": partial[1], "strength": strength(rho),
        })  # fmt: skip
        masks.append(mask)

    intervals = _table_intervals(
        pairs, masks, rows, property_values, measure_values, n_boot, level, seed
    )
    row_columns = [c for c in TABLE_COLUMNS if c not in intervals and not c.endswith("_q")]
    table = pd.DataFrame(rows, columns=row_columns)
    for name, column in intervals.items():
        table[name] = column
    table["n_graphs"] = table["n_graphs"].astype(int)
    table["rho_q"] = benjamini_hochberg(table["rho_p"].to_numpy(dtype=float))
    table["tau_q"] = benjamini_hochberg(table["tau_p"].to_numpy(dtype=float))
    return table[list(TABLE_COLUMNS)]


def _table_intervals(
    pairs: list[tuple[str, str]],
    masks: list[np.ndarray],
    rows: list[dict[str, Any]],
    property_values: dict[str, np.ndarray],
    measure_values: dict[str, np.ndarray],
    n_boot: int,
    level: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Bootstrap intervals of every pair, sharing each variable's work among pairs with one mask."""
    names = ("rho_ci_low", "rho_ci_high", "tau_ci_low", "tau_ci_high")
    intervals = {name: np.full(len(pairs), np.nan) for name in names}
    if n_boot == 0:
        return intervals
    groups: dict[bytes, list[int]] = {}
    for k, mask in enumerate(masks):
        if np.isfinite(rows[k]["rho"]):  # constant or too few graphs: no interval either
            groups.setdefault(mask.tobytes(), []).append(k)
    counts_by_n: dict[int, np.ndarray] = {}
    for members in groups.values():
        mask = masks[members[0]]
        n = int(mask.sum())
        if n not in counts_by_n:
            counts_by_n[n] = _resample_counts(n, n_boot, seed)
        counts = counts_by_n[n]
        for method, low_name, high_name in (
            ("spearman", "rho_ci_low", "rho_ci_high"),
            ("kendall", "tau_ci_low", "tau_ci_high"),
        ):
            x_parts = {
                p: _bootstrap_parts(property_values[p][mask], counts, method)
                for p in dict.fromkeys(pairs[k][0] for k in members)
            }
            y_parts = {
                m: _bootstrap_parts(measure_values[m][mask], counts, method)
                for m in dict.fromkeys(pairs[k][1] for k in members)
            }
            for k in members:
                p, m = pairs[k]
                replicates = _bootstrap_replicates(x_parts[p], y_parts[m], counts, method)
                low, high = _percentile_interval(replicates, level)
                intervals[low_name][k], intervals[high_name][k] = low, high
    return intervals


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
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see the module docstring).

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
    _require_columns("corr", corr, ["property", "measure", value])
    if corr.duplicated(["property", "measure"]).any():
        raise ValueError("corr holds a (property, measure) pair twice; pass one correlation_table")
    wide = corr.pivot(index="property", columns="measure", values=value)
    return wide.reindex(index=pd.unique(corr["property"]), columns=pd.unique(corr["measure"]))
