from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from m365_pipeline.warehouse.loader import LoadResult, replace_quarantine, sync_tenant_rows, upsert_tenant
from m365_pipeline.warehouse.normalize import normalize_users
from m365_pipeline.warehouse.quarantine import QuarantinedRow
from m365_pipeline.warehouse.schema import quarantine, skus, tenants, user_licenses, users

TENANT = "5b2a3f0e-9c1d-4e7a-8f6b-0a1b2c3d4e5f"
OTHER_TENANT = "c0ffee00-1234-4abc-9def-0123456789ab"
SPE_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
EMS_E3 = "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"
TOKYO = ZoneInfo("Asia/Tokyo")


def _user_id(number: int) -> str:
    return str(uuid.UUID(int=number))


def _user(tenant_id: str, number: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {column.name: None for column in users.columns}
    row.update(
        tenant_id=tenant_id,
        id=_user_id(number),
        user_principal_name=f"user{number}@contoso.onmicrosoft.com",
        display_name=f"利用者 {number}",
        account_enabled=number % 7 != 0,
        user_type="Member",
        created_at=datetime(2024, 4, 1, tzinfo=UTC) + timedelta(minutes=number, microseconds=number),
        business_phones="+81 3-1234-5678; +81 3-9876-5432",
        last_sign_in_at=None if number % 5 == 0 else datetime(2025, 6, 24, 10, 51, 8, 123456, tzinfo=UTC),
    )
    row.update(values)
    return row


def _sku(tenant_id: str, sku_id: str, part_number: str, consumed: int) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "sku_id": sku_id,
        "sku_part_number": part_number,
        "account_name": "contoso",
        "applies_to": "User",
        "capability_status": "Enabled",
        "consumed_units": consumed,
        "prepaid_enabled": 25,
        "prepaid_locked_out": 0,
        "prepaid_suspended": 0,
        "prepaid_warning": 0,
        "service_plan_names": "TEAMS1; EXCHANGE_S_ENTERPRISE",
    }


