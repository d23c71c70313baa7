"""Rows and a one-call publication for the warehouse tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from m365_pipeline.warehouse.publish import PublishResult, TenantPublication
from m365_pipeline.warehouse.quarantine import QuarantinedRow
from m365_pipeline.warehouse.schema import TABLES, users

TENANT = "5b2a3f0e-9c1d-4e7a-8f6b-0a1b2c3d4e5f"
OTHER_TENANT = "c0ffee00-1234-4abc-9def-0123456789ab"
SPE_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
EMS_E3 = "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"
SEEN = datetime(2026, 1, 12, 9, tzinfo=UTC)


def extract_id(number: int) -> str:
    """Extract ids sort by time, as the loader makes them."""
    return f"20260112T{number // 3600:02d}{number // 60 % 60:02d}{number % 60:02d}Z-{number:08x}"


def user_id(number: int) -> str:
    return str(uuid.UUID(int=number))


def user(tenant_id: str, number: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {column.name: None for column in users.columns}
    row.update(
        tenant_id=tenant_id,
        id=user_id(number),
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


def sku(tenant_id: str, sku_id: str, part_number: str, consumed: int) -> dict[str, Any]:
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


def license_(tenant_id: str, number: int, sku_id: str, disabled: str = "") -> dict[str, Any]:
    return {"tenant_id": tenant_id, "user_id": user_id(number), "sku_id": sku_id, "disabled_plans": disabled}


def group(tenant_id: str, number: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tenant_id": tenant_id,
        "id": str(uuid.UUID(int=10**9 + number)),
        "display_name": f"グループ {number}",
        "description": None,
        "mail": None,
        "mail_enabled": False,
        "security_enabled": True,
        "mail_nickname": f"group{number}",
        "group_types": "",
        "kind": "security",
        "is_dynamic": False,
        "membership_rule": None,
        "visibility": None,
        "created_at": datetime(2024, 1, 1, tzinfo=UTC),
        "on_premises_sync_enabled": None,
        "deleted_at": None,
    }
    row.update(values)
    return row


def consistent_extract(
    tenant_id: str, user_numbers: Iterable[int], group_numbers: Iterable[int] = (1,)
) -> dict[str, Any]:
    """Rows of every table for one extract: each user holds SPE_E3, consumed units match."""
    numbers = list(user_numbers)
    return {
        **{name: [] for name in TABLES},  # the tables these tests leave empty
        "users": [user(tenant_id, number) for number in numbers],
        "user_licenses": [license_(tenant_id, number, SPE_E3) for number in numbers],
        "skus": [sku(tenant_id, SPE_E3, "SPE_E3", len(numbers))],
        "groups": [group(tenant_id, number) for number in group_numbers],
    }


def publish(
    engine: sa.Engine,
    tenant_id: str,
    number: int,
    tables: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    digest: str | None = None,
    quarantined: Iterable[QuarantinedRow] = (),
    display_name: str = "Contoso",
    default_domain: str = "contoso.onmicrosoft.com",
    seen_at: datetime = SEEN,
) -> PublishResult:
    """Publish extract `number` of `tenant_id`: `tables`' rows, every other table empty."""
    with TenantPublication(engine, tenant_id, extract_id(number), digest or f"digest-{number}") as publication:
        for name in TABLES:
            publication.stage(name, tables.get(name, []))
        publication.quarantine(quarantined)
        return publication.publish(display_name=display_name, default_domain=default_domain, seen_at=seen_at)


def content(engine: sa.Engine, table: sa.Table, tenant_id: str | None = None) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        query = sa.select(table).order_by(*table.primary_key.columns)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        return [dict(row) for row in connection.execute(query).mappings()]


def tenant_content(engine: sa.Engine, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    return {name: content(engine, table, tenant_id) for name, table in TABLES.items()}
