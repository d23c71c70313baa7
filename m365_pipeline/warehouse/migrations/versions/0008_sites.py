"""SharePoint: sites, their document libraries with their quota, the classified sharing of the libraries' items
and the last sharing batch applied per tenant.

Revision ID: 0008_sites
Revises: 0007_calls
Create Date: 2026-12-02
"""

# ruff: noqa: E501 (column comments are the catalog's descriptions, kept whole)

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_sites"
down_revision: str | None = "0007_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_libraries",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("drive_id", sa.String(length=128), nullable=False, comment="Id of the library (a drive)."),
        sa.Column("site_id", sa.String(length=256), nullable=False, comment="The site it belongs to (sites.site_id)."),
        sa.Column("name", sa.Text(), nullable=True, comment="Name of the library."),
        sa.Column("drive_type", sa.String(length=32), nullable=True, comment="documentLibrary for a library."),
        sa.Column("web_url", sa.Text(), nullable=True, comment="Address of the library."),
        sa.Column(
            "owner_id", sa.String(length=36), nullable=True, comment="Id of the owner (the site's group, or a user)."
        ),
        sa.Column("owner_name", sa.Text(), nullable=True, comment="Name of the owner."),
        sa.Column("quota_total", sa.BigInteger(), nullable=True, comment="Bytes the drive may hold."),
        sa.Column("quota_used", sa.BigInteger(), nullable=True, comment="Bytes used."),
        sa.Column("quota_remaining", sa.BigInteger(), nullable=True, comment="Bytes left."),
        sa.Column("quota_deleted", sa.BigInteger(), nullable=True, comment="Bytes in the recycle bin."),
        sa.Column("quota_state", sa.String(length=16), nullable=True, comment="normal, nearing, critical or exceeded."),
        sa.PrimaryKeyConstraint("tenant_id", "drive_id", name=op.f("pk_site_libraries")),
        comment="Document libraries of SharePoint sites (Microsoft Graph /sites/{id}/drives) with their quota, as of the newest batch; personal sites' libraries are OneDrives (drives).",
    )
    op.create_table(
        "site_library_item_permissions",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("drive_id", sa.String(length=128), nullable=False, comment="The drive (site_libraries.drive_id)."),
        sa.Column("item_id", sa.String(length=128), nullable=False, comment="The shared item."),
        sa.Column("permission_id", sa.String(length=256), nullable=False, comment="Id of the permission."),
        sa.Column("position", sa.Integer(), nullable=False, comment="0-based grantee of the permission."),
        sa.Column("item_name", sa.Text(), nullable=True, comment="Name of the item."),
        sa.Column(
            "roles", sa.Text(), nullable=True, comment='What the grantee may do (read, write, owner), "; "-joined.'
        ),
        sa.Column(
            "link_scope",
            sa.String(length=32),
            nullable=True,
            comment="Scope of a sharing link: anonymous, organization or users.",
        ),
        sa.Column("link_type", sa.String(length=32), nullable=True, comment="Kind of sharing link: view, edit, embed."),
        sa.Column(
            "classification",
            sa.String(length=32),
            nullable=False,
            comment="owner, internal, external_guest (a guest of the tenant), external_domain (an address elsewhere) or anonymous (a link anyone may use).",
        ),
        sa.Column(
            "grantee_id",
            sa.String(length=36),
            nullable=True,
            comment="Object id of the grantee, when a directory object.",
        ),
        sa.Column("grantee_email", sa.Text(), nullable=True, comment="Address of the grantee."),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "drive_id",
            "item_id",
            "permission_id",
            "position",
            name=op.f("pk_site_library_item_permissions"),
        ),
        comment="Sharing permissions of SharePoint library items, one row per grantee, classified internal, external or anonymous.",
    )
    op.create_index(
        op.f("ix_site_library_item_permissions_tenant_id_classification"),
        "site_library_item_permissions",
        ["tenant_id", "classification"],
        unique=False,
    )
    op.create_table(
        "site_library_sync",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "batch_id", sa.String(length=64), nullable=False, comment="The last SharePoint sharing batch applied."
        ),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, comment="When it was applied (UTC)."),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_site_library_sync")),
        comment="Which delta batch of SharePoint sharing each tenant's tables hold.",
    )
    op.create_table(
        "sites",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "site_id",
            sa.String(length=256),
            nullable=False,
            comment="Id of the site (host name, site collection id, web id).",
        ),
        sa.Column("name", sa.Text(), nullable=True, comment="Name of the site."),
        sa.Column("display_name", sa.Text(), nullable=True, comment="Title of the site."),
        sa.Column("web_url", sa.Text(), nullable=True, comment="Address of the site."),
        sa.Column(
            "host_name", sa.String(length=256), nullable=True, comment="SharePoint host name of its site collection."
        ),
        sa.Column(
            "is_root_site", sa.Boolean(), nullable=True, comment="Whether it is the root site of its site collection."
        ),
        sa.Column(
            "is_personal_site",
            sa.Boolean(),
            nullable=True,
            comment="Whether it is a user's personal (OneDrive) site, whose library is in drives; null when Graph does not say.",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True, comment="When the site was created (UTC)."),
        sa.Column(
            "last_modified_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the site was last modified (UTC).",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "site_id", name=op.f("pk_sites")),
        comment="SharePoint sites (Microsoft Graph /sites/getAllSites), as of the newest batch.",
    )


def downgrade() -> None:
    op.drop_table("sites")
    op.drop_table("site_library_sync")
    op.drop_index(
        op.f("ix_site_library_item_permissions_tenant_id_classification"), table_name="site_library_item_permissions"
    )
    op.drop_table("site_library_item_permissions")
    op.drop_table("site_libraries")
