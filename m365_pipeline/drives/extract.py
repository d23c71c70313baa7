"""Drives and the sharing of their items, as one batch per run in the raw store: users' OneDrives here, SharePoint
document libraries in ``sites.py``, through the same ``extract_drive_sharing``.

A OneDrive batch holds every drive with its quota (``GET /users/{id}/drive``; a user without a OneDrive answers 404
and is skipped), the items each drive's delta reported (``GET /drives/{id}/root/delta``, from the previous batch's
deltaLink when there is one, else from the start: a ``resynced`` drive), the classified permissions of each
reported item that is shared or was (``GET /drives/{id}/items/{item}/permissions``), and the deltaLinks to start
from next time. Batches are never overwritten: the warehouse applies every batch it has not applied yet, in
order, so a batch extracted but never loaded is not lost to the next one. A deltaLink or nextLink Graph no longer
honours (410 Gone, resyncRequired) restarts that drive from the beginning: the warehouse then replaces all that
drive's rows with what the last enumeration found, so items removed meanwhile are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from m365_pipeline.drives.classify import classify
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.graph.organization import fetch_tenant
from m365_pipeline.raw_store import RawStore, new_extract_id

DRIVES = "drives"
CHANGES = "drive_item_changes"
PERMISSIONS = "drive_item_permissions"
DELTA_LINKS = "drive_delta_links"
SHARING_CHANGED = "@microsoft.graph.sharedChanged"

QUOTA_FIELDS = [
    ("quota_total", pa.int64()),
    ("quota_used", pa.int64()),
    ("quota_remaining", pa.int64()),
    ("quota_deleted", pa.int64()),
    ("quota_state", pa.string()),
]
ENUMERATION = ("enumeration", pa.int32())
ENUMERATION_DESCRIPTION = (
    "Which enumeration of its drive the row comes from: 0, then 1, 2... for each restart after Graph answered "
    "410 Gone (an expired delta or next link); the warehouse applies only the drive's last."
)
MAX_ENUMERATIONS = 3
CHANGES_SCHEMA = pa.schema(
    [
        ("drive_id", pa.string()),
        ("item_id", pa.string()),
        ("item_name", pa.string()),
        ("deleted", pa.bool_()),
        ENUMERATION,
    ]
)
PERMISSIONS_SCHEMA = pa.schema(
    [
        ("drive_id", pa.string()),
        ("item_id", pa.string()),
        ("item_name", pa.string()),
        ("permission_id", pa.string()),
        ("position", pa.int32()),
        ("roles", pa.string()),
        ("link_scope", pa.string()),
        ("link_type", pa.string()),
        ("classification", pa.string()),
        ("grantee_id", pa.string()),
        ("grantee_email", pa.string()),
        ENUMERATION,
    ]
)
DELTA_LINKS_SCHEMA = pa.schema(
    [("drive_id", pa.string()), ("delta_link", pa.string()), ("resynced", pa.bool_()), ENUMERATION]
)


@dataclass(frozen=True)
class DriveEntities:
    """The raw entities of one kind of sharing batch: ``drives`` are the drives walked with delta (each row has a
    ``drive_id``); ``schemas`` names every entity the batch writes, these four and any other (sites)."""

    drives: str
    changes: str
    permissions: str
    delta_links: str
    schemas: Mapping[str, pa.Schema]


ONEDRIVE = DriveEntities(
    DRIVES,
    CHANGES,
    PERMISSIONS,
    DELTA_LINKS,
    {
        DRIVES: pa.schema(
            [
                ("drive_id", pa.string()),
                ("owner_id", pa.string()),
                ("owner_email", pa.string()),
                ("drive_type", pa.string()),
                ("web_url", pa.string()),
                *QUOTA_FIELDS,
            ]
        ),
        CHANGES: CHANGES_SCHEMA,
        PERMISSIONS: PERMISSIONS_SCHEMA,
        DELTA_LINKS: DELTA_LINKS_SCHEMA,
    },
)
SCHEMAS = ONEDRIVE.schemas

# What a batch's drive source yields: (raw entity, row); the rows of ``DriveEntities.drives`` are then walked
Containers = Callable[[GraphClient], Iterator[tuple[str, dict[str, Any]]]]


@dataclass(frozen=True)
class SharingBatch:
    batch_id: str
    rows: Mapping[str, int]  # raw entity -> rows written
    drives: int
    changed_items: int
    permissions: int
    resynced_drives: int


def extract_sharing(client: GraphClient, store: RawStore, tenant: str) -> SharingBatch:
    """One batch of the tenant's OneDrives."""
    return extract_drive_sharing(client, store, tenant, ONEDRIVE, _drives)


