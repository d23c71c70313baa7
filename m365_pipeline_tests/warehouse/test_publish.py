"""A tenant's extract published through TenantPublication: the merge, the tenant, the quarantine, the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from m365_pipeline.warehouse.consistency import consumed_unit_mismatches, licenses_without_user
from m365_pipeline.warehouse.ledger import TableCounts, published_extract
from m365_pipeline.warehouse.publish import StaleExtractError, TenantPublication
from m365_pipeline.warehouse.quarantine import QuarantinedRow
from m365_pipeline.warehouse.schema import (
    TABLES,
    extract_tables,
    extracts,
    quarantine,
    skus,
    tenants,
    user_licenses,
    users,
)
from m365_pipeline.warehouse.staging import DuplicateKeyError
from m365_pipeline_tests.warehouse.publishing import (
    EMS_E3,
    OTHER_TENANT,
    SEEN,
    SPE_E3,
    TENANT,
    consistent_extract,
    content,
    extract_id,
    license_,
    publish,
    sku,
    tenant_content,
    user,
    user_id,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def _counts(rows: int, inserted: int = 0, updated: int = 0, deleted: int = 0, quarantined: int = 0) -> TableCounts:
    return TableCounts(rows=rows, inserted=inserted, updated=updated, deleted=deleted, quarantined=quarantined)


def test_publish_inserts_then_leaves_identical_rows_alone(engine: sa.Engine) -> None:
    rows = [user(TENANT, number) for number in range(1, 11)]

    first = publish(engine, TENANT, 1, {"users": rows})
    stored = content(engine, users)
    second = publish(engine, TENANT, 2, {"users": rows})

    assert first.extract.tables["users"] == _counts(10, inserted=10)
    assert second.extract.tables["users"] == _counts(10)
    assert second.extract.tables["users"].unchanged == 10
    assert not first.unchanged and not second.unchanged
    assert stored == rows
    assert content(engine, users) == stored


def test_publish_updates_changed_rows_and_deletes_absent_ones(engine: sa.Engine) -> None:
    publish(engine, TENANT, 1, {"users": [user(TENANT, number) for number in range(1, 6)]})
    changed = user(TENANT, 2, department="営業部", account_enabled=False)
    rows = [user(TENANT, 1), changed, user(TENANT, 3), user(TENANT, 5), user(TENANT, 6)]

    result = publish(engine, TENANT, 2, {"users": rows})

    assert result.extract.tables["users"] == _counts(5, inserted=1, updated=1, deleted=1)
    assert result.extract.tables["users"].unchanged == 3
    assert content(engine, users) == rows


def test_a_value_becoming_null_is_a_change(engine: sa.Engine) -> None:
    publish(engine, TENANT, 1, {"users": [user(TENANT, 1, department="営業部")]})

    result = publish(engine, TENANT, 2, {"users": [user(TENANT, 1, department=None)]})

    assert result.extract.tables["users"] == _counts(1, updated=1)
    assert content(engine, users)[0]["department"] is None


def test_publishing_one_tenant_leaves_other_tenants_alone(engine: sa.Engine) -> None:
    other = [sku(OTHER_TENANT, SPE_E3, "ENTERPRISEPACK", 3), sku(OTHER_TENANT, EMS_E3, "EMS", 1)]
    publish(engine, OTHER_TENANT, 1, {"skus": other, "users": [user(OTHER_TENANT, 1)]})
    publish(engine, TENANT, 1, {"skus": [sku(TENANT, SPE_E3, "SPE_E3", 10), sku(TENANT, EMS_E3, "EMS", 2)]})

    result = publish(engine, TENANT, 2, {"skus": [sku(TENANT, SPE_E3, "SPE_E3", 11)]})

    assert result.extract.tables["skus"] == _counts(1, updated=1, deleted=1)
    assert content(engine, skus) == sorted(
        [*other, sku(TENANT, SPE_E3, "SPE_E3", 11)], key=lambda row: (row["tenant_id"], row["sku_id"])
    )
    assert content(engine, users) == [user(OTHER_TENANT, 1)]


def test_an_empty_table_empties_the_tenant(engine: sa.Engine) -> None:
    licenses = [license_(TENANT, 1, SPE_E3), license_(TENANT, 1, EMS_E3)]
    publish(engine, TENANT, 1, {"user_licenses": licenses})

    result = publish(engine, TENANT, 2, {})

    assert result.extract.tables["user_licenses"] == _counts(0, deleted=2)
    assert content(engine, user_licenses) == []


def test_every_table_must_be_staged(engine: sa.Engine) -> None:
    publish(engine, TENANT, 1, consistent_extract(TENANT, range(1, 4)))
    before = tenant_content(engine, TENANT)

    with TenantPublication(engine, TENANT, extract_id(2), "d2") as publication:
        publication.stage("users", [user(TENANT, 9)])
        publication.stage("skus", [])
        with pytest.raises(
            ValueError,
            match=r"staged no user_licenses, groups, sku_service_plans, .*: every table is published together",
        ):
            publication.publish(display_name="Contoso", default_domain="contoso.com", seen_at=SEEN)

    assert tenant_content(engine, TENANT) == before


def test_duplicate_keys_are_refused_naming_table_and_key(engine: sa.Engine) -> None:
    rows = [user(TENANT, 1), user(TENANT, 2), user(TENANT, 1, department="営業部")]

    with pytest.raises(DuplicateKeyError, match=rf"users: duplicate key \(tenant_id='{TENANT}', id='{user_id(1)}'\)"):
        publish(engine, TENANT, 1, {"users": rows})
    assert content(engine, users) == []
    assert content(engine, extracts) == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {**user(TENANT, 1), "nickname": "taro"},
            r"users row 1: missing columns \[\], unknown columns \['nickname'\]",
        ),
        (
            {k: v for k, v in user(TENANT, 1).items() if k != "mail"},
            r"users row 1: missing columns \['mail'\], unknown columns \[\]",
        ),
        (user(OTHER_TENANT, 1), f"users row 1: tenant_id '{OTHER_TENANT}' is not '{TENANT}'"),
    ],
    ids=["unknown-column", "missing-column", "other-tenant"],
)
def test_rows_that_do_not_fit_the_table_are_refused(engine: sa.Engine, row: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        publish(engine, TENANT, 1, {"users": [row]})


def test_rows_are_numbered_across_batches(engine: sa.Engine) -> None:
    with TenantPublication(engine, TENANT, extract_id(1), "d1") as publication:
        assert publication.stage("users", [user(TENANT, 1), user(TENANT, 2)]) == 2
        with pytest.raises(ValueError, match="users row 4: tenant_id"):
            publication.stage("users", [user(TENANT, 3), user(OTHER_TENANT, 4)])


def test_a_failing_publication_leaves_the_tenant_as_it_was(engine: sa.Engine) -> None:
    publish(engine, TENANT, 1, consistent_extract(TENANT, range(1, 4)))
    before = tenant_content(engine, TENANT)
    broken = consistent_extract(TENANT, range(1, 6))
    broken["users"][4] = user(TENANT, 5, user_principal_name=None)

    with pytest.raises(sa.exc.IntegrityError):
        publish(engine, TENANT, 2, broken)

    assert tenant_content(engine, TENANT) == before
    assert [row["extract_id"] for row in content(engine, extracts)] == [extract_id(1)]


def test_leaving_without_publish_publishes_nothing(engine: sa.Engine) -> None:
    publish(engine, TENANT, 1, consistent_extract(TENANT, range(1, 4)))
    before = tenant_content(engine, TENANT)

    with TenantPublication(engine, TENANT, extract_id(2), "d2") as publication:
        for name, rows in consistent_extract(TENANT, range(5, 9)).items():
            publication.stage(name, rows)

    assert tenant_content(engine, TENANT) == before
    # The connection went back to the pool without its staging tables: the next publication stages afresh.
    publish(engine, TENANT, 3, consistent_extract(TENANT, range(5, 9)))
    assert [row["id"] for row in content(engine, users)] == [user_id(number) for number in range(5, 9)]


def test_timestamps_round_trip_as_aware_utc(engine: sa.Engine) -> None:
    tokyo_time = datetime(2025, 6, 24, 19, 51, 8, 123456, tzinfo=TOKYO)
    row = user(TENANT, 1, created_at=tokyo_time, last_successful_sign_in_at=datetime(2025, 1, 1, tzinfo=UTC))

    publish(engine, TENANT, 1, {"users": [row]})
    [stored] = content(engine, users)

    assert stored["created_at"] == datetime(2025, 6, 24, 10, 51, 8, 123456, tzinfo=UTC)
    assert stored["created_at"].tzinfo is UTC
    assert stored["last_successful_sign_in_at"].tzinfo is UTC
    assert stored["last_sign_in_at"] == datetime(2025, 6, 24, 10, 51, 8, 123456, tzinfo=UTC)
    assert stored["last_non_interactive_sign_in_at"] is None
    # The same instant in another zone is no change.
    assert publish(engine, TENANT, 2, {"users": [row]}).extract.tables["users"].unchanged == 1


def test_naive_timestamps_are_refused(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime 2025-06-24T10:51:08"):
        publish(engine, TENANT, 1, {"users": [user(TENANT, 1, created_at=datetime(2025, 6, 24, 10, 51, 8))]})


def test_normalized_users_load_unchanged_on_the_second_run(engine: sa.Engine) -> None:
    record = {
        "id": user_id(1),
        "userPrincipalName": "taro.yamada@contoso.onmicrosoft.com",
        "displayName": "山田 太郎",
        "createdDateTime": "2023-04-01T00:12:34.1234567Z",
        "businessPhones": ["+81 3-1234-5678"],
        "accountEnabled": True,
        "signInActivity": {"lastSignInDateTime": "2025-06-24T10:51:08.9999999Z"},
    }
    from m365_pipeline.warehouse.normalize import normalize_batches

    def normalized() -> dict[str, list[dict[str, Any]]]:
        [batch] = normalize_batches("users", [[record]], TENANT, "users.parquet")
        assert batch.quarantined == []
        return batch.rows

    rows = normalized()
    assert publish(engine, TENANT, 1, rows).extract.tables["users"].inserted == 1
    assert publish(engine, TENANT, 2, normalized()).extract.tables["users"].unchanged == 1
    assert content(engine, users) == rows["users"]


def test_tenant_sightings_widen_and_names_follow_the_latest(engine: sa.Engine) -> None:
    june, july, may = (datetime(2025, month, 1, 9, tzinfo=TOKYO) for month in (6, 7, 5))
    publish(engine, TENANT, 1, {}, display_name="Contoso", default_domain="contoso.onmicrosoft.com", seen_at=june)
    publish(engine, TENANT, 2, {}, display_name="Contoso Japan", default_domain="contoso.co.jp", seen_at=july)
    publish(engine, TENANT, 3, {}, display_name="Contoso (old)", default_domain="old.contoso.com", seen_at=may)
    publish(engine, OTHER_TENANT, 1, {}, display_name="Fabrikam", default_domain="fabrikam.com", seen_at=june)

    assert content(engine, tenants) == [
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
            "default_domain": "fabrikam.com",
            "first_seen_at": june.astimezone(UTC),
            "last_seen_at": june.astimezone(UTC),
        },
    ]


def test_quarantined_records_are_kept_with_their_reason(engine: sa.Engine) -> None:
    raw = {"id": None, "displayName": "山田 太郎", "businessPhones": ["+81 3-1234-5678"], "accountEnabled": True}
    source = "data/raw/users/tenant=x/extract=1.parquet"
    rows = [
        QuarantinedRow("users", source, 3, "id", "missing", raw),
        QuarantinedRow("users", source, 7, "createdDateTime", "not a timestamp", raw),
        QuarantinedRow("user_licenses", source, 7, "createdDateTime", "its user was rejected", raw),
    ]
    before = datetime.now(UTC)

    result = publish(engine, TENANT, 1, {"users": [user(TENANT, 1)]}, quarantined=rows)

    assert result.extract.tables["users"] == _counts(1, inserted=1, quarantined=2)
    assert result.extract.tables["user_licenses"] == _counts(0, quarantined=1)
    stored = content(engine, quarantine)
    assert [{k: v for k, v in row.items() if k not in ("id", "raw", "quarantined_at")} for row in stored] == [
        {
            "tenant_id": TENANT,
            "extract_id": extract_id(1),
            "entity": entity,
            "source": source,
            "row_number": row_number,
            "field": field,
            "reason": reason,
        }
        for entity, row_number, field, reason in (
            ("user_licenses", 7, "createdDateTime", "its user was rejected"),
            ("users", 3, "id", "missing"),
            ("users", 7, "createdDateTime", "not a timestamp"),
        )
    ]
    assert {row["quarantined_at"] for row in stored} == {result.extract.published_at}
    assert before <= result.extract.published_at <= datetime.now(UTC)
    assert [json.loads(row["raw"]) for row in stored] == [raw, raw, raw]
    assert "山田 太郎" in stored[0]["raw"]


def test_quarantine_of_a_republished_extract_is_replaced_not_doubled(engine: sa.Engine) -> None:
    first, second = "users/extract=1.parquet", "users/extract=2.parquet"
    publish(engine, TENANT, 1, {}, digest="a", quarantined=[QuarantinedRow("users", first, 3, "id", "missing", {})])
    for digest in ("b", "c"):  # the same extract id published again (different content: not a no-op)
        publish(
            engine, TENANT, 2, {}, digest=digest, quarantined=[QuarantinedRow("users", second, 5, "id", "missing", {})]
        )
    publish(engine, OTHER_TENANT, 2, {})
    assert sorted((row["extract_id"], row["row_number"]) for row in content(engine, quarantine)) == [
        (extract_id(1), 3),
        (extract_id(2), 5),
    ]

    publish(engine, TENANT, 2, {}, digest="d")
    assert [(row["extract_id"], row["row_number"]) for row in content(engine, quarantine)] == [(extract_id(1), 3)]


def test_quarantine_refuses_rows_for_another_table(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match=r"row 3 of a\.parquet is for mailboxes, not a table of this publication"):
        publish(engine, TENANT, 1, {}, quarantined=[QuarantinedRow("mailboxes", "a.parquet", 3, "id", "x", {})])


def test_the_ledger_records_each_extract_and_its_counts(engine: sa.Engine) -> None:
    publish(engine, TENANT, 1, consistent_extract(TENANT, range(1, 4)))
    result = publish(engine, TENANT, 2, consistent_extract(TENANT, range(2, 6), group_numbers=()))

    with engine.connect() as connection:
        published = published_extract(connection, TENANT)
        assert published_extract(connection, OTHER_TENANT) is None
    assert published == result.extract
    assert (published.extract_id, published.digest) == (extract_id(2), "digest-2")
    empty = {name: _counts(0) for name in TABLES if name not in {"groups", "skus", "user_licenses", "users"}}
    assert dict(published.tables) == {
        "groups": _counts(0, deleted=1),
        "skus": _counts(1, updated=1),
        "user_licenses": _counts(4, inserted=2, deleted=1),
        "users": _counts(4, inserted=2, deleted=1),
        **empty,
    }
    assert [(row["extract_id"], row["digest"]) for row in content(engine, extracts)] == [
        (extract_id(1), "digest-1"),
        (extract_id(2), "digest-2"),
    ]
    assert len(content(engine, extract_tables)) == 2 * len(TABLES)


def test_an_older_extract_is_refused_naming_both(engine: sa.Engine) -> None:
    publish(engine, TENANT, 5, consistent_extract(TENANT, range(1, 4)))
    before = tenant_content(engine, TENANT)

    with pytest.raises(StaleExtractError) as refused:
        publish(engine, TENANT, 4, consistent_extract(TENANT, range(7, 9)))

    assert str(refused.value) == (
        f"extract {extract_id(4)} of tenant {TENANT} is older than its published extract {extract_id(5)}: "
        "a tenant's warehouse never goes back to an older extract; load a newer one"
    )
    assert (refused.value.extract_id, refused.value.published_extract_id) == (extract_id(4), extract_id(5))
    assert tenant_content(engine, TENANT) == before
    # Another tenant's ledger does not matter.
    publish(engine, OTHER_TENANT, 4, {})


def test_an_extract_with_the_published_digest_publishes_nothing(engine: sa.Engine) -> None:
    first = publish(engine, TENANT, 1, consistent_extract(TENANT, range(1, 4)), digest="same")
    before = tenant_content(engine, TENANT)
    tenant_before = content(engine, tenants)

    with TenantPublication(engine, TENANT, extract_id(2), "same") as publication:
        assert publication.is_current()
        result = publication.publish(display_name="Renamed", default_domain="x.com", seen_at=SEEN + timedelta(days=1))

    assert result.unchanged
    assert result.extract == first.extract
    assert tenant_content(engine, TENANT) == before
    assert content(engine, tenants) == tenant_before
    assert [row["extract_id"] for row in content(engine, extracts)] == [extract_id(1)]


def test_is_current_only_for_the_newest_digest(engine: sa.Engine) -> None:
    with TenantPublication(engine, TENANT, extract_id(1), "a") as publication:
        assert not publication.is_current()
    publish(engine, TENANT, 1, {}, digest="a")
    publish(engine, TENANT, 2, {}, digest="b")
    with TenantPublication(engine, TENANT, extract_id(3), "a") as publication:
        assert not publication.is_current()
    with TenantPublication(engine, TENANT, extract_id(3), "b") as publication:
        assert publication.is_current()


def test_a_publication_publishes_once(engine: sa.Engine) -> None:
    with TenantPublication(engine, TENANT, extract_id(1), "a") as publication:
        for name in TABLES:
            publication.stage(name, [])
        publication.publish(display_name=None, default_domain=None, seen_at=SEEN)
        with pytest.raises(RuntimeError, match="already"):
            publication.stage("users", [])
        with pytest.raises(RuntimeError, match="already"):
            publication.publish(display_name=None, default_domain=None, seen_at=SEEN)


def test_consistency_helpers_find_licences_without_users_and_unit_gaps(engine: sa.Engine) -> None:
    publish(engine, TENANT, 1, consistent_extract(TENANT, range(1, 4)))
    publish(engine, OTHER_TENANT, 1, consistent_extract(OTHER_TENANT, range(1, 3)))
    with engine.connect() as connection:
        assert licenses_without_user(connection, TENANT) == []
        assert consumed_unit_mismatches(connection, TENANT) == []

    # What a half-loaded extract used to leave behind: licences of users that are gone, stale consumed units.
    with engine.begin() as connection:
        connection.execute(sa.delete(users).where(users.c.tenant_id == TENANT, users.c.id == user_id(2)))
        connection.execute(sa.insert(user_licenses), [license_(TENANT, 9, SPE_E3), license_(TENANT, 9, EMS_E3)])
        connection.execute(sa.insert(skus), [sku(TENANT, EMS_E3, "EMS", 0)])

    with engine.connect() as connection:
        assert licenses_without_user(connection, TENANT) == [
            f"user {user_id(2)} holds SKU {SPE_E3} but is not in users",
            f"user {user_id(9)} holds SKU {SPE_E3} but is not in users",
            f"user {user_id(9)} holds SKU {EMS_E3} but is not in users",
        ]
        assert len(licenses_without_user(connection, TENANT, limit=1)) == 1
        assert consumed_unit_mismatches(connection, TENANT) == [
            "EMS: consumed 0, held by 1",
            "SPE_E3: consumed 3, held by 4",
        ]
        assert licenses_without_user(connection, OTHER_TENANT) == []
        assert consumed_unit_mismatches(connection, OTHER_TENANT) == []


def test_twenty_thousand_users_publish_into_postgresql(migrated_postgres_url: str) -> None:
    from m365_pipeline.warehouse.engine import create_warehouse_engine

    engine = create_warehouse_engine(migrated_postgres_url)
    try:
        rows = [user(TENANT, number) for number in range(1, 20_001)]
        assert publish(engine, TENANT, 1, {"users": rows}).extract.tables["users"] == _counts(20_000, inserted=20_000)
        rows[10_000] = user(TENANT, 10_001, department="営業部")
        del rows[5]
        assert publish(engine, TENANT, 2, {"users": rows}).extract.tables["users"] == _counts(
            19_999, updated=1, deleted=1
        )
        with engine.connect() as connection:
            count = connection.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
            department = connection.execute(
                sa.select(users.c.department).where(users.c.id == user_id(10_001))
            ).scalar_one()
        assert (count, department) == (19_999, "営業部")
    finally:
        engine.dispose()
