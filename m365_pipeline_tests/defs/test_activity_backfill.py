"""Activity days as Dagster partitions: a three-day backfill from the CLI in one run, a day re-materialized."""

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
from m365_pipeline.warehouse.activity_tables import sign_ins
from m365_pipeline_tests.defs.backfill import launch_days

SEED, USERS, PER_DAY = 31, 40, 300
SIGN_IN_ASSETS = ["raw/sign_ins", "warehouse/sign_ins", "warehouse/sign_in_policies"]


def _rows_by_day(data_dir: Path) -> dict[date, list[tuple[object, ...]]]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    rows: dict[date, list[tuple[object, ...]]] = {}
    with engine.connect() as connection:
        for row in connection.execute(sa.select(sign_ins).order_by(sign_ins.c.day, sign_ins.c.id)):
            rows.setdefault(row.day, []).append(tuple(row))
    engine.dispose()
    return rows


def test_a_three_day_backfill_from_the_cli_runs_once_and_a_day_materialized_again_is_unchanged(
    embedded_default: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = generate_tenant(SEED, USERS)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    days = [yesterday - timedelta(days=2), yesterday - timedelta(days=1), yesterday]
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("M365_EMULATOR_SEED", str(SEED))
    monkeypatch.setenv("M365_EMULATOR_USERS", str(USERS))
    emulator = GraphEmulator(tenant, sign_ins_per_day=PER_DAY, audits_per_day=10)
    with serve(emulator) as served:
        monkeypatch.setenv("M365_EMULATOR_URL", served.url)
        materialized = launch_days(SIGN_IN_ASSETS, days, tenant.tenant_id, dg.AssetKey(["raw", "sign_ins"]))
        assert materialized == {f"{day}|{tenant.tenant_id}" for day in days}
        before = _rows_by_day(embedded_default)
        assert {day: len(rows) for day, rows in before.items()} == {day: PER_DAY for day in days}
        texts = {row[4]: row[1] for rows in before.values() for row in rows}  # created_date_time -> day
        for day in days:
            assert texts[f"{day}T23:59:59.9999999Z"] == day
            assert texts[f"{day}T00:00:00Z"] == day

        defs = build_definitions(load_settings())
        job = defs.resolve_implicit_global_asset_job_def()
        keys = [dg.AssetKey.from_user_string(key) for key in SIGN_IN_ASSETS]
        again = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            partition_key=f"{days[1]}|{tenant.tenant_id}",
            asset_selection=keys,
        )
    assert again.success
    assert _rows_by_day(embedded_default) == before
    checks = {event.check_name: event.passed for event in again.get_asset_check_evaluations()}
    assert checks == {"day_complete": True, "ids_unique_across_days": True}


def test_a_day_beyond_the_retention_fails_the_run_with_the_reason(embedded_default: Path) -> None:
    tenant = generate_tenant(7, 240).tenant_id
    old_day = datetime.now(UTC).date() - timedelta(days=45)
    defs = build_definitions(load_settings())
    job = defs.resolve_implicit_global_asset_job_def()

    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=f"{old_day}|{tenant}",
        asset_selection=[dg.AssetKey(["raw", "directory_audits"])],
        raise_on_error=False,
    )

    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    error = failure.step_failure_data.error
    assert error.cause is not None and "older than the tenant's retention of 30 days" in error.cause.message
    assert not (embedded_default / "raw" / "directory_audits").exists()
