"""The warehouse tables: SQLAlchemy Core tables on one ``metadata``, each column documented.

Every column carries ``info={"description": ..., "pii": PiiClass...}`` (read by the catalog and the governance
layer) and the same description as its database comment. Every table is keyed by ``tenant_id`` so one
warehouse can hold several tenants. Lists from Graph are stored as "; "-joined text, the old tool's format.

The migrations under ``migrations/versions`` create these tables explicitly; a test proves the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from m365_pipeline.legacy.layouts import REPORT_TYPES


class PiiClass(StrEnum):
    DIRECT = "direct_identifier"
    QUASI = "quasi_identifier"
    NONE = "none"


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always written and read back as an aware UTC datetime, on every dialect.

    SQLite has no time zone type: it stores the UTC wall time and returns naive values, which this type marks
    as UTC again. A naive datetime is refused on write because its meaning would be a guess.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: give it a time zone")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


GUID_LENGTH = 36
EXTRACT_ID_LENGTH = 64
DIGEST_LENGTH = 128

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(referred_table_name)s",
    }
)


def _column(
    name: str, type_: sa.types.TypeEngine[Any], description: str, pii: PiiClass, **kwargs: Any
) -> sa.Column[Any]:
    return sa.Column(name, type_, comment=description, info={"description": description, "pii": pii}, **kwargs)


def _tenant_id() -> sa.Column[Any]:
    return _column(
        "tenant_id",
        sa.String(GUID_LENGTH),
        "Entra ID tenant (directory) id the row belongs to.",
        PiiClass.NONE,
        primary_key=True,
    )


def _text_list(name: str, description: str, pii: PiiClass = PiiClass.NONE) -> sa.Column[Any]:
    return _column(name, sa.Text(), description, pii, nullable=False)


def _deleted_at(kind: str) -> sa.Column[Any]:
    return _column(
        "deleted_at",
        UtcDateTime(),
        f"When delta sync saw the {kind} soft-deleted (restorable for 30 days, UTC); null while it is active.",
        PiiClass.NONE,
    )


tenants = sa.Table(
    "tenants",
    metadata,
    _tenant_id(),
    _column("display_name", sa.String(), "Organization display name of the tenant.", PiiClass.NONE),
    _column("default_domain", sa.String(), "Default verified domain of the tenant.", PiiClass.NONE),
    _column(
        "first_seen_at",
        UtcDateTime(),
        "When an extract of this tenant was first loaded (UTC).",
        PiiClass.NONE,
        nullable=False,
    ),
    _column(
        "last_seen_at",
        UtcDateTime(),
        "When an extract of this tenant was last loaded (UTC).",
        PiiClass.NONE,
        nullable=False,
    ),
    comment="Tenants whose Microsoft Graph extracts are loaded into this warehouse.",
)

users = sa.Table(
    "users",
    metadata,
    _tenant_id(),
    _column(
        "id",
        sa.String(GUID_LENGTH),
        "Object id of the user in Entra ID (a pseudonymous identifier).",
        PiiClass.QUASI,
        primary_key=True,
    ),
    _column(
        "user_principal_name",
        sa.String(),
        "Sign-in name of the user (user@domain).",
        PiiClass.DIRECT,
        nullable=False,
    ),
    _column("display_name", sa.String(), "Name shown for the user in the address book.", PiiClass.DIRECT),
    _column("given_name", sa.String(), "Given (first) name.", PiiClass.DIRECT),
    _column("surname", sa.String(), "Surname (family name).", PiiClass.DIRECT),
    _column("mail", sa.String(), "Primary SMTP address.", PiiClass.DIRECT),
    _column("job_title", sa.String(), "Job title.", PiiClass.QUASI),
    _column("department", sa.String(), "Department.", PiiClass.QUASI),
    _column("office_location", sa.String(), "Office location.", PiiClass.QUASI),
    _column(
        "usage_location",
        sa.String(),
        "Two-letter country code where the user's licensed services are used.",
        PiiClass.QUASI,
    ),
    _column("preferred_language", sa.String(), "Preferred language (ISO 639-1 / BCP 47).", PiiClass.QUASI),
    _column("account_enabled", sa.Boolean(), "Whether the account can sign in.", PiiClass.NONE),
    _column("user_type", sa.String(), "Member or Guest.", PiiClass.NONE),
    _column("created_at", UtcDateTime(), "When the user object was created (UTC).", PiiClass.QUASI),
    _column(
        "on_premises_sync_enabled",
        sa.Boolean(),
        "True when synced from on-premises Active Directory; null when never synced.",
        PiiClass.NONE,
    ),
    _text_list("business_phones", 'Business telephone numbers, "; "-joined; empty when none.', PiiClass.DIRECT),
    _column("mobile_phone", sa.String(), "Mobile telephone number.", PiiClass.DIRECT),
    _column(
        "last_sign_in_at",
        UtcDateTime(),
        "Last interactive sign-in attempt, successful or not (UTC); null when never.",
        PiiClass.QUASI,
    ),
    _column(
        "last_non_interactive_sign_in_at",
        UtcDateTime(),
        "Last non-interactive sign-in attempt (UTC); null when never.",
        PiiClass.QUASI,
    ),
    _column(
        "last_successful_sign_in_at",
        UtcDateTime(),
        "Last successful sign-in, interactive or not (UTC); null when never.",
        PiiClass.QUASI,
    ),
    _column("manager_id", sa.String(GUID_LENGTH), "Object id of the user's manager; null when none.", PiiClass.QUASI),
    _deleted_at("user"),
    comment="Users of the tenant (Microsoft Graph /users), one row per user.",
)

skus = sa.Table(
    "skus",
    metadata,
    _tenant_id(),
    _column("sku_id", sa.String(GUID_LENGTH), "Id of the license SKU (product).", PiiClass.NONE, primary_key=True),
    _column(
        "sku_part_number",
        sa.String(),
        "Part number of the SKU, e.g. ENTERPRISEPACK.",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("account_name", sa.String(), "Name of the account that owns the subscription.", PiiClass.NONE),
    _column("applies_to", sa.String(), "Whom the SKU is assigned to: User or Company.", PiiClass.NONE),
    _column(
        "capability_status",
        sa.String(),
        "Subscription state: Enabled, Warning, Suspended, Deleted or LockedOut.",
        PiiClass.NONE,
    ),
    _column("consumed_units", sa.Integer(), "Licenses assigned from this SKU.", PiiClass.NONE),
    _column("prepaid_enabled", sa.Integer(), "Prepaid licenses in the enabled state.", PiiClass.NONE),
    _column("prepaid_locked_out", sa.Integer(), "Prepaid licenses in the locked-out state.", PiiClass.NONE),
    _column("prepaid_suspended", sa.Integer(), "Prepaid licenses in the suspended state.", PiiClass.NONE),
    _column("prepaid_warning", sa.Integer(), "Prepaid licenses in the warning state.", PiiClass.NONE),
    _text_list("service_plan_names", 'Service plan names of the SKU in Graph\'s order, "; "-joined.'),
    comment="License SKUs the tenant subscribes to (Microsoft Graph /subscribedSkus).",
)

user_licenses = sa.Table(
    "user_licenses",
    metadata,
    _tenant_id(),
    _column(
        "user_id",
        sa.String(GUID_LENGTH),
        "Object id of the user holding the license (users.id).",
        PiiClass.QUASI,
        primary_key=True,
    ),
    _column(
        "sku_id",
        sa.String(GUID_LENGTH),
        "Id of the assigned license SKU (skus.sku_id).",
        PiiClass.NONE,
        primary_key=True,
    ),
    _text_list("disabled_plans", 'Service plan ids disabled for this user, sorted, "; "-joined; empty when none.'),
    sa.Index(None, "tenant_id", "sku_id"),
    comment="Licenses assigned to users (from their assignedLicenses), one row per user and SKU.",
)

groups = sa.Table(
    "groups",
    metadata,
    _tenant_id(),
    _column("id", sa.String(GUID_LENGTH), "Object id of the group.", PiiClass.NONE, primary_key=True),
    _column("display_name", sa.String(), "Name of the group.", PiiClass.NONE),
    _column("description", sa.Text(), "Description of the group.", PiiClass.NONE),
    _column("mail", sa.String(), "SMTP address of the group.", PiiClass.NONE),
    _column("mail_enabled", sa.Boolean(), "Whether the group is mail-enabled.", PiiClass.NONE, nullable=False),
    _column(
        "security_enabled",
        sa.Boolean(),
        "Whether the group is a security group.",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("mail_nickname", sa.String(), "Mail alias of the group.", PiiClass.NONE),
    _text_list("group_types", 'Graph groupTypes (Unified, DynamicMembership), "; "-joined; empty when none.'),
    _column(
        "kind",
        sa.String(),
        "microsoft365, security, mail_enabled_security or distribution.",
        PiiClass.NONE,
        nullable=False,
    ),
    _column(
        "is_dynamic",
        sa.Boolean(),
        "Whether membership follows a rule (DynamicMembership).",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("membership_rule", sa.Text(), "Rule of a dynamic group; null otherwise.", PiiClass.NONE),
    _column(
        "visibility",
        sa.String(),
        "Public, Private or HiddenMembership; null for most non-Microsoft 365 groups.",
        PiiClass.NONE,
    ),
    _column("created_at", UtcDateTime(), "When the group was created (UTC).", PiiClass.NONE),
    _column(
        "on_premises_sync_enabled",
        sa.Boolean(),
        "True when synced from on-premises Active Directory; null when never synced.",
        PiiClass.NONE,
    ),
    _deleted_at("group"),
    comment="Groups of the tenant (Microsoft Graph /groups), one row per group.",
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    # The one table not keyed by tenant_id: a log of rejected records, keyed by its own sequence.
    _column("id", sa.Integer(), "Sequence number of the quarantined record.", PiiClass.NONE, primary_key=True),
    _column(
        "tenant_id",
        sa.String(GUID_LENGTH),
        "Entra ID tenant (directory) id the record came from.",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("entity", sa.String(), "Warehouse table the record was meant for.", PiiClass.NONE, nullable=False),
    _column("source", sa.Text(), "File path or URL the record was read from.", PiiClass.NONE, nullable=False),
    _column(
        "row_number",
        sa.Integer(),
        "1-based position of the record in its source.",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("field", sa.String(), "Field or fields that failed validation.", PiiClass.NONE, nullable=False),
    _column(
        "reason",
        sa.Text(),
        "Why the record was rejected, quoting the bad value.",
        PiiClass.QUASI,
        nullable=False,
    ),
    _column("raw", sa.Text(), "The rejected record as JSON, exactly as read.", PiiClass.DIRECT, nullable=False),
    _column(
        "quarantined_at",
        UtcDateTime(),
        "When the record was quarantined (UTC).",
        PiiClass.NONE,
        nullable=False,
    ),
    _column(
        "extract_id",
        sa.String(EXTRACT_ID_LENGTH),
        "Extract the record was rejected from (extracts.extract_id); null for records quarantined before the ledger.",
        PiiClass.NONE,
    ),
    sa.Index(None, "tenant_id", "entity"),
    sa.Index(None, "tenant_id", "extract_id"),
    comment="Records rejected by normalization, kept with the reason so nothing is dropped silently.",
)

extracts = sa.Table(
    "extracts",
    metadata,
    _tenant_id(),
    _column(
        "extract_id",
        sa.String(EXTRACT_ID_LENGTH),
        "Id of the extract; ids sort by the time the extract was taken (e.g. 20261202T114501Z-1a2b3c4d).",
        PiiClass.NONE,
        primary_key=True,
    ),
    _column(
        "digest",
        sa.String(DIGEST_LENGTH),
        "Digest of the extract's content given by the loader: an equal digest means nothing changed.",
        PiiClass.NONE,
        nullable=False,
    ),
    _column(
        "published_at",
        UtcDateTime(),
        "When the extract's tables were published, all in one transaction (UTC).",
        PiiClass.NONE,
        nullable=False,
    ),
    comment="Ledger of published extracts: the tenant's newest extract is what its directory tables hold.",
)

extract_tables = sa.Table(
    "extract_tables",
    metadata,
    _tenant_id(),
    _column(
        "extract_id",
        sa.String(EXTRACT_ID_LENGTH),
        "Published extract (extracts.extract_id).",
        PiiClass.NONE,
        primary_key=True,
    ),
    _column(
        "table_name", sa.String(), "Warehouse table the extract was published to.", PiiClass.NONE, primary_key=True
    ),
    _column("row_count", sa.Integer(), "The tenant's rows in the table once published.", PiiClass.NONE, nullable=False),
    _column("inserted", sa.Integer(), "Rows the publication inserted.", PiiClass.NONE, nullable=False),
    _column("updated", sa.Integer(), "Rows the publication changed.", PiiClass.NONE, nullable=False),
    _column(
        "deleted",
        sa.Integer(),
        "Rows the publication deleted (absent from the extract).",
        PiiClass.NONE,
        nullable=False,
    ),
    _column(
        "quarantined", sa.Integer(), "Records of the extract rejected for this table.", PiiClass.NONE, nullable=False
    ),
    sa.ForeignKeyConstraint(
        ["tenant_id", "extract_id"], ["extracts.tenant_id", "extracts.extract_id"], ondelete="CASCADE"
    ),
    comment="Per table of a published extract: its rows and what the publication inserted, updated and deleted.",
)


def _guid(name: str, description: str, pii: PiiClass = PiiClass.NONE, **kwargs: Any) -> sa.Column[Any]:
    return _column(name, sa.String(GUID_LENGTH), description, pii, **kwargs)


sku_service_plans = sa.Table(
    "sku_service_plans",
    metadata,
    _tenant_id(),
    _guid("sku_id", "Id of the license SKU (skus.sku_id).", primary_key=True),
    _guid("service_plan_id", "Id of the service plan.", primary_key=True),
    _column("service_plan_name", sa.String(), "Name of the service plan, e.g. TEAMS1.", PiiClass.NONE, nullable=False),
    _column("provisioning_status", sa.String(), "Success, Disabled, PendingInput, ...", PiiClass.NONE),
    _column("applies_to", sa.String(), "User or Company.", PiiClass.NONE),
    comment="Service plans of each SKU (subscribedSkus servicePlans), one row per SKU and plan.",
)

directory_roles = sa.Table(
    "directory_roles",
    metadata,
    _tenant_id(),
    _guid("role_template_id", "Id of the role's template, the same in every tenant.", primary_key=True),
    _guid("role_id", "Object id of the activated role in this tenant.", nullable=False),
    _column("display_name", sa.String(), "Name of the role, e.g. Global Administrator.", PiiClass.NONE),
    _column("description", sa.Text(), "What the role may do.", PiiClass.NONE),
    comment="Directory roles activated in the tenant (Microsoft Graph /directoryRoles).",
)

role_assignments = sa.Table(
    "role_assignments",
    metadata,
    _tenant_id(),
    _column("id", sa.String(), "Id of the assignment.", PiiClass.NONE, primary_key=True),
    _guid(
        "principal_id",
        "Object id of the user, group or service principal holding the role.",
        PiiClass.QUASI,
        nullable=False,
    ),
    _guid(
        "role_definition_id",
        "Role definition id (directory_roles.role_template_id for built-in roles).",
        nullable=False,
    ),
    _column("directory_scope_id", sa.String(), "Scope of the assignment; / is the whole tenant.", PiiClass.NONE),
    sa.Index(None, "tenant_id", "role_definition_id"),
    comment="Who holds which directory role (Microsoft Graph /roleManagement/directory/roleAssignments).",
)

user_registration_details = sa.Table(
    "user_registration_details",
    metadata,
    _tenant_id(),
    _guid("user_id", "Object id of the user (users.id).", PiiClass.QUASI, primary_key=True),
    _column("user_principal_name", sa.String(), "Sign-in name of the user.", PiiClass.DIRECT),
    _column("user_display_name", sa.String(), "Name of the user.", PiiClass.DIRECT),
    _column("user_type", sa.String(), "member or guest.", PiiClass.NONE),
    _column("is_admin", sa.Boolean(), "Whether the user holds an admin role.", PiiClass.NONE),
    _column("is_mfa_registered", sa.Boolean(), "Registered a strong method for MFA.", PiiClass.NONE),
    _column("is_mfa_capable", sa.Boolean(), "Registered and allowed a strong method.", PiiClass.NONE),
    _column("is_sspr_registered", sa.Boolean(), "Registered for self-service password reset.", PiiClass.NONE),
    _column("is_sspr_enabled", sa.Boolean(), "Allowed self-service password reset.", PiiClass.NONE),
    _column("is_sspr_capable", sa.Boolean(), "Registered and allowed self-service password reset.", PiiClass.NONE),
    _column("is_passwordless_capable", sa.Boolean(), "Registered a passwordless method.", PiiClass.NONE),
    _text_list("methods_registered", 'Methods registered, "; "-joined; empty when none.'),
    _column("preferred_secondary_method", sa.String(), "Method the user prefers for the second factor.", PiiClass.NONE),
    _column("last_updated_at", UtcDateTime(), "When the record was last updated (UTC).", PiiClass.NONE),
    comment="Authentication-method registration per user (reports/authenticationMethods/userRegistrationDetails).",
)

conditional_access_policies = sa.Table(
    "conditional_access_policies",
    metadata,
    _tenant_id(),
    _guid("id", "Id of the policy.", primary_key=True),
    _column("display_name", sa.String(), "Name of the policy.", PiiClass.NONE),
    _column("state", sa.String(), "enabled, disabled or enabledForReportingButNotEnforced.", PiiClass.NONE),
    _column("created_at", UtcDateTime(), "When the policy was created (UTC).", PiiClass.NONE),
    _column("modified_at", UtcDateTime(), "When the policy was last changed (UTC).", PiiClass.NONE),
    _column("grant_operator", sa.String(), "AND or OR between the grant controls.", PiiClass.NONE),
    _text_list("grant_controls", 'Built-in grant controls (mfa, block, ...), "; "-joined; empty when none.'),
    comment="Conditional access policies (Microsoft Graph /identity/conditionalAccess/policies).",
)

applications = sa.Table(
    "applications",
    metadata,
    _tenant_id(),
    _guid("id", "Object id of the app registration.", primary_key=True),
    _guid("app_id", "Application (client) id."),
    _column("display_name", sa.String(), "Name of the application.", PiiClass.NONE),
    _column("created_at", UtcDateTime(), "When the app was registered (UTC).", PiiClass.NONE),
    _column("publisher_domain", sa.String(), "Verified publisher domain.", PiiClass.NONE),
    _column("sign_in_audience", sa.String(), "AzureADMyOrg, AzureADMultipleOrgs, ...", PiiClass.NONE),
    comment="App registrations of the tenant (Microsoft Graph /applications).",
)

service_principals = sa.Table(
    "service_principals",
    metadata,
    _tenant_id(),
    _guid("id", "Object id of the service principal.", primary_key=True),
    _guid("app_id", "Application (client) id it represents."),
    _column("display_name", sa.String(), "Name of the service principal.", PiiClass.NONE),
    _column("app_display_name", sa.String(), "Name of the application.", PiiClass.NONE),
    _column("account_enabled", sa.Boolean(), "Whether it can sign in.", PiiClass.NONE),
    _column("service_principal_type", sa.String(), "Application, ManagedIdentity, Legacy, ...", PiiClass.NONE),
    _guid("app_owner_organization_id", "Tenant that registered the application."),
    comment="Service principals (enterprise applications) of the tenant (Microsoft Graph /servicePrincipals).",
)


def _credentials_table(name: str, owner: str, source: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        _tenant_id(),
        _guid("owner_id", f"Object id of the {owner}.", primary_key=True),
        _guid("key_id", "Id of the credential.", primary_key=True),
        _column(
            "kind",
            sa.String(),
            "secret (passwordCredentials) or certificate (keyCredentials).",
            PiiClass.NONE,
            nullable=False,
        ),
        _column("display_name", sa.String(), "Name given to the credential.", PiiClass.NONE),
        _column("start_at", UtcDateTime(), "When the credential became valid (UTC).", PiiClass.NONE),
        _column("end_at", UtcDateTime(), "When the credential expires (UTC).", PiiClass.NONE),
        comment=f"Secrets and certificates of {source}, with their expiry: one row per credential.",
    )


application_credentials = _credentials_table("application_credentials", "application", "app registrations")
service_principal_credentials = _credentials_table(
    "service_principal_credentials", "service principal", "service principals"
)


group_members = sa.Table(
    "group_members",
    metadata,
    _tenant_id(),
    _column("group_id", sa.String(GUID_LENGTH), "Object id of the group (groups.id).", PiiClass.NONE, primary_key=True),
    _column(
        "member_id",
        sa.String(GUID_LENGTH),
        "Object id of the direct member: a user, a group, a device or a service principal.",
        PiiClass.QUASI,
        primary_key=True,
    ),
    _column(
        "member_type",
        sa.String(),
        "Graph type of the member, e.g. #microsoft.graph.user; null when Graph did not say.",
        PiiClass.NONE,
    ),
    sa.Index(None, "tenant_id", "member_id"),
    comment="Direct members of groups (/groups/{id}/members, members@delta of /groups/delta), one per pair.",
)

group_transitive_members = sa.Table(
    "group_transitive_members",
    metadata,
    _tenant_id(),
    _guid("group_id", "Object id of the group (groups.id).", primary_key=True),
    _guid("member_id", "Object id of a direct or nested member.", PiiClass.QUASI, primary_key=True),
    _column("member_type", sa.String(), "Graph type of the member, e.g. #microsoft.graph.user.", PiiClass.NONE),
    comment="Members of groups including those of nested groups (/groups/{id}/transitiveMembers).",
)

group_owners = sa.Table(
    "group_owners",
    metadata,
    _tenant_id(),
    _guid("group_id", "Object id of the group (groups.id).", primary_key=True),
    _guid("owner_id", "Object id of the owner: a user or a service principal.", PiiClass.QUASI, primary_key=True),
    _column("owner_type", sa.String(), "Graph type of the owner, e.g. #microsoft.graph.user.", PiiClass.NONE),
    comment="Owners of groups (/groups/{id}/owners).",
)

delta_links = sa.Table(
    "delta_links",
    metadata,
    _tenant_id(),
    _column("resource", sa.String(), "The delta-tracked collection: users or groups.", PiiClass.NONE, primary_key=True),
    _column(
        "delta_link",
        sa.Text(),
        "Graph's @odata.deltaLink after the last applied round: where the next round starts.",
        PiiClass.NONE,
        nullable=False,
    ),
    _column(
        "synced_at",
        UtcDateTime(),
        "When the round ending with this link was applied (UTC), in the same transaction as its changes.",
        PiiClass.NONE,
        nullable=False,
    ),
    comment="Per tenant and collection, the delta link the warehouse's tables are current with.",
)


def _history_columns(kind: str) -> list[sa.Column[Any]]:
    return [
        _column(
            "valid_from",
            UtcDateTime(),
            f"Since when the {kind} held (UTC), inclusive.",
            PiiClass.NONE,
            primary_key=True,
        ),
        _column(
            "source",
            sa.String(),
            "Who recorded the interval: graph (publications and delta sync) or legacy:<report> (older reports).",
            PiiClass.NONE,
            primary_key=True,
        ),
        _column(
            "valid_to",
            UtcDateTime(),
            f"Until when the {kind} held (UTC), exclusive; null while it still holds.",
            PiiClass.NONE,
        ),
    ]


user_history = sa.Table(
    "user_history",
    metadata,
    _tenant_id(),
    _column("user_id", sa.String(GUID_LENGTH), "Object id of the user (users.id).", PiiClass.QUASI, primary_key=True),
    *_history_columns("user's attributes"),
    _column("user_principal_name", sa.String(), "Sign-in name of the user.", PiiClass.DIRECT),
    _column("department", sa.String(), "Department.", PiiClass.QUASI),
    _column("account_enabled", sa.Boolean(), "Whether the account could sign in.", PiiClass.NONE),
    _column("user_type", sa.String(), "Member or Guest.", PiiClass.NONE),
    _column("usage_location", sa.String(), "Two-letter usage location.", PiiClass.QUASI),
    _column("soft_deleted", sa.Boolean(), "Whether the user was soft-deleted.", PiiClass.NONE, nullable=False),
    sa.Index(None, "tenant_id", "valid_to"),
    comment="History of the user attributes the reports use: one row per user and interval of equal values.",
)

group_history = sa.Table(
    "group_history",
    metadata,
    _tenant_id(),
    _column("group_id", sa.String(GUID_LENGTH), "Object id of the group (groups.id).", PiiClass.NONE, primary_key=True),
    *_history_columns("group's attributes"),
    _column("display_name", sa.String(), "Name of the group.", PiiClass.NONE),
    _column("kind", sa.String(), "microsoft365, security, mail_enabled_security or distribution.", PiiClass.NONE),
    _column("soft_deleted", sa.Boolean(), "Whether the group was soft-deleted.", PiiClass.NONE, nullable=False),
    comment="History of groups: one row per group and interval of equal name, kind and deletion state.",
)

license_history = sa.Table(
    "license_history",
    metadata,
    _tenant_id(),
    _column("user_id", sa.String(GUID_LENGTH), "Object id of the user (users.id).", PiiClass.QUASI, primary_key=True),
    _column("sku_id", sa.String(GUID_LENGTH), "Id of the license SKU (skus.sku_id).", PiiClass.NONE, primary_key=True),
    *_history_columns("license assignment"),
    sa.Index(None, "tenant_id", "sku_id"),
    comment="History of license assignments: who held which SKU when.",
)

group_member_history = sa.Table(
    "group_member_history",
    metadata,
    _tenant_id(),
    _column("group_id", sa.String(GUID_LENGTH), "Object id of the group (groups.id).", PiiClass.NONE, primary_key=True),
    _column("member_id", sa.String(GUID_LENGTH), "Object id of the direct member.", PiiClass.QUASI, primary_key=True),
    *_history_columns("membership"),
    comment="History of direct group memberships: who was in which group when.",
)

role_member_history = sa.Table(
    "role_member_history",
    metadata,
    _tenant_id(),
    _guid("role_definition_id", "Role definition (template) id.", primary_key=True),
    _guid("principal_id", "Object id of the holder.", PiiClass.QUASI, primary_key=True),
    *_history_columns("role assignment"),
    comment="History of directory role assignments: who held which role when.",
)

HISTORY_TABLES: dict[str, sa.Table] = {
    table.name: table
    for table in (user_history, group_history, license_history, group_member_history, role_member_history)
}
"""The SCD2 history tables (valid_from/valid_to per source), maintained by ``warehouse.history``."""

TABLES: dict[str, sa.Table] = {
    table.name: table
    for table in (
        users,
        skus,
        user_licenses,
        groups,
        sku_service_plans,
        directory_roles,
        role_assignments,
        user_registration_details,
        conditional_access_policies,
        applications,
        application_credentials,
        service_principals,
        service_principal_credentials,
        group_members,
        group_transitive_members,
        group_owners,
    )
}
"""The business tables a tenant's extract is published to (``publish.TenantPublication``), by name."""


