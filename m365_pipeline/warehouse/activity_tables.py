"""The activity tables: sign-ins and directory audits a UTC day at a time, on the warehouse's one ``metadata``.

Each row carries its ``day`` (the UTC date of its timestamp, decided to the 100 ns tick), the key a day's load
deletes and re-inserts in one transaction. Timestamps are kept twice: as Graph wrote them (text, up to 7
fractional digits, exact) and as a UTC timestamp truncated to the microsecond (for SQL; truncation never moves an
event out of its day). Nested lists become child tables where they are queried on their own (the conditional
access policies of a sign-in, the targets of an audit) and JSON text where they are free-form (modified
properties, additional details). ``activity_days`` is the provenance of every loaded day: which raw file, how many
events, when.
"""

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

ID_LENGTH = 128


def _day() -> sa.Column[Any]:
    return _column(
        "day",
        sa.Date(),
        "UTC date of the event's timestamp: the daily partition the row was loaded with.",
        PiiClass.NONE,
        primary_key=True,
    )


def _text(name: str, description: str, pii: PiiClass = PiiClass.NONE) -> sa.Column[Any]:
    return _column(name, sa.Text(), description, pii)


sign_ins = sa.Table(
    "sign_ins",
    metadata,
    _tenant_id(),
    _day(),
    _column("id", sa.String(ID_LENGTH), "Id of the sign-in event.", PiiClass.NONE, primary_key=True),
    _column(
        "created_at",
        UtcDateTime(),
        "When the sign-in happened (UTC, to the microsecond).",
        PiiClass.QUASI,
        nullable=False,
    ),
    _column(
        "created_date_time",
        sa.String(40),
        "When the sign-in happened, exactly as Graph wrote it (up to 7 fractional digits).",
        PiiClass.QUASI,
        nullable=False,
    ),
    _column("user_id", sa.String(GUID_LENGTH), "Object id of the user (users.id).", PiiClass.QUASI),
    _text("user_principal_name", "Sign-in name of the user.", PiiClass.DIRECT),
    _text("user_display_name", "Name of the user who signed in.", PiiClass.DIRECT),
    _column("app_id", sa.String(GUID_LENGTH), "Id of the application signed in to.", PiiClass.NONE),
    _text("app_display_name", "Name of the application signed in to."),
    _text("ip_address", "IP address the sign-in came from.", PiiClass.QUASI),
    _text("client_app_used", "Client used: Browser, Exchange ActiveSync, IMAP4..."),
    _text("correlation_id", "Id shared by the requests of one sign-in flow."),
    _text("conditional_access_status", "Outcome of conditional access: success, failure, notApplied."),
    _column("is_interactive", sa.Boolean(), "Whether the user signed in interactively.", PiiClass.NONE),
    _column("error_code", sa.Integer(), "0 for a successful sign-in, else the Entra error code.", PiiClass.NONE),
    _text("failure_reason", "Why the sign-in failed; null when it succeeded."),
    _text("risk_detail", "Why the risk state is what it is (evolvable enum members included)."),
    _text("risk_level_aggregated", "Aggregated risk level."),
    _text("risk_level_during_sign_in", "Risk level during the sign-in."),
    _text("risk_state", "Risk state of the user."),
    _column(
        "risk_event_types", sa.Text(), 'Risk event types, "; "-joined; empty when none.', PiiClass.NONE, nullable=False
    ),
    _text("resource_display_name", "Name of the resource signed in to."),
    _text("resource_id", "Id of the resource signed in to."),
    _text("device_operating_system", "Operating system of the device."),
    _text("device_browser", "Browser used to sign in."),
    _text("device_id", "Id of the device; empty when unregistered.", PiiClass.QUASI),
    _column("device_is_compliant", sa.Boolean(), "Whether the device is compliant.", PiiClass.NONE),
    _column("device_is_managed", sa.Boolean(), "Whether the device is managed.", PiiClass.NONE),
    _text("city", "City the sign-in came from (by IP address).", PiiClass.QUASI),
    _text("state", "State or province the sign-in came from.", PiiClass.QUASI),
    _text("country_or_region", "Two-letter country or region code of the sign-in.", PiiClass.QUASI),
    sa.Index(None, "tenant_id", "id"),
    sa.Index(None, "tenant_id", "user_id"),
    comment="Sign-ins of the tenant (Microsoft Graph /auditLogs/signIns), one row per sign-in event.",
)

