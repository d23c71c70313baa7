"""The onedrive job: known shares of a served emulator classified in the warehouse; a second run applies nothing new."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline.definitions import build_definitions
from m365_pipeline.defs.drives.assets import ONEDRIVE_JOB_NAME
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.settings import load_settings
from m365_pipeline.warehouse.drive_tables import drive_item_permissions

SEED, USERS = 47, 60


def test_the_onedrive_job_classifies_every_known_share(embedded_default: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = generate_tenant(SEED, USERS)
    emulator = GraphEmulator(tenant)
    monkeypatch.setenv("M365_EMULATOR_SEED", str(SEED))
    monkeypatch.setenv("M365_EMULATOR_USERS", str(USERS))
    with serve(emulator) as served:
        monkeypatch.setenv("M365_EMULATOR_URL", served.url)
        job = build_definitions(load_settings()).resolve_job_def(ONEDRIVE_JOB_NAME)
        for _ in range(2):
            result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=tenant.tenant_id)
            assert result.success

    kinds = emulator._graphs[tenant.tenant_id].drives.kinds
    engine = sa.create_engine(f"sqlite:///{embedded_default / 'warehouse.db'}")
    table = drive_item_permissions
    with engine.connect() as connection:
        classified = dict(
            ((drive, item, permission), kind)
            for drive, item, permission, kind in connection.execute(
                sa.select(table.c.drive_id, table.c.item_id, table.c.permission_id, table.c.classification).where(
                    table.c.classification != "owner"
                )
            )
        )
    engine.dispose()
    names = {"anonymous": "anonymous", "organization": "internal", "internal": "internal"}
    names |= {"guest": "external_guest", "external": "external_domain", "group": "internal"}
    assert classified == {key: names[kind] for key, kind in kinds.items()}
    metadata = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert metadata["raw/drive_item_permissions"]["resynced_drives"].value == 0  # the second run: delta only
    assert metadata["warehouse/drive_item_permissions"]["batches_applied"].value == 1