def _content(engine: sa.Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = sa.select(table).order_by(*table.primary_key.columns)
        return [dict(row) for row in connection.execute(query).mappings()]


def _sync(engine: sa.Engine, table: sa.Table, tenant_id: str, rows: list[dict[str, Any]]) -> LoadResult:
    with engine.begin() as connection:
        return sync_tenant_rows(connection, table, tenant_id, rows)


def test_sync_inserts_then_leaves_identical_rows_alone(engine: sa.Engine) -> None:
    rows = [_user(TENANT, number) for number in range(1, 11)]

    first = _sync(engine, users, TENANT, rows)
    content = _content(engine, users)
    second = _sync(engine, users, TENANT, rows)

    assert first == LoadResult("users", inserted=10, updated=0, deleted=0, unchanged=0)
    assert second == LoadResult("users", inserted=0, updated=0, deleted=0, unchanged=10)
    assert content == rows
    assert _content(engine, users) == content


def test_sync_updates_changed_rows_and_deletes_absent_ones(engine: sa.Engine) -> None:
    _sync(engine, users, TENANT, [_user(TENANT, number) for number in range(1, 6)])
    changed = _user(TENANT, 2, department="営業部", account_enabled=False)
    rows = [_user(TENANT, 1), changed, _user(TENANT, 3), _user(TENANT, 5), _user(TENANT, 6)]

    result = _sync(engine, users, TENANT, rows)

    assert result == LoadResult("users", inserted=1, updated=1, deleted=1, unchanged=3)
    assert _content(engine, users) == rows


def test_sync_of_one_tenant_leaves_other_tenants_alone(engine: sa.Engine) -> None:
    other = [_sku(OTHER_TENANT, SPE_E3, "ENTERPRISEPACK", 3), _sku(OTHER_TENANT, EMS_E3, "EMS", 1)]
    _sync(engine, skus, OTHER_TENANT, other)
    _sync(engine, skus, TENANT, [_sku(TENANT, SPE_E3, "SPE_E3", 10), _sku(TENANT, EMS_E3, "EMS", 2)])

    result = _sync(engine, skus, TENANT, [_sku(TENANT, SPE_E3, "SPE_E3", 11)])

    assert result == LoadResult("skus", inserted=0, updated=1, deleted=1, unchanged=0)
    assert _content(engine, skus) == sorted(
        [*other, _sku(TENANT, SPE_E3, "SPE_E3", 11)], key=lambda row: (row["tenant_id"], row["sku_id"])
    )


def test_sync_to_nothing_empties_the_tenant(engine: sa.Engine) -> None:
    licenses = [
        {"tenant_id": TENANT, "user_id": _user_id(1), "sku_id": SPE_E3, "disabled_plans": ""},
        {"tenant_id": TENANT, "user_id": _user_id(1), "sku_id": EMS_E3, "disabled_plans": ""},
    ]
    _sync(engine, user_licenses, TENANT, licenses)

    assert _sync(engine, user_licenses, TENANT, []) == LoadResult("user_licenses", 0, 0, 2, 0)
    assert _content(engine, user_licenses) == []


def test_duplicate_keys_are_refused_naming_table_and_key(engine: sa.Engine) -> None:
    rows = [_user(TENANT, 1), _user(TENANT, 2), _user(TENANT, 1, department="営業部")]

    with pytest.raises(ValueError, match=rf"users: duplicate key \(tenant_id='{TENANT}', id='{_user_id(1)}'\)"):
        _sync(engine, users, TENANT, rows)
    assert _content(engine, users) == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {**_user(TENANT, 1), "nickname": "taro"},
            r"users row 1: missing columns \[\], unknown columns \['nickname'\]",
        ),
        (
            {k: v for k, v in _user(TENANT, 1).items() if k != "mail"},
            r"users row 1: missing columns \['mail'\], unknown columns \[\]",
        ),
        (_user(OTHER_TENANT, 1), f"users row 1: tenant_id '{OTHER_TENANT}' is not '{TENANT}'"),
    ],
    ids=["unknown-column", "missing-column", "other-tenant"],
)
def test_rows_that_do_not_fit_the_table_are_refused(engine: sa.Engine, row: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _sync(engine, users, TENANT, [row])


def test_a_failing_sync_leaves_the_table_as_it_was(engine: sa.Engine) -> None:
    rows = [_user(TENANT, number) for number in range(1, 4)]
    _sync(engine, users, TENANT, rows)
    before = _content(engine, users)

    with pytest.raises(sa.exc.IntegrityError):
        _sync(
            engine,
            users,
            TENANT,
            [
                _user(TENANT, 1, department="営業部"),
                _user(TENANT, 4),
                _user(TENANT, 5, user_principal_name=None),
            ],
        )

    assert _content(engine, users) == before


def test_timestamps_round_trip_as_aware_utc(engine: sa.Engine) -> None:
    tokyo_time = datetime(2025, 6, 24, 19, 51, 8, 123456, tzinfo=TOKYO)
    row = _user(TENANT, 1, created_at=tokyo_time, last_successful_sign_in_at=datetime(2025, 1, 1, tzinfo=UTC))

    _sync(engine, users, TENANT, [row])
    [stored] = _content(engine, users)

    assert stored["created_at"] == datetime(2025, 6, 24, 10, 51, 8, 123456, tzinfo=UTC)
    assert stored["created_at"].tzinfo is UTC
    assert stored["last_successful_sign_in_at"].tzinfo is UTC
    assert stored["last_sign_in_at"] == datetime(2025, 6, 24, 10, 51, 8, 123456, tzinfo=UTC)
    assert stored["last_non_interactive_sign_in_at"] is None
    # The same instant in another zone is no change.
    assert _sync(engine, users, TENANT, [row]).unchanged == 1


def test_naive_timestamps_are_refused(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime 2025-06-24T10:51:08"):
        _sync(engine, users, TENANT, [_user(TENANT, 1, created_at=datetime(2025, 6, 24, 10, 51, 8))])


def test_normalized_users_load_unchanged_on_the_second_run(engine: sa.Engine) -> None:
    record = {
        "id": _user_id(1),
        "userPrincipalName": "taro.yamada@contoso.onmicrosoft.com",
        "displayName": "山田 太郎",
        "createdDateTime": "2023-04-01T00:12:34.1234567Z",
        "businessPhones": ["+81 3-1234-5678"],
        "accountEnabled": True,
        "signInActivity": {"lastSignInDateTime": "2025-06-24T10:51:08.9999999Z"},
    }
    rows = normalize_users([record], TENANT, "users.parquet").rows

    assert _sync(engine, users, TENANT, rows).inserted == 1
    assert _sync(engine, users, TENANT, normalize_users([record], TENANT, "users.parquet").rows).unchanged == 1
    assert _content(engine, users) == rows


def test_tenant_sightings_widen_and_names_follow_the_latest(engine: sa.Engine) -> None:
    june, july, may = (datetime(2025, month, 1, 9, tzinfo=TOKYO) for month in (6, 7, 5))
    with engine.begin() as connection:
        upsert_tenant(connection, TENANT, "Contoso", "contoso.onmicrosoft.com", june)
        upsert_tenant(connection, TENANT, "Contoso Japan", "contoso.co.jp", july)
        upsert_tenant(connection, TENANT, "Contoso (old)", "old.contoso.com", may)
        upsert_tenant(connection, OTHER_TENANT, "Fabrikam", "fabrikam.onmicrosoft.com", june)

    assert _content(engine, tenants) == [
        {
            "tenant_id": TENANT,
            "display_name": "Contoso Japan",
            "default_domain": "contoso.co.jp",
            "first_seen_at": may.astimezone(UTC),
            "last_seen_at": july.astimezone(UTC),
        },
        {
            "tenant_id": OTHER_TENANT,
            "display_name": "Fabrikam",
            "default_domain": "fabrikam.onmicrosoft.com",
            "first_seen_at": june.astimezone(UTC),
            "last_seen_at": june.astimezone(UTC),
        },
    ]


def test_quarantined_records_are_kept_with_their_reason(engine: sa.Engine) -> None:
    raw = {
        "id": None,
        "displayName": "山田 太郎",
        "businessPhones": ["+81 3-1234-5678"],
        "accountEnabled": True,
    }
    source = "data/raw/users/2025-06-24.parquet"
    rows = [
        QuarantinedRow("users", source, 3, "id", "missing", raw),
        QuarantinedRow("users", source, 7, "createdDateTime", "not a timestamp", raw),
    ]
    at = datetime(2025, 6, 24, 19, 0, tzinfo=TOKYO)

    with engine.begin() as connection:
        assert replace_quarantine(connection, TENANT, "users", source, rows, quarantined_at=at) == 2

    stored = _content(engine, quarantine)
    assert [{k: v for k, v in row.items() if k not in ("id", "raw")} for row in stored] == [
        {
            "tenant_id": TENANT,
            "entity": "users",
            "source": source,
            "row_number": row_number,
            "field": field,
            "reason": reason,
            "quarantined_at": datetime(2025, 6, 24, 10, 0, tzinfo=UTC),
        }
        for row_number, field, reason in ((3, "id", "missing"), (7, "createdDateTime", "not a timestamp"))
    ]
    assert [json.loads(row["raw"]) for row in stored] == [raw, raw]
    assert "山田 太郎" in stored[0]["raw"]


def test_quarantine_of_a_reloaded_source_is_replaced_not_doubled(engine: sa.Engine) -> None:
    first, second = "data/raw/users/2025-06-24.parquet", "data/raw/users/2025-06-25.parquet"
    with engine.begin() as connection:
        replace_quarantine(connection, TENANT, "users", first, [QuarantinedRow("users", first, 3, "id", "missing", {})])
        replace_quarantine(
            connection, TENANT, "users", second, [QuarantinedRow("users", second, 5, "id", "missing", {})]
        )
        replace_quarantine(
            connection, TENANT, "users", second, [QuarantinedRow("users", second, 5, "id", "missing", {})]
        )
        replace_quarantine(connection, OTHER_TENANT, "users", first, [])
    assert sorted((row["source"], row["row_number"]) for row in _content(engine, quarantine)) == [
        (first, 3),
        (second, 5),
    ]

    with engine.begin() as connection:
        assert replace_quarantine(connection, TENANT, "users", second, []) == 0
    assert [(row["source"], row["row_number"]) for row in _content(engine, quarantine)] == [(first, 3)]


def test_quarantine_refuses_rows_of_another_load(engine: sa.Engine) -> None:
    with engine.begin() as connection, pytest.raises(ValueError, match="row 3 belongs to groups"):
        replace_quarantine(
            connection,
            TENANT,
            "users",
            "a.parquet",
            [QuarantinedRow("groups", "a.parquet", 3, "id", "missing", {})],
        )


def test_sync_refuses_a_table_not_keyed_by_tenant(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="quarantine: tenant_id is not part of the primary key"):
        _sync(engine, quarantine, TENANT, [])


def test_twenty_thousand_users_load_into_postgresql(postgres_url: str) -> None:
    from m365_pipeline.warehouse.engine import create_warehouse_engine
    from m365_pipeline.warehouse.migrate import upgrade_to_head

    engine = create_warehouse_engine(postgres_url)
    try:
        upgrade_to_head(engine)
        rows = [_user(TENANT, number) for number in range(1, 20_001)]
        assert _sync(engine, users, TENANT, rows) == LoadResult("users", 20_000, 0, 0, 0)
        rows[10_000] = _user(TENANT, 10_001, department="営業部")
        del rows[5]
        assert _sync(engine, users, TENANT, rows) == LoadResult("users", 0, 1, 1, 19_998)
        with engine.connect() as connection:
            count = connection.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
            department = connection.execute(
                sa.select(users.c.department).where(users.c.id == _user_id(10_001))
            ).scalar_one()
        assert (count, department) == (19_999, "営業部")
    finally:
        engine.dispose()