sign_in_policies = sa.Table(
    "sign_in_policies",
    metadata,
    _tenant_id(),
    _day(),
    _column("sign_in_id", sa.String(ID_LENGTH), "The sign-in (sign_ins.id).", PiiClass.NONE, primary_key=True),
    _column(
        "position",
        sa.Integer(),
        "0-based position of the policy in the sign-in's list.",
        PiiClass.NONE,
        primary_key=True,
    ),
    _column("policy_id", sa.String(GUID_LENGTH), "Id of the conditional access policy.", PiiClass.NONE),
    _text("display_name", "Name of the policy."),
    _text(
        "result",
        "Result: success, failure, notApplied, notEnabled, unknown or reportOnly*.",
    ),
    _column(
        "enforced_grant_controls", sa.Text(), 'Grant controls enforced, "; "-joined.', PiiClass.NONE, nullable=False
    ),
    _column(
        "enforced_session_controls", sa.Text(), 'Session controls enforced, "; "-joined.', PiiClass.NONE, nullable=False
    ),
    comment="Conditional access policies evaluated for each sign-in and their results.",
)

directory_audits = sa.Table(
    "directory_audits",
    metadata,
    _tenant_id(),
    _day(),
    _column("id", sa.String(ID_LENGTH), "Id of the audit event.", PiiClass.NONE, primary_key=True),
    _column(
        "activity_at",
        UtcDateTime(),
        "When the activity happened (UTC, to the microsecond).",
        PiiClass.QUASI,
        nullable=False,
    ),
    _column(
        "activity_date_time",
        sa.String(40),
        "When the activity happened, exactly as Graph wrote it (up to 7 fractional digits).",
        PiiClass.QUASI,
        nullable=False,
    ),
    _text("activity_display_name", "What happened, e.g. Add member to group."),
    _text("category", "Area changed: UserManagement, GroupManagement..."),
    _text("operation_type", "Add, Assign, Update, Delete..."),
    _text("result", "success, failure, timeout or unknownFutureValue."),
    _text("result_reason", "Why the result is what it is."),
    _text("logged_by_service", "Service that logged the event."),
    _text("correlation_id", "Id shared by the events of one operation."),
    _column("initiated_by_user_id", sa.String(GUID_LENGTH), "Object id of the user who acted.", PiiClass.QUASI),
    _text("initiated_by_user_principal_name", "Sign-in name of the user who acted.", PiiClass.DIRECT),
    _text("initiated_by_user_display_name", "Name of the user who acted.", PiiClass.DIRECT),
    _text("initiated_by_ip_address", "IP address the user acted from.", PiiClass.QUASI),
    _text("initiated_by_app_id", "Id of the application that acted."),
    _text("initiated_by_app_display_name", "Name of the application that acted."),
    _text("additional_details", "More about the activity: JSON object of its key-value pairs.", PiiClass.QUASI),
    sa.Index(None, "tenant_id", "id"),
    comment="Directory audits of the tenant (Microsoft Graph /auditLogs/directoryAudits), one row per event.",
)

directory_audit_targets = sa.Table(
    "directory_audit_targets",
    metadata,
    _tenant_id(),
    _day(),
    _column(
        "audit_id", sa.String(ID_LENGTH), "The audit event (directory_audits.id).", PiiClass.NONE, primary_key=True
    ),
    _column(
        "position", sa.Integer(), "0-based position of the target in the event's list.", PiiClass.NONE, primary_key=True
    ),
    _text("target_id", "Id of the object changed.", PiiClass.QUASI),
    _text("target_type", "Kind of object: User, Group, Device, ServicePrincipal..."),
    _text("display_name", "Name of the object changed.", PiiClass.DIRECT),
    _text("user_principal_name", "Sign-in name, when the object is a user.", PiiClass.DIRECT),
    _text(
        "modified_properties",
        "Properties changed: JSON list of {displayName, oldValue, newValue} as Graph sent them.",
        PiiClass.QUASI,
    ),
    comment="Objects each directory audit event changed, with the properties changed.",
)

activity_days = sa.Table(
    "activity_days",
    metadata,
    _tenant_id(),
    _column("log", sa.String(32), "Activity log: sign_ins or directory_audits.", PiiClass.NONE, primary_key=True),
    _day(),
    _column(
        "events",
        sa.Integer(),
        "Events of the day loaded (equal to the raw file's rows).",
        PiiClass.NONE,
        nullable=False,
    ),
    _text("raw_path", "The raw file the day was loaded from (in the raw store)."),
    _column("raw_sha256", sa.String(64), "SHA-256 of that raw file.", PiiClass.NONE, nullable=False),
    _column("extracted_at", UtcDateTime(), "When the raw file was extracted from Graph (UTC).", PiiClass.NONE),
    _column("loaded_at", UtcDateTime(), "When the day was loaded (UTC).", PiiClass.NONE, nullable=False),
    _column(
        "load_id", sa.String(EXTRACT_ID_LENGTH), "Id of the load that replaced the day.", PiiClass.NONE, nullable=False
    ),
    comment="Provenance of each loaded day of an activity log: its raw file, its events, when it was loaded.",
)

ACTIVITY_TABLES: dict[str, tuple[sa.Table, ...]] = {
    "sign_ins": (sign_ins, sign_in_policies),
    "directory_audits": (directory_audits, directory_audit_targets),
}