def table_column_schema(table: sa.Table) -> list[tuple[str, str, str]]:
    """(name, type, description) of each column, for catalog metadata; types as PostgreSQL spells them."""
    dialect = postgresql.dialect()
    return [(column.name, column.type.compile(dialect=dialect), column.info["description"]) for column in table.columns]


# --- the old tool's CSV reports (m365_pipeline.legacy) ------------------------------------------------------------
#
# One typed table per catalogued report type, derived from the catalogue (legacy.layouts.REPORT_TYPES): a
# column's kind gives its SQL type; a kind whose value has parts (a status with its symbol, an amount of yen with
# its label, a date range) gives one column per part. Every row carries its provenance and its report's own time.
#
# Directory history: the old user list, licence and group reports are the tenant's past directory. Their tables
# are named `legacy_history_<users|licenses|groups>_<report type>` (LEGACY_DIRECTORY_HISTORY lists them), each row
# dated by `report_timestamp`, the report's own time: the state a report showed was valid at that instant. The
# directory history (valid-from/valid-to) folds them in from there; until then they are read as they are.

LEGACY_SHA256_LENGTH = 64

_LEGACY_SQL_TYPES: dict[str, Any] = {
    "text": sa.Text,
    "integer": sa.BigInteger,
    "decimal": sa.Numeric,
    "percent": sa.Numeric,
    "boolean": sa.Boolean,
    "datetime": UtcDateTime,
    "date": sa.Date,
    "year_month": sa.Date,
    "duration": sa.Numeric,
    "bytes": sa.BigInteger,
    "list": sa.Text,
}
# kind -> (column name suffix, SQL type, what the part holds); a kind not listed is one column of _LEGACY_SQL_TYPES
LEGACY_KIND_PARTS: dict[str, tuple[tuple[str, Any, str], ...]] = {
    "status": (
        ("", sa.Text, "status text without its symbol"),
        ("_symbol", sa.Text, "emoji or mark written before the status"),
        ("_level", sa.Text, "ok, warning or error, from the symbol"),
    ),
    "yen": (
        ("", sa.Numeric, "amount in yen"),
        ("_label", sa.Text, "label written with the amount"),
        ("_per", sa.Text, "period of the amount, e.g. 月"),
    ),
    "date_range": (("_start", UtcDateTime, "start of the range"), ("_end", UtcDateTime, "end of the range")),
}
_LEGACY_KIND_NOTES = {
    "percent": "percentage points as written (95.7% is 95.7)",
    "duration": "seconds",
    "bytes": "bytes",
    "list": "JSON array of the items",
    "year_month": "first day of the month",
    "datetime": "UTC",
}
_DIRECT_IDENTIFIER = (
    "user",
    "name",
    "mail",
    "address",
    "owner",
    "sender",
    "recipient",
    "member",
    "principal",
    "ip",
    "ユーザー",
    "名前",
    "メール",
    "所有者",
    "宛先",
    "送信元",
    "プリンシパル",
    "IPアドレス",
)
_QUASI_IDENTIFIER = ("department", "job", "location", "部署", "役職", "場所", "デバイス", "device", "id")


