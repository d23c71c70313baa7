"""Assets stand alone: each finds its input in the raw store, so it materializes on a fresh Dagster instance from
what is on disk; tenants are partitions that succeed and fail on their own."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline.definitions import build_definitions
from m365_pipeline.defs.directory.assets import raw_key, warehouse_key
from m365_pipeline.defs.main_run import run_main_job
from m365_pipeline.defs.reports.assets import USER_LIST_KEY
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.settings import load_settings
from m365_pipeline.warehouse import schema
from m365_pipeline_tests.defs.conftest import SLICE_SEED, SLICE_USERS


def _materialize_alone(key: dg.AssetKey, tenant: str) -> dg.ExecuteInProcessResult:
    """Materialize the step that makes ``key`` on a brand-new instance: no event log to lean on."""
    defs = build_definitions(load_settings())
    job = defs.resolve_implicit_global_asset_job_def()
    step_keys = defs.resolve_assets_def(key).keys
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), partition_key=tenant, asset_selection=list(step_keys)
    )


def _users_per_tenant(data_dir: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.connect() as connection:
        users = schema.users
        counts = connection.execute(sa.select(users.c.tenant_id, sa.func.count()).group_by(users.c.tenant_id)).all()
    engine.dispose()
    return {tenant: count for tenant, count in counts}


@pytest.mark.parametrize(
    "key",
    [*(warehouse_key(name) for name in ("tenants", "users", "user_licenses", "skus", "groups")), USER_LIST_KEY],
    ids=lambda key: key.to_user_string(),
)
def test_each_asset_materializes_alone_on_a_fresh_instance(embedded_default: Path, key: dg.AssetKey) -> None:
    tenant = generate_tenant(SLICE_SEED, SLICE_USERS).tenant_id
    assert _materialize_alone(raw_key("users"), tenant).success
    if key == USER_LIST_KEY:
        assert _materialize_alone(warehouse_key("users"), tenant).success

    result = _materialize_alone(key, tenant)

    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert key in materialized
    assert _users_per_tenant(embedded_default) == {tenant: SLICE_USERS}
    if key == USER_LIST_KEY:
        (report,) = (embedded_default / "reports" / tenant / "EntraIDManagement").glob("AllUsers_*.csv")
        assert len(report.read_text(encoding="utf-8-sig").splitlines()) == SLICE_USERS + 1


def test_the_warehouse_without_any_extract_fails_naming_the_store(embedded_default: Path) -> None:
    tenant = generate_tenant(SLICE_SEED, SLICE_USERS).tenant_id
    defs = build_definitions(load_settings())
    job = defs.resolve_implicit_global_asset_job_def()
    keys = list(defs.resolve_assets_def(warehouse_key("users")).keys)

    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), partition_key=tenant, asset_selection=keys, raise_on_error=False
    )

    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "no complete extract" in message and str(embedded_default / "raw") in message


def test_three_tenants_one_refusing_the_app_does_not_stop_the_other_two(
    embedded_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = (21, 22, 23)
    tenants = [generate_tenant(seed, 60 + seed) for seed in seeds]
    refusing = tenants[1].tenant_id
    emulator = GraphEmulator(tenants, permissions_by_tenant={refusing: frozenset()})
    with serve(emulator) as served:
        monkeypatch.setenv("M365_EMULATOR_URL", served.url)
        monkeypatch.setenv("M365_EMULATOR_SEED", ",".join(str(seed) for seed in seeds))
        monkeypatch.setenv("M365_MAX_RETRIES", "0")

        outcome = run_main_job(dg.DagsterInstance.ephemeral())

    by_tenant = {run.tenant: run for run in outcome.runs}
    assert [run.tenant for run in outcome.runs] == [tenant.tenant_id for tenant in tenants]
    assert not outcome.success
    assert not by_tenant[refusing].success
    reason = by_tenant[refusing].failure_reason or ""
    assert "raw_directory" in reason and "403" in reason and "Authorization_RequestDenied" in reason
    assert by_tenant[refusing].log_file.is_file()
    assert all(by_tenant[tenant.tenant_id].success for tenant in tenants if tenant.tenant_id != refusing)
    assert _users_per_tenant(embedded_default) == {
        tenant.tenant_id: len(tenant.users) for tenant in tenants if tenant.tenant_id != refusing
    }
