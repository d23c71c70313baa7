"""Activity logs by UTC day (sign-ins with their conditional access policies, directory audits with their targets,
the provenance of each loaded day), the Microsoft 365 usage reports with the provenance of each load, teams with their
settings and installed apps, and OneDrives with their quota and the classified sharing of their items.

Revision ID: 0005_activity
Revises: 0002_extract_ledger
Create Date: 2026-12-02
"""

# ruff: noqa: E501 (column comments are the catalog's descriptions, kept whole)

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_activity"
down_revision: str | None = "0004_directory"
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
        "drive_item_permissions",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("drive_id", sa.String(length=128), nullable=False, comment="The drive (drives.drive_id)."),
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
            "tenant_id", "drive_id", "item_id", "permission_id", "position", name=op.f("pk_drive_item_permissions")
        ),
        comment="Sharing permissions of drive items, one row per grantee, classified internal, external or anonymous.",
    )
    op.create_index(
        op.f("ix_drive_item_permissions_tenant_id_classification"),
        "drive_item_permissions",
        ["tenant_id", "classification"],
        unique=False,
    )
    op.create_table(
        "drive_sync",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("batch_id", sa.String(length=64), nullable=False, comment="The last sharing batch applied."),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, comment="When it was applied (UTC)."),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_drive_sync")),
        comment="Which delta batch of drive sharing each tenant's tables hold.",
    )
    op.create_table(
        "drives",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("drive_id", sa.String(length=128), nullable=False, comment="Id of the drive."),
        sa.Column("owner_id", sa.String(length=36), nullable=True, comment="Object id of the owner (users.id)."),
        sa.Column("owner_email", sa.Text(), nullable=True, comment="Address of the owner."),
        sa.Column("drive_type", sa.String(length=32), nullable=True, comment="business (OneDrive) or documentLibrary."),
        sa.Column("web_url", sa.Text(), nullable=True, comment="Address of the drive."),
        sa.Column("quota_total", sa.BigInteger(), nullable=True, comment="Bytes the drive may hold."),
        sa.Column("quota_used", sa.BigInteger(), nullable=True, comment="Bytes used."),
        sa.Column("quota_remaining", sa.BigInteger(), nullable=True, comment="Bytes left."),
        sa.Column("quota_deleted", sa.BigInteger(), nullable=True, comment="Bytes in the recycle bin."),
        sa.Column("quota_state", sa.String(length=16), nullable=True, comment="normal, nearing, critical or exceeded."),
        sa.PrimaryKeyConstraint("tenant_id", "drive_id", name=op.f("pk_drives")),
        comment="Users' OneDrives (Microsoft Graph /users/{id}/drive) with their quota, as of the newest batch.",
    )
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
    op.create_table(
        "team_installed_apps",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("team_id", sa.String(length=36), nullable=False, comment="The team (teams.id)."),
        sa.Column("installation_id", sa.String(length=256), nullable=False, comment="Id of the installation."),
        sa.Column(
            "teams_app_id", sa.String(length=256), nullable=True, comment="Id of the app in the Teams app catalog."
        ),
        sa.Column("display_name", sa.Text(), nullable=True, comment="Name of the app."),
        sa.Column("version", sa.String(length=64), nullable=True, comment="Version installed."),
        sa.Column(
            "distribution_method", sa.String(length=32), nullable=True, comment="store, organization or sideloaded."
        ),
        sa.PrimaryKeyConstraint("tenant_id", "team_id", "installation_id", name=op.f("pk_team_installed_apps")),
        comment="Apps installed in each team (Microsoft Graph /teams/{id}/installedApps).",
    )
    op.create_table(
        "teams",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("id", sa.String(length=36), nullable=False, comment="Id of the team (its Microsoft 365 group's id)."),
        sa.Column("display_name", sa.Text(), nullable=True, comment="Name of the team."),
        sa.Column("description", sa.Text(), nullable=True, comment="Description of the team."),
        sa.Column("visibility", sa.String(length=32), nullable=True, comment="public, private or hiddenMembership."),
        sa.Column("is_archived", sa.Boolean(), nullable=True, comment="Whether the team is archived (read-only)."),
        sa.Column("classification", sa.Text(), nullable=True, comment="Classification label of the team."),
        sa.Column("specialization", sa.String(length=64), nullable=True, comment="Use case the team was made for."),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True, comment="When the team was created (UTC)."),
        sa.Column("web_url", sa.Text(), nullable=True, comment="Link to the team in Teams."),
        sa.Column(
            "members_create_update_channels",
            sa.Boolean(),
            nullable=True,
            comment="Members may add and update channels.",
        ),
        sa.Column(
            "members_create_private_channels",
            sa.Boolean(),
            nullable=True,
            comment="Members may create private channels.",
        ),
        sa.Column("members_delete_channels", sa.Boolean(), nullable=True, comment="Members may delete channels."),
        sa.Column("members_add_remove_apps", sa.Boolean(), nullable=True, comment="Members may add and remove apps."),
        sa.Column(
            "members_manage_tabs", sa.Boolean(), nullable=True, comment="Members may add, update and remove tabs."
        ),
        sa.Column(
            "members_manage_connectors",
            sa.Boolean(),
            nullable=True,
            comment="Members may add, update and remove connectors.",
        ),
        sa.Column(
            "guests_create_update_channels", sa.Boolean(), nullable=True, comment="Guests may add and update channels."
        ),
        sa.Column("guests_delete_channels", sa.Boolean(), nullable=True, comment="Guests may delete channels."),
        sa.Column("users_edit_messages", sa.Boolean(), nullable=True, comment="Users may edit their messages."),
        sa.Column("users_delete_messages", sa.Boolean(), nullable=True, comment="Users may delete their messages."),
        sa.Column("owners_delete_messages", sa.Boolean(), nullable=True, comment="Owners may delete any message."),
        sa.Column("team_mentions", sa.Boolean(), nullable=True, comment="@team mentions are allowed."),
        sa.Column("channel_mentions", sa.Boolean(), nullable=True, comment="@channel mentions are allowed."),
        sa.Column("giphy", sa.Boolean(), nullable=True, comment="Giphy is allowed."),
        sa.Column(
            "giphy_content_rating", sa.String(length=16), nullable=True, comment="Giphy rating: moderate or strict."
        ),
        sa.Column("stickers_and_memes", sa.Boolean(), nullable=True, comment="Stickers and memes are allowed."),
        sa.Column("custom_memes", sa.Boolean(), nullable=True, comment="Custom memes may be uploaded."),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_teams")),
        comment="Teams of the tenant (Microsoft Graph /teams/{id}) with their member, guest, messaging and fun settings.",
    )
    op.create_table(
        "usage_email_activity",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("period", sa.String(length=4), nullable=False, comment="Period requested: D7, D30, D90 or D180."),
        sa.Column(
            "report_refresh_date",
            sa.Date(),
            nullable=False,
            comment="Date the report's data was last refreshed. (CSV column 'Report Refresh Date')",
        ),
        sa.Column(
            "user_principal_name",
            sa.Text(),
            nullable=True,
            comment="Sign-in name of the user. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'User Principal Name')",
        ),
        sa.Column(
            "display_name",
            sa.Text(),
            nullable=True,
            comment="Name of the user. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'Display Name')",
        ),
        sa.Column(
            "is_deleted",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user or site was deleted. (CSV column 'Is Deleted')",
        ),
        sa.Column("deleted_date", sa.Date(), nullable=True, comment="When it was deleted. (CSV column 'Deleted Date')"),
        sa.Column(
            "last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last day with activity in the period. (CSV column 'Last Activity Date')",
        ),
        sa.Column(
            "send_count",
            sa.BigInteger(),
            nullable=True,
            comment="Messages sent in the period. (CSV column 'Send Count')",
        ),
        sa.Column(
            "receive_count",
            sa.BigInteger(),
            nullable=True,
            comment="Messages received in the period. (CSV column 'Receive Count')",
        ),
        sa.Column(
            "read_count",
            sa.BigInteger(),
            nullable=True,
            comment="Messages read in the period. (CSV column 'Read Count')",
        ),
        sa.Column(
            "meeting_created_count",
            sa.BigInteger(),
            nullable=True,
            comment="Meetings created in the period. (CSV column 'Meeting Created Count')",
        ),
        sa.Column(
            "meeting_interacted_count",
            sa.BigInteger(),
            nullable=True,
            comment="Meetings interacted with in the period. (CSV column 'Meeting Interacted Count')",
        ),
        sa.Column(
            "assigned_products",
            sa.Text(),
            nullable=True,
            comment="Products licensed to the user, '+'-joined. (CSV column 'Assigned Products')",
        ),
        sa.Column(
            "report_period",
            sa.BigInteger(),
            nullable=True,
            comment="Days the report covers (7, 30, 90 or 180). (CSV column 'Report Period')",
        ),
        sa.Column("row_number", sa.Integer(), nullable=False, comment="1-based position of the row in the report."),
        sa.Column(
            "names_concealed",
            sa.Boolean(),
            nullable=False,
            comment="Whether the tenant concealed names in this report (the name columns hold hashes).",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "period", "report_refresh_date", "row_number", name=op.f("pk_usage_email_activity")
        ),
        comment="E-mail activity: per user, messages sent, received and read, meetings created and interacted with. From Microsoft Graph reports/getEmailActivityUserDetail.",
    )
    op.create_table(
        "usage_mailbox_usage",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("period", sa.String(length=4), nullable=False, comment="Period requested: D7, D30, D90 or D180."),
        sa.Column(
            "report_refresh_date",
            sa.Date(),
            nullable=False,
            comment="Date the report's data was last refreshed. (CSV column 'Report Refresh Date')",
        ),
        sa.Column(
            "user_principal_name",
            sa.Text(),
            nullable=True,
            comment="Sign-in name of the user. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'User Principal Name')",
        ),
        sa.Column(
            "display_name",
            sa.Text(),
            nullable=True,
            comment="Name of the user. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'Display Name')",
        ),
        sa.Column(
            "is_deleted",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user or site was deleted. (CSV column 'Is Deleted')",
        ),
        sa.Column("deleted_date", sa.Date(), nullable=True, comment="When it was deleted. (CSV column 'Deleted Date')"),
        sa.Column(
            "created_date",
            sa.Date(),
            nullable=True,
            comment="When the mailbox was created. (CSV column 'Created Date')",
        ),
        sa.Column(
            "last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last day with activity in the period. (CSV column 'Last Activity Date')",
        ),
        sa.Column(
            "item_count", sa.BigInteger(), nullable=True, comment="Items in the mailbox. (CSV column 'Item Count')"
        ),
        sa.Column(
            "storage_used_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Bytes the mailbox uses. (CSV column 'Storage Used (Byte)')",
        ),
        sa.Column(
            "issue_warning_quota_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Size at which the user is warned. (CSV column 'Issue Warning Quota (Byte)')",
        ),
        sa.Column(
            "prohibit_send_quota_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Size at which sending stops. (CSV column 'Prohibit Send Quota (Byte)')",
        ),
        sa.Column(
            "prohibit_send_receive_quota_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Size at which sending and receiving stop. (CSV column 'Prohibit Send/Receive Quota (Byte)')",
        ),
        sa.Column(
            "deleted_item_count",
            sa.BigInteger(),
            nullable=True,
            comment="Items in Deleted Items. (CSV column 'Deleted Item Count')",
        ),
        sa.Column(
            "deleted_item_size_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Bytes in Deleted Items. (CSV column 'Deleted Item Size (Byte)')",
        ),
        sa.Column(
            "deleted_item_quota_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Quota of Deleted Items. (CSV column 'Deleted Item Quota (Byte)')",
        ),
        sa.Column(
            "has_archive",
            sa.Boolean(),
            nullable=True,
            comment="Whether the mailbox has an archive. (CSV column 'Has Archive')",
        ),
        sa.Column(
            "report_period",
            sa.BigInteger(),
            nullable=True,
            comment="Days the report covers (7, 30, 90 or 180). (CSV column 'Report Period')",
        ),
        sa.Column("row_number", sa.Integer(), nullable=False, comment="1-based position of the row in the report."),
        sa.Column(
            "names_concealed",
            sa.Boolean(),
            nullable=False,
            comment="Whether the tenant concealed names in this report (the name columns hold hashes).",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "period", "report_refresh_date", "row_number", name=op.f("pk_usage_mailbox_usage")
        ),
        comment="Mailbox usage: per mailbox, items, storage and quotas. From Microsoft Graph reports/getMailboxUsageDetail.",
    )
    op.create_table(
        "usage_office365_active_users",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("period", sa.String(length=4), nullable=False, comment="Period requested: D7, D30, D90 or D180."),
        sa.Column(
            "report_refresh_date",
            sa.Date(),
            nullable=False,
            comment="Date the report's data was last refreshed. (CSV column 'Report Refresh Date')",
        ),
        sa.Column(
            "user_principal_name",
            sa.Text(),
            nullable=True,
            comment="Sign-in name of the user. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'User Principal Name')",
        ),
        sa.Column(
            "display_name",
            sa.Text(),
            nullable=True,
            comment="Name of the user. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'Display Name')",
        ),
        sa.Column(
            "is_deleted",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user or site was deleted. (CSV column 'Is Deleted')",
        ),
        sa.Column("deleted_date", sa.Date(), nullable=True, comment="When it was deleted. (CSV column 'Deleted Date')"),
        sa.Column(
            "has_exchange_license",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user has a Exchange licence. (CSV column 'Has Exchange License')",
        ),
        sa.Column(
            "has_onedrive_license",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user has a OneDrive licence. (CSV column 'Has OneDrive License')",
        ),
        sa.Column(
            "has_sharepoint_license",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user has a SharePoint licence. (CSV column 'Has SharePoint License')",
        ),
        sa.Column(
            "has_skype_for_business_license",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user has a Skype For Business licence. (CSV column 'Has Skype For Business License')",
        ),
        sa.Column(
            "has_yammer_license",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user has a Yammer licence. (CSV column 'Has Yammer License')",
        ),
        sa.Column(
            "has_teams_license",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user has a Teams licence. (CSV column 'Has Teams License')",
        ),
        sa.Column(
            "exchange_last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last Exchange activity. (CSV column 'Exchange Last Activity Date')",
        ),
        sa.Column(
            "onedrive_last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last OneDrive activity. (CSV column 'OneDrive Last Activity Date')",
        ),
        sa.Column(
            "sharepoint_last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last SharePoint activity. (CSV column 'SharePoint Last Activity Date')",
        ),
        sa.Column(
            "skype_for_business_last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last Skype For Business activity. (CSV column 'Skype For Business Last Activity Date')",
        ),
        sa.Column(
            "yammer_last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last Yammer activity. (CSV column 'Yammer Last Activity Date')",
        ),
        sa.Column(
            "teams_last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last Teams activity. (CSV column 'Teams Last Activity Date')",
        ),
        sa.Column(
            "exchange_license_assign_date",
            sa.Date(),
            nullable=True,
            comment="When Exchange was licensed. (CSV column 'Exchange License Assign Date')",
        ),
        sa.Column(
            "onedrive_license_assign_date",
            sa.Date(),
            nullable=True,
            comment="When OneDrive was licensed. (CSV column 'OneDrive License Assign Date')",
        ),
        sa.Column(
            "sharepoint_license_assign_date",
            sa.Date(),
            nullable=True,
            comment="When SharePoint was licensed. (CSV column 'SharePoint License Assign Date')",
        ),
        sa.Column(
            "skype_for_business_license_assign_date",
            sa.Date(),
            nullable=True,
            comment="When Skype For Business was licensed. (CSV column 'Skype For Business License Assign Date')",
        ),
        sa.Column(
            "yammer_license_assign_date",
            sa.Date(),
            nullable=True,
            comment="When Yammer was licensed. (CSV column 'Yammer License Assign Date')",
        ),
        sa.Column(
            "teams_license_assign_date",
            sa.Date(),
            nullable=True,
            comment="When Teams was licensed. (CSV column 'Teams License Assign Date')",
        ),
        sa.Column(
            "assigned_products",
            sa.Text(),
            nullable=True,
            comment="Products licensed to the user, '+'-joined. (CSV column 'Assigned Products')",
        ),
        sa.Column("row_number", sa.Integer(), nullable=False, comment="1-based position of the row in the report."),
        sa.Column(
            "names_concealed",
            sa.Boolean(),
            nullable=False,
            comment="Whether the tenant concealed names in this report (the name columns hold hashes).",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "period", "report_refresh_date", "row_number", name=op.f("pk_usage_office365_active_users")
        ),
        comment="Microsoft 365 active users: per user, the services licensed and the last activity in each. From Microsoft Graph reports/getOffice365ActiveUserDetail.",
    )
    op.create_table(
        "usage_onedrive_usage",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("period", sa.String(length=4), nullable=False, comment="Period requested: D7, D30, D90 or D180."),
        sa.Column(
            "report_refresh_date",
            sa.Date(),
            nullable=False,
            comment="Date the report's data was last refreshed. (CSV column 'Report Refresh Date')",
        ),
        sa.Column(
            "site_url",
            sa.Text(),
            nullable=True,
            comment="Address of the site. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'Site URL')",
        ),
        sa.Column(
            "owner_display_name",
            sa.Text(),
            nullable=True,
            comment="Name of the site's owner. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'Owner Display Name')",
        ),
        sa.Column(
            "is_deleted",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user or site was deleted. (CSV column 'Is Deleted')",
        ),
        sa.Column(
            "last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last day with activity in the period. (CSV column 'Last Activity Date')",
        ),
        sa.Column("file_count", sa.BigInteger(), nullable=True, comment="Files on the site. (CSV column 'File Count')"),
        sa.Column(
            "active_file_count",
            sa.BigInteger(),
            nullable=True,
            comment="Files active in the period. (CSV column 'Active File Count')",
        ),
        sa.Column(
            "storage_used_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Bytes the site uses. (CSV column 'Storage Used (Byte)')",
        ),
        sa.Column(
            "storage_allocated_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Bytes the site may use. (CSV column 'Storage Allocated (Byte)')",
        ),
        sa.Column(
            "owner_principal_name",
            sa.Text(),
            nullable=True,
            comment="Sign-in name of the owner. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'Owner Principal Name')",
        ),
        sa.Column(
            "report_period",
            sa.BigInteger(),
            nullable=True,
            comment="Days the report covers (7, 30, 90 or 180). (CSV column 'Report Period')",
        ),
        sa.Column("row_number", sa.Integer(), nullable=False, comment="1-based position of the row in the report."),
        sa.Column(
            "names_concealed",
            sa.Boolean(),
            nullable=False,
            comment="Whether the tenant concealed names in this report (the name columns hold hashes).",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "period", "report_refresh_date", "row_number", name=op.f("pk_usage_onedrive_usage")
        ),
        comment="OneDrive usage: per account, files and storage. From Microsoft Graph reports/getOneDriveUsageAccountDetail.",
    )
    op.create_table(
        "usage_report_loads",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("report", sa.String(length=64), nullable=False, comment="Usage report (its table without usage_)."),
        sa.Column("period", sa.String(length=4), nullable=False, comment="Period requested: D7, D30, D90 or D180."),
        sa.Column("report_refresh_date", sa.Date(), nullable=False, comment="Refresh date of the loaded report."),
        sa.Column("rows", sa.Integer(), nullable=False, comment="Rows loaded."),
        sa.Column("names_concealed", sa.Boolean(), nullable=False, comment="Whether names were concealed (hashes)."),
        sa.Column("missing_columns", sa.Text(), nullable=True, comment='Declared columns the CSV lacked, "; "-joined.'),
        sa.Column(
            "extra_columns", sa.Text(), nullable=True, comment='CSV columns not declared (ignored), "; "-joined.'
        ),
        sa.Column("raw_path", sa.Text(), nullable=False, comment="The raw file the report was loaded from."),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False, comment="SHA-256 of that raw file."),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, comment="When the report was loaded (UTC)."),
        sa.PrimaryKeyConstraint(
            "tenant_id", "report", "period", "report_refresh_date", name=op.f("pk_usage_report_loads")
        ),
        comment="Provenance of each loaded usage report: its raw file, rows, concealment and column drift.",
    )
    op.create_table(
        "usage_sharepoint_site_usage",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("period", sa.String(length=4), nullable=False, comment="Period requested: D7, D30, D90 or D180."),
        sa.Column(
            "report_refresh_date",
            sa.Date(),
            nullable=False,
            comment="Date the report's data was last refreshed. (CSV column 'Report Refresh Date')",
        ),
        sa.Column("site_id", sa.Text(), nullable=True, comment="Id of the site. (CSV column 'Site Id')"),
        sa.Column(
            "site_url",
            sa.Text(),
            nullable=True,
            comment="Address of the site. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'Site URL')",
        ),
        sa.Column(
            "owner_display_name",
            sa.Text(),
            nullable=True,
            comment="Name of the site's owner. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'Owner Display Name')",
        ),
        sa.Column(
            "is_deleted",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user or site was deleted. (CSV column 'Is Deleted')",
        ),
        sa.Column(
            "last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last day with activity in the period. (CSV column 'Last Activity Date')",
        ),
        sa.Column("file_count", sa.BigInteger(), nullable=True, comment="Files on the site. (CSV column 'File Count')"),
        sa.Column(
            "active_file_count",
            sa.BigInteger(),
            nullable=True,
            comment="Files active in the period. (CSV column 'Active File Count')",
        ),
        sa.Column(
            "page_view_count",
            sa.BigInteger(),
            nullable=True,
            comment="Page views in the period. (CSV column 'Page View Count')",
        ),
        sa.Column(
            "visited_page_count",
            sa.BigInteger(),
            nullable=True,
            comment="Distinct pages visited in the period. (CSV column 'Visited Page Count')",
        ),
        sa.Column(
            "storage_used_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Bytes the site uses. (CSV column 'Storage Used (Byte)')",
        ),
        sa.Column(
            "storage_allocated_bytes",
            sa.BigInteger(),
            nullable=True,
            comment="Bytes the site may use. (CSV column 'Storage Allocated (Byte)')",
        ),
        sa.Column(
            "root_web_template",
            sa.Text(),
            nullable=True,
            comment="Template of the site's root web. (CSV column 'Root Web Template')",
        ),
        sa.Column(
            "owner_principal_name",
            sa.Text(),
            nullable=True,
            comment="Sign-in name of the owner. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'Owner Principal Name')",
        ),
        sa.Column(
            "report_period",
            sa.BigInteger(),
            nullable=True,
            comment="Days the report covers (7, 30, 90 or 180). (CSV column 'Report Period')",
        ),
        sa.Column("row_number", sa.Integer(), nullable=False, comment="1-based position of the row in the report."),
        sa.Column(
            "names_concealed",
            sa.Boolean(),
            nullable=False,
            comment="Whether the tenant concealed names in this report (the name columns hold hashes).",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "period", "report_refresh_date", "row_number", name=op.f("pk_usage_sharepoint_site_usage")
        ),
        comment="SharePoint site usage: per site, files, page views and storage. From Microsoft Graph reports/getSharePointSiteUsageDetail.",
    )
    op.create_table(
        "usage_teams_user_activity",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column("period", sa.String(length=4), nullable=False, comment="Period requested: D7, D30, D90 or D180."),
        sa.Column(
            "report_refresh_date",
            sa.Date(),
            nullable=False,
            comment="Date the report's data was last refreshed. (CSV column 'Report Refresh Date')",
        ),
        sa.Column(
            "tenant_display_name",
            sa.Text(),
            nullable=True,
            comment="Name of the user's tenant. (CSV column 'Tenant Display Name')",
        ),
        sa.Column(
            "shared_channel_tenant_display_names",
            sa.Text(),
            nullable=True,
            comment="Tenants of the shared channels the user took part in. (CSV column 'Shared Channel Tenant Display Names')",
        ),
        sa.Column("user_id", sa.Text(), nullable=True, comment="Object id of the user. (CSV column 'User Id')"),
        sa.Column(
            "user_principal_name",
            sa.Text(),
            nullable=True,
            comment="Sign-in name of the user. A 32-digit hash instead while the tenant conceals names in reports. (CSV column 'User Principal Name')",
        ),
        sa.Column(
            "last_activity_date",
            sa.Date(),
            nullable=True,
            comment="Last day with activity in the period. (CSV column 'Last Activity Date')",
        ),
        sa.Column(
            "is_deleted",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user or site was deleted. (CSV column 'Is Deleted')",
        ),
        sa.Column("deleted_date", sa.Date(), nullable=True, comment="When it was deleted. (CSV column 'Deleted Date')"),
        sa.Column(
            "assigned_products",
            sa.Text(),
            nullable=True,
            comment="Products licensed to the user, '+'-joined. (CSV column 'Assigned Products')",
        ),
        sa.Column(
            "team_chat_message_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Team Chat Message) in the period. (CSV column 'Team Chat Message Count')",
        ),
        sa.Column(
            "private_chat_message_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Private Chat Message) in the period. (CSV column 'Private Chat Message Count')",
        ),
        sa.Column(
            "call_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Call) in the period. (CSV column 'Call Count')",
        ),
        sa.Column(
            "meeting_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Meeting) in the period. (CSV column 'Meeting Count')",
        ),
        sa.Column(
            "post_messages",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Post Messages) in the period. (CSV column 'Post Messages')",
        ),
        sa.Column(
            "reply_messages",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Reply Messages) in the period. (CSV column 'Reply Messages')",
        ),
        sa.Column(
            "urgent_messages",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Urgent Messages) in the period. (CSV column 'Urgent Messages')",
        ),
        sa.Column(
            "meetings_organized_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Meetings Organized) in the period. (CSV column 'Meetings Organized Count')",
        ),
        sa.Column(
            "meetings_attended_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Meetings Attended) in the period. (CSV column 'Meetings Attended Count')",
        ),
        sa.Column(
            "ad_hoc_meetings_organized_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Ad Hoc Meetings Organized) in the period. (CSV column 'Ad Hoc Meetings Organized Count')",
        ),
        sa.Column(
            "ad_hoc_meetings_attended_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Ad Hoc Meetings Attended) in the period. (CSV column 'Ad Hoc Meetings Attended Count')",
        ),
        sa.Column(
            "scheduled_one_time_meetings_organized_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Scheduled One-time Meetings Organized) in the period. (CSV column 'Scheduled One-time Meetings Organized Count')",
        ),
        sa.Column(
            "scheduled_one_time_meetings_attended_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Scheduled One-time Meetings Attended) in the period. (CSV column 'Scheduled One-time Meetings Attended Count')",
        ),
        sa.Column(
            "scheduled_recurring_meetings_organized_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Scheduled Recurring Meetings Organized) in the period. (CSV column 'Scheduled Recurring Meetings Organized Count')",
        ),
        sa.Column(
            "scheduled_recurring_meetings_attended_count",
            sa.BigInteger(),
            nullable=True,
            comment="How many (Scheduled Recurring Meetings Attended) in the period. (CSV column 'Scheduled Recurring Meetings Attended Count')",
        ),
        sa.Column(
            "audio_duration",
            sa.Text(),
            nullable=True,
            comment="Time in audio calls and meetings (ISO 8601 duration). (CSV column 'Audio Duration')",
        ),
        sa.Column(
            "video_duration",
            sa.Text(),
            nullable=True,
            comment="Time in video calls and meetings (ISO 8601 duration). (CSV column 'Video Duration')",
        ),
        sa.Column(
            "screen_share_duration",
            sa.Text(),
            nullable=True,
            comment="Time sharing screen (ISO 8601 duration). (CSV column 'Screen Share Duration')",
        ),
        sa.Column(
            "audio_duration_in_seconds",
            sa.BigInteger(),
            nullable=True,
            comment="Seconds in audio calls and meetings. (CSV column 'Audio Duration In Seconds')",
        ),
        sa.Column(
            "video_duration_in_seconds",
            sa.BigInteger(),
            nullable=True,
            comment="Seconds in video calls and meetings. (CSV column 'Video Duration In Seconds')",
        ),
        sa.Column(
            "screen_share_duration_in_seconds",
            sa.BigInteger(),
            nullable=True,
            comment="Seconds sharing screen. (CSV column 'Screen Share Duration In Seconds')",
        ),
        sa.Column(
            "has_other_action",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user did something else in Teams. (CSV column 'Has Other Action')",
        ),
        sa.Column(
            "is_licensed",
            sa.Boolean(),
            nullable=True,
            comment="Whether the user has a Teams licence. (CSV column 'Is Licensed')",
        ),
        sa.Column(
            "report_period",
            sa.BigInteger(),
            nullable=True,
            comment="Days the report covers (7, 30, 90 or 180). (CSV column 'Report Period')",
        ),
        sa.Column("row_number", sa.Integer(), nullable=False, comment="1-based position of the row in the report."),
        sa.Column(
            "names_concealed",
            sa.Boolean(),
            nullable=False,
            comment="Whether the tenant concealed names in this report (the name columns hold hashes).",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "period", "report_refresh_date", "row_number", name=op.f("pk_usage_teams_user_activity")
        ),
        comment="Teams user activity: per user, messages, calls, meetings and their durations. From Microsoft Graph reports/getTeamsUserActivityUserDetail.",
    )


def downgrade() -> None:

    op.drop_table("usage_teams_user_activity")
    op.drop_table("usage_sharepoint_site_usage")
    op.drop_table("usage_report_loads")
    op.drop_table("usage_onedrive_usage")
    op.drop_table("usage_office365_active_users")
    op.drop_table("usage_mailbox_usage")
    op.drop_table("usage_email_activity")
    op.drop_table("teams")
    op.drop_table("team_installed_apps")
    op.drop_index(op.f("ix_sign_ins_tenant_id_user_id"), table_name="sign_ins")
    op.drop_index(op.f("ix_sign_ins_tenant_id_id"), table_name="sign_ins")
    op.drop_table("sign_ins")
    op.drop_table("sign_in_policies")
    op.drop_table("drives")
    op.drop_table("drive_sync")
    op.drop_index(op.f("ix_drive_item_permissions_tenant_id_classification"), table_name="drive_item_permissions")
    op.drop_table("drive_item_permissions")
    op.drop_index(op.f("ix_directory_audits_tenant_id_id"), table_name="directory_audits")
    op.drop_table("directory_audits")
    op.drop_table("directory_audit_targets")
    op.drop_table("activity_days")