def legacy_column_pii(name: str, kind: str) -> PiiClass:
    """A conservative guess from the column's name: a legacy report's text may name a person anywhere."""
    if kind not in ("text", "list", "status"):
        return PiiClass.QUASI if any(word in name for word in _QUASI_IDENTIFIER) else PiiClass.NONE
    if any(word in name.casefold() for word in _DIRECT_IDENTIFIER):
        return PiiClass.DIRECT
    return PiiClass.QUASI


def legacy_value_columns(name: str, kind: str, header: str) -> list[sa.Column[Any]]:
    """The warehouse columns of one catalogued column of `kind` (one per part of its value)."""
    pii = legacy_column_pii(name, kind)
    parts = LEGACY_KIND_PARTS.get(kind) or (("", _LEGACY_SQL_TYPES[kind], _LEGACY_KIND_NOTES.get(kind, kind)),)
    return [
        _column(name + suffix, type_(), f"{header} ({kind}): {note}; null when empty or a placeholder.", pii)
        for suffix, type_, note in parts
    ]


def _legacy_provenance() -> list[sa.Column[Any]]:
    return [
        _tenant_id(),
        _column(
            "source_sha256",
            sa.String(LEGACY_SHA256_LENGTH),
            "SHA-256 of the legacy file the row was read from (legacy_files.sha256).",
            PiiClass.NONE,
            primary_key=True,
        ),
        _column(
            "source_row",
            sa.Integer(),
            "1-based data record number in the file (header excluded).",
            PiiClass.NONE,
            primary_key=True,
        ),
        _column(
            "source_line",
            sa.Integer(),
            "1-based physical line where the record starts (header is line 1).",
            PiiClass.NONE,
            nullable=False,
        ),
        _column(
            "layout_generation",
            sa.SmallInteger(),
            "Generation (1, 2 or 3) of the old tool that wrote the layout.",
            PiiClass.NONE,
            nullable=False,
        ),
        _column(
            "report_timestamp",
            UtcDateTime(),
            "The report's own time (file name stamp or content) in UTC; null when the report has none.",
            PiiClass.NONE,
        ),
        _column(
            "placeholders",
            sa.Text(),
            "JSON object: column -> the text placeholder (N/A, 不明...) that became NULL; null when none.",
            PiiClass.QUASI,
        ),
        _column(
            "duplicates",
            sa.Text(),
            "JSON object of the values of a header repeated in the file (name__2...); null when none.",
            PiiClass.QUASI,
        ),
    ]