def extract_drive_sharing(
    client: GraphClient, store: RawStore, tenant: str, entities: DriveEntities, containers: Containers
) -> SharingBatch:
    """One batch: every row ``containers`` yields, and for each drive among them the items its delta reports with
    their classified permissions, and the deltaLink to start from next time."""
    identity = fetch_tenant(client)
    domains = _verified_domains(client)
    previous = _previous_links(store, entities.delta_links, tenant)
    batch_id = new_extract_id()
    metadata = {key.encode(): value.encode() for key, value in identity.as_file_metadata().items()}
    schemas = entities.schemas
    counts = dict.fromkeys(schemas, 0)
    with store.staging() as folder:
        files = {name: folder / f"{name}.parquet" for name in schemas}
        writers = {
            name: pq.ParquetWriter(files[name], schema.with_metadata(metadata)) for name, schema in schemas.items()
        }
        try:
            for entity, row in containers(client):
                _write(writers, schemas, counts, entity, [row])
                if entity != entities.drives:
                    continue
                drive_id = row["drive_id"]
                for name, rows in _drive_changes(client, entities, drive_id, previous.get(drive_id), domains):
                    _write(writers, schemas, counts, name, rows)
        finally:
            for writer in writers.values():
                writer.close()
        for name, path in files.items():
            store.put(path, name, tenant, batch_id)
    links = _read(store, entities.delta_links, tenant, batch_id)
    resynced = sum(1 for row in links if row["resynced"])
    return SharingBatch(
        batch_id,
        counts,
        counts[entities.drives],
        counts[entities.changes],
        counts[entities.permissions],
        resynced,
    )


def _write(
    writers: dict[str, pq.ParquetWriter],
    schemas: Mapping[str, pa.Schema],
    counts: dict[str, int],
    name: str,
    rows: list[dict[str, Any]],
) -> None:
    if rows:
        writers[name].write_batch(pa.RecordBatch.from_pylist(rows, schema=schemas[name]))
        counts[name] += len(rows)


def _read(store: RawStore, name: str, tenant: str, batch_id: str) -> Iterator[dict[str, Any]]:
    for batch in store.iter_record_batches(store.path(name, tenant, batch_id)):
        yield from batch


def _previous_links(store: RawStore, entity: str, tenant: str) -> dict[str, str]:
    batches = store.partitions(entity, tenant)
    if not batches:
        return {}
    return {row["drive_id"]: row["delta_link"] for row in _read(store, entity, tenant, batches[-1])}


def _verified_domains(client: GraphClient) -> list[str]:
    answer = client.get_json("/organization", {"$select": "verifiedDomains"})
    return [
        domain["name"]
        for organization in answer.get("value") or []
        for domain in organization.get("verifiedDomains") or []
    ]


def _drives(client: GraphClient) -> Iterator[tuple[str, dict[str, Any]]]:
    for user in client.iter_items("/users", {"$select": "id,userType"}, cost=2):
        if user.get("userType") == "Guest":
            continue
        try:
            drive = client.get_json(f"/users/{user['id']}/drive")
        except GraphError as error:
            if error.status == 404:
                continue
            raise
        owner = (drive.get("owner") or {}).get("user") or {}
        yield (
            DRIVES,
            {
                "drive_id": drive["id"],
                "owner_id": owner.get("id") or user["id"],
                "owner_email": owner.get("email"),
                "drive_type": drive.get("driveType"),
                "web_url": drive.get("webUrl"),
                **quota_columns(drive),
            },
        )


def quota_columns(drive: dict[str, Any]) -> dict[str, Any]:
    """A drive resource's quota as the QUOTA_FIELDS columns."""
    quota = drive.get("quota") or {}
    return {
        "quota_total": quota.get("total"),
        "quota_used": quota.get("used"),
        "quota_remaining": quota.get("remaining"),
        "quota_deleted": quota.get("deleted"),
        "quota_state": quota.get("state"),
    }


