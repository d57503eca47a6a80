"""The study's errors: one class per thing a user can do about it.

- :class:`StudyError`: the study cannot run as asked (a changed setting under an existing
  directory, a directory that is not usable); the message says what to do.
- :class:`StoreError`: the study's database cannot be read or written (damaged, foreign,
  read-only, disk full).
- :class:`StudyLocked`: another driver holds the study directory.
- :class:`StudyInterrupted`: SIGINT or SIGTERM stopped the driver (a ``KeyboardInterrupt``, so
  code that handles Ctrl-C handles it too); its exit status is ``128 + signal``.

Examples
--------
>>> import signal
>>> StudyInterrupted(signal.SIGTERM).exit_status, StudyInterrupted(signal.SIGINT).exit_status
(143, 130)
>>> issubclass(StoreError, StudyError), issubclass(StudyLocked, StudyError)
(True, True)
"""

from __future__ import annotations

import signal

__all__ = ["StoreError", "StudyError", "StudyInterrupted", "StudyLocked"]


class StudyError(RuntimeError):
    """A study that cannot run as asked; the message says why and what to do."""


class StoreError(StudyError):
    """The study database (or its folder) cannot be opened, read or written as needed."""


class StudyLocked(StudyError):
    """Another driver runs the study in this directory (one driver per directory).

    Parameters
    ----------
    message : str
    holder : dict
        What the lock file says about the holder: ``pid``, ``host``, ``started``, ``command``.
    """

    def __init__(self, message: str, holder: dict | None = None) -> None:
        super().__init__(message)
        self.holder = dict(holder or {})


class StudyInterrupted(KeyboardInterrupt):
    """The driver received SIGINT or SIGTERM; the workers were stopped, nothing half-written.

    Parameters
    ----------
    signum : int
        The signal received.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def signal_name(self) -> str:
        """``"SIGINT"``, ``"SIGTERM"``, ..."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:  # pragma: no cover - not a known signal
            return f"signal {self.signum}"

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum

    def __str__(self) -> str:
        return f"interrupted by {self.signal_name}"
