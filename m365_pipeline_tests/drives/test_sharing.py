"""Sharing on an emulated tenant with known shares: classified exactly, and kept current by the drive delta."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from m365_pipeline.drives.extract import CHANGES, DELTA_LINKS, extract_sharing
from m365_pipeline.drives.load import load_sharing
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse.drive_tables import drive_item_permissions, drives
from m365_pipeline.warehouse.engine import create_warehouse_engine
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


def classified(engine: sa.Engine, table: sa.Table = drive_item_permissions) -> dict[tuple[str, str, str], str]:
    """(drive, item, permission) -> classification of every grantee that is not an owner."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.drive_id, table.c.item_id, table.c.permission_id, table.c.classification).where(
                table.c.classification != "owner"
            )
        ).all()
    return {(drive, item, permission): kind for drive, item, permission, kind in rows}


def test_known_shares_are_classified_exactly_and_a_change_is_found_by_the_delta(
    tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    tenant = generate_tenant(43, 120)
    emulator = GraphEmulator(tenant)
    store = RawStore(str(tmp_path / "raw"))
    engine = create_warehouse_engine(migrated_sqlite(tmp_path / "warehouse.db"))
    client = emulator_client(emulator, FakeClock())

    first = extract_sharing(client, store, tenant.tenant_id)
    load_sharing(engine, store, tenant.tenant_id)

    onedrives = emulator._graphs[tenant.tenant_id].drives
    expected = {key: EXPECTED[kind] for key, kind in onedrives.kinds.items()}
    assert set(expected.values()) == set(EXPECTED.values())
    assert classified(engine) == expected
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
    now = classified(engine)
    assert now[(drive_id, item_id, "new-link")] == "anonymous"
    assert (drive_id, item_id, permission_id) not in now
    del expected[(drive_id, item_id, permission_id)]
    assert {key: value for key, value in now.items() if key[2] != "new-link"} == expected
    assert load_sharing(engine, store, tenant.tenant_id).batches == 0


def _raw_rows(store: RawStore, entity: str, tenant: str, batch_id: str) -> list[dict[str, Any]]:
    return [row for rows in store.iter_record_batches(store.path(entity, tenant, batch_id)) for row in rows]


def _rows(engine: sa.Engine, table: sa.Table) -> set[tuple[object, ...]]:
    with engine.connect() as connection:
        return {tuple(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key.columns))}


def _fresh_warehouse(
    tmp_path: Path, emulator: GraphEmulator, name: str, migrated_sqlite: Callable[[Path], str]
) -> sa.Engine:
    """A new warehouse loaded from a first (full) extraction of the emulator as it is now."""
    store = RawStore(str(tmp_path / f"{name}-raw"))
    engine = create_warehouse_engine(migrated_sqlite(tmp_path / f"{name}.db"))
    extract_sharing(emulator_client(emulator, FakeClock()), store, emulator.tenant.tenant_id)
    load_sharing(engine, store, emulator.tenant.tenant_id)
    return engine


