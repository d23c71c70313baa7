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
down_revision: str | None = "0003_legacy"
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
    op.add_column(
        "users",
        sa.Column("manager_id", _GUID, comment="Object id of the user's manager; null when none."),
    )
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
        comment="Direct members of groups (/groups/{id}/members, members@delta of /groups/delta), one per pair.",
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

    _directory_entities()


def _directory_entities() -> None:
    op.create_table(
        "sku_service_plans",
        _tenant_id(),
        sa.Column("sku_id", _GUID, nullable=False, comment="Id of the license SKU (skus.sku_id)."),
        sa.Column("service_plan_id", _GUID, nullable=False, comment="Id of the service plan."),
        sa.Column("service_plan_name", sa.String(), nullable=False, comment="Name of the service plan, e.g. TEAMS1."),
        sa.Column("provisioning_status", sa.String(), nullable=True, comment="Success, Disabled, PendingInput, ..."),
        sa.Column("applies_to", sa.String(), nullable=True, comment="User or Company."),
        sa.PrimaryKeyConstraint("tenant_id", "sku_id", "service_plan_id", name="pk_sku_service_plans"),
        comment="Service plans of each SKU (subscribedSkus servicePlans), one row per SKU and plan.",
    )
    op.create_table(
        "directory_roles",
        _tenant_id(),
        sa.Column(
            "role_template_id", _GUID, nullable=False, comment="Id of the role's template, the same in every tenant."
        ),
        sa.Column("role_id", _GUID, nullable=False, comment="Object id of the activated role in this tenant."),
        sa.Column("display_name", sa.String(), nullable=True, comment="Name of the role, e.g. Global Administrator."),
        sa.Column("description", sa.Text(), nullable=True, comment="What the role may do."),
        sa.PrimaryKeyConstraint("tenant_id", "role_template_id", name="pk_directory_roles"),
        comment="Directory roles activated in the tenant (Microsoft Graph /directoryRoles).",
    )
    op.create_table(
        "role_assignments",
        _tenant_id(),
        sa.Column("id", sa.String(), nullable=False, comment="Id of the assignment."),
        sa.Column(
            "principal_id",
            _GUID,
            nullable=False,
            comment="Object id of the user, group or service principal holding the role.",
        ),
        sa.Column(
            "role_definition_id",
            _GUID,
            nullable=False,
            comment="Role definition id (directory_roles.role_template_id for built-in roles).",
        ),
        sa.Column(
            "directory_scope_id", sa.String(), nullable=True, comment="Scope of the assignment; / is the whole tenant."
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_role_assignments"),
        comment="Who holds which directory role (Microsoft Graph /roleManagement/directory/roleAssignments).",
    )
    op.create_index(
        "ix_role_assignments_tenant_id_role_definition_id", "role_assignments", ["tenant_id", "role_definition_id"]
    )
    op.create_table(
        "user_registration_details",
        _tenant_id(),
        sa.Column("user_id", _GUID, nullable=False, comment="Object id of the user (users.id)."),
        sa.Column("user_principal_name", sa.String(), nullable=True, comment="Sign-in name of the user."),
        sa.Column("user_display_name", sa.String(), nullable=True, comment="Name of the user."),
        sa.Column("user_type", sa.String(), nullable=True, comment="member or guest."),
        sa.Column("is_admin", sa.Boolean(), nullable=True, comment="Whether the user holds an admin role."),
        sa.Column("is_mfa_registered", sa.Boolean(), nullable=True, comment="Registered a strong method for MFA."),
        sa.Column("is_mfa_capable", sa.Boolean(), nullable=True, comment="Registered and allowed a strong method."),
        sa.Column(
            "is_sspr_registered", sa.Boolean(), nullable=True, comment="Registered for self-service password reset."
        ),
        sa.Column("is_sspr_enabled", sa.Boolean(), nullable=True, comment="Allowed self-service password reset."),
        sa.Column(
            "is_sspr_capable",
            sa.Boolean(),
            nullable=True,
            comment="Registered and allowed self-service password reset.",
        ),
        sa.Column("is_passwordless_capable", sa.Boolean(), nullable=True, comment="Registered a passwordless method."),
        sa.Column(
            "methods_registered", sa.Text(), nullable=False, comment='Methods registered, "; "-joined; empty when none.'
        ),
        sa.Column(
            "preferred_secondary_method",
            sa.String(),
            nullable=True,
            comment="Method the user prefers for the second factor.",
        ),
        sa.Column("last_updated_at", _TIMESTAMP, nullable=True, comment="When the record was last updated (UTC)."),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name="pk_user_registration_details"),
        comment="Authentication-method registration per user (reports/authenticationMethods/userRegistrationDetails).",
    )
    op.create_table(
        "conditional_access_policies",
        _tenant_id(),
        sa.Column("id", _GUID, nullable=False, comment="Id of the policy."),
        sa.Column("display_name", sa.String(), nullable=True, comment="Name of the policy."),
        sa.Column(
            "state", sa.String(), nullable=True, comment="enabled, disabled or enabledForReportingButNotEnforced."
        ),
        sa.Column("created_at", _TIMESTAMP, nullable=True, comment="When the policy was created (UTC)."),
        sa.Column("modified_at", _TIMESTAMP, nullable=True, comment="When the policy was last changed (UTC)."),
        sa.Column("grant_operator", sa.String(), nullable=True, comment="AND or OR between the grant controls."),
        sa.Column(
            "grant_controls",
            sa.Text(),
            nullable=False,
            comment='Built-in grant controls (mfa, block, ...), "; "-joined; empty when none.',
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_conditional_access_policies"),
        comment="Conditional access policies (Microsoft Graph /identity/conditionalAccess/policies).",
    )
    op.create_table(
        "applications",
        _tenant_id(),
        sa.Column("id", _GUID, nullable=False, comment="Object id of the app registration."),
        sa.Column("app_id", _GUID, nullable=True, comment="Application (client) id."),
        sa.Column("display_name", sa.String(), nullable=True, comment="Name of the application."),
        sa.Column("created_at", _TIMESTAMP, nullable=True, comment="When the app was registered (UTC)."),
        sa.Column("publisher_domain", sa.String(), nullable=True, comment="Verified publisher domain."),
        sa.Column("sign_in_audience", sa.String(), nullable=True, comment="AzureADMyOrg, AzureADMultipleOrgs, ..."),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_applications"),
        comment="App registrations of the tenant (Microsoft Graph /applications).",
    )
    op.create_table(
        "service_principals",
        _tenant_id(),
        sa.Column("id", _GUID, nullable=False, comment="Object id of the service principal."),
        sa.Column("app_id", _GUID, nullable=True, comment="Application (client) id it represents."),
        sa.Column("display_name", sa.String(), nullable=True, comment="Name of the service principal."),
        sa.Column("app_display_name", sa.String(), nullable=True, comment="Name of the application."),
        sa.Column("account_enabled", sa.Boolean(), nullable=True, comment="Whether it can sign in."),
        sa.Column(
            "service_principal_type", sa.String(), nullable=True, comment="Application, ManagedIdentity, Legacy, ..."
        ),
        sa.Column("app_owner_organization_id", _GUID, nullable=True, comment="Tenant that registered the application."),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_service_principals"),
        comment="Service principals (enterprise applications) of the tenant (Microsoft Graph /servicePrincipals).",
    )
    op.create_table(
        "application_credentials",
        _tenant_id(),
        sa.Column("owner_id", _GUID, nullable=False, comment="Object id of the application."),
        sa.Column("key_id", _GUID, nullable=False, comment="Id of the credential."),
        sa.Column(
            "kind", sa.String(), nullable=False, comment="secret (passwordCredentials) or certificate (keyCredentials)."
        ),
        sa.Column("display_name", sa.String(), nullable=True, comment="Name given to the credential."),
        sa.Column("start_at", _TIMESTAMP, nullable=True, comment="When the credential became valid (UTC)."),
        sa.Column("end_at", _TIMESTAMP, nullable=True, comment="When the credential expires (UTC)."),
        sa.PrimaryKeyConstraint("tenant_id", "owner_id", "key_id", name="pk_application_credentials"),
        comment="Secrets and certificates of app registrations, with their expiry: one row per credential.",
    )
    op.create_table(
        "service_principal_credentials",
        _tenant_id(),
        sa.Column("owner_id", _GUID, nullable=False, comment="Object id of the service principal."),
        sa.Column("key_id", _GUID, nullable=False, comment="Id of the credential."),
        sa.Column(
            "kind", sa.String(), nullable=False, comment="secret (passwordCredentials) or certificate (keyCredentials)."
        ),
        sa.Column("display_name", sa.String(), nullable=True, comment="Name given to the credential."),
        sa.Column("start_at", _TIMESTAMP, nullable=True, comment="When the credential became valid (UTC)."),
        sa.Column("end_at", _TIMESTAMP, nullable=True, comment="When the credential expires (UTC)."),
        sa.PrimaryKeyConstraint("tenant_id", "owner_id", "key_id", name="pk_service_principal_credentials"),
        comment="Secrets and certificates of service principals, with their expiry: one row per credential.",
    )
    op.create_table(
        "role_member_history",
        _tenant_id(),
        sa.Column("role_definition_id", _GUID, nullable=False, comment="Role definition (template) id."),
        sa.Column("principal_id", _GUID, nullable=False, comment="Object id of the holder."),
        sa.Column(
            "valid_from", _TIMESTAMP, nullable=False, comment="Since when the role assignment held (UTC), inclusive."
        ),
        sa.Column(
            "source",
            sa.String(),
            nullable=False,
            comment=(
                "Who recorded the interval: graph (publications and delta sync) or legacy:<report> (older reports)."
            ),
        ),
        sa.Column(
            "valid_to",
            _TIMESTAMP,
            nullable=True,
            comment="Until when the role assignment held (UTC), exclusive; null while it still holds.",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "role_definition_id", "principal_id", "valid_from", "source", name="pk_role_member_history"
        ),
        comment="History of directory role assignments: who held which role when.",
    )

    _relations()


def _relations() -> None:
    op.create_table(
        "group_transitive_members",
        _tenant_id(),
        sa.Column("group_id", _GUID, nullable=False, comment="Object id of the group (groups.id)."),
        sa.Column("member_id", _GUID, nullable=False, comment="Object id of a direct or nested member."),
        sa.Column(
            "member_type", sa.String(), nullable=True, comment="Graph type of the member, e.g. #microsoft.graph.user."
        ),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", "member_id", name="pk_group_transitive_members"),
        comment="Members of groups including those of nested groups (/groups/{id}/transitiveMembers).",
    )
    op.create_table(
        "group_owners",
        _tenant_id(),
        sa.Column("group_id", _GUID, nullable=False, comment="Object id of the group (groups.id)."),
        sa.Column("owner_id", _GUID, nullable=False, comment="Object id of the owner: a user or a service principal."),
        sa.Column(
            "owner_type", sa.String(), nullable=True, comment="Graph type of the owner, e.g. #microsoft.graph.user."
        ),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", "owner_id", name="pk_group_owners"),
        comment="Owners of groups (/groups/{id}/owners).",
    )


def downgrade() -> None:
    op.drop_table("group_owners")
    op.drop_table("group_transitive_members")
    op.drop_table("role_member_history")
    op.drop_table("service_principal_credentials")
    op.drop_table("application_credentials")
    op.drop_table("service_principals")
    op.drop_table("applications")
    op.drop_table("conditional_access_policies")
    op.drop_table("user_registration_details")
    op.drop_index("ix_role_assignments_tenant_id_role_definition_id", table_name="role_assignments")
    op.drop_table("role_assignments")
    op.drop_table("directory_roles")
    op.drop_table("sku_service_plans")
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
        batch.drop_column("manager_id")
