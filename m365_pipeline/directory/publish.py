"""Publish a tenant's newest complete extract from the raw store to the warehouse, streaming, in one transaction.

Each raw file is read a batch at a time, normalized (bad records to quarantine with their reasons) and staged;
the publication then switches every directory table of the tenant to this extract at once. An extract whose
content equals the published one costs one indexed read. The deltaLinks the extract took before it began become
the ones the incremental refresh (``directory.delta``) continues from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from m365_pipeline.directory.delta import store_delta_links
from m365_pipeline.raw_store import ExtractManifest, RawStore
from m365_pipeline.warehouse.normalize import ENTITY_TABLES, normalize_batches
from m365_pipeline.warehouse.publish import TenantPublication


@dataclass(frozen=True)
class TablePublication:
    rows: int  # the tenant's rows in the table now
    normalized_rows: int  # rows the extract gave the table
    source_records: int  # records of the raw file the table is normalized from
    inserted: int
    updated: int
    deleted: int
    quarantined: int

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated


@dataclass(frozen=True)
class DirectoryPublication:
    tenant_id: str
    extract_id: str  # the extract the tenant's tables hold now
    unchanged: bool  # the extract equals the published one: nothing was written
    tables: dict[str, TablePublication]  # per directory table


def publish_directory(engine: sa.Engine, store: RawStore, manifest: ExtractManifest) -> DirectoryPublication:
    """Make the tenant's warehouse hold ``manifest``'s extract (see the module docstring)."""
    staged: Counter[str] = Counter()
    with TenantPublication(engine, manifest.tenant_id, manifest.extract_id, manifest.digest) as publication:
        unchanged = publication.is_current()
        if not unchanged:
            for table_names in ENTITY_TABLES.values():
                for table in table_names:
                    publication.stage(table, [])  # an entity with no records still publishes its (empty) tables
            for entity, table_names in ENTITY_TABLES.items():
                source = store.uri(manifest.files[entity].path)
                batches = store.iter_record_batches(manifest.files[entity].path)
                for normalized in normalize_batches(entity, batches, manifest.tenant_id, source):
                    for table in table_names:
                        staged[table] += publication.stage(table, normalized.rows[table])
                    publication.quarantine(normalized.quarantined)
        result = publication.publish(
            display_name=manifest.tenant_name,
            default_domain=manifest.tenant_domain,
            seen_at=datetime.fromisoformat(manifest.taken_at),
        )
    # after the publication's own transaction: a kill in between leaves an older link, whose round replays more
    store_delta_links(engine, manifest.tenant_id, manifest.delta_links, datetime.fromisoformat(manifest.taken_at))
    extract = result.extract
    tables = {}
    for entity, names in ENTITY_TABLES.items():
        for name in names:
            counts = extract.tables[name]
            tables[name] = TablePublication(
                rows=counts.rows,
                normalized_rows=counts.rows if result.unchanged else staged[name],
                source_records=manifest.files[entity].rows,
                inserted=0 if result.unchanged else counts.inserted,
                updated=0 if result.unchanged else counts.updated,
                deleted=0 if result.unchanged else counts.deleted,
                quarantined=counts.quarantined,
            )
    return DirectoryPublication(extract.tenant_id, extract.extract_id, result.unchanged, tables)
