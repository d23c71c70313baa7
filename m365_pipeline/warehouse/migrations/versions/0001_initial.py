"""The initial warehouse: tenants, users, skus, user_licenses, groups and the quarantine.

Written out in full rather than imported from schema.py, so this revision stays what it was when the schema
moves on.

Revision ID: 0001_initial
Revises:
Create Date: 2025-06-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.DateTime(timezone=True)
_GUID = sa.String(36)


def _tenant_id() -> sa.Column[str]:
    return sa.Column("tenant_id", _GUID, nullable=False, comment="Entra ID tenant (directory) id the row belongs to.")


def upgrade() -> None:
    op.create_table(
        "tenants",
        _tenant_id(),
        sa.Column("display_name", sa.String(), comment="Organization display name of the tenant."),
        sa.Column("default_domain", sa.String(), comment="Default verified domain of the tenant."),
        sa.Column(
            "first_seen_at",
            _TIMESTAMP,
            nullable=False,
            comment="When an extract of this tenant was first loaded (UTC).",
        ),
        sa.Column(
            "last_seen_at",
            _TIMESTAMP,
            nullable=False,
            comment="When an extract of this tenant was last loaded (UTC).",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenants"),
        comment="Tenants whose Microsoft Graph extracts are loaded into this warehouse.",
    )
    op.create_table(
        "users",
        _tenant_id(),
        sa.Column(
            "id",
            _GUID,
            nullable=False,
            comment="Object id of the user in Entra ID (a pseudonymous identifier).",
        ),
        sa.Column(
            "user_principal_name",
            sa.String(),
            nullable=False,
            comment="Sign-in name of the user (user@domain).",
        ),
        sa.Column("display_name", sa.String(), comment="Name shown for the user in the address book."),
        sa.Column("given_name", sa.String(), comment="Given (first) name."),
        sa.Column("surname", sa.String(), comment="Surname (family name)."),
        sa.Column("mail", sa.String(), comment="Primary SMTP address."),
        sa.Column("job_title", sa.String(), comment="Job title."),
        sa.Column("department", sa.String(), comment="Department."),
        sa.Column("office_location", sa.String(), comment="Office location."),
        sa.Column(
            "usage_location",
            sa.String(),
            comment="Two-letter country code where the user's licensed services are used.",
        ),
        sa.Column("preferred_language", sa.String(), comment="Preferred language (ISO 639-1 / BCP 47)."),
        sa.Column("account_enabled", sa.Boolean(), comment="Whether the account can sign in."),
        sa.Column("user_type", sa.String(), comment="Member or Guest."),
        sa.Column("created_at", _TIMESTAMP, comment="When the user object was created (UTC)."),
        sa.Column(
            "on_premises_sync_enabled",
            sa.Boolean(),
            comment="True when synced from on-premises Active Directory; null when never synced.",
        ),
        sa.Column(
            "business_phones",
            sa.Text(),
            nullable=False,
            comment='Business telephone numbers, "; "-joined; empty when none.',
        ),
        sa.Column("mobile_phone", sa.String(), comment="Mobile telephone number."),
        sa.Column(
            "last_sign_in_at",
            _TIMESTAMP,
            comment="Last interactive sign-in attempt, successful or not (UTC); null when never.",
        ),
        sa.Column(
            "last_non_interactive_sign_in_at",
            _TIMESTAMP,
            comment="Last non-interactive sign-in attempt (UTC); null when never.",
        ),
        sa.Column(
            "last_successful_sign_in_at",
            _TIMESTAMP,
            comment="Last successful sign-in, interactive or not (UTC); null when never.",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_users"),
        comment="Users of the tenant (Microsoft Graph /users), one row per user.",
    )
    op.create_table(
        "skus",
        _tenant_id(),
        sa.Column("sku_id", _GUID, nullable=False, comment="Id of the license SKU (product)."),
        sa.Column(
            "sku_part_number",
            sa.String(),
            nullable=False,
            comment="Part number of the SKU, e.g. ENTERPRISEPACK.",
        ),
        sa.Column("account_name", sa.String(), comment="Name of the account that owns the subscription."),
        sa.Column("applies_to", sa.String(), comment="Whom the SKU is assigned to: User or Company."),
        sa.Column(
            "capability_status",
            sa.String(),
            comment="Subscription state: Enabled, Warning, Suspended, Deleted or LockedOut.",
        ),
        sa.Column("consumed_units", sa.Integer(), comment="Licenses assigned from this SKU."),
        sa.Column("prepaid_enabled", sa.Integer(), comment="Prepaid licenses in the enabled state."),
        sa.Column("prepaid_locked_out", sa.Integer(), comment="Prepaid licenses in the locked-out state."),
        sa.Column("prepaid_suspended", sa.Integer(), comment="Prepaid licenses in the suspended state."),
        sa.Column("prepaid_warning", sa.Integer(), comment="Prepaid licenses in the warning state."),
        sa.Column(
            "service_plan_names",
            sa.Text(),
            nullable=False,
            comment='Service plan names of the SKU in Graph\'s order, "; "-joined.',
        ),
        sa.PrimaryKeyConstraint("tenant_id", "sku_id", name="pk_skus"),
        comment="License SKUs the tenant subscribes to (Microsoft Graph /subscribedSkus).",
    )
    op.create_table(
        "user_licenses",
        _tenant_id(),
        sa.Column("user_id", _GUID, nullable=False, comment="Object id of the user holding the license (users.id)."),
        sa.Column("sku_id", _GUID, nullable=False, comment="Id of the assigned license SKU (skus.sku_id)."),
        sa.Column(
            "disabled_plans",
            sa.Text(),
            nullable=False,
            comment='Service plan ids disabled for this user, sorted, "; "-joined; empty when none.',
        ),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "sku_id", name="pk_user_licenses"),
        comment="Licenses assigned to users (from their assignedLicenses), one row per user and SKU.",
    )
    op.create_index("ix_user_licenses_tenant_id_sku_id", "user_licenses", ["tenant_id", "sku_id"])
    op.create_table(
        "groups",
        _tenant_id(),
        sa.Column("id", _GUID, nullable=False, comment="Object id of the group."),
        sa.Column("display_name", sa.String(), comment="Name of the group."),
        sa.Column("description", sa.Text(), comment="Description of the group."),
        sa.Column("mail", sa.String(), comment="SMTP address of the group."),
        sa.Column("mail_enabled", sa.Boolean(), nullable=False, comment="Whether the group is mail-enabled."),
        sa.Column("security_enabled", sa.Boolean(), nullable=False, comment="Whether the group is a security group."),
        sa.Column("mail_nickname", sa.String(), comment="Mail alias of the group."),
        sa.Column(
            "group_types",
            sa.Text(),
            nullable=False,
            comment='Graph groupTypes (Unified, DynamicMembership), "; "-joined; empty when none.',
        ),
        sa.Column(
            "kind",
            sa.String(),
            nullable=False,
            comment="microsoft365, security, mail_enabled_security or distribution.",
        ),
        sa.Column(
            "is_dynamic",
            sa.Boolean(),
            nullable=False,
            comment="Whether membership follows a rule (DynamicMembership).",
        ),
        sa.Column("membership_rule", sa.Text(), comment="Rule of a dynamic group; null otherwise."),
        sa.Column(
            "visibility",
            sa.String(),
            comment="Public, Private or HiddenMembership; null for most non-Microsoft 365 groups.",
        ),
        sa.Column("created_at", _TIMESTAMP, comment="When the group was created (UTC)."),
        sa.Column(
            "on_premises_sync_enabled",
            sa.Boolean(),
            comment="True when synced from on-premises Active Directory; null when never synced.",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_groups"),
        comment="Groups of the tenant (Microsoft Graph /groups), one row per group.",
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False, comment="Sequence number of the quarantined record."),
        sa.Column("tenant_id", _GUID, nullable=False, comment="Entra ID tenant (directory) id the record came from."),
        sa.Column("entity", sa.String(), nullable=False, comment="Warehouse table the record was meant for."),
        sa.Column("source", sa.Text(), nullable=False, comment="File path or URL the record was read from."),
        sa.Column(
            "row_number",
            sa.Integer(),
            nullable=False,
            comment="1-based position of the record in its source.",
        ),
        sa.Column("field", sa.String(), nullable=False, comment="Field or fields that failed validation."),
        sa.Column("reason", sa.Text(), nullable=False, comment="Why the record was rejected, quoting the bad value."),
        sa.Column("raw", sa.Text(), nullable=False, comment="The rejected record as JSON, exactly as read."),
        sa.Column("quarantined_at", _TIMESTAMP, nullable=False, comment="When the record was quarantined (UTC)."),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
        comment="Records rejected by normalization, kept with the reason so nothing is dropped silently.",
    )
    op.create_index("ix_quarantine_tenant_id_entity", "quarantine", ["tenant_id", "entity"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_tenant_id_entity", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_table("groups")
    op.drop_index("ix_user_licenses_tenant_id_sku_id", table_name="user_licenses")
    op.drop_table("user_licenses")
    op.drop_table("skus")
    op.drop_table("users")
    op.drop_table("tenants")
