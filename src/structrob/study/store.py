"""The study store: one SQLite database (WAL) per study directory, written by the driver only.

Tables: ``meta`` (config, its hash, environment), ``draws`` (every sampled graph, accepted or
not), ``units`` (one row per unit of work: status, attempts, error, timings), ``graphs`` (one
row per graph: generator parameters, seed, edge list, properties) and ``runs`` (one row per
graph x initialisation: status, error, all metrics). Each finished unit is written in ONE
transaction, so a killed driver loses at most the units in flight. Trained weights live next
to the database in ``weights/<run_id>.pt`` (a ``state_dict``, load with ``weights_only=True``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Store"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS draws (
    idx INTEGER PRIMARY KEY, generator TEXT NOT NULL, params TEXT NOT NULL, seed INTEGER NOT NULL,
    n_parameters INTEGER NOT NULL, accepted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    unit_id TEXT PRIMARY KEY, kind TEXT NOT NULL, step INTEGER, status TEXT NOT NULL,
    attempts INTEGER NOT NULL, error TEXT, timings TEXT, finished_at REAL
);
CREATE TABLE IF NOT EXISTS graphs (
    graph_id TEXT PRIMARY KEY, study TEXT NOT NULL, step INTEGER, generator TEXT NOT NULL,
    params TEXT NOT NULL, seed INTEGER, n_parameters INTEGER NOT NULL, n_vertices INTEGER NOT NULL,
    edges TEXT NOT NULL, properties TEXT NOT NULL, distributions TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, graph_id TEXT NOT NULL REFERENCES graphs(graph_id), study TEXT NOT NULL,
    step INTEGER, init TEXT NOT NULL, copy INTEGER NOT NULL, status TEXT NOT NULL, error TEXT,
    metrics TEXT NOT NULL, train_seconds REAL, attack_seconds REAL, weights TEXT
);
"""


