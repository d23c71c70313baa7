"""Queries that tell whether a tenant's warehouse is one consistent extract (the blocking asset checks run them)."""

from __future__ import annotations

import sqlalchemy as sa

from m365_pipeline.warehouse.schema import skus, user_licenses, users


def count_tenant_rows(connection: sa.Connection, table: sa.Table, tenant_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
    return int(connection.execute(query).scalar_one())


def licenses_without_user(connection: sa.Connection, tenant_id: str, limit: int | None = None) -> list[str]:
    """Licence rows of `tenant_id` whose user is not in users (a half-loaded extract leaves these), described."""
    has_user = sa.exists().where(users.c.tenant_id == user_licenses.c.tenant_id, users.c.id == user_licenses.c.user_id)
    query = (
        sa.select(user_licenses.c.user_id, user_licenses.c.sku_id)
        .where(user_licenses.c.tenant_id == tenant_id, ~has_user)
        .order_by(user_licenses.c.user_id, user_licenses.c.sku_id)
        .limit(limit)
    )
    return [f"user {user_id} holds SKU {sku_id} but is not in users" for user_id, sku_id in connection.execute(query)]


def consumed_unit_mismatches(connection: sa.Connection, tenant_id: str) -> list[str]:
    """SKUs of `tenant_id` whose consumedUnits differs from the number of users holding them, described."""
    assigned = (
        sa.select(user_licenses.c.sku_id, sa.func.count().label("holders"))
        .where(user_licenses.c.tenant_id == tenant_id)
        .group_by(user_licenses.c.sku_id)
        .subquery()
    )
    holders = sa.func.coalesce(assigned.c.holders, 0)
    query = (
        sa.select(skus.c.sku_part_number, skus.c.consumed_units, holders)
        .select_from(skus.outerjoin(assigned, skus.c.sku_id == assigned.c.sku_id))
        .where(skus.c.tenant_id == tenant_id, skus.c.consumed_units != holders)
        .order_by(skus.c.sku_part_number)
    )
    return [f"{part}: consumed {consumed}, held by {held}" for part, consumed, held in connection.execute(query)]
