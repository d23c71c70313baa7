"""Call records days as Dagster partitions: a three-day backfill from the CLI in one run, a day re-materialized."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline.definitions import build_definitions
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.settings import load_settings
from m365_pipeline.warehouse.call_tables import CALL_TABLES, call_records
from m365_pipeline_tests.defs.backfill import launch_days

SEED, USERS, PER_DAY = 31, 40, 12
CALL_ASSETS = ["raw/call_records", *(f"warehouse/{table.name}" for table in CALL_TABLES)]


def _rows(data_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.connect() as connection:
        rows = {
            table.name: [tuple(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key))]
            for table in CALL_TABLES
        }
    engine.dispose()
    return rows


def test_a_three_day_backfill_from_the_cli_runs_once_and_a_day_materialized_again_is_unchanged(
    embedded_default: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = generate_tenant(SEED, USERS)
    # the last day two days back: a call of yesterday evening may not have ended (so has no record) yet
    last = datetime.now(UTC).date() - timedelta(days=2)
    days = [last - timedelta(days=2), last - timedelta(days=1), last]
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("M365_EMULATOR_SEED", str(SEED))
    monkeypatch.setenv("M365_EMULATOR_USERS", str(USERS))
    emulator = GraphEmulator(tenant, calls_per_day=PER_DAY, limits=True)
    with serve(emulator) as served:
        monkeypatch.setenv("M365_EMULATOR_URL", served.url)
        materialized = launch_days(CALL_ASSETS, days, tenant.tenant_id, dg.AssetKey(["raw", "call_records"]))
        assert materialized == {f"{day}|{tenant.tenant_id}" for day in days}
        before = _rows(embedded_default)
        by_day: dict[date, int] = {}
        for row in before["call_records"]:
            by_day[row[1]] = by_day.get(row[1], 0) + 1  # (tenant_id, day, id, ...)
        assert by_day == {day: PER_DAY for day in days}
        engine = sa.create_engine(f"sqlite:///{embedded_default / 'warehouse.db'}")
        with engine.connect() as connection:
            texts = dict(connection.execute(sa.select(call_records.c.start_date_time, call_records.c.day)).all())
        engine.dispose()
        for day in days:
            assert texts[f"{day}T23:59:59.9999999Z"] == day
            assert texts[f"{day}T00:00:00Z"] == day

        defs = build_definitions(load_settings())
        job = defs.resolve_implicit_global_asset_job_def()
        again = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            partition_key=f"{days[1]}|{tenant.tenant_id}",
            asset_selection=[dg.AssetKey.from_user_string(key) for key in CALL_ASSETS],
        )
    assert again.success
    assert _rows(embedded_default) == before
    assert emulator.over_limit() == {}
    checks = {event.check_name: event.passed for event in again.get_asset_check_evaluations()}
    assert checks == {"day_complete": True, "ids_unique_across_days": True}


def test_a_day_beyond_thirty_days_fails_the_run_with_the_reason(embedded_default: Path) -> None:
    tenant = generate_tenant(7, 240).tenant_id
    old_day = datetime.now(UTC).date() - timedelta(days=31)
    job = build_definitions(load_settings()).resolve_implicit_global_asset_job_def()

    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=f"{old_day}|{tenant}",
        asset_selection=[dg.AssetKey(["raw", "call_records"])],
        raise_on_error=False,
    )

    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    error = failure.step_failure_data.error
    assert error.cause is not None and "older than the tenant's retention of 30 days" in error.cause.message
    assert not (embedded_default / "raw" / "call_records").exists()
