"""The directory's incremental refresh as Dagster runs it: after a full load (job main), job directory_refresh
applies only what changed in the emulator's tenant, says so in its metadata, and writes the report again; with
nothing changed it writes nothing; and a full run after it still publishes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline.definitions import build_definitions
from m365_pipeline.defs.directory.refresh import DIRECTORY_DELTA_KEY, DIRECTORY_REFRESH_JOB
from m365_pipeline.defs.main_run import run_main_job
from m365_pipeline.defs.reports.assets import USER_LIST_KEY
from m365_pipeline.emulator.in_process import shared_emulator
from m365_pipeline.settings import load_settings
from m365_pipeline.sources import configured_tenants
from m365_pipeline.warehouse import schema


def refresh(instance: dg.DagsterInstance, tenant: str) -> dict[dg.AssetKey, dict[str, Any]]:
    job = build_definitions(load_settings()).resolve_job_def(DIRECTORY_REFRESH_JOB)
    result = job.execute_in_process(instance=instance, partition_key=tenant)
    assert result.success
    return {
        event.materialization.asset_key: {key: value.value for key, value in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }


def warehouse_users(data_dir: Path) -> dict[str, tuple[Any, ...]]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    users = schema.users
    with engine.connect() as connection:
        rows = connection.execute(sa.select(users.c.id, users.c.department, users.c.deleted_at)).all()
    engine.dispose()
    return {row.id: (row.department, row.deleted_at) for row in rows}


def report_departments(path: str) -> dict[str, str]:
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        return {row["Id"]: row["Department"] for row in csv.DictReader(handle)}


def test_the_refresh_applies_only_the_changes_and_writes_the_report_again(
    embedded_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("M365_EMULATOR_USERS", "83")  # an emulator of its own: this test changes its tenant
    settings = load_settings()
    (tenant,) = configured_tenants(settings)
    instance = dg.DagsterInstance.ephemeral()
    assert run_main_job(instance).success
    state = shared_emulator(settings.emulator.seeds, settings.emulator.users, settings.emulator.faults).state(tenant)
    renamed, deleted = sorted(state.users.live)[:2]
    added = state.add_user(department="Legal", usageLocation="JP")
    state.update_user(renamed, department="Refreshed")
    state.soft_delete(deleted)

    materialized = refresh(instance, tenant)

    delta = materialized[DIRECTORY_DELTA_KEY]
    assert (delta["rounds"], delta["full_resync"]) == (2, False)
    counts = ("objects_added", "objects_changed", "objects_soft_deleted", "objects_deleted")
    assert tuple(delta[name] for name in counts) == (1, 1, 1, 0)
    users = warehouse_users(embedded_default)
    assert users[added][0] == "Legal" and users[renamed][0] == "Refreshed"
    assert users[deleted][1] is not None
    assert set(users) == {*state.users.live, deleted}
    report = materialized[USER_LIST_KEY]
    departments = report_departments(report["path"])
    assert set(departments) == set(state.users.live)  # the soft-deleted user is not listed
    assert report["dagster/row_count"] == len(state.users.live)
    assert (departments[added], departments[renamed]) == ("Legal", "Refreshed")

    unchanged = refresh(instance, tenant)
    assert all(unchanged[DIRECTORY_DELTA_KEY][name] == 0 for name in counts)
    assert unchanged[USER_LIST_KEY]["path"] == report["path"]  # nothing changed: the same report

    assert run_main_job(instance).success  # a full run after the refresh still publishes (newer than the round)
    assert set(warehouse_users(embedded_default)) == set(state.users.live)  # the full extract lists no soft-deleted


def test_the_refresh_needs_a_full_load_first(embedded_default: Path) -> None:
    (tenant,) = configured_tenants(load_settings())
    job = build_definitions(load_settings()).resolve_job_def(DIRECTORY_REFRESH_JOB)
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=tenant, raise_on_error=False)
    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert "run job main first" in str(failure.step_failure_data.error)
