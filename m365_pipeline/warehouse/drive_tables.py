"""OneDrive tables: each drive with its quota, and the classified sharing permissions of its items (kept current
by applying the delta batches in order; ``drive_sync`` records the last batch applied)."""

from __future__ import annotations

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

drives = sa.Table(
    "drives",
    metadata,
    _tenant_id(),
    _column("drive_id", sa.String(128), "Id of the drive.", PiiClass.NONE, primary_key=True),
    _column("owner_id", sa.String(GUID_LENGTH), "Object id of the owner (users.id).", PiiClass.QUASI),
    _column("owner_email", sa.Text(), "Address of the owner.", PiiClass.DIRECT),
    _column("drive_type", sa.String(32), "business (OneDrive) or documentLibrary.", PiiClass.NONE),
    _column("web_url", sa.Text(), "Address of the drive.", PiiClass.QUASI),
    _column("quota_total", sa.BigInteger(), "Bytes the drive may hold.", PiiClass.NONE),
    _column("quota_used", sa.BigInteger(), "Bytes used.", PiiClass.NONE),
    _column("quota_remaining", sa.BigInteger(), "Bytes left.", PiiClass.NONE),
    _column("quota_deleted", sa.BigInteger(), "Bytes in the recycle bin.", PiiClass.NONE),
    _column("quota_state", sa.String(16), "normal, nearing, critical or exceeded.", PiiClass.NONE),
    comment="Users' OneDrives (Microsoft Graph /users/{id}/drive) with their quota, as of the newest batch.",
)

drive_item_permissions = sa.Table(
    "drive_item_permissions",
    metadata,
    _tenant_id(),
    _column("drive_id", sa.String(128), "The drive (drives.drive_id).", PiiClass.NONE, primary_key=True),
    _column("item_id", sa.String(128), "The shared item.", PiiClass.NONE, primary_key=True),
    _column("permission_id", sa.String(256), "Id of the permission.", PiiClass.NONE, primary_key=True),
    _column("position", sa.Integer(), "0-based grantee of the permission.", PiiClass.NONE, primary_key=True),
    _column("item_name", sa.Text(), "Name of the item.", PiiClass.QUASI),
    _column("roles", sa.Text(), 'What the grantee may do (read, write, owner), "; "-joined.', PiiClass.NONE),
    _column("link_scope", sa.String(32), "Scope of a sharing link: anonymous, organization or users.", PiiClass.NONE),
    _column("link_type", sa.String(32), "Kind of sharing link: view, edit, embed.", PiiClass.NONE),
    _column(
        "classification",
        sa.String(32),
        "owner, internal, external_guest (a guest of the tenant), external_domain (an address elsewhere) or "
        "anonymous (a link anyone may use).",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("grantee_id", sa.String(GUID_LENGTH), "Object id of the grantee, when a directory object.", PiiClass.QUASI),
    _column("grantee_email", sa.Text(), "Address of the grantee.", PiiClass.DIRECT),
    sa.Index(None, "tenant_id", "classification"),
    comment="Sharing permissions of drive items, one row per grantee, classified internal, external or anonymous.",
)

drive_sync = sa.Table(
    "drive_sync",
    metadata,
    _tenant_id(),
    _column("batch_id", sa.String(EXTRACT_ID_LENGTH), "The last sharing batch applied.", PiiClass.NONE, nullable=False),
    _column("applied_at", UtcDateTime(), "When it was applied (UTC).", PiiClass.NONE, nullable=False),
    comment="Which delta batch of drive sharing each tenant's tables hold.",
)
