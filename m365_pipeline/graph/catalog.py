"""The catalog of Graph collections we extract: path, `$select`, and the Arrow schema of the raw extract.

A raw extract keeps Graph's property names (camelCase) and values as Graph sent them (timestamps stay strings,
so nothing is lost before normalization); nested objects are Arrow structs, arrays are Arrow lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class GraphEntity:
    name: str
    path: str
    select: tuple[str, ...]
    schema: pa.Schema
    paged: bool = True  # False: the endpoint ignores $top (subscribedSkus)
    resource_unit_cost: int = 1  # throttling-limits.md, before the $select discount
    permission: str = "Directory.Read.All"
    # Properties of `select` that Graph serves only to a tenant with a Microsoft Entra ID P1/P2 licence and an app
    # with `optional_permission`; without them it refuses the whole request, so they may be left out.
    optional_select: tuple[str, ...] = ()
    optional_permission: str | None = None

    def __post_init__(self) -> None:
        if not set(self.optional_select) <= set(self.select):
            raise ValueError(f"{self.name}: optional_select {self.optional_select} must be part of select")

    @property
    def params(self) -> dict[str, str]:
        return {"$select": ",".join(self.select)}

    @property
    def params_without_optional(self) -> dict[str, str]:
        """The query without ``optional_select``: for a tenant or app that may not read those properties."""
        return {"$select": ",".join(name for name in self.select if name not in self.optional_select)}


_string_list = pa.list_(pa.string())

USERS = GraphEntity(
    name="users",
    path="/users",
    select=(
        "id",
        "userPrincipalName",
        "displayName",
        "givenName",
        "surname",
        "mail",
        "jobTitle",
        "department",
        "officeLocation",
        "usageLocation",
        "preferredLanguage",
        "accountEnabled",
        "userType",
        "createdDateTime",
        "onPremisesSyncEnabled",
        "businessPhones",
        "mobilePhone",
        "assignedLicenses",
        "signInActivity",
    ),
    schema=pa.schema(
        [
            ("id", pa.string()),
            ("userPrincipalName", pa.string()),
            ("displayName", pa.string()),
            ("givenName", pa.string()),
            ("surname", pa.string()),
            ("mail", pa.string()),
            ("jobTitle", pa.string()),
            ("department", pa.string()),
            ("officeLocation", pa.string()),
            ("usageLocation", pa.string()),
            ("preferredLanguage", pa.string()),
            ("accountEnabled", pa.bool_()),
            ("userType", pa.string()),
            ("createdDateTime", pa.string()),
            ("onPremisesSyncEnabled", pa.bool_()),
            ("businessPhones", _string_list),
            ("mobilePhone", pa.string()),
            (
                "assignedLicenses",
                pa.list_(pa.struct([("skuId", pa.string()), ("disabledPlans", _string_list)])),
            ),
            (
                "signInActivity",
                pa.struct(
                    [
                        ("lastSignInDateTime", pa.string()),
                        ("lastSignInRequestId", pa.string()),
                        ("lastNonInteractiveSignInDateTime", pa.string()),
                        ("lastNonInteractiveSignInRequestId", pa.string()),
                        ("lastSuccessfulSignInDateTime", pa.string()),
                        ("lastSuccessfulSignInRequestId", pa.string()),
                    ]
                ),
            ),
        ]
    ),
    resource_unit_cost=2,
    permission="User.Read.All",
    optional_select=("signInActivity",),
    optional_permission="AuditLog.Read.All",
)

SUBSCRIBED_SKUS = GraphEntity(
    name="subscribed_skus",
    path="/subscribedSkus",
    select=(
        "id",
        "skuId",
        "skuPartNumber",
        "accountName",
        "accountId",
        "appliesTo",
        "capabilityStatus",
        "consumedUnits",
        "prepaidUnits",
        "servicePlans",
        "subscriptionIds",
    ),
    schema=pa.schema(
        [
            ("id", pa.string()),
            ("skuId", pa.string()),
            ("skuPartNumber", pa.string()),
            ("accountName", pa.string()),
            ("accountId", pa.string()),
            ("appliesTo", pa.string()),
            ("capabilityStatus", pa.string()),
            ("consumedUnits", pa.int64()),
            (
                "prepaidUnits",
                pa.struct(
                    [
                        ("enabled", pa.int64()),
                        ("lockedOut", pa.int64()),
                        ("suspended", pa.int64()),
                        ("warning", pa.int64()),
                    ]
                ),
            ),
            (
                "servicePlans",
                pa.list_(
                    pa.struct(
                        [
                            ("servicePlanId", pa.string()),
                            ("servicePlanName", pa.string()),
                            ("provisioningStatus", pa.string()),
                            ("appliesTo", pa.string()),
                        ]
                    )
                ),
            ),
            ("subscriptionIds", _string_list),
        ]
    ),
    paged=False,
    resource_unit_cost=3,
    permission="Organization.Read.All",
)

GROUPS = GraphEntity(
    name="groups",
    path="/groups",
    select=(
        "id",
        "displayName",
        "description",
        "mail",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
        "groupTypes",
        "visibility",
        "createdDateTime",
        "membershipRule",
        "onPremisesSyncEnabled",
    ),
    schema=pa.schema(
        [
            ("id", pa.string()),
            ("displayName", pa.string()),
            ("description", pa.string()),
            ("mail", pa.string()),
            ("mailEnabled", pa.bool_()),
            ("mailNickname", pa.string()),
            ("securityEnabled", pa.bool_()),
            ("groupTypes", _string_list),
            ("visibility", pa.string()),
            ("createdDateTime", pa.string()),
            ("membershipRule", pa.string()),
            ("onPremisesSyncEnabled", pa.bool_()),
        ]
    ),
    permission="Group.Read.All",
)

ORGANIZATION = GraphEntity(
    name="organization",
    path="/organization",
    select=("id", "displayName", "verifiedDomains"),
    schema=pa.schema(
        [
            ("id", pa.string()),
            ("displayName", pa.string()),
            (
                "verifiedDomains",
                pa.list_(pa.struct([("name", pa.string()), ("isDefault", pa.bool_()), ("isInitial", pa.bool_())])),
            ),
        ]
    ),
    paged=False,
    permission="Organization.Read.All",
)

ENTITIES: dict[str, GraphEntity] = {entity.name: entity for entity in (ORGANIZATION, USERS, SUBSCRIBED_SKUS, GROUPS)}
