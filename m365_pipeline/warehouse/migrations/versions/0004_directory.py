"""The directory kept incrementally and with its history: soft-deletion marks, group memberships, delta links,
and the SCD2 history of user attributes, licence assignments and memberships.

Revision ID: 0004_directory
Revises: 0002_extract_ledger
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_directory"
down_revision: str | None = "0002_extract_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.DateTime(timezone=True)
_GUID = sa.String(36)


def _tenant_id() -> sa.Column[str]:
    return sa.Column("tenant_id", _GUID, nullable=False, comment="Entra ID tenant (directory) id the row belongs to.")


def _deleted_at(kind: str) -> sa.Column[object]:
    return sa.Column(
        "deleted_at",
        _TIMESTAMP,
        comment=f"When delta sync saw the {kind} soft-deleted (restorable for 30 days, UTC); null while it is active.",
    )


def _history_columns(kind: str) -> list[sa.Column[object]]:
    return [
        sa.Column("valid_from", _TIMESTAMP, nullable=False, comment=f"Since when the {kind} held (UTC), inclusive."),
        sa.Column(
            "source",
            sa.String(),
            nullable=False,
            comment=(
                "Who recorded the interval: graph (publications and delta sync) or legacy:<report> (older reports)."
            ),
        ),
        sa.Column(
            "valid_to", _TIMESTAMP, comment=f"Until when the {kind} held (UTC), exclusive; null while it still holds."
        ),
    ]


def upgrade() -> None:
    op.add_column("users", _deleted_at("user"))
    op.add_column("groups", _deleted_at("group"))
    op.create_table(
        "group_members",
        _tenant_id(),
        sa.Column("group_id", _GUID, nullable=False, comment="Object id of the group (groups.id)."),
        sa.Column(
            "member_id",
            _GUID,
            nullable=False,
            comment="Object id of the direct member: a user, a group, a device or a service principal.",
        ),
        sa.Column(
            "member_type",
            sa.String(),
            comment="Graph type of the member, e.g. #microsoft.graph.user; null when Graph did not say.",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", "member_id", name="pk_group_members"),
        comment="Direct members of groups (members@delta of /groups/delta), one row per group and member.",
    )
    op.create_index("ix_group_members_tenant_id_member_id", "group_members", ["tenant_id", "member_id"])
    op.create_table(
        "delta_links",
        _tenant_id(),
        sa.Column("resource", sa.String(), nullable=False, comment="The delta-tracked collection: users or groups."),
        sa.Column(
            "delta_link",
            sa.Text(),
            nullable=False,
            comment="Graph's @odata.deltaLink after the last applied round: where the next round starts.",
        ),
        sa.Column(
            "synced_at",
            _TIMESTAMP,
            nullable=False,
            comment="When the round ending with this link was applied (UTC), in the same transaction as its changes.",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "resource", name="pk_delta_links"),
        comment="Per tenant and collection, the delta link the warehouse's tables are current with.",
    )
    op.create_table(
        "user_history",
        _tenant_id(),
        sa.Column("user_id", _GUID, nullable=False, comment="Object id of the user (users.id)."),
        *_history_columns("user's attributes"),
        sa.Column("user_principal_name", sa.String(), comment="Sign-in name of the user."),
        sa.Column("department", sa.String(), comment="Department."),
        sa.Column("account_enabled", sa.Boolean(), comment="Whether the account could sign in."),
        sa.Column("user_type", sa.String(), comment="Member or Guest."),
        sa.Column("usage_location", sa.String(), comment="Two-letter usage location."),
        sa.Column("soft_deleted", sa.Boolean(), nullable=False, comment="Whether the user was soft-deleted."),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "valid_from", "source", name="pk_user_history"),
        comment="History of the user attributes the reports use: one row per user and interval of equal values.",
    )
    op.create_index("ix_user_history_tenant_id_valid_to", "user_history", ["tenant_id", "valid_to"])
    op.create_table(
        "group_history",
        _tenant_id(),
        sa.Column("group_id", _GUID, nullable=False, comment="Object id of the group (groups.id)."),
        *_history_columns("group's attributes"),
        sa.Column("display_name", sa.String(), comment="Name of the group."),
        sa.Column("kind", sa.String(), comment="microsoft365, security, mail_enabled_security or distribution."),
        sa.Column("soft_deleted", sa.Boolean(), nullable=False, comment="Whether the group was soft-deleted."),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", "valid_from", "source", name="pk_group_history"),
        comment="History of groups: one row per group and interval of equal name, kind and deletion state.",
    )
    op.create_table(
        "license_history",
        _tenant_id(),
        sa.Column("user_id", _GUID, nullable=False, comment="Object id of the user (users.id)."),
        sa.Column("sku_id", _GUID, nullable=False, comment="Id of the license SKU (skus.sku_id)."),
        *_history_columns("license assignment"),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "sku_id", "valid_from", "source", name="pk_license_history"),
        comment="History of license assignments: who held which SKU when.",
    )
    op.create_index("ix_license_history_tenant_id_sku_id", "license_history", ["tenant_id", "sku_id"])
    op.create_table(
        "group_member_history",
        _tenant_id(),
        sa.Column("group_id", _GUID, nullable=False, comment="Object id of the group (groups.id)."),
        sa.Column("member_id", _GUID, nullable=False, comment="Object id of the direct member."),
        *_history_columns("membership"),
        sa.PrimaryKeyConstraint(
            "tenant_id", "group_id", "member_id", "valid_from", "source", name="pk_group_member_history"
        ),
        comment="History of direct group memberships: who was in which group when.",
    )


def downgrade() -> None:
    op.drop_table("group_member_history")
    op.drop_index("ix_license_history_tenant_id_sku_id", table_name="license_history")
    op.drop_table("license_history")
    op.drop_table("group_history")
    op.drop_index("ix_user_history_tenant_id_valid_to", table_name="user_history")
    op.drop_table("user_history")
    op.drop_table("delta_links")
    op.drop_index("ix_group_members_tenant_id_member_id", table_name="group_members")
    op.drop_table("group_members")
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("deleted_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deleted_at")
