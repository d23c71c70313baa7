"""A deterministic synthetic Microsoft 365 tenant: users, license products (subscribedSkus), groups with their
members and owners, managers, directory roles, app registrations and service principals, conditional access
policies (users' authentication methods are derived on request: ``auth_methods``).

Everything comes from one ``random.Random(seed)`` drawn in a fixed order, so the same (seed, size) always gives
the same tenant, byte for byte; times are measured back from ``REFERENCE_TIME``, never from the wall clock.
The objects are Graph's JSON as it arrives (camelCase keys, timestamps as strings, nulls as None), with the
traps of real tenants: Japanese and English names, guests with ``#EXT#`` principal names, timestamps with seven
fractional digits or none, the ``0001-01-01T00:00:00Z`` "never" sentinel, users without licenses.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from m365_pipeline.emulator.applications import generate_applications, generate_policies
from m365_pipeline.emulator.names import (
    COMPANIES,
    ENGLISH_DEPARTMENTS,
    ENGLISH_GIVEN_NAMES,
    ENGLISH_JOB_TITLES,
    ENGLISH_SURNAMES,
    GROUP_PURPOSES_EN,
    GROUP_PURPOSES_JA,
    GUEST_DOMAINS,
    JAPAN,
    JAPANESE_DEPARTMENTS,
    JAPANESE_GIVEN_NAMES,
    JAPANESE_JOB_TITLES,
    JAPANESE_SURNAMES,
    OVERSEAS,
    SECURITY_GROUP_PURPOSES,
    Company,
    Country,
    Department,
)
from m365_pipeline.emulator.relations import GLOBAL_ADMINISTRATOR, Relations, generate_relations
from m365_pipeline.emulator.skus import SKUS, Sku
from m365_pipeline.gc_pause import collector_paused

REFERENCE_TIME = calendar.timegm((2025, 6, 30, 0, 0, 0))  # the "now" of every synthetic tenant
NEVER = "0001-01-01T00:00:00Z"  # Graph's sentinel for a sign-in that never happened
MIN_GROUPS = 8
MIN_APPLICATIONS = 6
GUEST_SHARE = 0.03
JAPANESE_SHARE = 0.5

STRING = "Edm.String"
BOOLEAN = "Edm.Boolean"
DATETIME = "Edm.DateTimeOffset"
GUID = "Edm.Guid"
INT32 = "Edm.Int32"

# Property name -> OData type, in the order Graph writes them; every generated object has exactly these keys.
USER_PROPERTIES: dict[str, str] = {
    "id": STRING,
    "businessPhones": "Collection(Edm.String)",
    "displayName": STRING,
    "givenName": STRING,
    "jobTitle": STRING,
    "mail": STRING,
    "mobilePhone": STRING,
    "officeLocation": STRING,
    "preferredLanguage": STRING,
    "surname": STRING,
    "userPrincipalName": STRING,
    "accountEnabled": BOOLEAN,
    "assignedLicenses": "Collection(microsoft.graph.assignedLicense)",
    "companyName": STRING,
    "createdDateTime": DATETIME,
    "department": STRING,
    "employeeId": STRING,
    "mailNickname": STRING,
    "onPremisesSyncEnabled": BOOLEAN,
    "signInActivity": "microsoft.graph.signInActivity",
    "usageLocation": STRING,
    "userType": STRING,
}
USER_DEFAULT_PROPERTIES: tuple[str, ...] = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)

GROUP_PROPERTIES: dict[str, str] = {
    "id": STRING,
    "deletedDateTime": DATETIME,
    "classification": STRING,
    "createdDateTime": DATETIME,
    "creationOptions": "Collection(Edm.String)",
    "description": STRING,
    "displayName": STRING,
    "expirationDateTime": DATETIME,
    "groupTypes": "Collection(Edm.String)",
    "isAssignableToRole": BOOLEAN,
    "mail": STRING,
    "mailEnabled": BOOLEAN,
    "mailNickname": STRING,
    "membershipRule": STRING,
    "membershipRuleProcessingState": STRING,
    "onPremisesSyncEnabled": BOOLEAN,
    "preferredDataLocation": STRING,
    "preferredLanguage": STRING,
    "proxyAddresses": "Collection(Edm.String)",
    "renewedDateTime": DATETIME,
    "resourceBehaviorOptions": "Collection(Edm.String)",
    "resourceProvisioningOptions": "Collection(Edm.String)",
    "securityEnabled": BOOLEAN,
    "securityIdentifier": STRING,
    "theme": STRING,
    "visibility": STRING,
}

SUBSCRIBED_SKU_PROPERTIES: dict[str, str] = {
    "accountName": STRING,
    "accountId": STRING,
    "appliesTo": STRING,
    "capabilityStatus": STRING,
    "consumedUnits": INT32,
    "id": STRING,
    "skuId": GUID,
    "skuPartNumber": STRING,
    "subscriptionIds": "Collection(Edm.String)",
    "prepaidUnits": "microsoft.graph.licenseUnitsDetail",
    "servicePlans": "Collection(microsoft.graph.servicePlanInfo)",
}

ORGANIZATION_PROPERTIES: dict[str, str] = {
    "id": STRING,
    "deletedDateTime": DATETIME,
    "businessPhones": "Collection(Edm.String)",
    "city": STRING,
    "country": STRING,
    "countryLetterCode": STRING,
    "createdDateTime": DATETIME,
    "defaultUsageLocation": STRING,
    "displayName": STRING,
    "marketingNotificationEmails": "Collection(Edm.String)",
    "onPremisesLastSyncDateTime": DATETIME,
    "onPremisesSyncEnabled": BOOLEAN,
    "postalCode": STRING,
    "preferredLanguage": STRING,
    "state": STRING,
    "street": STRING,
    "technicalNotificationMails": "Collection(Edm.String)",
    "tenantType": STRING,
    "verifiedDomains": "Collection(microsoft.graph.verifiedDomain)",
}

_CREDENTIALS = "Collection(microsoft.graph.passwordCredential)"
APPLICATION_PROPERTIES: dict[str, str] = {
    "id": STRING,
    "deletedDateTime": DATETIME,
    "appId": STRING,
    "createdDateTime": DATETIME,
    "displayName": STRING,
    "publisherDomain": STRING,
    "signInAudience": STRING,
    "keyCredentials": "Collection(microsoft.graph.keyCredential)",
    "passwordCredentials": _CREDENTIALS,
}
SERVICE_PRINCIPAL_PROPERTIES: dict[str, str] = {
    "id": STRING,
    "deletedDateTime": DATETIME,
    "accountEnabled": BOOLEAN,
    "appDisplayName": STRING,
    "appId": STRING,
    "appOwnerOrganizationId": GUID,
    "displayName": STRING,
    "servicePrincipalType": STRING,
    "signInAudience": STRING,
    "keyCredentials": "Collection(microsoft.graph.keyCredential)",
    "passwordCredentials": _CREDENTIALS,
}
DIRECTORY_ROLE_PROPERTIES: dict[str, str] = {
    "id": STRING,
    "deletedDateTime": DATETIME,
    "description": STRING,
    "displayName": STRING,
    "roleTemplateId": STRING,
}
ROLE_ASSIGNMENT_PROPERTIES: dict[str, str] = {
    "id": STRING,
    "principalId": STRING,
    "roleDefinitionId": STRING,
    "directoryScopeId": STRING,
    "appScopeId": STRING,
}
USER_REGISTRATION_DETAILS_PROPERTIES: dict[str, str] = {
    "id": STRING,
    "userPrincipalName": STRING,
    "userDisplayName": STRING,
    "userType": "microsoft.graph.signInUserType",
    "isAdmin": BOOLEAN,
    "isMfaRegistered": BOOLEAN,
    "isMfaCapable": BOOLEAN,
    "isSsprRegistered": BOOLEAN,
    "isSsprEnabled": BOOLEAN,
    "isSsprCapable": BOOLEAN,
    "isPasswordlessCapable": BOOLEAN,
    "isSystemPreferredAuthenticationMethodEnabled": BOOLEAN,
    "systemPreferredAuthenticationMethods": "Collection(Edm.String)",
    "userPreferredMethodForSecondaryAuthentication": "microsoft.graph.userDefaultAuthenticationMethodType",
    "methodsRegistered": "Collection(Edm.String)",
    "lastUpdatedDateTime": DATETIME,
}
CONDITIONAL_ACCESS_POLICY_PROPERTIES: dict[str, str] = {
    "id": STRING,
    "templateId": STRING,
    "displayName": STRING,
    "createdDateTime": DATETIME,
    "modifiedDateTime": DATETIME,
    "state": "microsoft.graph.conditionalAccessPolicyState",
    "conditions": "microsoft.graph.conditionalAccessConditionSet",
    "grantControls": "microsoft.graph.conditionalAccessGrantControls",
    "sessionControls": "microsoft.graph.conditionalAccessSessionControls",
}

NO_RELATIONS = Relations({}, {}, {}, [], {})


@dataclass(frozen=True)
class SyntheticTenant:
    tenant_id: str
    display_name: str
    default_domain: str
    users: list[dict[str, Any]]
    skus: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    relations: Relations = NO_RELATIONS
    applications: list[dict[str, Any]] = field(default_factory=list)
    service_principals: list[dict[str, Any]] = field(default_factory=list)
    conditional_access_policies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def organization(self) -> dict[str, Any]:
        """The tenant's ``organization`` object, derived from its id, name and domain."""
        created = REFERENCE_TIME - 86400 * (2000 + int(self.tenant_id[:4], 16) % 1500)
        return {
            "id": self.tenant_id,
            "deletedDateTime": None,
            "businessPhones": ["+81 3-6000-0000"],
            "city": "千代田区",
            "country": None,
            "countryLetterCode": "JP",
            "createdDateTime": _timestamp(created) + "Z",
            "defaultUsageLocation": "JP",
            "displayName": self.display_name,
            "marketingNotificationEmails": [],
            "onPremisesLastSyncDateTime": _timestamp(REFERENCE_TIME - 1260) + "Z",
            "onPremisesSyncEnabled": True,
            "postalCode": "100-0005",
            "preferredLanguage": "ja",
            "state": "東京都",
            "street": "丸の内1-1-1",
            "technicalNotificationMails": [f"admin@{self.default_domain}"],
            "tenantType": "AAD",
            "verifiedDomains": [
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": True,
                    "isInitial": True,
                    "name": self.default_domain,
                    "type": "Managed",
                }
            ],
        }


