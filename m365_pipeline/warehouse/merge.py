"""Set-based merge of a staging table into its target, for one tenant: three statements, counts from the database."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa


@dataclass(frozen=True)
class MergeCounts:
    inserted: int
    updated: int
    deleted: int


def merge_tenant_rows(connection: sa.Connection, target: sa.Table, staged: sa.Table, tenant_id: str) -> MergeCounts:
    """Make `tenant_id`'s rows of `target` equal to `staged` (which holds only that tenant's rows).

    Target rows whose key is not staged are deleted, rows whose values differ (null-safe: IS DISTINCT FROM on
    PostgreSQL, IS NOT on SQLite) are updated, staged keys not yet in the target are inserted. Other tenants'
    rows are never touched: every key includes tenant_id.
    """
    key = [column.name for column in target.primary_key.columns]
    if "tenant_id" not in key:
        raise ValueError(f"{target.name}: tenant_id is not part of the primary key, so it cannot be merged per tenant")
    values = [column.name for column in target.columns if not column.primary_key]
    same_key = [staged.c[name] == target.c[name] for name in key]

    deleted = connection.execute(
        sa.delete(target).where(target.c.tenant_id == tenant_id, ~sa.exists().where(*same_key))
    ).rowcount
    updated = 0
    if values:
        differs = sa.or_(*(target.c[name].is_distinct_from(staged.c[name]) for name in values))
        updated = connection.execute(
            sa.update(target).values({name: staged.c[name] for name in values}).where(*same_key, differs)
        ).rowcount
    names = [column.name for column in target.columns]
    new_rows = sa.select(*(staged.c[name] for name in names)).where(~sa.exists().where(*same_key))
    # Rowcount of an INSERT is kept only when asked for (SQLAlchemy keeps it for UPDATE and DELETE).
    insert = sa.insert(target).from_select(names, new_rows).execution_options(preserve_rowcount=True)
    inserted = connection.execute(insert).rowcount
    return MergeCounts(inserted=inserted, updated=updated, deleted=deleted)
