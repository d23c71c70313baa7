"""Load one warehouse table from raw Graph records: normalize, quarantine the bad rows, sync in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.loader import LoadResult, replace_quarantine, sync_tenant_rows
from m365_pipeline.warehouse.normalize import (
    Normalized,
    normalize_groups,
    normalize_skus,
    normalize_user_licenses,
    normalize_users,
)

Normalizer = Callable[[Iterable[dict[str, Any]], str, str], Normalized]

NORMALIZERS: dict[str, tuple[Normalizer, sa.Table]] = {
    "users": (normalize_users, schema.users),
    "user_licenses": (normalize_user_licenses, schema.user_licenses),
    "skus": (normalize_skus, schema.skus),
    "groups": (normalize_groups, schema.groups),
}


@dataclass(frozen=True)
class TableLoad:
    result: LoadResult
    source_records: int
    normalized_rows: int
    quarantined: int
    table_rows: int  # the tenant's rows in the table after the load


def load_records(
    engine: sa.Engine, table_name: str, records: list[dict[str, Any]], tenant_id: str, source: str
) -> TableLoad:
    """Make the tenant's rows of `table_name` match `records`; bad records go to quarantine with their reason."""
    normalize, table = NORMALIZERS[table_name]
    normalized = normalize(records, tenant_id, source)
    with engine.begin() as connection:
        result = sync_tenant_rows(connection, table, tenant_id, normalized.rows)
        replace_quarantine(connection, tenant_id, table_name, source, normalized.quarantined)
        table_rows = count_tenant_rows(connection, table, tenant_id)
    return TableLoad(
        result=result,
        source_records=len(records),
        normalized_rows=len(normalized.rows),
        quarantined=len(normalized.quarantined),
        table_rows=table_rows,
    )


def count_tenant_rows(connection: sa.Connection, table: sa.Table, tenant_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
    return int(connection.execute(query).scalar_one())