def _drive_changes(
    client: GraphClient, entities: DriveEntities, drive_id: str, delta_link: str | None, domains: list[str]
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The drive's delta from ``delta_link`` (from the start when None). When Graph answers 410 Gone, on any page
    (the link or a next link expired), the drive is enumerated again from the start, ``resynced``, so that what it
    no longer returns is dropped. The rows already written of the enumeration given up stay in the batch, marked
    with their ``enumeration`` (0, 1...); the delta link row names the last, the one the warehouse applies."""
    resynced = delta_link is None
    start = f"/drives/{drive_id}/root/delta"
    url, enumeration, pages_read = delta_link or start, 0, 0
    next_link = ""
    while True:
        try:
            for items, link in _delta_pages(client, url):
                pages_read += 1
                next_link = link or next_link
                yield from _page_rows(client, entities, drive_id, items, domains, resynced, enumeration)
            break
        except GraphError as error:
            # a fresh enumeration refused at once, or given up too often, is not an expired link
            if error.status != 410 or (resynced and pages_read == 0) or enumeration == MAX_ENUMERATIONS - 1:
                raise
            resynced, url, enumeration, pages_read = True, start, enumeration + 1, 0
    yield (
        entities.delta_links,
        [{"drive_id": drive_id, "delta_link": next_link, "resynced": resynced, "enumeration": enumeration}],
    )


def _page_rows(
    client: GraphClient,
    entities: DriveEntities,
    drive_id: str,
    items: list[dict[str, Any]],
    domains: list[str],
    resynced: bool,
    enumeration: int,
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The rows of one delta page: each item reported, and the permissions of each that is (or was) shared."""
    changes, permissions = [], []
    for item in items:
        deleted = "deleted" in item
        changes.append(
            {
                "drive_id": drive_id,
                "item_id": item["id"],
                "item_name": item.get("name"),
                "deleted": deleted,
                "enumeration": enumeration,
            }
        )
        shared = "shared" in item or str(item.get(SHARING_CHANGED, "")).lower() == "true"
        if not deleted and (shared or not resynced):
            rows = _permissions(client, drive_id, item, domains)
            permissions += [{**row, "enumeration": enumeration} for row in rows]
    yield entities.changes, changes
    yield entities.permissions, permissions


def _delta_pages(client: GraphClient, url: str) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    """Each page's items, and the deltaLink on the last page."""
    headers = {"Prefer": "deltashowsharingchanges, hierarchicalsharing"}
    next_url: str | None = url
    while next_url is not None:
        body = client.get_json(next_url, None, headers)
        link = body.get("@odata.deltaLink")
        yield list(body.get("value") or []), link if isinstance(link, str) else None
        following = body.get("@odata.nextLink")
        next_url = following if isinstance(following, str) else None


def _permissions(client: GraphClient, drive_id: str, item: dict[str, Any], domains: list[str]) -> list[dict[str, Any]]:
    """The item's permissions, one row per grantee; none when only its owners hold any: the item is not shared
    (whether a delta reported it changed or an enumeration found it, it ends the same). None either when the item
    was deleted since its delta page was read (404): the next delta reports its deletion."""
    try:
        answer = client.get_json(f"/drives/{drive_id}/items/{item['id']}/permissions")
    except GraphError as error:
        if error.status == 404:
            return []
        raise
    granted = list(answer.get("value") or [])
    if all("owner" in (permission.get("roles") or []) for permission in granted):
        return []
    rows = []
    for permission in granted:
        link = permission.get("link") or {}
        for position, grant in enumerate(classify(permission, domains)):
            rows.append(
                {
                    "drive_id": drive_id,
                    "item_id": item["id"],
                    "item_name": item.get("name"),
                    "permission_id": permission.get("id"),
                    "position": position,
                    "roles": "; ".join(permission.get("roles") or []),
                    "link_scope": link.get("scope"),
                    "link_type": link.get("type"),
                    "classification": grant.classification,
                    "grantee_id": grant.grantee_id,
                    "grantee_email": grant.grantee_email,
                }
            )
    return rows
