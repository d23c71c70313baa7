"""The warehouse engine: SQLite (the embedded default) or PostgreSQL through psycopg 3."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SQLITE_BUSY_TIMEOUT_MS = 60_000
# Execution option: how a SQLite transaction on this connection begins ("IMMEDIATE" unless set).
SQLITE_BEGIN = "m365_sqlite_begin"
SQLITE_DEFERRED = "DEFERRED"


def create_warehouse_engine(url: str) -> sa.Engine:
    """An engine for the warehouse at `url` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    SQLite gets its folder created, WAL journaling (readers do not block the writer), enforced foreign keys
    and a busy timeout, so concurrent runs wait for each other instead of failing with "database is locked".
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True)
    shown = parsed.render_as_string(hide_password=True)
    raise ValueError(f"warehouse URL '{shown}' is neither sqlite:/// nor postgresql+psycopg://")


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the database to WAL (a no-op once it is). While another connection writes to a new database, still
    in rollback-journal mode, SQLite refuses the switch at once ("database is locked") without waiting its busy
    timeout (waiting could deadlock), so the switch is retried until that timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it defers BEGIN past SELECTs and DDL) and
        # emit BEGIN ourselves below, as SQLAlchemy's SQLite documentation recommends.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # the busy timeout first: every later statement, the WAL switch included, waits up to it for a writer
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes (as the
        # loader does) fails at once under WAL when another writer committed meanwhile, busy timeout or not.
        # A connection that only reads the database and writes TEMP tables (a publication staging rows) asks
        # for DEFERRED, so it does not hold the database-wide write lock while it streams.
        mode = "DEFERRED" if connection.get_execution_options().get(SQLITE_BEGIN) == SQLITE_DEFERRED else "IMMEDIATE"
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
