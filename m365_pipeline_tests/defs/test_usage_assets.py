"""The usage reports job: every report of a tenant from a served emulator into the warehouse, names flagged."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline.definitions import build_definitions
from m365_pipeline.defs.usage.assets import NAMES_NOT_CONCEALED, USAGE_JOB_NAME
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.entities.usage_reports import USAGE_REPORTS
from m365_pipeline.settings import load_settings
from m365_pipeline.warehouse.usage_tables import USAGE_TABLES

SEED, USERS = 41, 30


def test_the_usage_job_loads_every_report_and_flags_concealed_names(
    embedded_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = generate_tenant(SEED, USERS)
    monkeypatch.setenv("M365_EMULATOR_SEED", str(SEED))
    monkeypatch.setenv("M365_EMULATOR_USERS", str(USERS))
    emulator = GraphEmulator(tenant)
    with serve(emulator) as served:
        monkeypatch.setenv("M365_EMULATOR_URL", served.url)
        job = build_definitions(load_settings()).resolve_job_def(USAGE_JOB_NAME)
        result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=tenant.tenant_id)

    assert result.success
    materializations = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    for name in USAGE_REPORTS:
        assert materializations[f"raw/usage/{name}"]["names_concealed"].value is True
        assert materializations[f"warehouse/usage_{name}"]["names_concealed"].value is True
    checks = [event for event in result.get_asset_check_evaluations() if event.check_name == NAMES_NOT_CONCEALED]
    assert len(checks) == len(USAGE_REPORTS) and not any(check.passed for check in checks)
    assert {check.severity for check in checks} == {dg.AssetCheckSeverity.WARN}
    engine = sa.create_engine(f"sqlite:///{embedded_default / 'warehouse.db'}")
    with engine.connect() as connection:
        counts = {
            name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in USAGE_TABLES.items()
        }
    engine.dispose()
    licensed = [user for user in tenant.users if user["assignedLicenses"]]
    assert counts["office365_active_users"] == len(licensed) and counts["teams_user_activity"] == len(licensed)
    assert all(count > 0 for count in counts.values())
