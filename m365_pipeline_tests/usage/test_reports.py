"""Usage reports from a served emulator (real sockets: Graph on one port, downloads on another) to the warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.entities.usage_reports import MAILBOX_USAGE, USAGE_REPORTS
from m365_pipeline.graph.downloads import download_to_file
from m365_pipeline.raw_store import RawStore
from m365_pipeline.settings import load_settings
from m365_pipeline.sources import download_client, graph_client
from m365_pipeline.usage.extract import HEADERS_KEY, extract_report, raw_entity
from m365_pipeline.usage.load import ReportColumnMissingError, load_report
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.usage_tables import USAGE_TABLES, usage_report_loads

SEED, USERS = 3, 40


@pytest.fixture
def warehouse(tmp_path: Path, migrated_sqlite: Callable[[Path], str]) -> sa.Engine:
    return create_warehouse_engine(migrated_sqlite(tmp_path / "warehouse.db"))


def test_every_report_is_downloaded_without_authorization_and_loaded_with_names_flagged(
    tmp_path: Path, warehouse: sa.Engine
) -> None:
    tenant = generate_tenant(SEED, USERS)
    emulator = GraphEmulator(tenant)
    store = RawStore(str(tmp_path / "raw"))
    with serve(emulator) as served:
        settings = load_settings(
            {"M365_EMULATOR_URL": served.url, "M365_EMULATOR_SEED": str(SEED), "M365_DATA_DIR": str(tmp_path)}
        )
        with graph_client(settings, tenant.tenant_id) as client, download_client(settings) as http:
            for report in USAGE_REPORTS.values():
                extract = extract_report(client, http, store, report, tenant.tenant_id, "D7")
                assert extract.names_concealed, report.name
                load = load_report(warehouse, store, report, tenant.tenant_id, "D7")
                assert load.names_concealed and load.rows == extract.stored.rows > 0
                assert load.missing_columns == () and load.extra_columns == ()
            emulator.usage_reports.concealed_names[tenant.tenant_id] = False
            plain = extract_report(client, http, store, MAILBOX_USAGE, tenant.tenant_id, "D7")
            load_report(warehouse, store, MAILBOX_USAGE, tenant.tenant_id, "D7")

    downloads = [(path, status) for method, path, status in emulator.requests if path.startswith("/data/download/")]
    assert len(downloads) == len(USAGE_REPORTS) + 1 and {status for _, status in downloads} == {200}
    assert not plain.names_concealed
    mailboxes = [user for user in tenant.users if user["mail"] and user["userType"] == "Member"]
    table = USAGE_TABLES["mailbox_usage"]
    with warehouse.connect() as connection:
        rows = connection.execute(sa.select(table.c.user_principal_name, table.c.names_concealed)).all()
        loads = connection.execute(sa.select(usage_report_loads.c.report, usage_report_loads.c.names_concealed)).all()
    assert len(rows) == len(mailboxes)  # the second load replaced the first (same refresh date and period)
    assert {upn for upn, concealed in rows if not concealed} == {user["userPrincipalName"] for user in mailboxes}
    assert dict(loads)["mailbox_usage"] is False and dict(loads)["teams_user_activity"] is True


def test_a_client_that_would_send_authorization_is_refused_before_any_request(tmp_path: Path) -> None:
    with httpx.Client(headers={"Authorization": "Bearer x"}) as http, pytest.raises(ValueError, match="Authorization"):
        download_to_file(http, "http://127.0.0.1:9/data/download/x", tmp_path / "x.csv")


def _stored_csv(store: RawStore, tenant: str, text: str, tmp_path: Path) -> None:
    """Put ``text`` into the store as the mailbox usage report, through the extractor's own CSV reading."""
    from m365_pipeline.usage import extract

    source = tmp_path / "report.csv"
    source.write_bytes(("\ufeff" + text).encode())
    headers = extract._headers(source)
    metadata = {"m365.tenant_id": "tenant-1", HEADERS_KEY: json.dumps(headers)}
    local = tmp_path / "report.parquet"
    extract._csv_to_parquet(source, headers, MAILBOX_USAGE, metadata, local)
    store.put(local, raw_entity(MAILBOX_USAGE), tenant, "D7")


def test_columns_are_read_by_header_name_whatever_their_order_missing_or_extra(
    tmp_path: Path, warehouse: sa.Engine
) -> None:
    store = RawStore(str(tmp_path / "raw"))
    text = (
        "Storage Used (Byte),User Principal Name,Future Column,Report Refresh Date,Item Count\r\n"
        '"1,5",a@contoso.com,x,2026-11-30,12\r\n'.replace('"1,5"', "15")
        + "7,b@contoso.com,y,2026-11-30,\r\n"
    )
    _stored_csv(store, "t", text, tmp_path)

    load = load_report(warehouse, store, MAILBOX_USAGE, "t", "D7")

    assert load.extra_columns == ("Future Column",)
    assert "Has Archive" in load.missing_columns and not load.names_concealed
    table = USAGE_TABLES["mailbox_usage"]
    with warehouse.connect() as connection:
        rows = connection.execute(
            sa.select(
                table.c.user_principal_name, table.c.storage_used_bytes, table.c.item_count, table.c.has_archive
            ).order_by(table.c.row_number)
        ).all()
    assert rows == [("a@contoso.com", 15, 12, None), ("b@contoso.com", 7, None, None)]


def test_a_report_without_its_refresh_date_column_fails_naming_it(tmp_path: Path, warehouse: sa.Engine) -> None:
    store = RawStore(str(tmp_path / "raw"))
    _stored_csv(store, "t", "User Principal Name,Item Count\r\na@contoso.com,1\r\n", tmp_path)

    with pytest.raises(ReportColumnMissingError, match="Report Refresh Date"):
        load_report(warehouse, store, MAILBOX_USAGE, "t", "D7")


def test_a_report_loads_on_postgresql(tmp_path: Path, migrated_postgres_url: str) -> None:
    engine = create_warehouse_engine(migrated_postgres_url)
    store = RawStore(str(tmp_path / "raw"))
    _stored_csv(
        store, "t", "Report Refresh Date,User Principal Name,Has Archive\r\n2026-11-30,a@contoso.com,True\r\n", tmp_path
    )

    load = load_report(engine, store, MAILBOX_USAGE, "t", "D7")
    load_report(engine, store, MAILBOX_USAGE, "t", "D7")

    table = USAGE_TABLES["mailbox_usage"]
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.report_refresh_date, table.c.has_archive)).all()
    engine.dispose()
    assert load.rows == 1 and [tuple(row) for row in rows] == [(date(2026, 11, 30), True)]
