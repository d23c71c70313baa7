"""`m365 asof DATE`: the directory on a date, printed from the history a delta round recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from m365_pipeline.cli import main
from m365_pipeline.directory.delta import USERS, sync_delta
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline_tests.directory.scripted_graph import ScriptedGraph, page, scripted_client
from m365_pipeline_tests.directory.test_delta import E3, TENANT, user


def test_asof_prints_the_state_of_that_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_sqlite: Callable[[Path], str]
) -> None:
    url = migrated_sqlite(tmp_path / "warehouse.db")
    monkeypatch.setenv("M365_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("M365_DATABASE_URL", url)
    engine = create_warehouse_engine(url)
    graph = ScriptedGraph()
    graph.on("first", page("/users/delta", [user(1, skus=(E3,)), user(2, accountEnabled=False)], delta_token="t1"))
    sync_delta(scripted_client(graph), engine, TENANT, USERS, at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    graph.on("t1", page("/users/delta", [{"id": user(2)["id"], "@removed": {"reason": "deleted"}}], delta_token="t2"))
    sync_delta(scripted_client(graph), engine, TENANT, USERS, at=datetime(2026, 11, 5, 9, tzinfo=UTC))
    engine.dispose()

    on_the_3rd = CliRunner().invoke(main, ["asof", "2026-11-03", "--tenant", TENANT])
    assert on_the_3rd.exit_code == 0, on_the_3rd.output
    assert "users 2 (enabled 1, guests 0)" in on_the_3rd.output and f"licence {E3}: 1" in on_the_3rd.output
    on_the_6th = CliRunner().invoke(main, ["asof", "2026-11-06"])
    assert "users 1 (enabled 1, guests 0)" in on_the_6th.output
    before = CliRunner().invoke(main, ["asof", "2026-11-01T00:00:00Z"])
    assert "users 0 (enabled 0, guests 0)" in before.output


def test_asof_refuses_a_date_it_cannot_read() -> None:
    result = CliRunner().invoke(main, ["asof", "yesterday"])
    assert result.exit_code == 2 and "neither a date" in result.output
