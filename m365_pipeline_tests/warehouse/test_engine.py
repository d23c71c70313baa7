from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from m365_pipeline.warehouse.engine import SQLITE_BUSY_TIMEOUT_MS, create_warehouse_engine


def test_sqlite_engine_creates_its_folder_and_sets_its_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "warehouse.db"
    engine = create_warehouse_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert path.exists()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": SQLITE_BUSY_TIMEOUT_MS}


def test_a_new_database_another_connection_is_writing_to_is_switched_to_wal_once_it_commits(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # a new database, still in rollback-journal mode, being written
    writer.execute("CREATE TABLE first_writer (x INTEGER)")
    # SQLite refuses the WAL switch at once while the writer holds its lock: the engine must retry, not fail
    committer = threading.Timer(0.5, writer.execute, ["COMMIT"])
    committer.start()
    engine = create_warehouse_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar_one()
            tables = connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
    finally:
        committer.join()
        engine.dispose()
        writer.close()
    assert (mode, tables) == ("wal", ["first_writer"])


def test_sqlite_transactions_roll_back_ddl_and_dml(tmp_path: Path) -> None:
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    try:
        with pytest.raises(RuntimeError), engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
            raise RuntimeError("abort")
        assert not sa.inspect(engine).has_table("t")
    finally:
        engine.dispose()


def test_plain_postgresql_url_uses_psycopg_3(postgres_url: str) -> None:
    engine = create_warehouse_engine(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_unsupported_database_is_refused_without_showing_the_password() -> None:
    with pytest.raises(ValueError, match="neither sqlite") as caught:
        create_warehouse_engine("mysql+pymysql://app:hunter2@db.example/warehouse")
    assert "hunter2" not in str(caught.value)
    assert "db.example" in str(caught.value)
