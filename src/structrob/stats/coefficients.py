"""Rank correlation coefficients, their p-values, and the false-discovery-rate adjustment.

Spearman's rho and Kendall's tau-b with scipy's p-values, made exact for small samples by
counting permutations; the partial Spearman correlation controlling for a covariate; Cohen's
verbal bands of a coefficient's size [1]_; Benjamini-Hochberg q-values [2]_; and the rank
regression line [3]_ the report draws through its scatter plots.

References
----------
.. [1] J. Cohen, "Statistical Power Analysis for the Behavioral Sciences", 2nd ed., 1988.
.. [2] Y. Benjamini, Y. Hochberg, "Controlling the false discovery rate: a practical and
   powerful approach to multiple testing", J. R. Stat. Soc. B 57(1), 1995.
.. [3] R. L. Iman, W. J. Conover, "The use of the rank transform in regression",
   Technometrics 21(4), 1979.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from structrob.stats._checks import (
    METHODS,
    MIN_N,
    MIN_N_PARTIAL,
    as_float_vector,
    check_choice,
    correlatable,
    is_constant,
    paired,
    pairwise_complete,
)

__all__ = [
    "EXACT_SPEARMAN_MAX_N",
    "benjamini_hochberg",
    "kendall",
    "partial_spearman",
    "permutation_pvalue",
    "rank_regression_curve",
    "spearman",
    "spearman_exact_pvalue",
    "strength",
]


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


#: Up to this many pairs (n! <= 40,320 orderings) the p-values of rho, and of tau with ties,
#: are exact permutation p-values: the t approximation gives ``|rho| = 1`` a p-value of 0 on a
#: handful of samples (e.g. pruning steps), and scipy's tau with ties is asymptotic.
EXACT_SPEARMAN_MAX_N = 8
# Statistics of two orderings closer than this are the same value (rounding of ranks aside).
_TOLERANCE = 1e-9


@cache
def _orderings(n: int) -> np.ndarray:
    """Every one of the n! orderings of range(n), one per row."""
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64)


@cache
def _spearman_null(n: int) -> np.ndarray:
    """Spearman's rho under every one of the n! orderings of n untied ranks."""
    orderings = _orderings(n)
    squared = ((orderings - np.arange(n)) ** 2).sum(1)
    return 1.0 - 6.0 * squared / (n * (n * n - 1))


def permutation_pvalue(
    x: Any, y: Any, method: Literal["spearman", "kendall"] = "spearman"
) -> float:
    """Exact two-sided permutation p-value of Spearman's rho or Kendall's tau-b, ties kept.

    Under independence each of the n! orderings of ``y`` against ``x`` is equally likely;
    the p-value is the fraction of them whose coefficient is at least as large in absolute
    value as the observed one (less a tolerance of 1e-9 for rounding). Ties stay tied in every
    ordering, so the denominators of rho (the rank sums of squares) and of tau-b (the untied
    pairs) are the same in all of them and only the numerators are compared: the covariance of
    the average ranks for rho, the sum of ``sign(x_i - x_j) sign(y_i - y_j)`` for tau. Without
    ties this is the exact distribution of :func:`spearman_exact_pvalue` and of scipy's exact
    Kendall test.

    Parameters
    ----------
    x, y : array-like [N]
        Paired observations, ``3 <= N <= EXACT_SPEARMAN_MAX_N`` complete pairs after NaN pairs
        are dropped; neither variable constant.
    method : {"spearman", "kendall"}

    Returns
    -------
    float
        The p-value, a multiple of ``1 / N!``.

    Examples
    --------
    One-Pixel error rate against edges in a three-graph study: both coefficients are 1, and
    the two of the 3! = 6 orderings that keep the smallest error rate with the fewest edges
    reach it (the other four give rho = tau = -0.5).

    >>> edges, error_rate = [700, 1000, 1000], [0.267, 0.3, 0.3]
    >>> permutation_pvalue(edges, error_rate), permutation_pvalue(edges, error_rate, "kendall")
    (0.3333333333333333, 0.3333333333333333)
    """
    check_choice("method", method, METHODS)
    x, y = paired(x, y)
    n = x.size
    if not MIN_N <= n <= EXACT_SPEARMAN_MAX_N:
        raise ValueError(
            f"exact p-values need {MIN_N} <= n <= {EXACT_SPEARMAN_MAX_N} complete pairs, got {n}"
        )
    if is_constant(x) or is_constant(y):
        raise ValueError("a constant variable has no rank correlation")
    orderings = _orderings(n)
    if method == "spearman":
        rank_x = sps.rankdata(x) - 0.5 * (n + 1)
        rank_y = sps.rankdata(y) - 0.5 * (n + 1)
        observed = rank_x @ rank_y
        null = rank_y[orderings] @ rank_x
    else:
        first, second = np.triu_indices(n, k=1)
        sign_x = np.sign(x[first] - x[second])
        observed = sign_x @ np.sign(y[first] - y[second])
        permuted = y[orderings]
        null = np.sign(permuted[:, first] - permuted[:, second]) @ sign_x
    return float(np.mean(np.abs(null) >= abs(observed) - _TOLERANCE))


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


