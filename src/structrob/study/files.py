"""Files the study writes: atomically (temp file + ``os.replace``), with unique temp names.

A reader, or a driver killed at any moment, sees a file either whole or not at all: every file
is written to a temp file in the same folder, named after the process and a random token (so
two processes never share one), flushed, and renamed over the target. :func:`describe_os_error`
turns an ``OSError`` or an SQLite error into the one line the command line prints.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "a.txt"
>>> atomic_write_bytes(path, b"hello")
>>> path.read_bytes(), sorted(p.name for p in path.parent.iterdir())
(b'hello', ['a.txt'])
"""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "describe_os_error", "temp_name"]

#: errno values meaning "no room left", whatever the limit was.
_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
#: errno values meaning "not allowed to write here".
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


def temp_name(path: Path) -> Path:
    """A temp file next to ``path``, unique to this process: ``.<name>.<pid>.<token>.tmp``.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> temp_name(Path("w/a.pt")).name.startswith(f".a.pt.{os.getpid()}.")
    True
    """
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temp path to write to; renamed over ``path`` when the block ends without error.

    On an error (or an interruption) the temp file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        The file to (re)place; its folder must exist.

    Yields
    ------
    pathlib.Path
        Where to write.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "t.csv"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("a,b\\n")
    >>> target.read_text()
    'a,b\\n'
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], blob: bytes) -> None:
    """Write ``blob`` to ``path`` atomically (see :func:`atomic_path`).

    Parameters
    ----------
    path : path-like
    blob : bytes
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(blob)
        handle.flush()


def describe_os_error(
    error: BaseException, what: str | None = None, path: str | os.PathLike[str] | None = None
) -> str:
    """One line for a failed file or database operation: what, where, and what to do.

    Parameters
    ----------
    error : OSError or sqlite3.Error
    what : str, optional
        What was being done, e.g. ``"write weights"``.
    path : path-like, optional
        The file concerned, when the error does not name one (SQLite's errors never do).

    Returns
    -------
    str

    Examples
    --------
    >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device", "/s/w.pt"))[:44]
    'no space left on device writing /s/w.pt; fre'
    >>> describe_os_error(PermissionError(errno.EACCES, "Permission denied", "/s"))[:36]
    'cannot write to /s (permission denie'
    """
    where = getattr(error, "filename", None) or path
    target = f" {where}" if where else ""
    doing = f" ({what})" if what else ""
    code = getattr(error, "errno", None)
    if isinstance(error, sqlite3.Error):
        text = str(error)
        if "full" in text:
            code = errno.ENOSPC
        elif "readonly" in text or "read-only" in text:
            code = errno.EROFS
        else:
            return f"database error{doing}: {text}"
    if code in _FULL:
        return (
            f"no space left on device writing{target}{doing}; free some space (or choose "
            "another --out) and run again: finished units are kept"
        )
    if code in _READ_ONLY:
        reason = "read-only file system" if code == errno.EROFS else "permission denied"
        return (
            f"cannot write to{target or ' the study directory'}{doing} ({reason}); choose a "
            "writable --out, or read the study with status/report/export"
        )
    if code == errno.ENOTDIR or isinstance(error, NotADirectoryError):
        return f"{where or 'a path'} is not a directory{doing}: a file lies in the way"
    if isinstance(error, FileExistsError):
        return f"{where or 'a path'} exists and is not a directory{doing}"
    strerror = getattr(error, "strerror", None) or str(error)
    return f"{strerror}{':' if where else ''}{target}{doing}"
