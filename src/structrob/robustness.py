"""Robustness measures computed from attack results, each with its denominator stated.

The measures of Ben Amor et al. [1]_ for one model (one copy of a stacked model):

===================  ===========================================================================
error rate           successful attacks / images classified correctly when clean
average confidence   mean softmax probability of the wrong predicted class, over successful attacks
average eps          mean minimal eps over images fooled within the eps grid (censored count
                     reported beside it)
===================  ===========================================================================

An attack is *successful* on an image when the model classifies the clean image correctly and the
adversarial image wrongly; images misclassified when clean are neither successes nor failures and
are left out of every denominator. This module reads result fields only (arrays or CPU tensors); it
runs no attack and does not import torch.

References
----------
.. [1] M. Ben Amor, J. Stier, M. Granitzer, "Correlation analysis between the robustness of
   sparse neural networks and their random hidden structural priors", 2021.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["MEASURES", "average_confidence", "average_eps", "error_rate", "measures", "record"]

MEASURES = ("error_rate", "avg_confidence", "avg_eps", "n_correct", "n_success", "n_censored")


def _bool_vector(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype != np.bool_:
        raise ValueError(
            f"{name} must be a 1-D boolean array (one entry per image), got dtype "
            f"{array.dtype} and shape {array.shape}"
        )
    return array


def _float_vector(name: str, values: Any, length: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (length,):
        raise ValueError(
            f"{name} must have shape ({length},) like the success mask, got {array.shape}"
        )
    return array


def error_rate(success: Any, clean_correct: Any) -> float:
    """Fraction of the correctly classified clean images that the attack fools.

    ``P(f(x~) != y | f(x) = y)`` [1]_: the denominator is the number of images classified
    correctly when clean; images misclassified when clean are excluded (a success flagged on
    such an image is ignored).

    Parameters
    ----------
    success : array-like of bool [N]
        True where the adversarial image is misclassified (and the clean one was not).
    clean_correct : array-like of bool [N]
        True where the clean image is classified correctly.

    Returns
    -------
    float
        In [0, 1]; NaN when no image is classified correctly when clean (no denominator).

    References
    ----------
    .. [1] M. Ben Amor, J. Stier, M. Granitzer, 2021 (see the module docstring).

    Examples
    --------
    >>> error_rate([True, False, False, True], [True, True, False, True])
    0.6666666666666666
    """
    success = _bool_vector("success", success)
    clean_correct = _bool_vector("clean_correct", clean_correct)
    if success.shape != clean_correct.shape:
        raise ValueError(
            f"success {success.shape} and clean_correct {clean_correct.shape} "
            "must have the same shape"
        )
    n_correct = int(clean_correct.sum())
    if n_correct == 0:
        return math.nan
    return int((success & clean_correct).sum()) / n_correct


def average_confidence(confidence: Any, success: Any) -> float:
    """Mean softmax probability of the (wrong) predicted class over successful attacks.

    The denominator is the number of successful attacks [1]_.

    Parameters
    ----------
    confidence : array-like of float [N], range [0, 1]
        Softmax probability of the class predicted for each adversarial image.
    success : array-like of bool [N]
        True where the attack succeeded.

    Returns
    -------
    float
        In [0, 1]; NaN when no attack succeeded.

    References
    ----------
    .. [1] M. Ben Amor, J. Stier, M. Granitzer, 2021 (see the module docstring).

    Examples
    --------
    >>> average_confidence([0.75, 0.6, 0.5], [True, False, True])
    0.625
    """
    success = _bool_vector("success", success)
    confidence = _float_vector("confidence", confidence, success.size)
    if not success.any():
        return math.nan
    return float(confidence[success].mean())


def average_eps(eps: Any, success: Any) -> float:
    """Mean minimal eps over the images fooled within the eps grid.

    The denominator is the number of successful attacks; censored images (never fooled up to
    the largest eps tried) are not averaged in: count them beside this mean (see
    :func:`measures`).

    Parameters
    ----------
    eps : array-like of float [N]
        Minimal eps per image; NaN where censored or misclassified when clean.
    success : array-like of bool [N]
        True where the image was fooled within the grid (its eps is finite).

    Returns
    -------
    float
        NaN when no image was fooled.

    References
    ----------
    .. [1] M. Ben Amor, J. Stier, M. Granitzer, 2021 (see the module docstring).

    Examples
    --------
    >>> average_eps([0.011, float("nan"), 0.031], [True, False, True])  # (0.011 + 0.031) / 2
    0.020999999999999998
    """
    success = _bool_vector("success", success)
    eps = _float_vector("eps", eps, success.size)
    if not np.isfinite(eps[success]).all():
        raise ValueError(
            "eps must be finite wherever success is True (a fooled image has a minimal eps)"
        )
    if not success.any():
        return math.nan
    return float(eps[success].mean())


def measures(result: Any) -> dict[str, float | int | None]:
    """All measures of one attack on one model, as a flat record.

    Parameters
    ----------
    result : AttackResult or any object with fields ``success`` (bool [N]), ``clean_correct``
        (bool [N]), ``confidence`` (float [N]) and ``eps`` (float [N] or None).

    Returns
    -------
    dict
        ``error_rate`` (successes / ``n_correct``), ``avg_confidence`` (over ``n_success``),
        ``avg_eps`` (over ``n_success``; None for attacks without a minimal eps),
        ``n_correct`` (images classified correctly when clean: the error-rate denominator),
        ``n_success`` and ``n_censored`` (clean-correct images not fooled within the eps grid;
        None for attacks without a minimal eps). Undefined means (empty denominators) are NaN.

    References
    ----------
    .. [1] M. Ben Amor, J. Stier, M. Granitzer, 2021 (see the module docstring).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> r = SimpleNamespace(success=[True, False, False], clean_correct=[True, True, False],
    ...                     confidence=[0.7, 0.99, 0.6], eps=[0.021, float("nan"), float("nan")])
    >>> measures(r)  # doctest: +NORMALIZE_WHITESPACE
    {'error_rate': 0.5, 'avg_confidence': 0.7, 'avg_eps': 0.021,
     'n_correct': 2, 'n_success': 1, 'n_censored': 1}
    """
    clean_correct = _bool_vector("clean_correct", result.clean_correct)
    # A success only counts on an image that was classified correctly when clean.
    success = _bool_vector("success", result.success) & clean_correct
    eps = None if result.eps is None else _float_vector("eps", result.eps, success.size)
    return {
        "error_rate": error_rate(success, clean_correct),
        "avg_confidence": average_confidence(result.confidence, success),
        "avg_eps": None if eps is None else average_eps(eps, success),
        "n_correct": int(clean_correct.sum()),
        "n_success": int(success.sum()),
        "n_censored": None if eps is None else int((clean_correct & ~success).sum()),
    }


def record(
    results: Mapping[str, Any], **metrics: float | int | None
) -> dict[str, float | int | None]:
    """One flat record for one model: clean metrics plus every attack's measures, prefixed.

    Parameters
    ----------
    results : mapping of str to AttackResult (or to a dict from :func:`measures`)
        Attack name, as :data:`structrob.vocabulary.ATTACKS` spells it (``"fgsm"``,
        ``"min_fgsm"``, ``"onepixel"``, ``"pgd"``), to its result.
    **metrics : float, int or None
        Model-level values stored as given, e.g. the study's clean measures ``accuracy`` and
        ``f1_macro`` (:data:`structrob.vocabulary.CLEAN_MEASURES`).

    Returns
    -------
    dict
        ``metrics`` followed by ``"{name}_{measure}"`` for every attack and measure, plain
        Python scalars that a store can save as they are.

    Examples
    --------
    >>> record({"fgsm": {"error_rate": 0.25, "n_correct": 4}}, accuracy=0.98)
    {'accuracy': 0.98, 'fgsm_error_rate': 0.25, 'fgsm_n_correct': 4}
    """
    row: dict[str, float | int | None] = dict(metrics)
    for name, result in results.items():
        values = result if isinstance(result, Mapping) else measures(result)
        for key, value in values.items():
            column = f"{name}_{key}"
            if column in row:
                raise ValueError(
                    f"record column {column!r} appears twice; rename the attack or the metric"
                )
            row[column] = value
    return row
