"""The study store: one SQLite database (WAL) per study directory, written by the driver only.

Tables: ``meta`` (config, its hash, environment), ``draws`` (every sampled graph, accepted or
not), ``units`` (one row per unit of work: arm, status, attempts, error, timings), ``graphs``
(one row per graph: arm, generator parameters, seed, edge list, properties) and ``runs`` (one
row per graph x initialisation: arm, status, error, all metrics). Each finished unit is
written in ONE transaction, so a killed driver loses at most the units in flight. Trained
weights live next to the database in ``weights/<run_id>.pt`` (a ``state_dict``, load with
``weights_only=True``). All of the study's SQL is in this module, but the schema and its
migrations: :mod:`structrob.study._schema`.

The column naming a row's arm (``"prior"`` or ``"pruning"``) is :data:`structrob.vocabulary.ARM`
in every table; a database written before that name (``units.kind``, ``graphs.study``,
``runs.study``) is renamed in place when opened.

Opening checks the file first: a missing database is created atomically (a temp file renamed
into place, so a kill never leaves a 0-byte store), while an empty, damaged, or foreign file
(another program's SQLite database, anything else) raises :class:`StoreError` with what to do.
``Store(directory, readonly=True)`` opens with SQLite's ``mode=ro`` (no WAL switch, no schema
change) for the reading commands, so a finished study can be read from read-only media; a
write-ahead log left by a killed driver that needs recovery is reported as such. Every write
that fails for lack of space or permission raises :class:`StoreError` naming the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from structrob.study._schema import (  # APPLICATION_ID, SCHEMA, TABLES: importable from here
    APPLICATION_ID,  # noqa: F401
    SCHEMA,  # noqa: F401
    TABLES,  # noqa: F401
    apply_schema,
    is_study,
    probe,
)
from structrob.study.errors import StoreError
from structrob.study.files import atomic_write_bytes, describe_os_error, temp_name
from structrob.study.records import Draw, UnitResult
from structrob.vocabulary import ARM

__all__ = ["DATABASE_NAME", "Store", "StoreError"]

#: The database's file name inside a study directory.
DATABASE_NAME = "study.sqlite"

#: The unit a run belongs to, in SQL: run ids are ``<unit_id>-<init>`` (its graph id is the
#: unit id, or the run id when each copy has a graph of its own).
_UNIT_OF_RUN = "substr(run_id, 1, instr(run_id, '-') - 1)"


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


class Store:
    """A study directory's database and weight files.

    Parameters
    ----------
    directory : str or path-like
        The study directory; created if missing. The database is ``study.sqlite`` inside.

    Examples
    --------
    >>> import tempfile
    >>> from structrob.study.records import GraphRecord, RunRecord, UnitResult
    >>> store = Store(tempfile.mkdtemp())
    >>> store.get_meta("config_hash") is None, len(store.runs_frame())
    (True, 0)
    >>> graph = GraphRecord("dense_layered", {"widths": [2, 2]}, None, 1600, 4, [[0, 2]],
    ...                     {"dag_layers": 2}, {})
    >>> run = RunRecord("normal", 0, "ok", None, {"accuracy": 0.5}, b"state")
    >>> store.save_unit(UnitResult("u1", "pruning", 0, graph, (run,), {"train": 2.0}, b"next"))
    >>> store.finished_units(), store.attempts("u1"), store.stacked_weights("u1")
    ({'u1'}, 1, b'next')
    >>> runs = store.runs_frame()
    >>> runs[["run_id", "arm", "accuracy", "train_seconds"]].to_dict("records")
    [{'run_id': 'u1-normal', 'arm': 'pruning', 'accuracy': 0.5, 'train_seconds': 2.0}]
    >>> store.graph_edges("u1"), store.run_weights("u1-normal")[:2]
    ((4, [(0, 2)]), ('u1', 'pruning'))
    """

    def __init__(self, directory: str | os.PathLike[str], readonly: bool = False) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DATABASE_NAME
        self.weights_dir = self.directory / "weights"
        self.readonly = readonly
        if readonly:
            self.connection = self._open_readonly()
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(describe_os_error(error, "create the study directory")) from None
        if not self.directory.is_dir():
            raise StoreError(f"{self.directory} is a file, not a study directory")
        if not self.path.exists():
            self._create()
        self.connection = self._open_checked(lambda: sqlite3.connect(self.path, timeout=60))
        with self._writing("open the database"):
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")
            apply_schema(self.connection)
            self.connection.commit()

    # -- opening -----------------------------------------------------------------------------
    def _create(self) -> None:
        """A new database: schema and WAL set up in a temp file, then linked into place."""
        tmp = temp_name(self.path)
        try:
            with self._writing("create the database"):
                connection = sqlite3.connect(tmp)
                try:
                    apply_schema(connection)
                    connection.execute("PRAGMA journal_mode=WAL")
                    connection.commit()
                finally:
                    connection.close()
                try:
                    os.link(tmp, self.path)  # never replaces a store another process made
                except FileExistsError:
                    pass
                except OSError:  # a file system without hard links
                    if not self.path.exists():
                        os.replace(tmp, self.path)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{tmp}{suffix}").unlink(missing_ok=True)

    def _open_checked(self, connect: Any) -> sqlite3.Connection:
        """Connect and check the file is a study database; StoreError saying what it is else."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            raise StoreError(
                f"{self.directory} is not a study directory (no {DATABASE_NAME}); run "
                f"`structrob run --out {self.directory}` first"
            ) from None
        except OSError as error:
            raise StoreError(describe_os_error(error, "read the database")) from None
        if size == 0:
            raise StoreError(
                f"{self.path} is empty (0 bytes), not a study database: the study it held is "
                "lost. Move the file away to start a new study in this directory (the weights "
                "in weights/ are then computed again), or use another --out"
            )
        connection = None
        try:
            connection = connect()
            app_id, tables = probe(connection)
        except sqlite3.DatabaseError as error:
            if connection is not None:
                connection.close()
            if self.readonly and "unable to open" in str(error):
                raise  # handled by _open_readonly
            if "locked" in str(error):
                raise StoreError(
                    f"{self.path} is locked by another process ({error}); wait for it, or "
                    "stop it, then try again"
                ) from None
            reason = " ".join(str(error).split())
            raise StoreError(
                f"{self.path} is damaged or not a SQLite database ({reason}); move it away "
                "or use another --out (restore it from a backup to keep its results)"
            ) from None
        if not is_study(app_id, tables):
            connection.close()
            what = f"tables {', '.join(sorted(tables))}" if tables else "no tables"
            raise StoreError(
                f"{self.path} is another program's SQLite database ({what}), not a structrob "
                "study; use another --out"
            )
        return connection

    def _open_readonly(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        try:
            return self._open_checked(
                lambda: sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60)
            )
        except sqlite3.OperationalError as error:
            # a read-only folder: SQLite cannot create the WAL index (-shm) next to the file
            wal = Path(f"{self.path}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise StoreError(
                    f"{self.path} cannot be read here: its write-ahead log ({wal.name}, left "
                    "by a driver that did not close the store) needs recovery, which needs "
                    "write access; open the study once where it is writable (e.g. `structrob "
                    "status` on a writable copy of the folder), then read it anywhere"
                ) from None
            if "unable to open" not in str(error):  # pragma: no cover - other I/O trouble
                raise StoreError(f"{self.path} cannot be read: {error}") from None
            # nothing in a log: the database file alone is the whole study
            return self._open_checked(
                lambda: sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)
            )

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Turn a failed write (disk full, read-only) into a StoreError naming the file."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only; cannot {what}")
        try:
            yield
        except (sqlite3.OperationalError, OSError) as error:
            raise StoreError(describe_os_error(error, what, self.path)) from None

    def close(self) -> None:
        """Close the database connection (the last writer's close folds the WAL back in)."""
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        """The JSON value stored under ``key``.

        Parameters
        ----------
        key : str

        Returns
        -------
        object
            The value as JSON read it back, None for a key never set.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> store.set_meta(name="quick", planned={"prior": 20})
        >>> store.get_meta("planned"), store.get_meta("missing")
        ({'prior': 20}, None)
        """
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, **values: Any) -> None:
        """Store JSON values by key (replacing earlier ones); see :meth:`get_meta`.

        Parameters
        ----------
        **values
            Key -> JSON-serialisable value.
        """
        with self._writing("write the study's settings"), self.connection:
            self.connection.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v, sort_keys=True)) for k, v in values.items()],
            )

    # -- draws -------------------------------------------------------------------------------
    def save_draws(self, draws: Iterable[Draw]) -> None:
        """Store sampled draws (a draw already stored is kept as it is).

        Parameters
        ----------
        draws : iterable of Draw

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> store.save_draws([Draw(0, "watts_strogatz", {"size": 30}, 5, 900, False)])
        >>> store.draws_frame()[["idx", "size", "accepted"]].values.tolist()
        [[0, 30, False]]
        """
        rows = [
            (d.index, d.generator, json.dumps(d.params), d.seed, d.n_parameters, int(d.accepted))
            for d in draws
        ]
        with self._writing("write the sampled graphs"), self.connection:
            self.connection.executemany(
                "INSERT OR IGNORE INTO draws VALUES (?, ?, ?, ?, ?, ?)", rows
            )

    # -- units -------------------------------------------------------------------------------
    def finished_units(self) -> set[str]:
        """Ids of units that completed (their graph and runs are stored).

        Returns
        -------
        set of str
        """
        rows = self.connection.execute("SELECT unit_id FROM units WHERE status = 'done'")
        return {r[0] for r in rows}

    def attempts(self, unit_id: str) -> int:
        """How often a unit was tried.

        Parameters
        ----------
        unit_id : str

        Returns
        -------
        int
            Attempts so far, finished or failed; 0 for a unit never tried.
        """
        row = self.connection.execute(
            "SELECT attempts FROM units WHERE unit_id = ?", (unit_id,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def record_failure(
        self,
        unit_id: str,
        arm: str,
        step: int | None,
        error: str,
        final: bool,
        traceback: str | None = None,
    ) -> None:
        """Count a failed attempt; ``final`` marks the unit failed for good (no more retries).

        Parameters
        ----------
        unit_id : str
        arm : str
            ``"prior"`` or ``"pruning"``.
        step : int or None
            Pruning step (None for a graph prior).
        error : str
            What went wrong.
        final : bool
            No more retries in this run: status ``failed`` (else ``retry``). The next run of
            the study tries it again.
        traceback : str, optional
            The formatted traceback, kept in ``units.traceback``.

        Examples
        --------
        >>> import tempfile
        >>> store = Store(tempfile.mkdtemp())
        >>> store.record_failure("ab12", "prior", None, "RuntimeError: boom", final=False)
        >>> store.record_failure("ab12", "prior", None, "RuntimeError: boom", final=True)
        >>> store.attempts("ab12"), store.failed_units()
        (2, {'ab12': 'RuntimeError: boom'})
        """
        status = "failed" if final else "retry"
        with self._writing(f"record the failure of unit {unit_id}"), self.connection:
            self.connection.execute(
                f"INSERT INTO units (unit_id, {ARM}, step, status, attempts, error, finished_at,"
                " traceback) VALUES (?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT(unit_id) DO UPDATE SET"
                " attempts = attempts + 1, error = excluded.error, status = excluded.status,"
                " finished_at = excluded.finished_at, traceback = excluded.traceback",
                (unit_id, arm, step, status, error, time.time(), traceback),
            )

    def failed_units(self) -> dict[str, str]:
        """Units whose last attempt failed (``failed``, or ``retry`` left by a stopped driver).

        Returns
        -------
        dict
            Unit id -> last error.
        """
        return dict(
            self.connection.execute(
                "SELECT unit_id, error FROM units WHERE status IN ('failed', 'retry')"
            )
        )

    def units_with_failed_runs(self) -> set[str]:
        """Finished units with a run that failed for a reason of its seeds (non-finite loss).

        Returns
        -------
        set of str
        """
        rows = self.connection.execute(
            f"SELECT DISTINCT {_UNIT_OF_RUN} FROM runs WHERE status != 'ok'"
            f" AND {_UNIT_OF_RUN} IN (SELECT unit_id FROM units WHERE status = 'done')"
        )
        return {r[0] for r in rows}

    def missing_weights(self) -> dict[str, list[str]]:
        """Finished units whose weight files are missing or empty (deleted, say).

        Returns
        -------
        dict
            Unit id -> the missing files (relative to the study directory); such a unit counts
            as not finished and is run again.

        Examples
        --------
        >>> import tempfile
        >>> from structrob.study.records import GraphRecord, RunRecord, UnitResult
        >>> store = Store(tempfile.mkdtemp())
        >>> graph = GraphRecord("dense_layered", {"widths": [2]}, None, 1, 2, [], {}, {})
        >>> run = RunRecord("normal", 0, "ok", None, {}, b"state")
        >>> store.save_unit(UnitResult("u1", "pruning", 0, graph, (run,), {}, b"next"))
        >>> (store.weights_dir / "u1-stacked.pt").unlink()
        >>> store.missing_weights()
        {'u1': ['weights/u1-stacked.pt']}
        """
        expected: dict[str, tuple[str, list[str]]] = {}
        rows = self.connection.execute(
            f"SELECT u.unit_id, u.{ARM}, r.weights FROM units u LEFT JOIN runs r"
            f" ON {_UNIT_OF_RUN.replace('run_id', 'r.run_id')} = u.unit_id"
            " WHERE u.status = 'done' ORDER BY r.copy"
        )
        for unit_id, arm, weights in rows:
            files = expected.setdefault(unit_id, (arm, []))[1]
            if weights is not None:
                files.append(weights)
        missing = {}
        for unit_id, (arm, files) in expected.items():
            if arm == "pruning":
                files = [f"weights/{unit_id}-stacked.pt", *files]
            gone = [f for f in files if not _nonempty(self.directory / f)]
            if gone:
                missing[unit_id] = sorted(gone)
        return missing

    def reset_results(self) -> None:
        """Forget every draw, unit, graph and run (the settings in ``meta`` stay).

        For a study directory none of whose units finished, when its settings change.
        """
        with self._writing("reset the study"), self.connection:
            for table in ("runs", "graphs", "units", "draws"):
                self.connection.execute(f"DELETE FROM {table}")

    def save_unit(self, result: UnitResult) -> None:
        """Store a finished unit (graph, runs, weights) in one transaction.

        Parameters
        ----------
        result : UnitResult
            From :func:`structrob.study.units.run_unit`; each run's weights go to
            ``weights/<unit_id>-<init>.pt``, a pruning step's stacked weights to
            ``weights/<unit_id>-stacked.pt``.
        """
        unit_id, graph = result.unit_id, result.graph
        weight_paths = []
        with self._writing(f"write the weights of unit {unit_id}"):
            self.weights_dir.mkdir(exist_ok=True)
            for run in result.runs:
                path = self.weights_dir / f"{unit_id}-{run.init}.pt"
                atomic_write_bytes(path, run.weights)
                weight_paths.append(path.relative_to(self.directory).as_posix())
            if result.stacked_weights is not None:
                stacked = self.weights_dir / f"{unit_id}-stacked.pt"
                atomic_write_bytes(stacked, result.stacked_weights)
        timings = result.timings

        def graph_row(graph_id: str, graph: Any) -> tuple:
            return (
                graph_id,
                result.arm,
                result.step,
                graph.generator,
                json.dumps(graph.params),
                graph.seed,
                graph.n_parameters,
                graph.n_vertices,
                json.dumps(graph.edges),
                json.dumps(graph.properties),
                json.dumps(graph.distributions),
            )

        # copies with graphs of their own (per-copy pruning masks) get one graph row each,
        # keyed by the run; otherwise the unit's one graph serves all its runs
        own = all(run.graph is not None for run in result.runs) and bool(result.runs)
        graph_of = {run.init: f"{unit_id}-{run.init}" if own else unit_id for run in result.runs}
        graph_rows = (
            [graph_row(graph_of[run.init], run.graph) for run in result.runs]
            if own
            else [graph_row(unit_id, graph)]
        )
        run_rows = [
            (
                f"{unit_id}-{run.init}",
                graph_of[run.init],
                result.arm,
                result.step,
                run.init,
                run.copy,
                run.status,
                run.error,
                json.dumps(run.metrics),
                timings.get("train"),
                timings.get("attack"),
                path,
            )
            for run, path in zip(result.runs, weight_paths)
        ]
        with self._writing(f"store unit {unit_id}"), self.connection:
            self.connection.executemany(
                "INSERT OR REPLACE INTO graphs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", graph_rows
            )
            self.connection.executemany(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", run_rows
            )
            self.connection.execute(
                f"INSERT INTO units (unit_id, {ARM}, step, status, attempts, error, timings,"
                " finished_at) VALUES (?, ?, ?, 'done', 1, NULL, ?, ?) ON CONFLICT(unit_id) DO"
                " UPDATE SET status = 'done', attempts = attempts + 1, error = NULL,"
                " timings = excluded.timings, finished_at = excluded.finished_at,"
                " traceback = NULL",
                (unit_id, result.arm, result.step, json.dumps(timings), time.time()),
            )

    def stacked_weights(self, unit_id: str) -> bytes:
        """The stacked state_dict a pruning step left for the next one.

        Parameters
        ----------
        unit_id : str
            A finished pruning step.

        Returns
        -------
        bytes
            For :func:`structrob.study.units.weights_from_bytes`.
        """
        path = self.weights_dir / f"{unit_id}-stacked.pt"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StoreError(
                f"the weights of pruning step {unit_id} ({path}) are missing; run the study "
                "again: a step whose weights are missing is computed again"
            ) from None

    # -- frames ------------------------------------------------------------------------------
    def _frame(self, sql: str) -> pd.DataFrame:
        return pd.read_sql_query(sql, self.connection)

    def runs_frame(self) -> pd.DataFrame:
        """One row per run with its metrics as columns (``accuracy``, ``fgsm_error_rate``, ...).

        A unit trains and attacks its copies together, so the store keeps the unit's time on
        each of its runs; ``train_seconds`` and ``attack_seconds`` here are each run's share
        (the unit's seconds over its runs), so that sums over runs are worker-seconds.

        Returns
        -------
        pandas.DataFrame
            ``run_id, graph_id, arm, step, init, copy, status, error, train_seconds,
            attack_seconds, weights_path``, then one column per metric.
        """
        share = f"COUNT(*) OVER (PARTITION BY {_UNIT_OF_RUN})"
        frame = self._frame(
            f"SELECT run_id, graph_id, {ARM}, step, init, copy, status, error, metrics,"
            f" train_seconds / {share} AS train_seconds,"
            f" attack_seconds / {share} AS attack_seconds, weights"
            f" FROM runs ORDER BY {ARM}, step, graph_id, copy"
        )
        metrics = pd.DataFrame([json.loads(m) for m in frame.pop("metrics")], index=frame.index)
        frame = frame.rename(columns={"weights": "weights_path"}).astype({"step": "Int64"})
        return pd.concat([frame, metrics], axis=1)

    def graphs_frame(self) -> pd.DataFrame:
        """One row per graph: generator parameters, then ``dag_*``/``prior_*`` properties.

        Returns
        -------
        pandas.DataFrame
            ``graph_id, arm, step, generator, seed, n_parameters, n_vertices``, the generator
            parameters, then the properties.
        """
        frame = self._frame(
            f"SELECT graph_id, {ARM}, step, generator, params, CAST(seed AS TEXT) AS seed,"
            f" n_parameters, n_vertices, properties FROM graphs ORDER BY {ARM}, step, graph_id"
        )
        # read as text: pandas reads an integer column with NULLs (the pruning graphs have no
        # seed) as float64, which rounds 64-bit seeds
        frame["seed"] = pd.array(
            [int(s) if isinstance(s, str) else None for s in frame["seed"].tolist()],
            dtype="Int64",
        )
        params = pd.DataFrame([json.loads(p) for p in frame.pop("params")], index=frame.index)
        props = pd.DataFrame([json.loads(p) for p in frame.pop("properties")], index=frame.index)
        params = params[[c for c in params.columns if c not in frame.columns]]
        frame = frame.astype({"step": "Int64"})
        return pd.concat([frame, params, props], axis=1)

    def draws_frame(self) -> pd.DataFrame:
        """Every sampled draw, accepted or not.

        Returns
        -------
        pandas.DataFrame
            ``idx, generator, seed, n_parameters, accepted`` (bool), then the generator
            parameters.
        """
        frame = self._frame("SELECT * FROM draws ORDER BY idx")
        params = pd.DataFrame([json.loads(p) for p in frame.pop("params")], index=frame.index)
        frame["accepted"] = frame["accepted"].astype(bool)
        return pd.concat([frame, params], axis=1)

    def units_frame(self) -> pd.DataFrame:
        """One row per unit tried.

        Returns
        -------
        pandas.DataFrame
            ``unit_id, arm, step, status`` (``done``, ``retry`` or ``failed``), ``attempts,
            error, timings`` (JSON), ``finished_at`` (Unix time).
        """
        return self._frame(f"SELECT * FROM units ORDER BY {ARM}, step, unit_id")

    def graph_edges(self, graph_id: str) -> tuple[int, list[tuple[int, int]]]:
        """Number of vertices and the DAG edge list of a stored graph.

        Parameters
        ----------
        graph_id : str

        Returns
        -------
        tuple of (int, list of (int, int))

        Raises
        ------
        KeyError
            For a graph the store does not hold.
        """
        row = self.connection.execute(
            "SELECT n_vertices, edges FROM graphs WHERE graph_id = ?", (graph_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no graph {graph_id!r} in {self.path}")
        return int(row[0]), [tuple(e) for e in json.loads(row[1])]

    def run_weights(self, run_id: str) -> tuple[str, str, Path]:
        """Where a run's trained weights are.

        Parameters
        ----------
        run_id : str
            ``<graph_id>-<init>``.

        Returns
        -------
        tuple of (str, str, pathlib.Path)
            ``(graph_id, arm, path of the .pt file)``.

        Raises
        ------
        KeyError
            For a run id the store does not hold.
        """
        row = self.connection.execute(
            f"SELECT graph_id, {ARM}, weights FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        graph_id, arm, weights = row
        return graph_id, arm, self.directory / weights
