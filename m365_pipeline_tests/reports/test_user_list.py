from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from m365_pipeline.reports.user_list import (
    USER_LIST_HEADER,
    USER_LIST_REPORT_NAME,
    ReportResult,
    user_list_rows,
    write_user_list,
)
from m365_pipeline.warehouse.schema import skus, user_licenses, users
from m365_pipeline_tests.conftest import WarehouseTemplates

SAMPLE = Path(__file__).parent / "samples" / "AllUsers_20250716_210654.csv"
TOKYO = ZoneInfo("Asia/Tokyo")
TENANT = "11111111-1111-1111-1111-111111111111"
OTHER_TENANT = "22222222-2222-2222-2222-222222222222"
E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
POWER_BI_PRO = "f8a1db68-be16-40ed-86d5-cb42ce701560"
FLOW_FREE = "f30db892-07e9-47e9-837c-80727f46fd3d"
RETIRED_SKU = "99999999-0000-0000-0000-000000000000"


def _user(tenant_id: str, user_id: str, upn: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {column.name: None for column in users.columns}
    row.update(tenant_id=tenant_id, id=user_id, user_principal_name=upn, business_phones="", account_enabled=True)
    row.update(values)
    return row


def _sku(tenant_id: str, sku_id: str, part_number: str) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "sku_id": sku_id,
        "sku_part_number": part_number,
        "service_plan_names": "",
    }


def _license(tenant_id: str, user_id: str, sku_id: str) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "user_id": user_id, "sku_id": sku_id, "disabled_plans": ""}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, warehouse_templates: WarehouseTemplates
) -> Iterator[sa.Engine]:
    """The models' tables (``metadata.create_all``) in a new database: a copy of the one made once this session."""
    if request.param == "sqlite":
        url = warehouse_templates.sqlite("models", tmp_path / "warehouse.db")
    else:
        url = request.getfixturevalue("models_postgres_url")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def small_warehouse(engine: sa.Engine) -> sa.Engine:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(skus),
            [
                _sku(TENANT, E3, "SPE_E3"),
                _sku(TENANT, POWER_BI_PRO, "POWER_BI_PRO"),
                _sku(TENANT, FLOW_FREE, "FLOW_FREE"),
                # Same SKU id in another tenant under another part number: the join must stay in the tenant.
                _sku(OTHER_TENANT, E3, "ENTERPRISEPACK"),
            ],
        )
        connection.execute(
            sa.insert(users),
            [
                _user(
                    TENANT,
                    "u-carol",
                    "carol@contoso.com",
                    display_name="Carol 未サインイン",
                    mail="carol@contoso.com",
                    created_at=datetime(2025, 3, 1, 0, 0, tzinfo=UTC),
                ),
                _user(
                    TENANT,
                    "u-alice",
                    "alice@contoso.com",
                    display_name="青木 アリス",
                    mail="alice@contoso.com",
                    department="情報システム部",
                    job_title="システム管理者",
                    usage_location="JP",
                    created_at=datetime(2024, 1, 10, 9, 0, tzinfo=UTC),
                    last_sign_in_at=datetime(2025, 6, 24, 15, 30, tzinfo=UTC),
                ),
                _user(
                    TENANT,
                    "u-guest",
                    "partner_fabrikam.com#EXT#@contoso.onmicrosoft.com",
                    display_name='Partner "External"',
                    user_type="Guest",
                    created_at=datetime(2025, 5, 5, 12, 0, tzinfo=UTC),
                    last_sign_in_at=datetime(2025, 5, 6, 1, 2, 3, tzinfo=UTC),
                ),
                _user(
                    TENANT,
                    "u-bob",
                    "bob@contoso.com",
                    display_name="Bob",
                    mail="bob@contoso.com",
                    department="営業部",
                    usage_location="JP",
                    account_enabled=False,
                    created_at=datetime(2023, 12, 31, 16, 0, tzinfo=UTC),
                    last_sign_in_at=datetime(2025, 1, 1, 0, 0, tzinfo=UTC),
                ),
                _user(
                    TENANT,
                    "u-dave",
                    "dave@contoso.com",
                    display_name="Dave",
                    mail="dave@contoso.com",
                    created_at=datetime(2025, 2, 2, 2, 2, tzinfo=UTC),
                ),
                _user(OTHER_TENANT, "u-eve", "eve@fabrikam.com", display_name="Eve", mail="eve@fabrikam.com"),
            ],
        )
        connection.execute(
            sa.insert(user_licenses),
            [
                _license(TENANT, "u-alice", POWER_BI_PRO),
                _license(TENANT, "u-alice", E3),
                _license(TENANT, "u-bob", FLOW_FREE),
                _license(TENANT, "u-dave", RETIRED_SKU),
                _license(OTHER_TENANT, "u-eve", E3),
                # A license row of the other tenant for a user id that also exists in this tenant.
                _license(OTHER_TENANT, "u-carol", E3),
            ],
        )
    return engine