LEGACY_PROVENANCE_COLUMNS = tuple(column.name for column in _legacy_provenance())


def legacy_table_name(report_type: str, directory_history: str | None) -> str:
    if directory_history:
        return f"legacy_history_{directory_history}_{report_type}"
    return f"legacy_{report_type}"


def legacy_report_table(
    metadata: sa.MetaData,
    name: str,
    title: str,
    columns: list[tuple[str, str, str]],
) -> sa.Table:
    """The typed table of one report type: provenance, then the value columns of (name, kind, header); a value
    column named like a provenance column (a report's own `TenantId`) is prefixed `report_`."""
    value_columns = [
        column
        for column_name, kind, header in columns
        for column in legacy_value_columns(
            f"report_{column_name}" if column_name in LEGACY_PROVENANCE_COLUMNS else column_name, kind, header
        )
    ]
    return sa.Table(
        name, metadata, *_legacy_provenance(), *value_columns, comment=f"The old tool's report: {title}, typed."
    )


legacy_files = sa.Table(
    "legacy_files",
    metadata,
    _tenant_id(),
    _column(
        "sha256",
        sa.String(LEGACY_SHA256_LENGTH),
        "SHA-256 of the file's content: its identity (the same content migrates once).",
        PiiClass.NONE,
        primary_key=True,
    ),
    _column("path", sa.Text(), "Path of the file when it was migrated.", PiiClass.QUASI, nullable=False),
    _column("size_bytes", sa.BigInteger(), "Size of the file in bytes.", PiiClass.NONE, nullable=False),
    _column(
        "version",
        sa.Integer(),
        "1 for the first content migrated under this path, 2 for a changed file under the same path...",
        PiiClass.NONE,
        nullable=False,
    ),
    _column(
        "status",
        sa.String(),
        "loaded (all rows typed), quarantined (some rows were), unknown_layout, empty or unreadable.",
        PiiClass.NONE,
        nullable=False,
    ),
    _column("reason", sa.Text(), "Why the file or some rows were not loaded; null when all were.", PiiClass.QUASI),
    _column("report_type", sa.String(), "Catalogued report type; null for an unknown layout.", PiiClass.NONE),
    _column("table_name", sa.String(), "Warehouse table the rows were loaded into.", PiiClass.NONE),
    _column("layout_generation", sa.SmallInteger(), "Generation of the old tool's layout.", PiiClass.NONE),
    _column("encoding", sa.String(), "utf-8-sig, utf-8 or cp932.", PiiClass.NONE),
    _column("report_timestamp", UtcDateTime(), "The report's own time (UTC); null when it has none.", PiiClass.NONE),
    _column(
        "report_timestamp_source", sa.String(), "Where the report's time was read: file name or content.", PiiClass.NONE
    ),
    _column("rows_in", sa.Integer(), "Data records read from the file.", PiiClass.NONE, nullable=False),
    _column("rows_loaded", sa.Integer(), "Records loaded typed into table_name.", PiiClass.NONE, nullable=False),
    _column("rows_quarantined", sa.Integer(), "Records kept in legacy_quarantine.", PiiClass.NONE, nullable=False),
    _column(
        "started_at", UtcDateTime(), "When the migration of the file started (UTC).", PiiClass.NONE, nullable=False
    ),
    _column("migrated_at", UtcDateTime(), "When its transaction was committed (UTC).", PiiClass.NONE, nullable=False),
    sa.CheckConstraint("rows_in = rows_loaded + rows_quarantined", name="ck_legacy_files_rows_reconcile"),
    sa.Index(None, "tenant_id", "path"),
    comment="Ledger of migrated legacy CSV files: one row per tenant and content, rows in = loaded + quarantined.",
)

