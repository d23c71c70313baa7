"""Apply the sharing batches the warehouse has not applied yet, in order, in one transaction.

Per batch: the drives are replaced by the batch's list (with their quotas); a drive the batch resynced loses all its
permission rows; every item the batch reports changed or deleted loses its rows; the batch's permissions are
inserted. ``drive_sync`` records the last batch applied, so a re-run applies nothing twice and a batch never
loaded is applied by the next load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

import sqlalchemy as sa

from m365_pipeline.drives.extract import CHANGES, DELTA_LINKS, DRIVES, PERMISSIONS
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse.drive_tables import drive_item_permissions, drive_sync, drives
from m365_pipeline.warehouse.staging import write_rows

DELETE_CHUNK = 500


@dataclass(frozen=True)
class SharingLoad:
    tenant_id: str | None
    batches: int
    last_batch: str | None


def load_sharing(engine: sa.Engine, store: RawStore, tenant: str) -> SharingLoad:
    batches = store.partitions(DELTA_LINKS, tenant)
    if not batches:
        raise FileNotFoundError(f"tenant {tenant}: the raw store holds no drive sharing batch; materialize it first")
    tenant_id = store.file_metadata(store.path(DRIVES, tenant, batches[-1]))["m365.tenant_id"]
    with engine.begin() as connection:
        applied = connection.execute(
            sa.select(drive_sync.c.batch_id).where(drive_sync.c.tenant_id == tenant_id)
        ).scalar()
        pending = [batch for batch in batches if applied is None or batch > applied]
        for batch in pending:
            _apply(connection, store, tenant, tenant_id, batch)
        if pending:
            connection.execute(drive_sync.delete().where(drive_sync.c.tenant_id == tenant_id))
            connection.execute(
                drive_sync.insert().values(tenant_id=tenant_id, batch_id=pending[-1], applied_at=datetime.now(UTC))
            )
    return SharingLoad(tenant_id, len(pending), pending[-1] if pending else applied)


def _apply(connection: sa.Connection, store: RawStore, tenant: str, tenant_id: str, batch: str) -> None:
    connection.execute(drives.delete().where(drives.c.tenant_id == tenant_id))
    for rows in store.iter_record_batches(store.path(DRIVES, tenant, batch)):
        write_rows(connection, drives, [{"tenant_id": tenant_id, **row} for row in rows])
    table = drive_item_permissions
    for links in store.iter_record_batches(store.path(DELTA_LINKS, tenant, batch)):
        for link in links:
            if link["resynced"]:
                drive = link["drive_id"]
                connection.execute(table.delete().where(table.c.tenant_id == tenant_id, table.c.drive_id == drive))
    for rows in store.iter_record_batches(store.path(CHANGES, tenant, batch)):
        by_drive: dict[str, list[str]] = {}
        for row in rows:
            by_drive.setdefault(str(row["drive_id"]), []).append(str(row["item_id"]))
        for drive_id, items in by_drive.items():
            iterator = iter(items)
            while chunk := list(islice(iterator, DELETE_CHUNK)):
                connection.execute(
                    table.delete().where(
                        table.c.tenant_id == tenant_id, table.c.drive_id == drive_id, table.c.item_id.in_(chunk)
                    )
                )
    for rows in store.iter_record_batches(store.path(PERMISSIONS, tenant, batch)):
        write_rows(connection, table, [{"tenant_id": tenant_id, **row} for row in rows])
