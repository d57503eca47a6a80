"""The compiled loops in C, when they were built: :data:`native`, or ``None``.

``structrob._native`` (``_native.c``) is an optional extension module: an install without a C
compiler skips it. It holds One-Pixel's inner loops, for which the torch code in
:mod:`structrob.attacks._de`, :mod:`structrob.attacks._candidates` and
:mod:`structrob.regions` computes the same values, bit for bit, more slowly; and the training
kernels' products (the sparse input layer, the hidden layers and the output:
:mod:`structrob._kernels`), for which the fallbacks are torch's dense and CSR products, equal
to float rounding only. The callers read :data:`native` at each call (the trainer
when it is made), so setting it to ``None`` switches the torch code on (the tests compare the
two that way).

Examples
--------
>>> from structrob import _compiled
>>> _compiled.native is None or callable(_compiled.native.trials)
True
"""

from __future__ import annotations

from types import ModuleType

try:
    from structrob import _native as _module
except ImportError:  # built without a C compiler
    _module = None

#: the compiled loops, or None (then the torch code runs)
native: ModuleType | None = _module


def available() -> bool:
    """Whether the compiled loops run (One-Pixel's, and training's products).

    A study's environment records it as ``compiled_loops``: it does not change One-Pixel's
    numbers, and it changes training's to float rounding.

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    return native is not None
