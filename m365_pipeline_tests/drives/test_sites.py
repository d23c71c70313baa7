"""SharePoint on an emulated tenant with known shares: every site, every library with its quota, and the sharing of
the libraries' items classified exactly, then kept current by each library's delta as for OneDrive."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from m365_pipeline.drives.load import SHAREPOINT_TABLES, load_sharing
from m365_pipeline.drives.sites import extract_site_sharing
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse.drive_tables import site_libraries, site_library_item_permissions, sites
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline_tests.drives.test_sharing import EXPECTED, classified
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sites_libraries_quotas_and_shares_are_exact_and_kept_current_by_the_delta(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    tenant = generate_tenant(45, 90)
    emulator = GraphEmulator(tenant)
    store = RawStore(str(tmp_path / "raw"))
    if database == "postgresql":
        url = request.getfixturevalue("migrated_postgres_url")
    else:
        url = request.getfixturevalue("migrated_sqlite")(tmp_path / "w.db")
    engine = create_warehouse_engine(url)
    client = emulator_client(emulator, FakeClock())
    truth = emulator.sites(tenant.tenant_id)

    first = extract_site_sharing(client, store, tenant.tenant_id)
    load_sharing(engine, store, tenant.tenant_id, SHAREPOINT_TABLES)

    with engine.connect() as connection:
        stored_sites = {row.site_id: row for row in connection.execute(sa.select(sites))}
        libraries = {row.drive_id: row for row in connection.execute(sa.select(site_libraries))}
    assert set(stored_sites) == {site["id"] for site in truth.sites}
    assert {site_id for site_id, row in stored_sites.items() if row.is_personal_site} == {
        site["id"] for site in truth.sites if site["isPersonalSite"]
    }
    assert [site_id for site_id, row in stored_sites.items() if row.is_root_site] == [truth.sites[0]["id"]]
    expected_libraries = {
        library["id"]: (site_id, library["name"], library["quota"]["used"], library["quota"]["state"])
        for site_id, listed in truth.libraries.items()
        for library in listed
    }
    assert {
        drive_id: (row.site_id, row.name, row.quota_used, row.quota_state) for drive_id, row in libraries.items()
    } == expected_libraries
    assert {row.quota_state for row in libraries.values()} == {"normal", "nearing", "critical", "exceeded"}
    assert first.drives == len(expected_libraries) == first.resynced_drives  # the personal site's OneDrive: not walked

    expected = {key: EXPECTED[kind] for key, kind in truth.kinds.items()}
    assert set(truth.kinds.values()) == set(EXPECTED)  # every kind of share is there to classify
    assert classified(engine, site_library_item_permissions) == expected
    owners = {
        library["id"]: library["owner"]["group"]["id"] for listed in truth.libraries.values() for library in listed
    }
    table = site_library_item_permissions
    with engine.connect() as connection:
        owner_rows = connection.execute(
            sa.select(table.c.drive_id, table.c.grantee_id).where(table.c.classification == "owner")
        ).all()
    assert owner_rows and all(grantee == owners[drive] for drive, grantee in owner_rows)

    onedrives = emulator._graphs[tenant.tenant_id].drives
    (drive_id, item_id, permission_id) = next(key for key, kind in truth.kinds.items() if kind == "group")
    removed = next(key for key, kind in truth.kinds.items() if kind == "external")
    link = {"id": "new-link", "roles": ["read"], "link": {"scope": "anonymous", "type": "view"}}
    onedrives.share(drive_id, item_id, [link])
    onedrives.remove(removed[0], removed[1])

    second = extract_site_sharing(client, store, tenant.tenant_id)
    applied = load_sharing(engine, store, tenant.tenant_id, SHAREPOINT_TABLES)

    assert second.resynced_drives == 0 and second.changed_items == 2 and applied.batches == 1
    del expected[(drive_id, item_id, permission_id)]
    del expected[removed]
    expected[(drive_id, item_id, "new-link")] = "anonymous"
    assert classified(engine, site_library_item_permissions) == expected
    assert load_sharing(engine, store, tenant.tenant_id, SHAREPOINT_TABLES).batches == 0
    engine.dispose()


def test_a_tenant_without_users_has_sites_whose_libraries_share_only_with_whom_it_has(
    tmp_path: Path, migrated_sqlite: Callable[[Path], str]
) -> None:
    emulator = GraphEmulator(generate_tenant(3, 0))
    store = RawStore(str(tmp_path / "raw"))
    engine = create_warehouse_engine(migrated_sqlite(tmp_path / "w.db"))

    batch = extract_site_sharing(emulator_client(emulator, FakeClock()), store, emulator.tenant.tenant_id)
    load_sharing(engine, store, emulator.tenant.tenant_id, SHAREPOINT_TABLES)

    truth = emulator.sites()
    assert batch.rows["sites"] == len(truth.sites) > 0 and not any(site["isPersonalSite"] for site in truth.sites)
    assert "internal" not in truth.kinds.values() and "guest" not in truth.kinds.values()
    assert classified(engine, site_library_item_permissions) == {
        key: EXPECTED[kind] for key, kind in truth.kinds.items()
    }