def test_an_expired_delta_link_is_answered_410_and_a_full_resync_ends_exact(
    tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    tenant = generate_tenant(44, 80)
    emulator = GraphEmulator(tenant)
    store = RawStore(str(tmp_path / "raw"))
    engine = create_warehouse_engine(migrated_sqlite(tmp_path / "warehouse.db"))
    client = emulator_client(emulator, FakeClock())
    extract_sharing(client, store, tenant.tenant_id)
    load_sharing(engine, store, tenant.tenant_id)

    onedrives = emulator._graphs[tenant.tenant_id].drives
    by_kind: dict[str, list[tuple[str, str, str]]] = {}
    for key, kind in onedrives.kinds.items():
        by_kind.setdefault(kind, []).append(key)
    removed, unshared = by_kind["anonymous"][0], by_kind["guest"][0]
    onedrives.remove(removed[0], removed[1])  # a shared item deleted while the link is unused
    onedrives.share(unshared[0], unshared[1], [])  # another's shares withdrawn
    del onedrives.kinds[unshared]
    emulator.expire_delta_tokens(410)
    requests_before = len(emulator.requests)

    batch = extract_sharing(client, store, tenant.tenant_id)
    load_sharing(engine, store, tenant.tenant_id)

    gone = [path for _, path, status in list(emulator.requests)[requests_before:] if status == 410]
    assert batch.resynced_drives == batch.drives == len(gone) > 0
    assert all("/root/delta?token=" in path for path in gone)
    shares = classified(engine)
    assert shares == {key: EXPECTED[kind] for key, kind in onedrives.kinds.items()}
    assert not any(key[:2] == removed[:2] for key in shares) and not any(key[:2] == unshared[:2] for key in shares)
    fresh = _fresh_warehouse(tmp_path, emulator, "fresh", migrated_sqlite)
    assert _rows(engine, drive_item_permissions) == _rows(fresh, drive_item_permissions)  # owners' rows included
    assert _rows(engine, drives) == _rows(fresh, drives)

    # the links the resync ended with are good again: the next run is a delta that finds the next removal
    kept = by_kind["external"][0]
    onedrives.remove(kept[0], kept[1])
    after = extract_sharing(client, store, tenant.tenant_id)
    load_sharing(engine, store, tenant.tenant_id)
    assert after.resynced_drives == 0 and after.changed_items == 1
    assert _rows(engine, drive_item_permissions) == _rows(
        _fresh_warehouse(tmp_path, emulator, "again", migrated_sqlite), drive_item_permissions
    )


def test_a_next_link_expiring_mid_drive_restarts_that_drive_and_only_its_last_enumeration_is_applied(
    tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    tenant = generate_tenant(45, 40)
    emulator = GraphEmulator(tenant, drive_delta_page_size=3)  # 7 items a drive: three pages
    store = RawStore(str(tmp_path / "raw"))
    engine = create_warehouse_engine(migrated_sqlite(tmp_path / "warehouse.db"))
    client = emulator_client(emulator, FakeClock())
    onedrives = emulator._graphs[tenant.tenant_id].drives
    get_json, removed = client.get_json, []

    def expiring_after_a_first_page(url: str, *arguments: Any, **options: Any) -> dict[str, Any]:
        """Once, on a first delta page with a shared item: the item is deleted and the links expire."""
        body: dict[str, Any] = get_json(url, *arguments, **options)
        shared = [item for item in body.get("value", []) if "shared" in item]
        if not removed and "/root/delta" in url and "@odata.nextLink" in body and shared:
            drive_id = shared[0]["parentReference"]["driveId"]
            onedrives.remove(drive_id, shared[0]["id"])
            emulator.expire_delta_tokens(410)
            removed.append((drive_id, shared[0]["id"]))
        return body

    client.get_json = expiring_after_a_first_page  # type: ignore[method-assign]
    batch = extract_sharing(client, store, tenant.tenant_id)
    load_sharing(engine, store, tenant.tenant_id)

    ((drive_id, item_id),) = removed
    links = {row["drive_id"]: row for row in _raw_rows(store, DELTA_LINKS, tenant.tenant_id, batch.batch_id)}
    assert [drive for drive, row in links.items() if row["enumeration"]] == [drive_id]
    assert links[drive_id]["enumeration"] == 1 and links[drive_id]["resynced"]
    changes = _raw_rows(store, CHANGES, tenant.tenant_id, batch.batch_id)
    assert {row["enumeration"] for row in changes if row["drive_id"] == drive_id} == {0, 1}
    assert any(row["item_id"] == item_id for row in changes)  # read by the enumeration given up, then gone
    fresh = _fresh_warehouse(tmp_path, emulator, "fresh", migrated_sqlite)
    assert _rows(engine, drive_item_permissions) == _rows(fresh, drive_item_permissions)
    assert not any(key[:2] == (drive_id, item_id) for key in classified(engine))
    assert any(key[0] == drive_id for key in classified(engine))
