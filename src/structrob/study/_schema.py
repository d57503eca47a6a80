"""The study database's schema: its tables, how a study database is known, and migrations.

:func:`apply_schema` creates the tables a database lacks and brings one written by an earlier
release up to date in place (the arm column renamed to :data:`structrob.vocabulary.ARM`,
columns added since); :func:`probe` and :func:`is_study` tell a study database from another
program's. :class:`structrob.study.store.Store` is the only user.
"""

from __future__ import annotations

import sqlite3

from structrob.vocabulary import ARM

__all__ = ["APPLICATION_ID", "SCHEMA", "TABLES", "apply_schema", "is_study", "probe"]

#: ``PRAGMA application_id`` of a study database ("STRB"); 0 in stores written before it.
APPLICATION_ID = 0x53545242
#: Tables by which a store written before APPLICATION_ID is known as a study's.
TABLES = frozenset({"units", "graphs", "runs"})

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS draws (
    idx INTEGER PRIMARY KEY, generator TEXT NOT NULL, params TEXT NOT NULL,
    seed INTEGER NOT NULL, n_parameters INTEGER NOT NULL, accepted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    unit_id TEXT PRIMARY KEY, {ARM} TEXT NOT NULL, step INTEGER, status TEXT NOT NULL,
    attempts INTEGER NOT NULL, error TEXT, timings TEXT, finished_at REAL, traceback TEXT
);
CREATE TABLE IF NOT EXISTS graphs (
    graph_id TEXT PRIMARY KEY, {ARM} TEXT NOT NULL, step INTEGER, generator TEXT NOT NULL,
    params TEXT NOT NULL, seed INTEGER, n_parameters INTEGER NOT NULL,
    n_vertices INTEGER NOT NULL, edges TEXT NOT NULL, properties TEXT NOT NULL,
    distributions TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, graph_id TEXT NOT NULL REFERENCES graphs(graph_id),
    {ARM} TEXT NOT NULL, step INTEGER, init TEXT NOT NULL, copy INTEGER NOT NULL,
    status TEXT NOT NULL, error TEXT, metrics TEXT NOT NULL, train_seconds REAL,
    attack_seconds REAL, weights TEXT
);
"""

#: Columns that named the arm before :data:`ARM` did, per table.
_FORMER_ARM_COLUMNS = {"units": "kind", "graphs": "study", "runs": "study"}
#: Columns added to a table after its first release: table -> (column, SQL type).
_ADDED_COLUMNS = {"units": ("traceback", "TEXT")}


def probe(connection: sqlite3.Connection) -> tuple[int, set[str]]:
    """The application id and table names of an open database (reads its header and schema)."""
    app_id = connection.execute("PRAGMA application_id").fetchone()[0]
    tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    check = connection.execute("PRAGMA quick_check(1)").fetchone()[0]
    if check != "ok":
        raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
    return int(app_id), tables


def is_study(app_id: int, tables: set[str]) -> bool:
    """Whether a database with this application id and these tables is a study's."""
    return app_id == APPLICATION_ID or (app_id == 0 and TABLES <= tables)


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def apply_schema(connection: sqlite3.Connection) -> None:
    """Create the missing tables, migrate those of an earlier release, set the application id.

    Not committed: the caller commits (with its other set-up statements).
    """
    connection.executescript(SCHEMA)
    for table, former in _FORMER_ARM_COLUMNS.items():
        columns = _columns(connection, table)
        if former in columns and ARM not in columns:
            connection.execute(f"ALTER TABLE {table} RENAME COLUMN {former} TO {ARM}")
    for table, (column, kind) in _ADDED_COLUMNS.items():
        if column not in _columns(connection, table):
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
