"""One driver per study directory: an exclusive ``flock`` on ``<directory>/study.lock``.

The lock belongs to the open file, so the kernel releases it when the driver's process ends,
whatever ends it (kill -9 included): a stale lock file never blocks a rerun. The holder writes
its pid, host, start time and command line into the file, so a second driver is refused at
once with a message that says who holds the study. The file descriptor is not inherited by
worker processes (PEP 446), so a worker cannot keep the lock alive.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> directory = Path(tempfile.mkdtemp())
>>> with StudyLock(directory) as lock:
...     holder(directory)["pid"] == os.getpid()
True
>>> holder(directory) is None
True
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from structrob.study.errors import StudyLocked

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, a warning in the docs
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "StudyLock", "holder"]

#: The lock file's name inside a study directory.
LOCK_NAME = "study.lock"


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(info: dict[str, Any]) -> str:
    if not info.get("pid"):
        return "another process"
    text = f"process {info['pid']} on {info.get('host', '?')}"
    if info.get("started"):
        text += f", started {info['started']}"
    return text


class StudyLock:
    """The exclusive lock of a study directory, held from :meth:`acquire` to :meth:`release`.

    Parameters
    ----------
    directory : path
        An existing study directory.

    Raises
    ------
    StudyLocked
        From :meth:`acquire`, when another process holds the lock: the message names it.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> StudyLock:
        """Take the lock at once or raise :class:`StudyLocked` (never waits)."""
        if fcntl is None:  # pragma: no cover
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            info = _read(self.path)
            raise StudyLocked(
                f"{self.path.parent} is in use by {_describe(info)}: one structrob run per "
                "study directory. Wait for it to finish, or stop it (kill "
                f"{info.get('pid', '<pid>')}; it can be resumed), then run again",
                info,
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        return self

    def release(self) -> None:
        """Give the lock back (the file stays; its content is cleared)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:  # pragma: no cover - e.g. the disk went read-only
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StudyLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Who holds a study directory's lock now (pid, host, started, command), None if nobody.

    Works on a read-only directory (it only tries a shared lock, and gives it back).

    Parameters
    ----------
    directory : path

    Returns
    -------
    dict or None
    """
    path = Path(directory) / LOCK_NAME
    if fcntl is None or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(path) or {"pid": None}
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
