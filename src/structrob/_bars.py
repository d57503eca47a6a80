"""Progress bars without tqdm's monitor thread.

tqdm starts a monitor thread with its first bar (even a disabled one) and never stops it. A
live thread is why :func:`structrob.report.page.write_report` draws its figures one after the
other instead of in forked processes (a child forked beside another thread may inherit a lock
that thread held), so every bar structrob shows is made here, with the monitor off. The
monitor only re-tunes ``miniters`` of bars that stall, which these bars do not need.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


class _Bar(tqdm):
    monitor_interval = 0  # read from the class in tqdm.__new__: no monitor thread


def progress_bar(iterable: Any = None, **options: Any) -> tqdm:
    """A tqdm bar (``tqdm.auto``) that starts no monitor thread.

    Parameters
    ----------
    iterable : iterable or None
        What the bar wraps, as for ``tqdm``.
    **options
        tqdm's own options (``total``, ``desc``, ``disable``, ...).

    Returns
    -------
    tqdm.tqdm

    Examples
    --------
    >>> import threading
    >>> before = threading.active_count()
    >>> sum(progress_bar(range(3), disable=True)), threading.active_count() == before
    (3, True)
    """
    return _Bar(iterable, **options)
