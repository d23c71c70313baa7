"""Activity logs by UTC day: sign-ins with their conditional access policies, directory audits with their targets,
and the provenance of each loaded day.

Revision ID: 0005_activity
Revises: 0002_extract_ledger
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_activity"
down_revision: str | None = "0002_extract_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activity_days",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("log", sa.String(length=32), nullable=False, comment="Activity log: sign_ins or directory_audits."),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the event's timestamp: the daily partition the row was loaded with.",
        ),
        sa.Column(
            "events", sa.Integer(), nullable=False, comment="Events of the day loaded (equal to the raw file's rows)."
        ),
        sa.Column(
            "raw_path", sa.Text(), nullable=True, comment="The raw file the day was loaded from (in the raw store)."
        ),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False, comment="SHA-256 of that raw file."),
        sa.Column(
            "extracted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the raw file was extracted from Graph (UTC).",
        ),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, comment="When the day was loaded (UTC)."),
        sa.Column("load_id", sa.String(length=64), nullable=False, comment="Id of the load that replaced the day."),
        sa.PrimaryKeyConstraint("tenant_id", "log", "day", name=op.f("pk_activity_days")),
        comment="Provenance of each loaded day of an activity log: its raw file, its events, when it was loaded.",
    )
    op.create_table(
        "directory_audit_targets",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the event's timestamp: the daily partition the row was loaded with.",
        ),
        sa.Column("audit_id", sa.String(length=128), nullable=False, comment="The audit event (directory_audits.id)."),
        sa.Column(
            "position", sa.Integer(), nullable=False, comment="0-based position of the target in the event's list."
        ),
        sa.Column("target_id", sa.Text(), nullable=True, comment="Id of the object changed."),
        sa.Column(
            "target_type", sa.Text(), nullable=True, comment="Kind of object: User, Group, Device, ServicePrincipal..."
        ),
        sa.Column("display_name", sa.Text(), nullable=True, comment="Name of the object changed."),
        sa.Column("user_principal_name", sa.Text(), nullable=True, comment="Sign-in name, when the object is a user."),
        sa.Column(
            "modified_properties",
            sa.Text(),
            nullable=True,
            comment="Properties changed: JSON list of {displayName, oldValue, newValue} as Graph sent them.",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", "audit_id", "position", name=op.f("pk_directory_audit_targets")),
        comment="Objects each directory audit event changed, with the properties changed.",
    )
    op.create_table(
        "directory_audits",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the event's timestamp: the daily partition the row was loaded with.",
        ),
        sa.Column("id", sa.String(length=128), nullable=False, comment="Id of the audit event."),
        sa.Column(
            "activity_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the activity happened (UTC, to the microsecond).",
        ),
        sa.Column(
            "activity_date_time",
            sa.String(length=40),
            nullable=False,
            comment="When the activity happened, exactly as Graph wrote it (up to 7 fractional digits).",
        ),
        sa.Column(
            "activity_display_name", sa.Text(), nullable=True, comment="What happened, e.g. Add member to group."
        ),
        sa.Column("category", sa.Text(), nullable=True, comment="Area changed: UserManagement, GroupManagement..."),
        sa.Column("operation_type", sa.Text(), nullable=True, comment="Add, Assign, Update, Delete..."),
        sa.Column("result", sa.Text(), nullable=True, comment="success, failure, timeout or unknownFutureValue."),
        sa.Column("result_reason", sa.Text(), nullable=True, comment="Why the result is what it is."),
        sa.Column("logged_by_service", sa.Text(), nullable=True, comment="Service that logged the event."),
        sa.Column("correlation_id", sa.Text(), nullable=True, comment="Id shared by the events of one operation."),
        sa.Column(
            "initiated_by_user_id", sa.String(length=36), nullable=True, comment="Object id of the user who acted."
        ),
        sa.Column(
            "initiated_by_user_principal_name", sa.Text(), nullable=True, comment="Sign-in name of the user who acted."
        ),
        sa.Column("initiated_by_user_display_name", sa.Text(), nullable=True, comment="Name of the user who acted."),
        sa.Column("initiated_by_ip_address", sa.Text(), nullable=True, comment="IP address the user acted from."),
        sa.Column("initiated_by_app_id", sa.Text(), nullable=True, comment="Id of the application that acted."),
        sa.Column(
            "initiated_by_app_display_name", sa.Text(), nullable=True, comment="Name of the application that acted."
        ),
        sa.Column(
            "additional_details",
            sa.Text(),
            nullable=True,
            comment="More about the activity: JSON object of its key-value pairs.",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", "id", name=op.f("pk_directory_audits")),
        comment="Directory audits of the tenant (Microsoft Graph /auditLogs/directoryAudits), one row per event.",
    )
    op.create_index(op.f("ix_directory_audits_tenant_id_id"), "directory_audits", ["tenant_id", "id"], unique=False)
    op.create_table(
        "sign_in_policies",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the event's timestamp: the daily partition the row was loaded with.",
        ),
        sa.Column("sign_in_id", sa.String(length=128), nullable=False, comment="The sign-in (sign_ins.id)."),
        sa.Column(
            "position", sa.Integer(), nullable=False, comment="0-based position of the policy in the sign-in's list."
        ),
        sa.Column("policy_id", sa.String(length=36), nullable=True, comment="Id of the conditional access policy."),
        sa.Column("display_name", sa.Text(), nullable=True, comment="Name of the policy."),
        sa.Column(
            "result",
            sa.Text(),
            nullable=True,
            comment="Result: success, failure, notApplied, notEnabled, unknown or reportOnly*.",
        ),
        sa.Column(
            "enforced_grant_controls", sa.Text(), nullable=False, comment='Grant controls enforced, "; "-joined.'
        ),
        sa.Column(
            "enforced_session_controls", sa.Text(), nullable=False, comment='Session controls enforced, "; "-joined.'
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", "sign_in_id", "position", name=op.f("pk_sign_in_policies")),
        comment="Conditional access policies evaluated for each sign-in and their results.",
    )
    op.create_table(
        "sign_ins",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the event's timestamp: the daily partition the row was loaded with.",
        ),
        sa.Column("id", sa.String(length=128), nullable=False, comment="Id of the sign-in event."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the sign-in happened (UTC, to the microsecond).",
        ),
        sa.Column(
            "created_date_time",
            sa.String(length=40),
            nullable=False,
            comment="When the sign-in happened, exactly as Graph wrote it (up to 7 fractional digits).",
        ),
        sa.Column("user_id", sa.String(length=36), nullable=True, comment="Object id of the user (users.id)."),
        sa.Column("user_principal_name", sa.Text(), nullable=True, comment="Sign-in name of the user."),
        sa.Column("user_display_name", sa.Text(), nullable=True, comment="Name of the user who signed in."),
        sa.Column("app_id", sa.String(length=36), nullable=True, comment="Id of the application signed in to."),
        sa.Column("app_display_name", sa.Text(), nullable=True, comment="Name of the application signed in to."),
        sa.Column("ip_address", sa.Text(), nullable=True, comment="IP address the sign-in came from."),
        sa.Column(
            "client_app_used", sa.Text(), nullable=True, comment="Client used: Browser, Exchange ActiveSync, IMAP4..."
        ),
        sa.Column("correlation_id", sa.Text(), nullable=True, comment="Id shared by the requests of one sign-in flow."),
        sa.Column(
            "conditional_access_status",
            sa.Text(),
            nullable=True,
            comment="Outcome of conditional access: success, failure, notApplied.",
        ),
        sa.Column("is_interactive", sa.Boolean(), nullable=True, comment="Whether the user signed in interactively."),
        sa.Column(
            "error_code", sa.Integer(), nullable=True, comment="0 for a successful sign-in, else the Entra error code."
        ),
        sa.Column(
            "failure_reason", sa.Text(), nullable=True, comment="Why the sign-in failed; null when it succeeded."
        ),
        sa.Column(
            "risk_detail",
            sa.Text(),
            nullable=True,
            comment="Why the risk state is what it is (evolvable enum members included).",
        ),
        sa.Column("risk_level_aggregated", sa.Text(), nullable=True, comment="Aggregated risk level."),
        sa.Column("risk_level_during_sign_in", sa.Text(), nullable=True, comment="Risk level during the sign-in."),
        sa.Column("risk_state", sa.Text(), nullable=True, comment="Risk state of the user."),
        sa.Column(
            "risk_event_types", sa.Text(), nullable=False, comment='Risk event types, "; "-joined; empty when none.'
        ),
        sa.Column("resource_display_name", sa.Text(), nullable=True, comment="Name of the resource signed in to."),
        sa.Column("resource_id", sa.Text(), nullable=True, comment="Id of the resource signed in to."),
        sa.Column("device_operating_system", sa.Text(), nullable=True, comment="Operating system of the device."),
        sa.Column("device_browser", sa.Text(), nullable=True, comment="Browser used to sign in."),
        sa.Column("device_id", sa.Text(), nullable=True, comment="Id of the device; empty when unregistered."),
        sa.Column("device_is_compliant", sa.Boolean(), nullable=True, comment="Whether the device is compliant."),
        sa.Column("device_is_managed", sa.Boolean(), nullable=True, comment="Whether the device is managed."),
        sa.Column("city", sa.Text(), nullable=True, comment="City the sign-in came from (by IP address)."),
        sa.Column("state", sa.Text(), nullable=True, comment="State or province the sign-in came from."),
        sa.Column(
            "country_or_region", sa.Text(), nullable=True, comment="Two-letter country or region code of the sign-in."
        ),
        sa.PrimaryKeyConstraint("tenant_id", "day", "id", name=op.f("pk_sign_ins")),
        comment="Sign-ins of the tenant (Microsoft Graph /auditLogs/signIns), one row per sign-in event.",
    )
    op.create_index(op.f("ix_sign_ins_tenant_id_id"), "sign_ins", ["tenant_id", "id"], unique=False)
    op.create_index(op.f("ix_sign_ins_tenant_id_user_id"), "sign_ins", ["tenant_id", "user_id"], unique=False)


def downgrade() -> None:

    op.drop_index(op.f("ix_sign_ins_tenant_id_user_id"), table_name="sign_ins")
    op.drop_index(op.f("ix_sign_ins_tenant_id_id"), table_name="sign_ins")
    op.drop_table("sign_ins")
    op.drop_table("sign_in_policies")
    op.drop_index(op.f("ix_directory_audits_tenant_id_id"), table_name="directory_audits")
    op.drop_table("directory_audits")
    op.drop_table("directory_audit_targets")
    op.drop_table("activity_days")
