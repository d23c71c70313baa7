"""Sharing on an emulated tenant with known shares: classified exactly, and kept current by the drive delta."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from m365_pipeline.drives.extract import extract_sharing
from m365_pipeline.drives.load import load_sharing
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse.drive_tables import drive_item_permissions, drives
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import upgrade_to_head
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock

EXPECTED = {
    "anonymous": "anonymous",
    "organization": "internal",
    "internal": "internal",
    "guest": "external_guest",
    "external": "external_domain",
    "group": "internal",
}


def _shares(engine: sa.Engine) -> dict[tuple[str, str, str], str]:
    table = drive_item_permissions
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.drive_id, table.c.item_id, table.c.permission_id, table.c.classification).where(
                table.c.classification != "owner"
            )
        ).all()
    return {(drive, item, permission): kind for drive, item, permission, kind in rows}


def test_known_shares_are_classified_exactly_and_a_change_is_found_by_the_delta(tmp_path: Path) -> None:
    tenant = generate_tenant(43, 120)
    emulator = GraphEmulator(tenant)
    store = RawStore(str(tmp_path / "raw"))
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    upgrade_to_head(engine)
    client = emulator_client(emulator, FakeClock())

    first = extract_sharing(client, store, tenant.tenant_id)
    load_sharing(engine, store, tenant.tenant_id)

    onedrives = emulator._graphs[tenant.tenant_id].drives
    expected = {key: EXPECTED[kind] for key, kind in onedrives.kinds.items()}
    assert set(expected.values()) == set(EXPECTED.values())
    assert _shares(engine) == expected
    licensed_members = [u for u in tenant.users if u["userType"] == "Member" and u["assignedLicenses"]]
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(drives)).scalar_one() == len(licensed_members)
    assert first.resynced_drives == first.drives == len(licensed_members)

    (drive_id, item_id, permission_id), _ = next((key, kind) for key, kind in expected.items() if kind == "internal")
    link = {"id": "new-link", "roles": ["read"], "link": {"scope": "anonymous", "type": "view"}}
    onedrives.share(drive_id, item_id, [link])
    requests_before = len(emulator.requests)

    second = extract_sharing(client, store, tenant.tenant_id)
    applied = load_sharing(engine, store, tenant.tenant_id)

    permission_requests = [
        path for _, path, _ in list(emulator.requests)[requests_before:] if path.endswith("/permissions")
    ]
    assert second.resynced_drives == 0 and second.changed_items == 1 and len(permission_requests) == 1
    assert applied.batches == 1 and applied.last_batch == second.batch_id
    now = _shares(engine)
    assert now[(drive_id, item_id, "new-link")] == "anonymous"
    assert (drive_id, item_id, permission_id) not in now
    del expected[(drive_id, item_id, permission_id)]
    assert {key: value for key, value in now.items() if key[2] != "new-link"} == expected
    assert load_sharing(engine, store, tenant.tenant_id).batches == 0
