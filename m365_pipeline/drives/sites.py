"""SharePoint: every site with its document libraries (each a drive, with its quota), and the sharing of the
libraries' items, as one batch per run in the raw store, found with each library's delta exactly as for OneDrive
(``extract.extract_drive_sharing``).

Sites are enumerated with ``GET /sites/getAllSites`` (site-getallsites.md: the v1.0 call that lists every site of
the organization, application permission Sites.Read.All), their libraries with ``GET /sites/{id}/drives``
(drive-list.md; the quota comes with each drive). A personal site (``isPersonalSite``) is listed, but its library is
a user's OneDrive, which the OneDrive batch covers: it is not walked twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from m365_pipeline.drives.extract import (
    CHANGES_SCHEMA,
    DELTA_LINKS_SCHEMA,
    PERMISSIONS_SCHEMA,
    QUOTA_FIELDS,
    DriveEntities,
    SharingBatch,
    extract_drive_sharing,
    quota_columns,
)
from m365_pipeline.entities.types import parse_graph_timestamp
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.raw_store import RawStore

SITES = "sites"
LIBRARIES = "site_libraries"
LIBRARY_CHANGES = "site_library_item_changes"
LIBRARY_PERMISSIONS = "site_library_item_permissions"
LIBRARY_DELTA_LINKS = "site_library_delta_links"
TIMESTAMP = pa.timestamp("us", tz="UTC")

SHAREPOINT = DriveEntities(
    LIBRARIES,
    LIBRARY_CHANGES,
    LIBRARY_PERMISSIONS,
    LIBRARY_DELTA_LINKS,
    {
        SITES: pa.schema(
            [
                ("site_id", pa.string()),
                ("name", pa.string()),
                ("display_name", pa.string()),
                ("web_url", pa.string()),
                ("host_name", pa.string()),
                ("is_root_site", pa.bool_()),
                ("is_personal_site", pa.bool_()),
                ("created_at", TIMESTAMP),
                ("last_modified_at", TIMESTAMP),
            ]
        ),
        LIBRARIES: pa.schema(
            [
                ("drive_id", pa.string()),
                ("site_id", pa.string()),
                ("name", pa.string()),
                ("drive_type", pa.string()),
                ("web_url", pa.string()),
                ("owner_id", pa.string()),
                ("owner_name", pa.string()),
                *QUOTA_FIELDS,
            ]
        ),
        LIBRARY_CHANGES: CHANGES_SCHEMA,
        LIBRARY_PERMISSIONS: PERMISSIONS_SCHEMA,
        LIBRARY_DELTA_LINKS: DELTA_LINKS_SCHEMA,
    },
)


def extract_site_sharing(client: GraphClient, store: RawStore, tenant: str) -> SharingBatch:
    """One batch of the tenant's sites, their libraries and the sharing of the libraries' items."""
    return extract_drive_sharing(client, store, tenant, SHAREPOINT, _sites_and_libraries)


def _sites_and_libraries(client: GraphClient) -> Iterator[tuple[str, dict[str, Any]]]:
    for site in client.iter_items("/sites/getAllSites", paged=False):
        row = _site_row(site)
        yield SITES, row
        if row["is_personal_site"]:
            continue
        for drive in client.iter_items(f"/sites/{site['id']}/drives"):
            owner = _owner(drive)
            yield (
                LIBRARIES,
                {
                    "drive_id": drive["id"],
                    "site_id": site["id"],
                    "name": drive.get("name"),
                    "drive_type": drive.get("driveType"),
                    "web_url": drive.get("webUrl"),
                    "owner_id": owner.get("id"),
                    "owner_name": owner.get("displayName"),
                    **quota_columns(drive),
                },
            )


def _site_row(site: dict[str, Any]) -> dict[str, Any]:
    collection = site.get("siteCollection") or {}
    personal = site.get("isPersonalSite")
    return {
        "site_id": site["id"],
        "name": site.get("name"),
        "display_name": site.get("displayName"),
        "web_url": site.get("webUrl"),
        "host_name": collection.get("hostName"),
        "is_root_site": "root" in collection,
        "is_personal_site": personal if isinstance(personal, bool) else None,
        "created_at": _timestamp(site, "createdDateTime"),
        "last_modified_at": _timestamp(site, "lastModifiedDateTime"),
    }


def _timestamp(site: dict[str, Any], name: str) -> Any:
    try:
        return parse_graph_timestamp(site.get(name))
    except ValueError as error:
        raise ValueError(f"site {site['id']}: {name}: {error}") from None


def _owner(drive: dict[str, Any]) -> dict[str, Any]:
    owner = drive.get("owner") or {}
    return owner.get("group") or owner.get("siteGroup") or owner.get("user") or {}
