"""The extract ledger: which extract each tenant's directory tables hold, and what publishing it changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from m365_pipeline.warehouse.schema import extract_tables, extracts


@dataclass(frozen=True)
class TableCounts:
    rows: int  # the tenant's rows in the table once the extract was published
    inserted: int
    updated: int
    deleted: int
    quarantined: int  # records of the extract rejected for this table

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated


@dataclass(frozen=True)
class PublishedExtract:
    tenant_id: str
    extract_id: str
    digest: str
    published_at: datetime
    tables: Mapping[str, TableCounts]


@dataclass(frozen=True)
class ExtractHead:
    """The newest published extract's id and digest: all a publication needs to decide, in one indexed read."""

    extract_id: str
    digest: str


def newest_extract(connection: sa.Connection, tenant_id: str) -> ExtractHead | None:
    # Extract ids compare as Python compares strings (code points): PostgreSQL's database collation might not.
    order: sa.ColumnElement[str] = extracts.c.extract_id
    if connection.dialect.name == "postgresql":
        order = order.collate("C")
    row = connection.execute(
        sa.select(extracts.c.extract_id, extracts.c.digest)
        .where(extracts.c.tenant_id == tenant_id)
        .order_by(order.desc())
        .limit(1)
    ).first()
    return None if row is None else ExtractHead(extract_id=row.extract_id, digest=row.digest)


def published_extract(connection: sa.Connection, tenant_id: str) -> PublishedExtract | None:
    """The extract `tenant_id`'s tables hold now (its newest published one), with its per-table counts."""
    head = newest_extract(connection, tenant_id)
    if head is None:
        return None
    published_at = connection.execute(
        sa.select(extracts.c.published_at).where(
            extracts.c.tenant_id == tenant_id, extracts.c.extract_id == head.extract_id
        )
    ).scalar_one()
    rows = connection.execute(
        sa.select(extract_tables)
        .where(extract_tables.c.tenant_id == tenant_id, extract_tables.c.extract_id == head.extract_id)
        .order_by(extract_tables.c.table_name)
    ).mappings()
    tables = {
        row["table_name"]: TableCounts(
            rows=row["row_count"],
            inserted=row["inserted"],
            updated=row["updated"],
            deleted=row["deleted"],
            quarantined=row["quarantined"],
        )
        for row in rows
    }
    return PublishedExtract(tenant_id, head.extract_id, head.digest, published_at, tables)


def record_extract(connection: sa.Connection, extract: PublishedExtract) -> None:
    """Write `extract` to the ledger, replacing an earlier record of the same extract id (a re-publication)."""
    connection.execute(
        sa.delete(extract_tables).where(
            extract_tables.c.tenant_id == extract.tenant_id, extract_tables.c.extract_id == extract.extract_id
        )
    )
    connection.execute(
        sa.delete(extracts).where(
            extracts.c.tenant_id == extract.tenant_id, extracts.c.extract_id == extract.extract_id
        )
    )
    connection.execute(
        sa.insert(extracts).values(
            tenant_id=extract.tenant_id,
            extract_id=extract.extract_id,
            digest=extract.digest,
            published_at=extract.published_at,
        )
    )
    if extract.tables:
        connection.execute(
            sa.insert(extract_tables),
            [
                {
                    "tenant_id": extract.tenant_id,
                    "extract_id": extract.extract_id,
                    "table_name": name,
                    "row_count": counts.rows,
                    "inserted": counts.inserted,
                    "updated": counts.updated,
                    "deleted": counts.deleted,
                    "quarantined": counts.quarantined,
                }
                for name, counts in extract.tables.items()
            ],
        )