def spearman(x: Any, y: Any) -> tuple[float, float]:
    """Spearman's rho and its two-sided p-value, exact for small samples, tied or not.

    ``scipy.stats.spearmanr`` on the complete pairs; with at most ``EXACT_SPEARMAN_MAX_N``
    pairs the p-value is the exact permutation one instead of scipy's t approximation, which
    gives ``|rho| = 1`` a p-value of 0 on a handful of samples: :func:`spearman_exact_pvalue`
    without ties, :func:`permutation_pvalue` with them.

    Parameters
    ----------
    x, y : array-like [N]
        Paired observations; pairs with a NaN are dropped.

    Returns
    -------
    (rho, p) : tuple of float
        NaN (both) when fewer than 3 complete pairs remain or a variable is constant.

    Examples
    --------
    >>> rho, p = spearman([1, 2, 3, 4], [1, 3, 2, 4])  # 8 of the 24 orderings reach |rho| >= 0.8
    >>> round(rho, 3), round(p, 3)
    (0.8, 0.333)
    """
    if (pairs := correlatable(x, y)) is None:
        return float("nan"), float("nan")
    x, y = pairs
    result = sps.spearmanr(x, y)
    rho, p = float(result.statistic), float(result.pvalue)
    if x.size <= EXACT_SPEARMAN_MAX_N:
        p = spearman_exact_pvalue(rho, x.size) if _untied(x, y) else permutation_pvalue(x, y)
    return rho, p


def kendall(x: Any, y: Any) -> tuple[float, float]:
    """Kendall's tau-b and its two-sided p-value, exact for small samples, tied or not.

    ``scipy.stats.kendalltau`` (tau-b) on the complete pairs. Its p-value is exact for small
    untied samples; with ties it is the normal approximation whatever ``n`` (scipy refuses an
    exact test with ties), 0.157 for a perfect tau on three graphs with one tie, where the
    exact value is 1/3. So with ties and at most ``EXACT_SPEARMAN_MAX_N`` pairs the p-value is
    :func:`permutation_pvalue` instead.

    Parameters
    ----------
    x, y : array-like [N]
        As for :func:`spearman`.

    Returns
    -------
    (tau, p) : tuple of float
        NaN (both) where :func:`spearman` gives NaN.

    Examples
    --------
    >>> tau, p = kendall([1, 2, 3, 4], [1, 3, 2, 4])  # scipy's exact p without ties
    >>> round(tau, 3), round(p, 3)
    (0.667, 0.333)
    """
    if (pairs := correlatable(x, y)) is None:
        return float("nan"), float("nan")
    x, y = pairs
    result = sps.kendalltau(x, y, variant="b")
    tau, p = float(result.statistic), float(result.pvalue)
    if x.size <= EXACT_SPEARMAN_MAX_N:
        if not _untied(x, y):
            p = permutation_pvalue(x, y, "kendall")
    return tau, p


def _untied(x: np.ndarray, y: np.ndarray) -> bool:
    return np.unique(x).size == x.size and np.unique(y).size == y.size


def _partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    n = x.size
    if n < MIN_N_PARTIAL or is_constant(x) or is_constant(y) or is_constant(z):
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
    .. [1] Ben Amor, Stier, Granitzer, 2021 (see :mod:`structrob.stats`).

    Examples
    --------
    >>> z = np.arange(10.0)
    >>> x = z + np.array([0, 2, -1, 1, 0, -2, 1, 0, 2, -1])
    >>> y = z + np.array([1, 0, 2, -1, 0, 1, -2, 0, 1, 0])
    >>> rho, p = partial_spearman(x, y, z)
    >>> round(rho, 3), round(p, 3)
    (-0.622, 0.074)
    """
    x, y, z = (as_float_vector(name, v) for name, v in (("x", x), ("y", y), ("z", z)))
    if not x.size == y.size == z.size:
        raise ValueError(f"x, y, z must have equal lengths, got {x.size}, {y.size}, {z.size}")
    return _partial_spearman(*pairwise_complete(x, y, z))


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
