"""An SQLite warehouse held in one state while a snapshot reads it: in place in WAL mode (its bytes and what the
immutable connections see stay those of the moment it was frozen, whatever is committed meanwhile), copied
through the backup API when the write-ahead log holds data a reader still needs or the database is in
rollback-journal mode."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from pathlib import Path

import pytest

from m365_pipeline.snapshots.databases import frozen_sqlite


def _database(path: Path, journal_mode: str, rows: int, timeout: float = 5.0) -> sqlite3.Connection:
    """A database of ``rows`` rows and the open connection that wrote them (in WAL mode they stay in the log
    until a checkpoint: closing the last connection would checkpoint them)."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=timeout)
    connection.execute(f"PRAGMA journal_mode={journal_mode}")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    connection.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in range(rows)])
    return connection


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _names(connection: sqlite3.Connection) -> list[str]:
    return [name for (name,) in connection.execute("SELECT name FROM t ORDER BY id")]


def test_a_wal_database_is_read_in_place_and_later_commits_and_checkpoints_do_not_reach_it(tmp_path: Path) -> None:
    source = tmp_path / "warehouse.db"
    writer = _database(source, "wal", 100)
    assert (tmp_path / "warehouse.db-wal").stat().st_size > 0  # the rows are in the log until the freeze
    with contextlib.closing(writer), frozen_sqlite(source, tmp_path / "copy.db") as frozen:
        assert not frozen.copied and frozen.path == source
        frozen_bytes = _sha256(source)
        writer.execute("UPDATE t SET name = 'changed' WHERE id < 50")
        writer.execute("INSERT INTO t VALUES (1000, 'added')")
        busy, _, checkpointed = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert (busy, checkpointed) == (0, 0)  # nothing may be written into the frozen file
        assert _sha256(source) == frozen_bytes
        with contextlib.closing(frozen.connect()) as reader:
            assert _names(reader) == [f"row {i}" for i in range(100)]
        assert _names(writer)[:2] == ["changed", "changed"]
    assert not (tmp_path / "copy.db").exists()
    with contextlib.closing(sqlite3.connect(source)) as after:
        assert len(_names(after)) == 101


def test_a_wal_log_a_reader_still_needs_is_copied_with_everything_committed(tmp_path: Path) -> None:
    source = tmp_path / "warehouse.db"
    writer = _database(source, "wal", 10)
    reader = sqlite3.connect(source, isolation_level=None)
    with contextlib.closing(writer), contextlib.closing(reader):
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchone()  # holds the log's frames: no truncation possible
        with frozen_sqlite(source, tmp_path / "copy.db") as frozen:
            assert frozen.copied and frozen.path == tmp_path / "copy.db"
            with contextlib.closing(frozen.connect()) as copy:
                assert _names(copy) == [f"row {i}" for i in range(10)]
        reader.execute("ROLLBACK")


def test_a_rollback_journal_database_is_copied_so_writers_need_not_wait_for_the_snapshot(tmp_path: Path) -> None:
    source = tmp_path / "warehouse.db"
    writer = _database(source, "delete", 20, timeout=0.05)
    with contextlib.closing(writer), frozen_sqlite(source, tmp_path / "copy.db") as frozen:
        assert frozen.copied and frozen.path == tmp_path / "copy.db"
        writer.execute("UPDATE t SET name = 'changed'")
        with contextlib.closing(frozen.connect()) as copy:
            assert _names(copy) == [f"row {i}" for i in range(20)]


def test_a_missing_database_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.db"), frozen_sqlite(tmp_path / "nowhere.db", tmp_path / "c"):
        pass
