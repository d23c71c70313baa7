"""The onedrive and sharepoint jobs: known shares of a served emulator classified in the warehouse; a second run
applies nothing new; the checks pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline.definitions import build_definitions
from m365_pipeline.defs.drives.assets import (
    LIBRARIES_ON_LISTED_SITES,
    ONEDRIVE_JOB_NAME,
    PERMISSIONS_ON_LISTED_DRIVES,
    SHAREPOINT_JOB_NAME,
)
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.settings import load_settings
from m365_pipeline.warehouse.drive_tables import site_libraries, site_library_item_permissions
from m365_pipeline_tests.drives.test_sharing import EXPECTED, classified

SEED, USERS = 47, 60


def _run(job_name: str, runs: int, monkeypatch: pytest.MonkeyPatch) -> tuple[GraphEmulator, dg.ExecuteInProcessResult]:
    """``runs`` runs of the job on the tenant of a served emulator; the emulator and the last run's result."""
    tenant = generate_tenant(SEED, USERS)
    emulator = GraphEmulator(tenant)
    monkeypatch.setenv("M365_EMULATOR_SEED", str(SEED))
    monkeypatch.setenv("M365_EMULATOR_USERS", str(USERS))
    with serve(emulator) as served:
        monkeypatch.setenv("M365_EMULATOR_URL", served.url)
        job = build_definitions(load_settings()).resolve_job_def(job_name)
        for _ in range(runs):
            result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=tenant.tenant_id)
            assert result.success
    return emulator, result


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """Asset key -> the metadata of its materialization in the run."""
    events = [event.materialization for event in result.get_asset_materialization_events()]
    return {event.asset_key.to_user_string(): event.metadata for event in events}


def test_the_onedrive_job_classifies_every_known_share(embedded_default: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, result = _run(ONEDRIVE_JOB_NAME, 2, monkeypatch)

    engine = sa.create_engine(f"sqlite:///{embedded_default / 'warehouse.db'}")
    shares = classified(engine)
    engine.dispose()
    assert shares == {
        key: EXPECTED[kind] for key, kind in emulator._graphs[emulator.tenant.tenant_id].drives.kinds.items()
    }
    metadata = _metadata(result)
    assert metadata["raw/drive_item_permissions"]["resynced_drives"].value == 0  # the second run: delta only
    assert metadata["warehouse/drive_item_permissions"]["batches_applied"].value == 1


def test_the_sharepoint_job_loads_sites_libraries_and_classified_shares_and_its_checks_pass(
    embedded_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, result = _run(SHAREPOINT_JOB_NAME, 1, monkeypatch)

    truth = emulator.sites()
    engine = sa.create_engine(f"sqlite:///{embedded_default / 'warehouse.db'}")
    shares = classified(engine, site_library_item_permissions)
    with engine.connect() as connection:
        libraries = connection.execute(sa.select(sa.func.count()).select_from(site_libraries)).scalar_one()
    engine.dispose()
    assert shares == {key: EXPECTED[kind] for key, kind in truth.kinds.items()}
    assert libraries == sum(len(listed) for listed in truth.libraries.values())
    checks = {check.check_name: check.passed for check in result.get_asset_check_evaluations()}
    assert checks == {PERMISSIONS_ON_LISTED_DRIVES: True, LIBRARIES_ON_LISTED_SITES: True}
    metadata = _metadata(result)
    assert metadata["raw/sites"]["dagster/row_count"].value == len(truth.sites)
    assert metadata["warehouse/site_library_item_permissions"]["batches_applied"].value == 1
