"""Seed derivation: every random stream of a study descends from one integer seed.

A stream is named by a path under its parent seed (``(seed, "graph", 3)``, ``(seed, k)`` for
copy ``k``); :func:`derive_seed` turns the path into an independent 63-bit seed with numpy's
``SeedSequence`` [1]_, so streams never overlap and a unit's numbers do not depend on how many
other units a study holds or in which order they run.

References
----------
.. [1] numpy, "Parallel random number generation",
   https://numpy.org/doc/stable/reference/random/parallel.html
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["derive_seed"]


def derive_seed(seed: int, *path: int | str) -> int:
    """A 63-bit seed for the stream named ``path`` under ``seed``.

    Parameters
    ----------
    seed : int
        Parent seed, ``>= 0``.
    *path : int or str
        Name of the stream. A path of integers is used as the ``SeedSequence`` spawn key
        itself (copy ``k`` of a model: ``derive_seed(seed, k)``); a path holding any string is
        joined with ``"/"`` and hashed (SHA-256, first 16 bytes as four 32-bit words) into the
        spawn key (``derive_seed(seed, "graph", 3)``).

    Returns
    -------
    int
        A seed in ``[0, 2**63)``, the same for the same arguments on every machine.

    Examples
    --------
    >>> derive_seed(0, "graph", 3) == derive_seed(0, "graph", 3) != derive_seed(0, "graph", 4)
    True
    >>> derive_seed(0, 1) != derive_seed(0, 2) and 0 <= derive_seed(0, 1) < 2**63
    True
    """
    if all(isinstance(part, (int, np.integer)) and not isinstance(part, bool) for part in path):
        key = tuple(int(part) for part in path)
    else:
        digest = hashlib.sha256("/".join(str(part) for part in path).encode()).digest()[:16]
        key = tuple(np.frombuffer(digest, dtype=np.uint32).tolist())
    state = np.random.SeedSequence(entropy=seed, spawn_key=key).generate_state(1, np.uint64)
    return int(state[0] >> 1)
