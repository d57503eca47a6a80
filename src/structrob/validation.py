"""Argument checks at the edge of the library, with messages that say what came in.

Every public function or class that takes a count, a rate or a bound checks it here once and
returns the value in its canonical type, so the code behind the edge can trust its inputs. A
message names the argument (or configuration key), the accepted range and the value received,
after the model of scikit-learn's ``utils/validation.py``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from structrob.vocabulary import ARMS

__all__ = ["check_arm", "check_int", "check_number", "check_probability"]


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``, else ValueError.

    Parameters
    ----------
    name : str
        Name of the argument or configuration key, quoted in the message.
    value : object
        The value received; ``bool`` is refused although Python counts it as an integer.
    minimum, maximum : int
        Inclusive bounds; ``maximum=None`` means unbounded.

    Returns
    -------
    int

    Examples
    --------
    >>> check_int("copies", 6, 1)
    6
    >>> check_int("copies", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: copies must be an integer >= 1, got 0
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ok = ok and value >= minimum and (maximum is None or value <= maximum)
    if not ok:
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def check_number(
    name: str, value: Any, low: float, high: float = math.inf, low_open: bool = False
) -> float:
    """``value`` as a ``float`` if it is a finite real number in range, else ValueError.

    Parameters
    ----------
    name : str
        Name of the argument or configuration key, quoted in the message.
    value : object
        The value received (``bool``, NaN and infinities are refused).
    low, high : float
        Bounds; ``high`` is inclusive, ``low`` inclusive unless ``low_open``.
    low_open : bool
        Require ``value > low`` instead of ``value >= low``.

    Returns
    -------
    float

    Examples
    --------
    >>> check_number("eps", 0.1, 0.0)
    0.1
    >>> check_number("step", 0, 0.0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: step must be a number > 0.0, got 0
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        upper = "" if high == math.inf else f" and <= {high}"
        raise ValueError(f"{name} must be a number {bound}{upper}, got {value!r}")
    return float(value)


def check_probability(name: str, value: Any) -> float:
    """``value`` as a ``float`` if it is a probability in ``[0, 1]``, else ValueError.

    Examples
    --------
    >>> check_probability("p", 0.9)
    0.9
    >>> check_probability("p", 2.0)
    Traceback (most recent call last):
    ...
    ValueError: p must be a probability in [0, 1], got 2.0
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and 0.0 <= float(value) <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def check_arm(arm: Any) -> str:
    """``arm`` if it names an arm of a study (``vocabulary.ARMS``), else ValueError.

    Parameters
    ----------
    arm : object
        The value received: ``"prior"`` (the graph priors) or ``"pruning"`` (the
        random-pruning baseline).

    Returns
    -------
    str

    Examples
    --------
    >>> check_arm("prior")
    'prior'
    >>> check_arm("priors")
    Traceback (most recent call last):
    ...
    ValueError: arm must be one of ['prior', 'pruning'], got 'priors'
    """
    if not isinstance(arm, str) or arm not in ARMS:
        raise ValueError(f"arm must be one of {list(ARMS)}, got {arm!r}")
    return arm