def tenant_id_for_seed(seed: int) -> str:
    """The id of every tenant generated from ``seed``, whatever its size: a client of a served emulator
    signs in to it without generating the tenant."""
    return _draw_identity(random.Random(seed))[1]


def _draw_identity(rng: random.Random) -> tuple[Company, str]:
    """The company and tenant id: the first draws of a tenant's seed, before anything that depends on its size."""
    return COMPANIES[rng.randrange(len(COMPANIES))], guid(rng.getrandbits(128))


def generate_tenant(seed: int, size: int) -> SyntheticTenant:
    """The tenant of ``size`` users for ``seed``; the same arguments always give an identical tenant."""
    if size < 0:
        raise ValueError(f"a synthetic tenant needs a user count of 0 or more, got {size}")
    rng = random.Random(seed)
    company, tenant_id = _draw_identity(rng)
    domain = f"{company.slug}-{seed}.onmicrosoft.com"
    with collector_paused():
        users, holders = _UserFactory(rng, domain, company).users(size)
        skus = _subscribed_skus(rng, tenant_id, company, holders)
        groups = _groups(rng, max(MIN_GROUPS, size // 20), domain)
        # the later parts draw from a generator of their own: adding them changed nothing drawn above
        linked = random.Random(f"relations|{seed}")

        def new_id() -> str:
            return guid(linked.getrandbits(128))

        applications, principals = generate_applications(
            linked, max(MIN_APPLICATIONS, size // 400), tenant_id, REFERENCE_TIME, new_id
        )
        return SyntheticTenant(
            tenant_id=tenant_id,
            display_name=company.display_name,
            default_domain=domain,
            users=users,
            skus=skus,
            groups=groups,
            relations=generate_relations(linked, users, groups, new_id),
            applications=applications,
            service_principals=principals,
            conditional_access_policies=generate_policies(linked, REFERENCE_TIME, GLOBAL_ADMINISTRATOR, new_id),
        )


T = TypeVar("T")

_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def guid(bits: int) -> str:
    """A version-4 GUID made from 128 random bits (from the tenant's generator, never uuid4)."""
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:]}"


def _timestamp(epoch_seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` in UTC, without the zone letter (callers add a fraction and/or ``Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_seconds))


def _ascii_local_part(name: str) -> str:
    folded = name.lower()
    for accented, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("ë", "e"), ("é", "e")):
        folded = folded.replace(accented, plain)
    return "".join(ch for ch in folded if "a" <= ch <= "z")


class _Weighted(Generic[T]):
    """Weighted choice with one ``random()`` draw (``random.choices`` is slower per single pick)."""

    def __init__(self, items: Sequence[tuple[T, int]]) -> None:
        self._items = [item for item, _ in items]
        self._cumulative = list(itertools.accumulate(weight for _, weight in items))
        self._total = self._cumulative[-1]

    def pick(self, random_float: Callable[[], float]) -> T:
        return self._items[bisect.bisect_right(self._cumulative, random_float() * self._total)]


class _UserFactory:
    """Makes the users one by one; also counts who holds which product, for ``consumedUnits``."""

    def __init__(self, rng: random.Random, domain: str, company: Company) -> None:
        self._rng = rng
        self._random = rng.random
        self._domain = domain
        self._company = company
        self._local_parts: Counter[str] = Counter()
        self._overseas = _Weighted(OVERSEAS)
        self._suites = _Weighted([(sku, sku.weight) for sku in SKUS if sku.role == "suite"])
        self._addons = _Weighted([(sku, sku.weight) for sku in SKUS if sku.role == "addon"])
        self._ascii = {name: _ascii_local_part(name) for name in ENGLISH_GIVEN_NAMES + ENGLISH_SURNAMES}
        self._user_plans = {
            sku.sku_id: [plan.plan_id for plan in sku.plans if plan.applies_to == "User"] for sku in SKUS
        }
        self.holders: Counter[str] = Counter()

    def users(self, size: int) -> tuple[list[dict[str, Any]], Counter[str]]:
        return [self._user(index) for index in range(size)], self.holders

    def _pick(self, items: Sequence[T]) -> T:
        return items[int(self._random() * len(items))]

    def _unique(self, local_part: str, domain: str) -> str:
        """``local_part``, numbered from the second person of that name in ``domain`` on (taro.yamada2)."""
        key = f"{local_part}@{domain}"
        self._local_parts[key] += 1
        count = self._local_parts[key]
        return local_part if count == 1 else f"{local_part}{count}"

    def _user(self, index: int) -> dict[str, Any]:
        random_float = self._random
        user_id = guid(self._rng.getrandbits(128))
        guest = random_float() < GUEST_SHARE
        japanese = random_float() < JAPANESE_SHARE
        if japanese:
            family, given = self._pick(JAPANESE_SURNAMES), self._pick(JAPANESE_GIVEN_NAMES)
            surname, given_name = family.kanji, given.kanji
            display_name = f"{family.kanji} {given.kanji}"
            local_part = f"{given.romaji}.{family.romaji}"
            country = JAPAN if random_float() < 0.97 else self._overseas.pick(random_float)
        else:
            given_name, surname = self._pick(ENGLISH_GIVEN_NAMES), self._pick(ENGLISH_SURNAMES)
            display_name = f"{given_name} {surname}"
            local_part = f"{self._ascii[given_name]}.{self._ascii[surname]}"
            country = self._overseas.pick(random_float)
        created = self._created()
        if guest:
            return self._guest(user_id, display_name, given_name, surname, local_part, created)
        return self._member(index, user_id, display_name, given_name, surname, local_part, created, japanese, country)

    def _created(self) -> str:
        seconds = REFERENCE_TIME - 86400 * 30 - int(self._random() * 86400 * 3300)
        if self._random() < 0.35:
            return f"{_timestamp(seconds)}.{int(self._random() * 10_000_000):07d}Z"
        return _timestamp(seconds) + "Z"

    def _guest(
        self, user_id: str, display_name: str, given_name: str, surname: str, local_part: str, created: str
    ) -> dict[str, Any]:
        guest_domain = self._pick(GUEST_DOMAINS)
        local_part = self._unique(local_part, guest_domain)
        named = self._random() < 0.5
        enabled = self._random() < 0.97
        return {
            "id": user_id,
            "businessPhones": [],
            "displayName": display_name,
            "givenName": given_name if named else None,
            "jobTitle": None,
            "mail": f"{local_part}@{guest_domain}",
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": None,
            "surname": surname if named else None,
            "userPrincipalName": f"{local_part}_{guest_domain}#EXT#@{self._domain}",
            "accountEnabled": enabled,
            "assignedLicenses": [],
            "companyName": None,
            "createdDateTime": created,
            "department": None,
            "employeeId": None,
            "mailNickname": f"{local_part}_{guest_domain}#EXT#",
            "onPremisesSyncEnabled": None,
            "signInActivity": self._sign_in_activity(never_share=0.35 if enabled else 0.6),
            "usageLocation": None,
            "userType": "Guest",
        }

    def _member(
        self,
        index: int,
        user_id: str,
        display_name: str,
        given_name: str,
        surname: str,
        local_part: str,
        created: str,
        japanese: bool,
        country: Country,
    ) -> dict[str, Any]:
        random_float = self._random
        local_part = self._unique(local_part, self._domain)
        upn = f"{local_part}@{self._domain}"
        department: Department | None = None
        if random_float() < 0.92:
            department = self._pick(JAPANESE_DEPARTMENTS if japanese else ENGLISH_DEPARTMENTS)
        job_title = (
            self._pick(JAPANESE_JOB_TITLES if japanese else ENGLISH_JOB_TITLES) if random_float() < 0.88 else None
        )
        licenses, has_mailbox = self._licenses()
        enabled = random_float() < 0.94
        synced = random_float() < 0.6
        return {
            "id": user_id,
            "businessPhones": [self._phone(country.business_phone)] if random_float() < 0.75 else [],
            "displayName": display_name,
            "givenName": given_name,
            "jobTitle": job_title,
            "mail": upn if has_mailbox else None,
            "mobilePhone": self._phone(country.mobile_phone) if random_float() < 0.45 else None,
            "officeLocation": self._pick(country.offices) if random_float() < 0.9 else None,
            "preferredLanguage": self._pick(country.languages) if random_float() < 0.85 else None,
            "surname": surname,
            "userPrincipalName": upn,
            "accountEnabled": enabled,
            "assignedLicenses": licenses,
            "companyName": self._company.display_name,
            "createdDateTime": created,
            "department": department.name if department else None,
            "employeeId": f"E{index + 1:06d}" if synced else None,
            "mailNickname": local_part,
            "onPremisesSyncEnabled": True if synced else None,
            "signInActivity": self._sign_in_activity(never_share=0.06 if enabled else 0.3),
            "usageLocation": country.code if licenses or random_float() < 0.5 else None,
            "userType": "Member",
        }

    def _phone(self, template: str) -> str:
        return template.format(int(self._random() * 10000), int(self._random() * 10000))

    def _licenses(self) -> tuple[list[dict[str, Any]], bool]:
        roll = self._random()
        if roll < 0.10:
            return [], False
        held = [self._suites.pick(self._random)]
        if roll > 0.80:
            held.append(self._addons.pick(self._random))
        return [self._assignment(sku) for sku in held], any(sku.has_mailbox for sku in held)

    def _assignment(self, sku: Sku) -> dict[str, Any]:
        self.holders[sku.sku_id] += 1
        disabled: list[str] = []
        plans = self._user_plans[sku.sku_id]
        if len(plans) > 1 and self._random() < 0.12:
            disabled = sorted({self._pick(plans) for _ in range(1 + int(self._random() * 2))})
        return {"disabledPlans": disabled, "skuId": sku.sku_id}

    def _sign_in_activity(self, never_share: float) -> dict[str, Any]:
        random_float = self._random
        if random_float() < never_share:
            return {
                "lastSignInDateTime": None,
                "lastSignInRequestId": None,
                "lastNonInteractiveSignInDateTime": None,
                "lastNonInteractiveSignInRequestId": None,
                "lastSuccessfulSignInDateTime": None,
                "lastSuccessfulSignInRequestId": None,
            }
        days_ago = 90 + random_float() * 630 if random_float() < 0.12 else random_float() ** 2 * 30
        last = REFERENCE_TIME - int(days_ago * 86400)
        interactive, interactive_id = self._sign_in_stamp(last), guid(self._rng.getrandbits(128))
        non_interactive: str | None = NEVER
        non_interactive_id: str | None = None
        if random_float() >= 0.08:
            non_interactive = self._sign_in_stamp(min(REFERENCE_TIME, last + int(random_float() * 259200)))
            non_interactive_id = guid(self._rng.getrandbits(128))
        successful: str | None = None
        successful_id: str | None = None
        roll = random_float()
        if roll < 0.8:
            successful, successful_id = interactive, interactive_id
        elif roll < 0.9:
            successful = self._sign_in_stamp(last - int(random_float() * 864000))
            successful_id = guid(self._rng.getrandbits(128))
        return {
            "lastSignInDateTime": interactive,
            "lastSignInRequestId": interactive_id,
            "lastNonInteractiveSignInDateTime": non_interactive,
            "lastNonInteractiveSignInRequestId": non_interactive_id,
            "lastSuccessfulSignInDateTime": successful,
            "lastSuccessfulSignInRequestId": successful_id,
        }

    def _sign_in_stamp(self, seconds: int) -> str:
        if self._random() < 0.75:
            return f"{_timestamp(seconds)}.{int(self._random() * 10_000_000):07d}Z"
        return _timestamp(seconds) + "Z"


def _subscribed_skus(
    rng: random.Random, tenant_id: str, company: Company, holders: Counter[str]
) -> list[dict[str, Any]]:
    products = []
    for sku in SKUS:
        consumed = holders[sku.sku_id]
        capability, provisioning = "Enabled", "Success"
        warning = suspended = 0
        if sku.viral:
            enabled = max(10000, -(-consumed // 10000) * 10000)
        elif sku.role == "idle":
            enabled, suspended = 0, 25
            capability, provisioning = "Suspended", "Disabled"
        else:
            headroom = max(2, int(consumed * rng.random() * 0.08))
            enabled = -(-(consumed + headroom) // 5) * 5
            if rng.random() < 0.3:
                warning = 5 + rng.randrange(20)
        subscriptions = [guid(rng.getrandbits(128))]
        if sku.role == "suite" and rng.random() < 0.3:
            subscriptions.append(guid(rng.getrandbits(128)))
        products.append(
            {
                "accountName": company.slug,
                "accountId": tenant_id,
                "appliesTo": "User",
                "capabilityStatus": capability,
                "consumedUnits": consumed,
                "id": f"{tenant_id}_{sku.sku_id}",
                "skuId": sku.sku_id,
                "skuPartNumber": sku.part_number,
                "subscriptionIds": subscriptions,
                "prepaidUnits": {"enabled": enabled, "lockedOut": 0, "suspended": suspended, "warning": warning},
                "servicePlans": [
                    {
                        "servicePlanId": plan.plan_id,
                        "servicePlanName": plan.name,
                        "provisioningStatus": provisioning,
                        "appliesTo": plan.applies_to,
                    }
                    for plan in sku.plans
                ],
            }
        )
    return products


_GROUP_KINDS: tuple[tuple[str, int], ...] = (
    ("microsoft365", 40),
    ("security", 30),
    ("mailSecurity", 10),
    ("distribution", 8),
    ("dynamic", 12),
)


def _groups(rng: random.Random, count: int, domain: str) -> list[dict[str, Any]]:
    kinds = _Weighted(_GROUP_KINDS)
    names: Counter[str] = Counter()
    groups = []
    for index in range(count):
        kind = kinds.pick(rng.random)
        japanese = rng.random() < JAPANESE_SHARE
        department = rng.choice(JAPANESE_DEPARTMENTS if japanese else ENGLISH_DEPARTMENTS)
        created_seconds = REFERENCE_TIME - 86400 * 7 - rng.randrange(86400 * 2900)
        created = _timestamp(created_seconds) + "Z"
        nickname = f"{department.slug}-{index + 1:05d}"
        group_types: list[str] = []
        mail_enabled = security_enabled = False
        rule: str | None = None
        rule_state: str | None = None
        team = False
        if kind == "microsoft365":
            purpose = rng.choice(GROUP_PURPOSES_JA if japanese else GROUP_PURPOSES_EN)
            display_name = f"{department.name} {purpose}"
            group_types, mail_enabled, team = ["Unified"], True, rng.random() < 0.7
        elif kind == "dynamic":
            display_name, rule = _dynamic_rule(rng, department, japanese)
            unified = rng.random() < 0.4
            group_types = ["Unified", "DynamicMembership"] if unified else ["DynamicMembership"]
            mail_enabled, security_enabled = unified, not unified
            rule_state = "On" if rng.random() < 0.9 else "Paused"
        else:
            purpose = rng.choice(SECURITY_GROUP_PURPOSES if kind == "security" else GROUP_PURPOSES_EN)
            prefix = {"security": "SG", "mailSecurity": "MESG", "distribution": "DL"}[kind]
            display_name = f"{prefix}-{department.slug}-{purpose}"
            mail_enabled = kind != "security"
            security_enabled = kind != "distribution"
        names[display_name] += 1
        if names[display_name] > 1:
            display_name = f"{display_name} {names[display_name]}"
        mail = f"{nickname}@{domain}" if mail_enabled else None
        unified = "Unified" in group_types
        groups.append(
            {
                "id": guid(rng.getrandbits(128)),
                "deletedDateTime": None,
                "classification": rng.choice(("社外秘", "General", None, None)) if unified else None,
                "createdDateTime": created,
                "creationOptions": ["Team", "ExchangeProvisioningFlags:3552"] if team else [],
                "description": f"{display_name} のグループ" if japanese else f"Group for {display_name}",
                "displayName": display_name,
                "expirationDateTime": None,
                "groupTypes": group_types,
                "isAssignableToRole": True if kind == "security" and rng.random() < 0.05 else None,
                "mail": mail,
                "mailEnabled": mail_enabled,
                "mailNickname": nickname,
                "membershipRule": rule,
                "membershipRuleProcessingState": rule_state,
                "onPremisesSyncEnabled": True if not unified and rng.random() < 0.4 else None,
                "preferredDataLocation": None,
                "preferredLanguage": None,
                "proxyAddresses": [f"SMTP:{mail}"] if mail else [],
                "renewedDateTime": created,
                "resourceBehaviorOptions": [],
                "resourceProvisioningOptions": ["Team"] if team else [],
                "securityEnabled": security_enabled,
                "securityIdentifier": "S-1-12-1-" + "-".join(str(rng.getrandbits(32)) for _ in range(4)),
                "theme": None,
                "visibility": rng.choice(("Public", "Private")) if unified else None,
            }
        )
    return groups


def _dynamic_rule(rng: random.Random, department: Department, japanese: bool) -> tuple[str, str]:
    """A dynamic group's display name and its membership rule."""
    roll = rng.random()
    if roll < 0.6:
        label = f"動的: {department.name}" if japanese else f"Dynamic - {department.name}"
        return label, f'(user.department -eq "{department.name}")'
    if roll < 0.8:
        code = rng.choice([JAPAN.code, *(country.code for country, _ in OVERSEAS if country is not JAPAN)])
        return f"Dynamic - {code} users", f'(user.usageLocation -eq "{code}")'
    if roll < 0.9:
        return "Dynamic - All guests", '(user.userType -eq "Guest")'
    return "Dynamic - All employees", '(user.accountEnabled -eq true) and (user.userType -eq "Member")'
