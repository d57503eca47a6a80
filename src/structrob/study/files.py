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
        What was being done, e.g. ``"store unit ab12"`` (the line reads ``cannot <what>``).
    path : path-like, optional
        The file concerned, when the error does not name one (SQLite's errors never do).

    Returns
    -------
    str

    Examples
    --------
    >>> full = OSError(errno.ENOSPC, "No space left on device", "/s/w.pt")
    >>> describe_os_error(full, "write weights")[:57]
    'cannot write weights: no space left on device (/s/w.pt); '
    >>> describe_os_error(PermissionError(errno.EACCES, "Permission denied", "/s"))[:46]
    'cannot write: permission denied (/s); use a wr'
    """
    where = getattr(error, "filename", None) or path
    head = f"cannot {what}" if what else "cannot write"
    at = f" ({where})" if where else ""
    code = getattr(error, "errno", None)
    if isinstance(error, sqlite3.Error):
        text = " ".join(str(error).split())
        if "full" in text:
            code = errno.ENOSPC
        elif "readonly" in text or "read-only" in text:
            code = errno.EROFS
        elif "disk I/O error" in text:  # how SQLite reports a write cut short (EFBIG, EIO)
            return (
                f"{head}: disk I/O error{at}: the disk may be full or a file-size limit "
                "reached; free some space and run again: finished units are kept"
            )
        else:
            return f"{head}: database error{at}: {text}"
    if code in _FULL:
        return (
            f"{head}: no space left on device{at}; free some space (or use another --out) "
            "and run again: finished units are kept"
        )
    if code in _READ_ONLY:
        reason = "read-only file system" if code == errno.EROFS else "permission denied"
        return (
            f"{head}: {reason}{at}; use a writable folder (--out): status, report --out and "
            "export --out read a study without writing to it"
        )
    if code == errno.ENOTDIR or isinstance(error, NotADirectoryError):
        return f"{head}: a file lies in the path{at}; choose another --out"
    if isinstance(error, FileExistsError):
        return f"{head}: {where or 'the path'} exists and is not a directory"
    strerror = getattr(error, "strerror", None) or str(error)
    return f"{head}: {strerror}{at}"
