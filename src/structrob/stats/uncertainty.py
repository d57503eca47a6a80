"""Bootstrap percentile confidence intervals of rank correlations, vectorised over resamples.

The ``n`` graphs are resampled with replacement [1]_; each resample's Spearman rho and
Kendall tau-b are computed exactly as scipy computes them, from the count of each graph in the
resample, so 1000 resamples cost a few matrix products.

References
----------
.. [1] B. Efron, R. J. Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall, 1993.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from structrob.stats._checks import (
    MIN_N,
    check_bootstrap_args,
    correlatable,
)

__all__ = ["bootstrap_ci", "bootstrap_intervals"]

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
    check_bootstrap_args(method, n_boot, level, minimum_boot=1)
    if (pairs := correlatable(x, y)) is None:
        return float("nan"), float("nan")
    x, y = pairs
    counts = _resample_counts(x.size, n_boot, seed)
    replicates = _bootstrap_replicates(
        _bootstrap_parts(x, counts, method), _bootstrap_parts(y, counts, method), counts, method
    )
    return _percentile_interval(replicates, level)


def bootstrap_intervals(
    pairs: Sequence[tuple[str, str]],
    masks: Sequence[np.ndarray],
    x_values: Mapping[str, np.ndarray],
    y_values: Mapping[str, np.ndarray],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    skip: Sequence[bool] | None = None,
) -> dict[str, np.ndarray]:
    """Bootstrap intervals of rho and tau for many (x, y) pairs, sharing resamples and work.

    Pair ``k`` correlates ``x_values[pairs[k][0]][masks[k]]`` with
    ``y_values[pairs[k][1]][masks[k]]``; its interval equals :func:`bootstrap_ci` of those
    values with the same ``n_boot``, ``level`` and ``seed``, because every pair with the same
    number of observations uses the same resamples. Each variable's ranks and signs are
    computed once per mask, so a table of many pairs over the same observations costs little
    more than its variables.

    Parameters
    ----------
    pairs : sequence of (str, str)
        ``(x name, y name)`` per pair.
    masks : sequence of numpy.ndarray of bool
        Per pair, the observations it uses (finite in both variables).
    x_values, y_values : mapping of str to numpy.ndarray
        The variables, all of one length.
    n_boot : int
        Resamples, ``>= 0``; 0 leaves every interval NaN.
    level : float
        Confidence level in (0, 1).
    seed : int
        Seed of the resamples.
    skip : sequence of bool, optional
        Pairs to leave NaN (e.g. those without a coefficient).

    Returns
    -------
    dict of str to numpy.ndarray
        ``rho_ci_low, rho_ci_high, tau_ci_low, tau_ci_high``, one value per pair.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = {"a": rng.normal(size=30)}
    >>> y = {"b": x["a"] + rng.normal(size=30), "c": np.r_[rng.normal(size=29), np.nan]}
    >>> masks = [np.isfinite(y["b"]), np.isfinite(y["c"])]
    >>> out = bootstrap_intervals([("a", "b"), ("a", "c")], masks, x, y, n_boot=200)
    >>> alone = bootstrap_ci(x["a"][:29], y["c"][:29], method="kendall", n_boot=200)
    >>> bool(out["tau_ci_low"][1] == alone[0] and out["tau_ci_high"][1] == alone[1])
    True
    """
    check_bootstrap_args("spearman", n_boot, level, minimum_boot=0)
    names = ("rho_ci_low", "rho_ci_high", "tau_ci_low", "tau_ci_high")
    intervals = {name: np.full(len(pairs), np.nan) for name in names}
    if n_boot == 0:
        return intervals
    groups: dict[bytes, list[int]] = {}
    for k, mask in enumerate(masks):
        if skip is None or not skip[k]:
            groups.setdefault(np.asarray(mask, dtype=bool).tobytes(), []).append(k)
    counts_by_n: dict[int, np.ndarray] = {}
    for members in groups.values():
        mask = np.asarray(masks[members[0]], dtype=bool)
        n = int(mask.sum())
        if n < MIN_N:
            continue
        if n not in counts_by_n:
            counts_by_n[n] = _resample_counts(n, n_boot, seed)
        counts = counts_by_n[n]
        for method, low_name, high_name in (
            ("spearman", "rho_ci_low", "rho_ci_high"),
            ("kendall", "tau_ci_low", "tau_ci_high"),
        ):
            x_parts = {
                p: _bootstrap_parts(x_values[p][mask], counts, method)
                for p in dict.fromkeys(pairs[k][0] for k in members)
            }
            y_parts = {
                m: _bootstrap_parts(y_values[m][mask], counts, method)
                for m in dict.fromkeys(pairs[k][1] for k in members)
            }
            for k in members:
                p, m = pairs[k]
                replicates = _bootstrap_replicates(x_parts[p], y_parts[m], counts, method)
                low, high = _percentile_interval(replicates, level)
                intervals[low_name][k], intervals[high_name][k] = low, high
    return intervals
