"""Apply the sharing batches the warehouse has not applied yet, in order, in one transaction.

Per batch: the containers (OneDrives; sites and their libraries) are replaced by the batch's lists (with their
quotas); a drive no longer listed, or one the batch resynced, loses all its permission rows; every item the batch
reports changed or deleted loses its rows; the batch's permissions are inserted. Of a drive enumerated again after
a 410 Gone, only the rows of its last enumeration are applied. The sync table records the last
batch applied, so a re-run applies nothing twice and a batch never loaded is applied by the next load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

import sqlalchemy as sa

from m365_pipeline.drives.extract import ONEDRIVE, DriveEntities
from m365_pipeline.drives.sites import LIBRARIES, SHAREPOINT, SITES
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse.drive_tables import (
    drive_item_permissions,
    drive_sync,
    drives,
    site_libraries,
    site_library_item_permissions,
    site_library_sync,
    sites,
)
from m365_pipeline.warehouse.staging import write_rows

DELETE_CHUNK = 500


@dataclass(frozen=True)
class SharingTables:
    """Where one kind of sharing batch lands: ``replaced`` (raw entity -> table) are replaced whole by each batch,
    ``permissions`` is kept current item by item, ``sync`` holds the last batch applied."""

    entities: DriveEntities
    replaced: Mapping[str, sa.Table]
    permissions: sa.Table
    sync: sa.Table


ONEDRIVE_TABLES = SharingTables(ONEDRIVE, {ONEDRIVE.drives: drives}, drive_item_permissions, drive_sync)
SHAREPOINT_TABLES = SharingTables(
    SHAREPOINT, {SITES: sites, LIBRARIES: site_libraries}, site_library_item_permissions, site_library_sync
)


@dataclass(frozen=True)
class SharingLoad:
    tenant_id: str | None
    batches: int
    last_batch: str | None


def load_sharing(
    engine: sa.Engine, store: RawStore, tenant: str, tables: SharingTables = ONEDRIVE_TABLES
) -> SharingLoad:
    entities = tables.entities
    batches = store.partitions(entities.delta_links, tenant)
    if not batches:
        raise FileNotFoundError(
            f"tenant {tenant}: the raw store holds no {entities.drives} sharing batch; materialize it first"
        )
    tenant_id = store.file_metadata(store.path(entities.drives, tenant, batches[-1]))["m365.tenant_id"]
    sync = tables.sync
    with engine.begin() as connection:
        applied = connection.execute(sa.select(sync.c.batch_id).where(sync.c.tenant_id == tenant_id)).scalar()
        pending = [batch for batch in batches if applied is None or batch > applied]
        for batch in pending:
            _apply(connection, store, tables, tenant, tenant_id, batch)
        if pending:
            connection.execute(sync.delete().where(sync.c.tenant_id == tenant_id))
            connection.execute(
                sync.insert().values(tenant_id=tenant_id, batch_id=pending[-1], applied_at=datetime.now(UTC))
            )
    return SharingLoad(tenant_id, len(pending), pending[-1] if pending else applied)


def _apply(
    connection: sa.Connection, store: RawStore, tables: SharingTables, tenant: str, tenant_id: str, batch: str
) -> None:
    entities = tables.entities
    for entity, replaced in tables.replaced.items():
        connection.execute(replaced.delete().where(replaced.c.tenant_id == tenant_id))
        for rows in store.iter_record_batches(store.path(entity, tenant, batch)):
            write_rows(connection, replaced, [{"tenant_id": tenant_id, **row} for row in rows])
    table = tables.permissions
    listed = tables.replaced[entities.drives]
    listed_ids = sa.select(listed.c.drive_id).where(listed.c.tenant_id == tenant_id)
    # a drive no longer listed (deleted, or its site gone) takes its items' permissions with it
    connection.execute(table.delete().where(table.c.tenant_id == tenant_id, table.c.drive_id.not_in(listed_ids)))
    restarted: dict[str, int] = {}  # drive -> its last enumeration, for the few enumerated more than once
    for links in store.iter_record_batches(store.path(entities.delta_links, tenant, batch)):
        for link in links:
            if link["resynced"]:
                drive = link["drive_id"]
                connection.execute(table.delete().where(table.c.tenant_id == tenant_id, table.c.drive_id == drive))
            if link.get("enumeration"):
                restarted[link["drive_id"]] = link["enumeration"]

    def of_last_enumeration(row: dict[str, object]) -> bool:
        """Whether a row comes from its drive's last enumeration (rows of one given up after a 410 do not; a batch
        written before enumerations were recorded has only first ones)."""
        return (row.get("enumeration") or 0) == restarted.get(str(row["drive_id"]), 0)

    for rows in store.iter_record_batches(store.path(entities.changes, tenant, batch)):
        by_drive: dict[str, list[str]] = {}
        for row in filter(of_last_enumeration, rows):
            by_drive.setdefault(str(row["drive_id"]), []).append(str(row["item_id"]))
        for drive_id, items in by_drive.items():
            iterator = iter(items)
            while chunk := list(islice(iterator, DELETE_CHUNK)):
                connection.execute(
                    table.delete().where(
                        table.c.tenant_id == tenant_id, table.c.drive_id == drive_id, table.c.item_id.in_(chunk)
                    )
                )
    for rows in store.iter_record_batches(store.path(entities.permissions, tenant, batch)):
        kept = [{"tenant_id": tenant_id, **row} for row in filter(of_last_enumeration, rows)]
        write_rows(connection, table, kept)
