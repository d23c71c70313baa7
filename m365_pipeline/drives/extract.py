"""Users' OneDrives and the sharing of their items, as one batch per run in the raw store.

A batch holds every drive with its quota (``GET /users/{id}/drive``; a user without a OneDrive answers 404 and is
skipped), the items each drive's delta reported (``GET /drives/{id}/root/delta``, from the previous batch's
deltaLink when there is one, else from the start: a ``resynced`` drive), the classified permissions of each
reported item that is shared or was (``GET /drives/{id}/items/{item}/permissions``), and the deltaLinks to start
from next time. Batches are never overwritten: the warehouse applies every batch it has not applied yet, in
order, so a batch extracted but never loaded is not lost to the next one. A deltaLink Graph no longer honours
(410 Gone, resyncRequired) restarts that drive from the beginning.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
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

SCHEMAS = {
    DRIVES: pa.schema(
        [
            ("drive_id", pa.string()),
            ("owner_id", pa.string()),
            ("owner_email", pa.string()),
            ("drive_type", pa.string()),
            ("web_url", pa.string()),
            ("quota_total", pa.int64()),
            ("quota_used", pa.int64()),
            ("quota_remaining", pa.int64()),
            ("quota_deleted", pa.int64()),
            ("quota_state", pa.string()),
        ]
    ),
    CHANGES: pa.schema(
        [("drive_id", pa.string()), ("item_id", pa.string()), ("item_name", pa.string()), ("deleted", pa.bool_())]
    ),
    PERMISSIONS: pa.schema(
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
        ]
    ),
    DELTA_LINKS: pa.schema([("drive_id", pa.string()), ("delta_link", pa.string()), ("resynced", pa.bool_())]),
}


@dataclass(frozen=True)
class SharingBatch:
    batch_id: str
    drives: int
    changed_items: int
    permissions: int
    resynced_drives: int


def extract_sharing(client: GraphClient, store: RawStore, tenant: str) -> SharingBatch:
    identity = fetch_tenant(client)
    domains = _verified_domains(client)
    previous = _previous_links(store, tenant)
    batch_id = new_extract_id()
    metadata = {key.encode(): value.encode() for key, value in identity.as_file_metadata().items()}
    counts = dict.fromkeys(SCHEMAS, 0)
    with store.staging() as folder:
        files = {name: folder / f"{name}.parquet" for name in SCHEMAS}
        writers = {
            name: pq.ParquetWriter(files[name], schema.with_metadata(metadata)) for name, schema in SCHEMAS.items()
        }
        try:
            for drive in _drives(client):
                _write(writers, counts, DRIVES, [drive])
                for name, rows in _drive_changes(client, drive["drive_id"], previous.get(drive["drive_id"]), domains):
                    _write(writers, counts, name, rows)
        finally:
            for writer in writers.values():
                writer.close()
        for name, path in files.items():
            store.put(path, name, tenant, batch_id)
    resynced = sum(1 for row in _read(store, DELTA_LINKS, tenant, batch_id) if row["resynced"])
    return SharingBatch(batch_id, counts[DRIVES], counts[CHANGES], counts[PERMISSIONS], resynced)


def _write(writers: dict[str, pq.ParquetWriter], counts: dict[str, int], name: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        writers[name].write_batch(pa.RecordBatch.from_pylist(rows, schema=SCHEMAS[name]))
        counts[name] += len(rows)


def _read(store: RawStore, name: str, tenant: str, batch_id: str) -> Iterator[dict[str, Any]]:
    for batch in store.iter_record_batches(store.path(name, tenant, batch_id)):
        yield from batch


def _previous_links(store: RawStore, tenant: str) -> dict[str, str]:
    batches = store.partitions(DELTA_LINKS, tenant)
    if not batches:
        return {}
    return {row["drive_id"]: row["delta_link"] for row in _read(store, DELTA_LINKS, tenant, batches[-1])}


def _verified_domains(client: GraphClient) -> list[str]:
    answer = client.get_json("/organization", {"$select": "verifiedDomains"})
    return [
        domain["name"]
        for organization in answer.get("value") or []
        for domain in organization.get("verifiedDomains") or []
    ]


def _drives(client: GraphClient) -> Iterator[dict[str, Any]]:
    for user in client.iter_items("/users", {"$select": "id,userType"}, cost=2):
        if user.get("userType") == "Guest":
            continue
        try:
            drive = client.get_json(f"/users/{user['id']}/drive")
        except GraphError as error:
            if error.status == 404:
                continue
            raise
        quota = drive.get("quota") or {}
        owner = (drive.get("owner") or {}).get("user") or {}
        yield {
            "drive_id": drive["id"],
            "owner_id": owner.get("id") or user["id"],
            "owner_email": owner.get("email"),
            "drive_type": drive.get("driveType"),
            "web_url": drive.get("webUrl"),
            "quota_total": quota.get("total"),
            "quota_used": quota.get("used"),
            "quota_remaining": quota.get("remaining"),
            "quota_deleted": quota.get("deleted"),
            "quota_state": quota.get("state"),
        }


def _drive_changes(
    client: GraphClient, drive_id: str, delta_link: str | None, domains: list[str]
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    resynced = delta_link is None
    pages = _delta_pages(client, delta_link or f"/drives/{drive_id}/root/delta")
    try:
        first = next(pages)
    except GraphError as error:
        if error.status != 410 or resynced:
            raise
        resynced, pages = True, _delta_pages(client, f"/drives/{drive_id}/root/delta")
        first = next(pages)
    next_link = ""
    for items, link in itertools.chain([first], pages):
        next_link = link or next_link
        changes, permissions = [], []
        for item in items:
            deleted = "deleted" in item
            changes.append(
                {"drive_id": drive_id, "item_id": item["id"], "item_name": item.get("name"), "deleted": deleted}
            )
            shared = "shared" in item or str(item.get(SHARING_CHANGED, "")).lower() == "true"
            if not deleted and (shared or not resynced):
                permissions += _permissions(client, drive_id, item, domains)
        yield CHANGES, changes
        yield PERMISSIONS, permissions
    yield DELTA_LINKS, [{"drive_id": drive_id, "delta_link": next_link, "resynced": resynced}]


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
    answer = client.get_json(f"/drives/{drive_id}/items/{item['id']}/permissions")
    rows = []
    for permission in answer.get("value") or []:
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
