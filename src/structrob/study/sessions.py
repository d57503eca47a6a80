"""The driver's sessions: when each ``structrob run`` of a study started and ended, and how.

Every run of the driver (:func:`structrob.study.runner.run_study`, not a dry run) appends one
record to the JSON list under :data:`SESSIONS_KEY` in the store's ``meta`` table when it
starts, and fills it in when it ends, finished or stopped:

``started``, ``finished``
    UTC times, ISO 8601 (``finished`` is None while the driver runs, and stays None for a
    driver killed with SIGKILL or by a power cut: nothing could write it).
``seconds``
    The session's wall time (a monotonic clock, so a clock change does not skew it).
``units_done``
    Units this session finished and stored.
``exit``
    The exit status ``structrob run`` gives for the session: 0 every planned unit finished, 1
    some did not, 2 an error stopped it, 130 SIGINT, 143 SIGTERM (see its ``--help``).

The records live in the key/value ``meta`` table, so the schema is unchanged: a store written
before sessions were recorded reads as having none (:func:`sessions_of` gives ``[]``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from structrob.study.errors import StudyError, StudyInterrupted
from structrob.study.store import Store

__all__ = [
    "SESSIONS_KEY",
    "SESSION_COLUMNS",
    "DriverSession",
    "begin_session",
    "end_session",
    "exit_status",
    "sessions_frame",
    "sessions_of",
]

#: The ``meta`` key holding the list of session records.
SESSIONS_KEY = "sessions"
#: Columns of :func:`sessions_frame` (and of an exported ``sessions.csv``).
SESSION_COLUMNS = [
    "session",
    "started",
    "finished",
    "seconds",
    "seconds_at_least",
    "units_done",
    "exit",
]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class DriverSession:
    """A session begun by :func:`begin_session`: where its record is, and its clocks.

    Parameters
    ----------
    index : int
        Position of its record in the store's session list.
    epoch : float
        Unix time it started (units stored later than this are its own).
    clock : float
        :func:`time.monotonic` when it started.

    Examples
    --------
    >>> DriverSession(0, 1.0e9, 5.0).index
    0
    """

    index: int
    epoch: float
    clock: float


def sessions_of(store: Store) -> list[dict[str, Any]]:
    """The session records of a study, oldest first (``[]`` for a store without any).

    Parameters
    ----------
    store : Store
        Open, read-only or not.

    Returns
    -------
    list of dict
        ``{started, finished, seconds, units_done, exit}`` each (see the module docstring).

    Examples
    --------
    >>> import tempfile
    >>> sessions_of(Store(tempfile.mkdtemp()))
    []
    """
    return list(store.get_meta(SESSIONS_KEY) or [])


def begin_session(
    store: Store, epoch: float | None = None, clock: float | None = None
) -> DriverSession:
    """Append an open record (``finished``, ``exit`` None) for a driver that starts now.

    Parameters
    ----------
    store : Store
        Writable; the caller holds the study's lock, so no other driver appends at once.
    epoch, clock : float, optional
        When the session started (Unix time, :func:`time.monotonic`); default: now. The driver
        passes the time it was called, so checking settings and loading data count.

    Returns
    -------
    DriverSession
        For :func:`end_session`.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> session = begin_session(store)
    >>> end_session(store, session, status=0)
    >>> record = sessions_of(store)[0]
    >>> record["exit"], record["units_done"], record["seconds"] >= 0
    (0, 0, True)
    """
    epoch = time.time() if epoch is None else epoch
    clock = time.monotonic() if clock is None else clock
    records = sessions_of(store)
    started = dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")
    records.append(
        {"started": started, "finished": None, "seconds": None, "units_done": None, "exit": None}
    )
    store.set_meta(**{SESSIONS_KEY: records})
    return DriverSession(len(records) - 1, epoch, clock)


def end_session(store: Store, session: DriverSession, status: int) -> None:
    """Fill in a session's record: when it ended, its wall time, units it stored, its exit.

    Parameters
    ----------
    store : Store
        Writable.
    session : DriverSession
        From :func:`begin_session` on this store.
    status : int
        The exit status of the session (:func:`exit_status` for one that raised).

    Examples
    --------
    See :func:`begin_session`.
    """
    records = sessions_of(store)
    units = store.units_frame()
    done = 0
    if not units.empty:  # a unit rerun in this session has its finished_at moved forward
        mine = (units["status"] == "done") & (units["finished_at"] >= session.epoch)
        done = int(mine.sum())
    records[session.index].update(
        finished=_now(),
        seconds=time.monotonic() - session.clock,
        units_done=done,
        exit=int(status),
    )
    store.set_meta(**{SESSIONS_KEY: records})


def exit_status(error: BaseException) -> int:
    """The exit status ``structrob run`` gives for a driver stopped by ``error``.

    Parameters
    ----------
    error : BaseException

    Returns
    -------
    int
        130 (SIGINT) or 143 (SIGTERM) for :class:`StudyInterrupted` (130 for another
        ``KeyboardInterrupt``); 2 for the errors the command line reports in one line
        (settings, plan, data, study directory, store, I/O); 1 for anything else (an
        unforeseen error, as Python's own exit status).

    Examples
    --------
    >>> import signal
    >>> exit_status(StudyInterrupted(signal.SIGTERM)), exit_status(StudyError("x"))
    (143, 2)
    >>> exit_status(ZeroDivisionError())
    1
    """
    from structrob.data import DataError
    from structrob.study.config import ConfigError
    from structrob.study.plan import PlanError

    if isinstance(error, StudyInterrupted):
        return error.exit_status
    if isinstance(error, KeyboardInterrupt):  # Ctrl-C outside the driver's own handler
        return 130
    if isinstance(error, (ConfigError, StudyError, PlanError, DataError, OSError, sqlite3.Error)):
        return 2
    return 1


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp).timestamp()


def sessions_frame(store: Store) -> pd.DataFrame:
    """One row per session, then a ``total`` row (when there is a session).

    A session without an end (killed by SIGKILL or a machine stop, or still running) has no
    ``seconds``; what the store shows of it is kept instead: ``units_done`` counts the units
    stored between its start and the next session's, and ``seconds_at_least`` runs from its
    start to the last of them (a lower bound of its wall time: work after its last stored
    unit is lost with it).

    Parameters
    ----------
    store : Store

    Returns
    -------
    pandas.DataFrame
        :data:`SESSION_COLUMNS`. ``session`` is ``"1"``, ``"2"``, ... (text, so the last row
        can be ``"total"``); ``seconds_at_least`` is ``seconds`` for a session that ended,
        the lower bound above for one that did not (0 if it stored nothing). The total row
        has the first start, the last end, the sums of ``seconds`` (the sessions that ended),
        of ``seconds_at_least`` (all) and of ``units_done``, and no exit. A store without
        sessions gives no rows.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> for code in (1, 0):
    ...     end_session(store, begin_session(store), status=code)
    >>> frame = sessions_frame(store)
    >>> frame["session"].tolist(), frame["exit"].tolist()[:2]
    (['1', '2', 'total'], [1, 0])
    >>> _ = begin_session(store)  # killed before its end: nothing stored, nothing known
    >>> float(sessions_frame(store)["seconds_at_least"].iloc[2])
    0.0
    """
    records = sessions_of(store)
    units = store.units_frame()
    finished_at = (
        units.loc[units["status"] == "done", "finished_at"].dropna().astype(float)
        if not units.empty
        else pd.Series(dtype=float)
    )
    rows = []
    for i, record in enumerate(records):
        row = {"session": str(i + 1), **{k: record.get(k) for k in SESSION_COLUMNS[1:]}}
        row["seconds_at_least"] = row["seconds"]
        if row["finished"] is None:  # no end recorded: what its stored units show
            start = _epoch(row["started"])
            end = _epoch(records[i + 1]["started"]) if i + 1 < len(records) else float("inf")
            mine = finished_at[(finished_at >= start) & (finished_at < end)]
            row["units_done"] = int(mine.size)
            row["seconds_at_least"] = float(mine.max() - start) if mine.size else 0.0
        rows.append(row)
    frame = pd.DataFrame(rows, columns=SESSION_COLUMNS)
    if rows:
        ended = [r["finished"] for r in rows if r["finished"] is not None]
        total = {
            "session": "total",
            "started": rows[0]["started"],
            "finished": max(ended) if ended else None,
            "seconds": float(sum(r["seconds"] or 0.0 for r in rows)),
            "seconds_at_least": float(sum(r["seconds_at_least"] or 0.0 for r in rows)),
            "units_done": int(sum(r["units_done"] or 0 for r in rows)),
            "exit": None,
        }
        frame = pd.DataFrame([*rows, total], columns=SESSION_COLUMNS)
    return frame.astype(
        {
            "exit": "Int64",
            "units_done": "Int64",
            "seconds": "float64",
            "seconds_at_least": "float64",
        }
    )