legacy_quarantine = sa.Table(
    "legacy_quarantine",
    metadata,
    _tenant_id(),
    _column(
        "source_sha256",
        sa.String(LEGACY_SHA256_LENGTH),
        "File the record was read from (legacy_files.sha256).",
        PiiClass.NONE,
        primary_key=True,
    ),
    _column("source_row", sa.Integer(), "1-based data record number in the file.", PiiClass.NONE, primary_key=True),
    _column(
        "source_line", sa.Integer(), "1-based physical line where the record starts.", PiiClass.NONE, nullable=False
    ),
    _column("column_name", sa.String(), "First column that failed; null for the whole record.", PiiClass.NONE),
    _column("reason", sa.Text(), "Why the record was not loaded, per failing column.", PiiClass.QUASI, nullable=False),
    _column(
        "original", sa.Text(), "The record's fields exactly as read, a JSON array.", PiiClass.DIRECT, nullable=False
    ),
    comment="Records of legacy files that could not be typed, with the reason and the original text.",
)

LEGACY_TABLES: dict[str, sa.Table] = {
    report_type.name: legacy_report_table(
        metadata,
        legacy_table_name(report_type.name, report_type.directory_history),
        report_type.title,
        [(column.name, column.kind.value, " / ".join(column.headers)) for column in report_type.columns],
    )
    for report_type in REPORT_TYPES.values()
}
"""The typed table of each catalogued report type, by report type name."""

LEGACY_DIRECTORY_HISTORY: dict[str, tuple[str, ...]] = {
    kind: tuple(
        LEGACY_TABLES[report_type.name].name
        for report_type in REPORT_TYPES.values()
        if report_type.directory_history == kind
    )
    for kind in ("users", "licenses", "groups")
}
"""The legacy tables that are the tenant's past directory (users, licenses, groups), dated by report_timestamp."""
from m365_pipeline.warehouse import activity_tables as _activity_tables  # noqa: E402, F401 (registers its tables on metadata)
from m365_pipeline.warehouse import auth_method_tables as _auth_method_tables  # noqa: E402, F401 (registers its tables on metadata)
from m365_pipeline.warehouse import call_tables as _call_tables  # noqa: E402, F401 (registers its tables on metadata)
from m365_pipeline.warehouse import drive_tables as _drive_tables  # noqa: E402, F401 (registers its tables on metadata)
from m365_pipeline.warehouse import teams_tables as _teams_tables  # noqa: E402, F401 (registers its tables on metadata)
from m365_pipeline.warehouse import usage_tables as _usage_tables  # noqa: E402, F401 (registers its tables on metadata)
