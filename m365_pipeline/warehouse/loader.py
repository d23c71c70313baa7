"""Load normalized rows into the warehouse: one tenant's rows of a table made equal to a new extract.

Every function runs on the caller's connection inside the caller's transaction (``engine.begin()``), so a
failure part-way leaves the warehouse as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from m365_pipeline.warehouse.quarantine import QuarantinedRow
from m365_pipeline.warehouse.schema import quarantine, tenants

BATCH_ROWS = 1000


@dataclass(frozen=True)
class LoadResult:
    table: str
    inserted: int
    updated: int
    deleted: int
    unchanged: int


def sync_tenant_rows(
    connection: sa.Connection, table: sa.Table, tenant_id: str, rows: Sequence[dict[str, Any]]
) -> LoadResult:
    """Make `tenant_id`'s rows in `table` equal to `rows`; other tenants' rows are not touched.

    New keys are inserted, rows that differ are updated, rows equal to what is stored are left alone and
    stored keys absent from `rows` are deleted. Each row must give every column of the table.
    """
    key_columns = [column.name for column in table.primary_key.columns]
    if "tenant_id" not in key_columns:
        raise ValueError(f"{table.name}: tenant_id is not part of the primary key, so it cannot be synced per tenant")
    incoming = _rows_by_key(table, key_columns, tenant_id, rows)
    stored = {
        tuple(row[name] for name in key_columns): dict(row)
        for row in connection.execute(sa.select(table).where(table.c.tenant_id == tenant_id)).mappings()
    }
    new = [row for key, row in incoming.items() if key not in stored]
    changed = [row for key, row in incoming.items() if key in stored and stored[key] != row]
    gone = [key for key in stored if key not in incoming]
    _upsert(connection, table, key_columns, new + changed)
    _delete(connection, table, key_columns, gone)
    return LoadResult(
        table=table.name,
        inserted=len(new),
        updated=len(changed),
        deleted=len(gone),
        unchanged=len(incoming) - len(new) - len(changed),
    )


def _rows_by_key(
    table: sa.Table, key_columns: list[str], tenant_id: str, rows: Sequence[dict[str, Any]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    columns = set(table.columns.keys())
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for index, row in enumerate(rows, start=1):
        if row.keys() != columns:
            missing, unknown = sorted(columns - row.keys()), sorted(row.keys() - columns)
            raise ValueError(f"{table.name} row {index}: missing columns {missing}, unknown columns {unknown}")
        if row["tenant_id"] != tenant_id:
            raise ValueError(f"{table.name} row {index}: tenant_id {row['tenant_id']!r} is not {tenant_id!r}")
        key = tuple(row[name] for name in key_columns)
        if key in by_key:
            shown = ", ".join(f"{name}={value!r}" for name, value in zip(key_columns, key, strict=True))
            raise ValueError(f"{table.name}: duplicate key ({shown}) at row {index}")
        by_key[key] = row
    return by_key


def _upsert(connection: sa.Connection, table: sa.Table, key_columns: list[str], rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    insert = _insert(connection, table)
    updates = {column.name: insert.excluded[column.name] for column in table.columns if not column.primary_key}
    statement = (
        insert.on_conflict_do_update(index_elements=key_columns, set_=updates)
        if updates
        else insert.on_conflict_do_nothing(index_elements=key_columns)
    )
    for start in range(0, len(rows), BATCH_ROWS):
        connection.execute(statement, list(rows[start : start + BATCH_ROWS]))


def _delete(
    connection: sa.Connection, table: sa.Table, key_columns: list[str], keys: Sequence[tuple[Any, ...]]
) -> None:
    if not keys:
        return
    statement = table.delete().where(*(table.c[name] == sa.bindparam(f"key_{name}") for name in key_columns))
    parameters = [{f"key_{name}": value for name, value in zip(key_columns, key, strict=True)} for key in keys]
    for start in range(0, len(parameters), BATCH_ROWS):
        connection.execute(statement, parameters[start : start + BATCH_ROWS])


def _insert(connection: sa.Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"the warehouse runs on SQLite or PostgreSQL, not {dialect}")


def replace_quarantine(
    connection: sa.Connection,
    tenant_id: str,
    entity: str,
    source: str,
    rows: Sequence[QuarantinedRow],
    *,
    quarantined_at: datetime | None = None,
) -> int:
    """Make the quarantine entries of one load (tenant, entity, source) equal to `rows`; returns how many.

    Loading the same source again replaces its entries instead of adding them twice, so a re-run is idempotent;
    entries of other sources (earlier extracts) stay as the record of what was rejected then.
    """
    strangers = [row for row in rows if (row.entity, row.source) != (entity, source)]
    if strangers:
        raise ValueError(
            f"quarantine: row {strangers[0].row_number} belongs to {strangers[0].entity} from {strangers[0].source}, "
            f"not to {entity} from {source}"
        )
    connection.execute(
        sa.delete(quarantine).where(
            quarantine.c.tenant_id == tenant_id, quarantine.c.entity == entity, quarantine.c.source == source
        )
    )
    if not rows:
        return 0
    at = quarantined_at or datetime.now(UTC)
    connection.execute(
        sa.insert(quarantine),
        [
            {
                "tenant_id": tenant_id,
                "entity": row.entity,
                "source": row.source,
                "row_number": row.row_number,
                "field": row.field,
                "reason": row.reason,
                "raw": json.dumps(row.raw, ensure_ascii=False, sort_keys=True, default=str),
                "quarantined_at": at,
            }
            for row in rows
        ],
    )
    return len(rows)


def upsert_tenant(
    connection: sa.Connection, tenant_id: str, display_name: str, default_domain: str, seen_at: datetime
) -> None:
    """Record that `tenant_id` was seen at `seen_at`: the first and last sighting widen to include it.

    The names are taken from the latest sighting, so a backfill of an older extract does not roll them back.
    """
    insert = _insert(connection, tenants).values(
        tenant_id=tenant_id,
        display_name=display_name,
        default_domain=default_domain,
        first_seen_at=seen_at,
        last_seen_at=seen_at,
    )
    latest = insert.excluded.last_seen_at >= tenants.c.last_seen_at
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={
                "display_name": sa.case((latest, insert.excluded.display_name), else_=tenants.c.display_name),
                "default_domain": sa.case((latest, insert.excluded.default_domain), else_=tenants.c.default_domain),
                "last_seen_at": sa.case((latest, insert.excluded.last_seen_at), else_=tenants.c.last_seen_at),
                "first_seen_at": sa.case(
                    (insert.excluded.first_seen_at < tenants.c.first_seen_at, insert.excluded.first_seen_at),
                    else_=tenants.c.first_seen_at,
                ),
            },
        )
    )


def table_column_schema(table: sa.Table) -> list[tuple[str, str, str]]:
    """(name, type, description) of each column, for catalog metadata; types as PostgreSQL spells them."""
    dialect = postgresql.dialect()
    return [(column.name, column.type.compile(dialect=dialect), column.info["description"]) for column in table.columns]
