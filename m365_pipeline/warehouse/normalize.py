"""Raw Graph records (the entity specs' camelCase dicts, as read back from the raw Parquet) to warehouse rows.

Normalization streams: `normalize_batches` takes the records batch by batch (e.g. a Parquet file's record
batches) and yields, per batch, the warehouse rows per table and the quarantined records. Only the keys seen so
far are remembered between batches (to find repeated keys), never rows, so memory does not grow with the table.

Each record is validated by its entity's pydantic model (`m365_pipeline.entities`). A record that cannot be loaded
faithfully (no id, a bad timestamp, a non-GUID skuId, ...) is quarantined with every problem pydantic found, each
with its field path, and the rest of the batch still loads. A record whose key repeats an earlier record's is
quarantined too: the first one wins. A child row (a user's license) loads only with its parent. Nothing is
dropped silently.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from m365_pipeline.entities.applications import Application, KeyCredential, PasswordCredential, ServicePrincipal
from m365_pipeline.entities.groups import Group
from m365_pipeline.entities.relations import GroupRelation
from m365_pipeline.entities.roles import DirectoryRole, RoleAssignment
from m365_pipeline.entities.security import ConditionalAccessPolicy, UserRegistrationDetails
from m365_pipeline.entities.spec import GraphModel, Problem, problems_of
from m365_pipeline.entities.subscribed_skus import SubscribedSku
from m365_pipeline.entities.users import AssignedLicense, User
from m365_pipeline.warehouse.quarantine import QuarantinedRow

LIST_SEPARATOR = "; "
USER_REJECTED = "user record rejected, so its licenses are not loaded"

Record = dict[str, Any]


@dataclass(frozen=True)
class NormalizedBatch:
    """What one batch of records gave: rows per warehouse table (every table of the entity, maybe empty; columns
    exactly those of `warehouse.schema`), and the records quarantined, numbered from 1 across all batches."""

    rows: dict[str, list[dict[str, Any]]]
    quarantined: list[QuarantinedRow]


def normalize_batches(
    entity_name: str, batches: Iterable[Sequence[Record]], tenant_id: str, source: str
) -> Iterator[NormalizedBatch]:
    """The warehouse rows and quarantined records of ``entity_name``'s raw records, one result per batch."""
    if entity_name not in _NORMALIZERS:
        raise ValueError(f"no warehouse tables are loaded from {entity_name!r}; known: {', '.join(_NORMALIZERS)}")
    normalizer = _NORMALIZERS[entity_name](tenant_id, source)
    for records in batches:
        yield normalizer.batch(records)


class _Normalizer(ABC):
    """The state of one normalization across batches: the row count and the keys seen, with their first row."""

    tables: tuple[str, ...]

    def __init__(self, tenant_id: str, source: str) -> None:
        self.tenant_id = tenant_id
        self.source = source
        self._row_number = 0
        self._first_row_of_key: dict[str, int] = {}  # keys only (GUIDs), never rows
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._quarantined: list[QuarantinedRow] = []

    def batch(self, records: Sequence[Record]) -> NormalizedBatch:
        self._rows = {table: [] for table in self.tables}
        self._quarantined = []
        for record in records:
            self._row_number += 1
            self.record(self._row_number, record)
        return NormalizedBatch(self._rows, self._quarantined)

    @abstractmethod
    def record(self, row_number: int, record: Record) -> None:
        """Adds the rows of one record, or quarantines it."""

    def repeated_key(self, row_number: int, field: str, key: str) -> list[Problem]:
        """No problem for the first record of ``key`` (which is remembered); a problem for every later one."""
        first = self._first_row_of_key.setdefault(key, row_number)
        if first == row_number:
            return []
        return [Problem((field,), f"same {field} {key!r} as row {first}")]

    def add(self, table: str, row: dict[str, Any]) -> None:
        self._rows[table].append(row)

    def reject(self, table: str, row_number: int, record: Record, problems: Sequence[Problem]) -> None:
        self._quarantined.append(
            QuarantinedRow(
                entity=table,
                source=self.source,
                row_number=row_number,
                field=", ".join(problem.field for problem in problems),
                reason="; ".join(problem.reason for problem in problems),
                raw=record,
            )
        )


