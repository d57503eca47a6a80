"""SIGINT and SIGTERM as a :class:`~structrob.study.errors.StudyInterrupted` in the driver.

Inside :func:`interruptible`, either signal raises ``StudyInterrupted`` in the main thread, so
the driver unwinds through its ``finally`` blocks: the executor stops its workers, the store
keeps every transaction it committed and none it had not. A signal that arrives inside
:func:`critical` (writing one unit's result) is held until the block ends, so a unit is never
half-stored. A signal that arrives while the main thread imports a module is held until the
import has finished (polled with ``SIGALRM`` where the platform has :func:`signal.setitimer`):
an import cut short leaves an extension module such as torch half-initialised, and importing
it again (as the clean-up does) fails or crashes the interpreter. After the first signal,
further ones are ignored while the driver cleans up. Out of the main thread (or nested) both
are no-ops.

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

#: Seconds between checks whether the import that holds a signal has finished.
_RETRY_SECONDS = 0.02

# where the platform has no interval timer (Windows), a signal is not held during an import
_CAN_HOLD_IMPORTS = hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")


class _State:
    active = False
    depth = 0
    pending: int | None = None
    raised = False


_state = _State()


def _importing(frame: Any) -> bool:
    """Whether ``frame`` or a frame that called it runs the import machinery."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _handler(signum: int, frame: Any) -> None:
    if _state.raised:
        return  # already stopping: let the cleanup finish
    if _state.depth:
        _state.pending = _state.pending or signum
        return
    if _CAN_HOLD_IMPORTS and _importing(frame):
        _state.pending = _state.pending or signum
        signal.setitimer(signal.ITIMER_REAL, _RETRY_SECONDS)
        return
    _state.raised = True
    raise StudyInterrupted(signum)


def _retry(signum: int, frame: Any) -> None:
    """Raise a signal held during an import once the import has finished (``SIGALRM``)."""
    if _state.raised or _state.pending is None or _state.depth:
        return  # nothing held, or a critical block raises it when it ends
    if _importing(frame):
        signal.setitimer(signal.ITIMER_REAL, _RETRY_SECONDS)
        return
    held, _state.pending = _state.pending, None
    _state.raised = True
    raise StudyInterrupted(held)


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``StudyInterrupted`` inside the block (main thread only)."""
    if _state.active or threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = dict.fromkeys(_SIGNALS, _handler)
    if _CAN_HOLD_IMPORTS:
        handlers[signal.SIGALRM] = _retry
    previous = {s: signal.getsignal(s) for s in handlers}
    _state.active, _state.depth, _state.pending, _state.raised = True, 0, None, False
    try:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        yield
        if _state.pending is not None and not _state.raised:  # held by an import at the end
            _state.raised = True
            raise StudyInterrupted(_state.pending)
    finally:
        if _CAN_HOLD_IMPORTS:
            signal.setitimer(signal.ITIMER_REAL, 0)
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
