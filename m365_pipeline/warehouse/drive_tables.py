"""OneDrive and SharePoint tables: each OneDrive with its quota, each site with its document libraries and their
quotas, and the classified sharing permissions of the drives' items (kept current by applying the delta batches in
order; ``drive_sync`` and ``site_library_sync`` record the last batch applied)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from m365_pipeline.warehouse.schema import (
    EXTRACT_ID_LENGTH,
    GUID_LENGTH,
    PiiClass,
    UtcDateTime,
    _column,
    _tenant_id,
    metadata,
)


def _quota_columns() -> list[sa.Column[Any]]:
    return [
        _column("quota_total", sa.BigInteger(), "Bytes the drive may hold.", PiiClass.NONE),
        _column("quota_used", sa.BigInteger(), "Bytes used.", PiiClass.NONE),
        _column("quota_remaining", sa.BigInteger(), "Bytes left.", PiiClass.NONE),
        _column("quota_deleted", sa.BigInteger(), "Bytes in the recycle bin.", PiiClass.NONE),
        _column("quota_state", sa.String(16), "normal, nearing, critical or exceeded.", PiiClass.NONE),
    ]


def _permissions_table(name: str, drives_table: str, comment: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        _tenant_id(),
        _column("drive_id", sa.String(128), f"The drive ({drives_table}.drive_id).", PiiClass.NONE, primary_key=True),
        _column("item_id", sa.String(128), "The shared item.", PiiClass.NONE, primary_key=True),
        _column("permission_id", sa.String(256), "Id of the permission.", PiiClass.NONE, primary_key=True),
        _column("position", sa.Integer(), "0-based grantee of the permission.", PiiClass.NONE, primary_key=True),
        _column("item_name", sa.Text(), "Name of the item.", PiiClass.QUASI),
        _column("roles", sa.Text(), 'What the grantee may do (read, write, owner), "; "-joined.', PiiClass.NONE),
        _column(
            "link_scope", sa.String(32), "Scope of a sharing link: anonymous, organization or users.", PiiClass.NONE
        ),
        _column("link_type", sa.String(32), "Kind of sharing link: view, edit, embed.", PiiClass.NONE),
        _column(
            "classification",
            sa.String(32),
            "owner, internal, external_guest (a guest of the tenant), external_domain (an address elsewhere) or "
            "anonymous (a link anyone may use).",
            PiiClass.NONE,
            nullable=False,
        ),
        _column(
            "grantee_id", sa.String(GUID_LENGTH), "Object id of the grantee, when a directory object.", PiiClass.QUASI
        ),
        _column("grantee_email", sa.Text(), "Address of the grantee.", PiiClass.DIRECT),
        sa.Index(None, "tenant_id", "classification"),
        comment=comment,
    )


def _sync_table(name: str, batch: str, what: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        _tenant_id(),
        _column(
            "batch_id", sa.String(EXTRACT_ID_LENGTH), f"The last {batch} batch applied.", PiiClass.NONE, nullable=False
        ),
        _column("applied_at", UtcDateTime(), "When it was applied (UTC).", PiiClass.NONE, nullable=False),
        comment=f"Which delta batch of {what} each tenant's tables hold.",
    )


drives = sa.Table(
    "drives",
    metadata,
    _tenant_id(),
    _column("drive_id", sa.String(128), "Id of the drive.", PiiClass.NONE, primary_key=True),
    _column("owner_id", sa.String(GUID_LENGTH), "Object id of the owner (users.id).", PiiClass.QUASI),
    _column("owner_email", sa.Text(), "Address of the owner.", PiiClass.DIRECT),
    _column("drive_type", sa.String(32), "business (OneDrive) or documentLibrary.", PiiClass.NONE),
    _column("web_url", sa.Text(), "Address of the drive.", PiiClass.QUASI),
    *_quota_columns(),
    comment="Users' OneDrives (Microsoft Graph /users/{id}/drive) with their quota, as of the newest batch.",
)

drive_item_permissions = _permissions_table(
    "drive_item_permissions",
    "drives",
    "Sharing permissions of drive items, one row per grantee, classified internal, external or anonymous.",
)

drive_sync = _sync_table("drive_sync", "sharing", "drive sharing")

sites = sa.Table(
    "sites",
    metadata,
    _tenant_id(),
    _column(
        "site_id",
        sa.String(256),
        "Id of the site (host name, site collection id, web id).",
        PiiClass.NONE,
        primary_key=True,
    ),
    _column("name", sa.Text(), "Name of the site.", PiiClass.QUASI),
    _column("display_name", sa.Text(), "Title of the site.", PiiClass.QUASI),
    _column("web_url", sa.Text(), "Address of the site.", PiiClass.QUASI),
    _column("host_name", sa.String(256), "SharePoint host name of its site collection.", PiiClass.NONE),
    _column("is_root_site", sa.Boolean(), "Whether it is the root site of its site collection.", PiiClass.NONE),
    _column(
        "is_personal_site",
        sa.Boolean(),
        "Whether it is a user's personal (OneDrive) site, whose library is in drives; null when Graph does not say.",
        PiiClass.NONE,
    ),
    _column("created_at", UtcDateTime(), "When the site was created (UTC).", PiiClass.NONE),
    _column("last_modified_at", UtcDateTime(), "When the site was last modified (UTC).", PiiClass.NONE),
    comment="SharePoint sites (Microsoft Graph /sites/getAllSites), as of the newest batch.",
)

site_libraries = sa.Table(
    "site_libraries",
    metadata,
    _tenant_id(),
    _column("drive_id", sa.String(128), "Id of the library (a drive).", PiiClass.NONE, primary_key=True),
    _column("site_id", sa.String(256), "The site it belongs to (sites.site_id).", PiiClass.NONE, nullable=False),
    _column("name", sa.Text(), "Name of the library.", PiiClass.QUASI),
    _column("drive_type", sa.String(32), "documentLibrary for a library.", PiiClass.NONE),
    _column("web_url", sa.Text(), "Address of the library.", PiiClass.QUASI),
    _column("owner_id", sa.String(GUID_LENGTH), "Id of the owner (the site's group, or a user).", PiiClass.QUASI),
    _column("owner_name", sa.Text(), "Name of the owner.", PiiClass.QUASI),
    *_quota_columns(),
    comment="Document libraries of SharePoint sites (Microsoft Graph /sites/{id}/drives) with their quota, as of the "
    "newest batch; personal sites' libraries are OneDrives (drives).",
)

site_library_item_permissions = _permissions_table(
    "site_library_item_permissions",
    "site_libraries",
    "Sharing permissions of SharePoint library items, one row per grantee, classified internal, external or anonymous.",
)

site_library_sync = _sync_table("site_library_sync", "SharePoint sharing", "SharePoint sharing")