class _Users(_Normalizer):
    """Users and their licenses (``user_licenses``, from ``assignedLicenses``) in one pass.

    Only loaded users give license rows, so no license points at a user missing from ``users``: the licenses of
    a rejected user record are quarantined once, with the user's own problems. A bad license of a loaded user is
    quarantined on its own; the user's other licenses still load.
    """

    tables = ("users", "user_licenses")

    def record(self, row_number: int, record: Record) -> None:
        try:
            user = User.model_validate(record)
            licenses: list[tuple[int, AssignedLicense | list[Problem]]] = list(enumerate(user.assignedLicenses or ()))
        except ValidationError as error:
            problems = problems_of(error)
            user_problems = [problem for problem in problems if problem.location[0] != "assignedLicenses"]
            if user_problems:
                self._reject_user(row_number, record, user_problems)
                return
            # Only licenses are wrong: the user loads, the good licenses load, each bad one is quarantined.
            user = User.model_validate({**record, "assignedLicenses": None})
            licenses = _licenses_one_by_one(record["assignedLicenses"], problems)
        repeated = self.repeated_key(row_number, "id", user.id)
        if repeated:
            self._reject_user(row_number, record, repeated)
            return
        self.add("users", self._user_row(user))
        first_of_sku: dict[str, int] = {}  # a user's licenses are all in its one record: their keys are local
        for index, license_or_problems in licenses:
            if isinstance(license_or_problems, list):
                self.reject("user_licenses", row_number, record, license_or_problems)
                continue
            sku_id = license_or_problems.skuId
            first = first_of_sku.setdefault(sku_id, index)
            if first != index:
                location = ("assignedLicenses", index, "skuId")
                problem = Problem(location, f"same skuId {sku_id!r} as assignedLicenses[{first}]")
                self.reject("user_licenses", row_number, record, [problem])
                continue
            plans = license_or_problems.disabledPlans
            self.add(
                "user_licenses",
                {
                    "tenant_id": self.tenant_id,
                    "user_id": user.id,
                    "sku_id": sku_id,
                    "disabled_plans": LIST_SEPARATOR.join(sorted(plans)) if plans else "",
                },
            )

    def _reject_user(self, row_number: int, record: Record, problems: list[Problem]) -> None:
        self.reject("users", row_number, record, problems)
        if record.get("assignedLicenses") not in (None, []):
            fields = ", ".join(problem.field for problem in problems)
            details = "; ".join(f"{problem.field}: {problem.reason}" for problem in problems)
            self.reject("user_licenses", row_number, record, [Problem((fields,), f"{USER_REJECTED}: {details}")])

    def _user_row(self, user: User) -> dict[str, Any]:
        activity = user.signInActivity
        return {
            "tenant_id": self.tenant_id,
            "id": user.id,
            "user_principal_name": user.userPrincipalName,
            "display_name": user.displayName,
            "given_name": user.givenName,
            "surname": user.surname,
            "mail": user.mail,
            "job_title": user.jobTitle,
            "department": user.department,
            "office_location": user.officeLocation,
            "usage_location": user.usageLocation,
            "preferred_language": user.preferredLanguage,
            "account_enabled": user.accountEnabled,
            "user_type": user.userType,
            "created_at": user.createdDateTime,
            "on_premises_sync_enabled": user.onPremisesSyncEnabled,
            "business_phones": LIST_SEPARATOR.join(user.businessPhones) if user.businessPhones else "",
            "mobile_phone": user.mobilePhone,
            "last_sign_in_at": activity.lastSignInDateTime if activity else None,
            "last_non_interactive_sign_in_at": activity.lastNonInteractiveSignInDateTime if activity else None,
            "last_successful_sign_in_at": activity.lastSuccessfulSignInDateTime if activity else None,
            "manager_id": user.manager.id if user.manager else None,
            "deleted_at": None,  # /users lists active users only
        }