def test_sample_file_header_is_the_report_header() -> None:
    with SAMPLE.open(encoding="utf-8-sig", newline="") as file:
        header = next(csv.reader(file))

    assert tuple(header) == USER_LIST_HEADER


def test_user_list_rows_of_a_small_warehouse(small_warehouse: sa.Engine) -> None:
    with small_warehouse.connect() as connection:
        rows = list(user_list_rows(connection, TENANT, TOKYO))

    assert rows == [
        (
            "青木 アリス",
            "alice@contoso.com",
            "alice@contoso.com",
            "情報システム部",
            "システム管理者",
            "有効",
            "Microsoft 365 E3, Power BI Pro",
            "2024-01-10",
            "2025-06-25 00:30:00",
            "JP",
            "u-alice",
        ),
        (
            "Bob",
            "bob@contoso.com",
            "bob@contoso.com",
            "営業部",
            None,
            "無効",
            "Microsoft Power Automate Free",
            "2024-01-01",
            "2025-01-01 09:00:00",
            "JP",
            "u-bob",
        ),
        (
            "Carol 未サインイン",
            "carol@contoso.com",
            "carol@contoso.com",
            None,
            None,
            "有効",
            "ライセンスなし",
            "2025-03-01",
            "サインイン履歴なし",
            None,
            "u-carol",
        ),
        (
            "Dave",
            "dave@contoso.com",
            "dave@contoso.com",
            None,
            None,
            "有効",
            RETIRED_SKU,
            "2025-02-02",
            "サインイン履歴なし",
            None,
            "u-dave",
        ),
        (
            'Partner "External"',
            "partner_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            None,
            None,
            None,
            "有効",
            "ライセンスなし",
            "2025-05-05",
            "2025-05-06 10:02:03",
            None,
            "u-guest",
        ),
    ]


def test_user_list_rows_of_an_unknown_tenant_is_empty(small_warehouse: sa.Engine) -> None:
    with small_warehouse.connect() as connection:
        assert list(user_list_rows(connection, "33333333-3333-3333-3333-333333333333", TOKYO)) == []


def test_write_user_list_writes_one_line_per_user_under_entra_id_management(engine: sa.Engine, tmp_path: Path) -> None:
    user_count = 2_000
    with engine.begin() as connection:
        connection.execute(sa.insert(skus), [_sku(TENANT, E3, "SPE_E3"), _sku(TENANT, FLOW_FREE, "FLOW_FREE")])
        connection.execute(
            sa.insert(users),
            [
                _user(TENANT, f"id-{n:05d}", f"user{n:05d}@contoso.com", display_name=f"ユーザー{n}")
                for n in reversed(range(user_count))
            ],
        )
        connection.execute(
            sa.insert(user_licenses),
            [_license(TENANT, f"id-{n:05d}", E3) for n in range(0, user_count, 2)]
            + [_license(TENANT, f"id-{n:05d}", FLOW_FREE) for n in range(0, user_count, 3)],
        )
    reports_dir = tmp_path / "Reports"
    at = datetime(2025, 6, 24, 15, 30, 0, tzinfo=UTC)

    with engine.connect() as connection:
        result = write_user_list(connection, TENANT, reports_dir, at, TOKYO)

    expected_path = reports_dir / "EntraIDManagement" / f"{USER_LIST_REPORT_NAME}_20250625_003000.csv"
    assert result == ReportResult(path=expected_path, rows=user_count)
    content = expected_path.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    assert content.count(b"\r\n") == user_count + 1
    with expected_path.open(encoding="utf-8-sig", newline="") as file:
        lines = list(csv.reader(file))
    assert tuple(lines[0]) == USER_LIST_HEADER
    assert [line[1] for line in lines[1:]] == [f"user{n:05d}@contoso.com" for n in range(user_count)]
    assert [line[6] for line in lines[1:7]] == [
        "Microsoft 365 E3, Microsoft Power Automate Free",
        "ライセンスなし",
        "Microsoft 365 E3",
        "Microsoft Power Automate Free",
        "Microsoft 365 E3",
        "ライセンスなし",
    ]


def test_write_user_list_rejects_a_naive_report_time(engine: sa.Engine, tmp_path: Path) -> None:
    with engine.connect() as connection, pytest.raises(ValueError, match="timezone-aware"):
        write_user_list(connection, TENANT, tmp_path, datetime(2025, 6, 24, 15, 30), TOKYO)
