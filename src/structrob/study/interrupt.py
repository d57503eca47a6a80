"""SIGINT and SIGTERM as a :class:`~structrob.study.errors.StudyInterrupted` in the driver.

Inside :func:`interruptible`, either signal raises ``StudyInterrupted`` in the main thread, so
the driver unwinds through its ``finally`` blocks: the executor stops its workers, the store
keeps every transaction it committed and none it had not. A signal that arrives inside
:func:`critical` (writing one unit's result) is held until the block ends, so a unit is never
half-stored. After the first signal, further ones are ignored while the driver cleans up. Out
of the main thread (or nested) both are no-ops.

Examples
--------
>>> import os, signal
>>> with interruptible():
...     try:
...         with critical():
...             os.kill(os.getpid(), signal.SIGTERM)
...             print("the unit is written")
...     except StudyInterrupted as stop:
...         print(stop, stop.exit_status)
the unit is written
interrupted by SIGTERM 143
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from structrob.study.errors import StudyInterrupted

__all__ = ["critical", "interruptible"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _State:
    active = False
    depth = 0
    pending: int | None = None
    raised = False


_state = _State()


def _handler(signum: int, frame: Any) -> None:
    if _state.raised:
        return  # already stopping: let the cleanup finish
    if _state.depth:
        _state.pending = _state.pending or signum
        return
    _state.raised = True
    raise StudyInterrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``StudyInterrupted`` inside the block (main thread only)."""
    if _state.active or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    _state.active, _state.depth, _state.pending, _state.raised = True, 0, None, False
    try:
        for s in _SIGNALS:
            signal.signal(s, _handler)
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        _state.active = False


@contextmanager
def critical() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends (then raise ``StudyInterrupted``)."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if not _state.depth and _state.pending is not None and not _state.raised:
            signum, _state.pending = _state.pending, None
            _state.raised = True
            raise StudyInterrupted(signum)