def _licenses_one_by_one(assigned: Any, problems: list[Problem]) -> list[tuple[int, AssignedLicense | list[Problem]]]:
    """Each assigned license with its index: the validated license, or the problems that reject it."""
    if not isinstance(assigned, list):  # the whole list is wrong: one problem, no license
        return [(0, [problem for problem in problems if len(problem.location) == 1])]
    by_index: dict[int, list[Problem]] = {}
    for problem in problems:
        by_index.setdefault(int(problem.location[1]), []).append(problem)
    return [
        (index, by_index[index] if index in by_index else AssignedLicense.model_validate(item))
        for index, item in enumerate(assigned)
    ]


class _Skus(_Normalizer):
    tables = ("skus", "sku_service_plans")

    def record(self, row_number: int, record: Record) -> None:
        try:
            sku = SubscribedSku.model_validate(record)
        except ValidationError as error:
            self.reject("skus", row_number, record, problems_of(error))
            return
        repeated = self.repeated_key(row_number, "skuId", sku.skuId)
        if repeated:
            self.reject("skus", row_number, record, repeated)
            return
        prepaid = sku.prepaidUnits
        self.add(
            "skus",
            {
                "tenant_id": self.tenant_id,
                "sku_id": sku.skuId,
                "sku_part_number": sku.skuPartNumber,
                "account_name": sku.accountName,
                "applies_to": sku.appliesTo,
                "capability_status": sku.capabilityStatus,
                "consumed_units": sku.consumedUnits,
                "prepaid_enabled": prepaid.enabled if prepaid else None,
                "prepaid_locked_out": prepaid.lockedOut if prepaid else None,
                "prepaid_suspended": prepaid.suspended if prepaid else None,
                "prepaid_warning": prepaid.warning if prepaid else None,
                "service_plan_names": LIST_SEPARATOR.join(plan.servicePlanName for plan in sku.servicePlans or ()),
            },
        )
        seen_plans: set[str] = set()
        for index, plan in enumerate(sku.servicePlans or ()):
            if plan.servicePlanId is None or plan.servicePlanId in seen_plans:
                reason = "missing" if plan.servicePlanId is None else f"same servicePlanId {plan.servicePlanId!r} again"
                self.reject("sku_service_plans", row_number, record, [Problem(("servicePlans", index), reason)])
                continue
            seen_plans.add(plan.servicePlanId)
            self.add(
                "sku_service_plans",
                {
                    "tenant_id": self.tenant_id,
                    "sku_id": sku.skuId,
                    "service_plan_id": plan.servicePlanId,
                    "service_plan_name": plan.servicePlanName,
                    "provisioning_status": plan.provisioningStatus,
                    "applies_to": plan.appliesTo,
                },
            )


class _Groups(_Normalizer):
    tables = ("groups",)

    def record(self, row_number: int, record: Record) -> None:
        try:
            group = Group.model_validate(record)
        except ValidationError as error:
            self.reject("groups", row_number, record, problems_of(error))
            return
        group_types = group.groupTypes or []
        kind = group_kind(group_types, group.mailEnabled, group.securityEnabled)
        if kind is None:
            fields = "groupTypes, mailEnabled, securityEnabled"
            reason = "neither a Microsoft 365 group (Unified) nor mail- or security-enabled: no known kind"
            self.reject("groups", row_number, record, [Problem((fields,), reason)])
            return
        repeated = self.repeated_key(row_number, "id", group.id)
        if repeated:
            self.reject("groups", row_number, record, repeated)
            return
        self.add(
            "groups",
            {
                "tenant_id": self.tenant_id,
                "id": group.id,
                "display_name": group.displayName,
                "description": group.description,
                "mail": group.mail,
                "mail_enabled": group.mailEnabled,
                "security_enabled": group.securityEnabled,
                "mail_nickname": group.mailNickname,
                "group_types": LIST_SEPARATOR.join(group_types),
                "kind": kind,
                "is_dynamic": "DynamicMembership" in group_types,
                "membership_rule": group.membershipRule,
                "visibility": group.visibility,
                "created_at": group.createdDateTime,
                "on_premises_sync_enabled": group.onPremisesSyncEnabled,
                "deleted_at": None,  # /groups lists active groups only
            },
        )


