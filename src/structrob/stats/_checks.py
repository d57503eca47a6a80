"""Argument checks and small array helpers shared by the modules of :mod:`structrob.stats`.

Internal to the package: nothing here is re-exported, and the names may change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from structrob.vocabulary import split_measure

# Fewest pairs a coefficient is computed from: below this scipy's p-values are undefined
# (spearman's t test has n - 2 df; the partial correlation's has n - 3).
MIN_N = 3
MIN_N_PARTIAL = 4
#: The rank coefficients, as ``method`` arguments name them.
METHODS = ("spearman", "kendall")


def as_float_vector(name: str, values: Any) -> np.ndarray:
    """``values`` as a 1-D float array, or a ValueError naming ``name``."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        message = f"{name} must be numeric (convert the column with pd.to_numeric)"
        raise ValueError(message) from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def require_columns(frame_name: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise unless ``frame`` is a DataFrame holding every one of ``columns``."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{frame_name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{frame_name} lacks column(s) {missing}; available: {list(frame.columns)}"
        )


def numeric_column(frame_name: str, frame: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric (or all-missing) column as a float array with NaN for missing values."""
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) or series.isna().all()):
        raise ValueError(
            f"column {column!r} of {frame_name} is not numeric (dtype {series.dtype}); "
            "convert it with pd.to_numeric or leave it out"
        )
    return series.to_numpy(dtype=float, na_value=np.nan)


def is_constant(values: np.ndarray) -> bool:
    """Whether an array is empty or holds one value only."""
    return values.size == 0 or bool(np.all(values == values[0]))


def pairwise_complete(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The entries of equal-length arrays where every one of them is finite."""
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return tuple(a[keep] for a in arrays)


def paired(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as float vectors of equal length, kept where both are finite."""
    x, y = as_float_vector("x", x), as_float_vector("y", y)
    if x.size != y.size:
        raise ValueError(f"x and y must have equal lengths, got {x.size} and {y.size}")
    return pairwise_complete(x, y)


def correlatable(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`paired`, or None when fewer than ``MIN_N`` pairs remain or one is constant."""
    x, y = paired(x, y)
    if x.size < MIN_N or is_constant(x) or is_constant(y):
        return None
    return x, y


def measure_attack(measure: str) -> str:
    """The attack of a measure column (``vocabulary.split_measure``); ``"other"`` if none."""
    parts = split_measure(measure)
    return "other" if parts is None else parts[0]


def check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_bootstrap_args(method: str, n_boot: int, level: float, minimum_boot: int) -> None:
    """Raise on an unknown method, a non-integer or too small ``n_boot``, or a bad level."""
    check_choice("method", method, METHODS)
    is_integer = isinstance(n_boot, (int, np.integer)) and not isinstance(n_boot, bool)
    if not is_integer or n_boot < minimum_boot:
        raise ValueError(f"n_boot must be an integer >= {minimum_boot}, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level!r}")