def _atomic_write(path: Path, blob: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Store:
    """A study directory's database and weight files.

    Parameters
    ----------
    directory : str or path-like
        The study directory; created if missing. The database is ``study.sqlite`` inside.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> store.get_meta("config_hash") is None, len(store.runs_frame())
    (True, 0)
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "study.sqlite"
        self.weights_dir = self.directory / "weights"
        self.connection = sqlite3.connect(self.path, timeout=60)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.executescript(SCHEMA)

    def close(self) -> None:
        self.connection.close()

    # -- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, **values: Any) -> None:
        with self.connection:
            self.connection.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v, sort_keys=True)) for k, v in values.items()],
            )

    # -- draws -------------------------------------------------------------------------------
    def save_draws(self, draws: Iterable[Any]) -> None:
        with self.connection:
            self.connection.executemany(
                "INSERT OR IGNORE INTO draws VALUES (?, ?, ?, ?, ?, ?)",
                [(d.index, d.generator, json.dumps(d.params), d.seed, d.n_parameters, int(d.accepted)) for d in draws],
            )

    # -- units -------------------------------------------------------------------------------
    def finished_units(self) -> set[str]:
        """Ids of units that completed (their graph and runs are stored)."""
        return {r[0] for r in self.connection.execute("SELECT unit_id FROM units WHERE status = 'done'")}

    def attempts(self, unit_id: str) -> int:
        row = self.connection.execute("SELECT attempts FROM units WHERE unit_id = ?", (unit_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def record_failure(self, unit_id: str, kind: str, step: int | None, error: str, final: bool) -> None:
        """Count a failed attempt; ``final`` marks the unit failed for good (no more retries)."""
        with self.connection:
            self.connection.execute(
                "INSERT INTO units (unit_id, kind, step, status, attempts, error, finished_at) VALUES (?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT(unit_id) DO UPDATE SET attempts = attempts + 1, error = excluded.error,"
                " status = excluded.status, finished_at = excluded.finished_at",
                (unit_id, kind, step, "failed" if final else "retry", error, time.time()),
            )

    def failed_units(self) -> dict[str, str]:
        return dict(self.connection.execute("SELECT unit_id, error FROM units WHERE status = 'failed'"))

    def save_unit(self, record: dict[str, Any]) -> None:
        """Store a finished unit (graph, runs, weights) in one transaction."""
        unit_id = record["unit_id"]
        study = record["kind"]
        graph = record["graph"]
        self.weights_dir.mkdir(exist_ok=True)
        weight_paths = []
        for run, blob in zip(record["runs"], record["weights"]):
            path = self.weights_dir / f"{unit_id}-{run['init']}.pt"
            _atomic_write(path, blob)
            weight_paths.append(path.relative_to(self.directory).as_posix())
        if record.get("stacked_weights") is not None:
            _atomic_write(self.weights_dir / f"{unit_id}-stacked.pt", record["stacked_weights"])
        timings = record["timings"]
        with self.connection:
            self.connection.execute(
                "INSERT OR REPLACE INTO graphs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    unit_id, study, record["step"], graph["generator"], json.dumps(graph["params"]), graph["seed"],
                    graph["n_parameters"], graph["n_vertices"], json.dumps(graph["edges"]),
                    json.dumps(graph["properties"]), json.dumps(graph["distributions"]),
                ),
            )
            self.connection.executemany(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        f"{unit_id}-{run['init']}", unit_id, study, record["step"], run["init"], run["copy"],
                        run["status"], run["error"], json.dumps(run["metrics"]), timings.get("train"),
                        timings.get("attack"), path,
                    )
                    for run, path in zip(record["runs"], weight_paths)
                ],
            )
            self.connection.execute(
                "INSERT INTO units (unit_id, kind, step, status, attempts, error, timings, finished_at)"
                " VALUES (?, ?, ?, 'done', 1, NULL, ?, ?) ON CONFLICT(unit_id) DO UPDATE SET status = 'done',"
                " attempts = attempts + 1, error = NULL, timings = excluded.timings, finished_at = excluded.finished_at",
                (unit_id, study, record["step"], json.dumps(timings), time.time()),
            )

    def stacked_weights(self, unit_id: str) -> bytes:
        """The stacked state_dict a pruning step left for the next one."""
        return (self.weights_dir / f"{unit_id}-stacked.pt").read_bytes()

    # -- frames ------------------------------------------------------------------------------
    def _frame(self, sql: str) -> pd.DataFrame:
        return pd.read_sql_query(sql, self.connection)

    def runs_frame(self) -> pd.DataFrame:
        """One row per run with its metrics as columns (``accuracy``, ``fgsm_error_rate``, ...)."""
        frame = self._frame("SELECT * FROM runs ORDER BY study, step, graph_id, copy")
        metrics = pd.DataFrame([json.loads(m) for m in frame.pop("metrics")], index=frame.index)
        frame = frame.rename(columns={"weights": "weights_path"}).astype({"step": "Int64"})
        return pd.concat([frame, metrics], axis=1)

    def graphs_frame(self) -> pd.DataFrame:
        """One row per graph: generator parameters as columns, then ``dag_*``/``prior_*`` properties."""
        frame = self._frame(
            "SELECT graph_id, study, step, generator, params, seed, n_parameters, n_vertices, properties FROM graphs ORDER BY study, step, graph_id"
        )
        params = pd.DataFrame([json.loads(p) for p in frame.pop("params")], index=frame.index)
        props = pd.DataFrame([json.loads(p) for p in frame.pop("properties")], index=frame.index)
        params = params[[c for c in params.columns if c not in frame.columns]]
        frame = frame.astype({"seed": "Int64", "step": "Int64"})
        return pd.concat([frame, params, props], axis=1)

    def draws_frame(self) -> pd.DataFrame:
        """Every sampled draw, accepted or not, generator parameters as columns."""
        frame = self._frame("SELECT * FROM draws ORDER BY idx")
        params = pd.DataFrame([json.loads(p) for p in frame.pop("params")], index=frame.index)
        frame["accepted"] = frame["accepted"].astype(bool)
        return pd.concat([frame, params], axis=1)

    def units_frame(self) -> pd.DataFrame:
        return self._frame("SELECT * FROM units ORDER BY kind, step, unit_id")

    def graph_edges(self, graph_id: str) -> tuple[int, list[tuple[int, int]]]:
        """Number of vertices and the DAG edge list of a stored graph."""
        row = self.connection.execute("SELECT n_vertices, edges FROM graphs WHERE graph_id = ?", (graph_id,)).fetchone()
        if row is None:
            raise KeyError(f"no graph {graph_id!r} in {self.path}")
        return int(row[0]), [tuple(e) for e in json.loads(row[1])]