def group_kind(group_types: list[str], mail_enabled: bool, security_enabled: bool) -> str | None:
    """The old tool's group kind; None when the flags fit none of them."""
    if "Unified" in group_types:
        return "microsoft365"
    if security_enabled and mail_enabled:
        return "mail_enabled_security"
    if security_enabled:
        return "security"
    if mail_enabled:
        return "distribution"
    return None


class _Flat(_Normalizer):
    """An entity with one row per record, keyed by ``key`` (a field of the model), and child rows."""

    model: type[GraphModel]
    key: str

    def record(self, row_number: int, record: Record) -> None:
        table = self.tables[0]
        try:
            item = self.model.model_validate(record)
        except ValidationError as error:
            self.reject(table, row_number, record, problems_of(error))
            return
        repeated = self.repeated_key(row_number, self.key, getattr(item, self.key))
        if repeated:
            self.reject(table, row_number, record, repeated)
            return
        self.add(table, {"tenant_id": self.tenant_id, **self.row(item)})
        for child_table, rows in self.children(item).items():
            for row in rows:
                self.add(child_table, {"tenant_id": self.tenant_id, **row})

    @abstractmethod
    def row(self, item: Any) -> dict[str, Any]: ...

    def children(self, item: Any) -> dict[str, list[dict[str, Any]]]:
        return {}


class _DirectoryRoles(_Flat):
    tables = ("directory_roles",)
    model = DirectoryRole
    key = "roleTemplateId"

    def row(self, item: DirectoryRole) -> dict[str, Any]:
        return {
            "role_template_id": item.roleTemplateId,
            "role_id": item.id,
            "display_name": item.displayName,
            "description": item.description,
        }


class _RoleAssignments(_Flat):
    tables = ("role_assignments",)
    model = RoleAssignment
    key = "id"

    def row(self, item: RoleAssignment) -> dict[str, Any]:
        return {
            "id": item.id,
            "principal_id": item.principalId,
            "role_definition_id": item.roleDefinitionId,
            "directory_scope_id": item.directoryScopeId,
        }


class _RegistrationDetails(_Flat):
    tables = ("user_registration_details",)
    model = UserRegistrationDetails
    key = "id"

    def row(self, item: UserRegistrationDetails) -> dict[str, Any]:
        return {
            "user_id": item.id,
            "user_principal_name": item.userPrincipalName,
            "user_display_name": item.userDisplayName,
            "user_type": item.userType,
            "is_admin": item.isAdmin,
            "is_mfa_registered": item.isMfaRegistered,
            "is_mfa_capable": item.isMfaCapable,
            "is_sspr_registered": item.isSsprRegistered,
            "is_sspr_enabled": item.isSsprEnabled,
            "is_sspr_capable": item.isSsprCapable,
            "is_passwordless_capable": item.isPasswordlessCapable,
            "methods_registered": LIST_SEPARATOR.join(item.methodsRegistered or ()),
            "preferred_secondary_method": item.userPreferredMethodForSecondaryAuthentication,
            "last_updated_at": item.lastUpdatedDateTime,
        }


class _ConditionalAccess(_Flat):
    tables = ("conditional_access_policies",)
    model = ConditionalAccessPolicy
    key = "id"

    def row(self, item: ConditionalAccessPolicy) -> dict[str, Any]:
        grant = item.grantControls
        return {
            "id": item.id,
            "display_name": item.displayName,
            "state": item.state,
            "created_at": item.createdDateTime,
            "modified_at": item.modifiedDateTime,
            "grant_operator": grant.operator if grant else None,
            "grant_controls": LIST_SEPARATOR.join(grant.builtInControls or ()) if grant else "",
        }


def _credential_rows(owner_id: str, item: Application | ServicePrincipal) -> list[dict[str, Any]]:
    """One row per secret and certificate with a key id (the first of a repeated key id counts)."""
    rows: dict[str, dict[str, Any]] = {}
    credentials: list[tuple[str, PasswordCredential | KeyCredential]] = [
        *(("secret", credential) for credential in item.passwordCredentials or ()),
        *(("certificate", credential) for credential in item.keyCredentials or ()),
    ]
    for kind, credential in credentials:
        if credential.keyId is None:
            continue
        rows.setdefault(
            credential.keyId,
            {
                "owner_id": owner_id,
                "key_id": credential.keyId,
                "kind": kind,
                "display_name": credential.displayName,
                "start_at": credential.startDateTime,
                "end_at": credential.endDateTime,
            },
        )
    return list(rows.values())


class _Applications(_Flat):
    tables = ("applications", "application_credentials")
    model = Application
    key = "id"

    def row(self, item: Application) -> dict[str, Any]:
        return {
            "id": item.id,
            "app_id": item.appId,
            "display_name": item.displayName,
            "created_at": item.createdDateTime,
            "publisher_domain": item.publisherDomain,
            "sign_in_audience": item.signInAudience,
        }

    def children(self, item: Application) -> dict[str, list[dict[str, Any]]]:
        return {"application_credentials": _credential_rows(item.id, item)}


class _ServicePrincipals(_Flat):
    tables = ("service_principals", "service_principal_credentials")
    model = ServicePrincipal
    key = "id"

    def row(self, item: ServicePrincipal) -> dict[str, Any]:
        return {
            "id": item.id,
            "app_id": item.appId,
            "display_name": item.displayName,
            "app_display_name": item.appDisplayName,
            "account_enabled": item.accountEnabled,
            "service_principal_type": item.servicePrincipalType,
            "app_owner_organization_id": item.appOwnerOrganizationId,
        }

    def children(self, item: ServicePrincipal) -> dict[str, list[dict[str, Any]]]:
        return {"service_principal_credentials": _credential_rows(item.id, item)}


_RELATION_TABLES = {  # relation -> (table, column of the related object, column of its type)
    "members": ("group_members", "member_id", "member_type"),
    "transitiveMembers": ("group_transitive_members", "member_id", "member_type"),
    "owners": ("group_owners", "owner_id", "owner_type"),
}


class _GroupRelations(_Normalizer):
    """A group's members, transitive members and owners: one table per relation."""

    tables = ("group_members", "group_transitive_members", "group_owners")

    def record(self, row_number: int, record: Record) -> None:
        target = _RELATION_TABLES.get(str(record.get("relation")), ("group_members", "", ""))
        try:
            relation = GroupRelation.model_validate(record)
        except ValidationError as error:
            self.reject(target[0], row_number, record, problems_of(error))
            return
        if relation.relation not in _RELATION_TABLES:
            self.reject(
                target[0], row_number, record, [Problem(("relation",), f"unknown relation {relation.relation!r}")]
            )
            return
        table, key, kind = _RELATION_TABLES[relation.relation]
        # Graph may list a nested member twice (through two groups): the same fact, kept once
        if self.repeated_key(row_number, "id", f"{table}|{relation.groupId}|{relation.id}"):
            return
        self.add(
            table,
            {"tenant_id": self.tenant_id, "group_id": relation.groupId, key: relation.id, kind: relation.odataType},
        )


_NORMALIZERS: dict[str, type[_Normalizer]] = {
    "users": _Users,
    "subscribed_skus": _Skus,
    "groups": _Groups,
    "directory_roles": _DirectoryRoles,
    "role_assignments": _RoleAssignments,
    "user_registration_details": _RegistrationDetails,
    "conditional_access_policies": _ConditionalAccess,
    "applications": _Applications,
    "service_principals": _ServicePrincipals,
    "group_relations": _GroupRelations,
}

ENTITY_TABLES: dict[str, tuple[str, ...]] = {entity: normalizer.tables for entity, normalizer in _NORMALIZERS.items()}
"""The warehouse tables each entity's records are normalized into (one pass over the records fills them all)."""
