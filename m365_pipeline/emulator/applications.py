"""A synthetic tenant's app registrations (applications), their service principals (plus Microsoft's own
first-party ones), and its conditional access policies.

Credentials expire relative to ``REFERENCE_TIME``: some long expired, some within weeks, most in a year or two,
as the old tool's app-registration report expects to find them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

MICROSOFT_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"  # appOwnerOrganizationId of Microsoft's own apps
FIRST_PARTY_APPS = (
    ("00000003-0000-0000-c000-000000000000", "Microsoft Graph"),
    ("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"),
    ("00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online"),
    ("cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services"),
)
APP_PURPOSES = (
    "HR Sync",
    "Expense Portal",
    "勤怠管理",
    "Backup Connector",
    "SIEM Export",
    "社内ポータル",
    "Payroll Bridge",
    "Ticketing Integration",
    "M365 Reporting",
    "Badge System",
)
DAY = 86400


def _stamp(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def generate_applications(
    rng: random.Random, count: int, tenant_id: str, reference_time: int, new_id: Callable[[], str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``count`` app registrations and the service principals: one per registration, then Microsoft's."""
    applications, principals = [], []
    for index in range(count):
        app_id = new_id()
        name = f"{APP_PURPOSES[index % len(APP_PURPOSES)]}{'' if index < len(APP_PURPOSES) else f' {index + 1}'}"
        created = reference_time - int(rng.random() * 1500 * DAY) - 30 * DAY
        passwords = [_password(rng, created, reference_time, new_id) for _ in range(int(rng.random() * 3))]
        keys = [_key(rng, created, reference_time, new_id) for _ in range(int(rng.random() * 1.6))]
        applications.append(
            {
                "id": new_id(),
                "deletedDateTime": None,
                "appId": app_id,
                "createdDateTime": _stamp(created),
                "displayName": name,
                "publisherDomain": None,
                "signInAudience": "AzureADMyOrg" if rng.random() < 0.85 else "AzureADMultipleOrgs",
                "keyCredentials": keys,
                "passwordCredentials": passwords,
            }
        )
        principals.append(_principal(new_id(), app_id, name, tenant_id, passwords if rng.random() < 0.1 else [], keys))
    for app_id, name in FIRST_PARTY_APPS:
        principals.append(_principal(new_id(), app_id, name, MICROSOFT_TENANT_ID, [], []))
    return applications, principals


def _principal(
    principal_id: str,
    app_id: str,
    name: str,
    owner_tenant: str,
    passwords: list[dict[str, Any]],
    keys: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": principal_id,
        "deletedDateTime": None,
        "accountEnabled": True,
        "appDisplayName": name,
        "appId": app_id,
        "appOwnerOrganizationId": owner_tenant,
        "displayName": name,
        "servicePrincipalType": "Application",
        "signInAudience": "AzureADMyOrg" if owner_tenant != MICROSOFT_TENANT_ID else "AzureADMultipleOrgs",
        "keyCredentials": keys,
        "passwordCredentials": passwords,
    }


def _end(rng: random.Random, start: float, reference_time: int) -> float:
    roll = rng.random()
    if roll < 0.25:
        return reference_time - (1 + rng.random() * 400) * DAY  # expired
    if roll < 0.4:
        return reference_time + (1 + rng.random() * 30) * DAY  # expiring soon
    return max(start + DAY, reference_time + (60 + rng.random() * 700) * DAY)


def _password(rng: random.Random, created: int, reference_time: int, new_id: Callable[[], str]) -> dict[str, Any]:
    start = created + rng.random() * (reference_time - created)
    return {
        "customKeyIdentifier": None,
        "displayName": rng.choice(("prod", "CI secret", "本番", None)),
        "endDateTime": _stamp(_end(rng, start, reference_time)),
        "hint": new_id()[:3],
        "keyId": new_id(),
        "secretText": None,
        "startDateTime": _stamp(start),
    }


def _key(rng: random.Random, created: int, reference_time: int, new_id: Callable[[], str]) -> dict[str, Any]:
    start = created + rng.random() * (reference_time - created)
    return {
        "customKeyIdentifier": "".join(f"{rng.getrandbits(8):02X}" for _ in range(20)),
        "displayName": "CN=app-signing",
        "endDateTime": _stamp(_end(rng, start, reference_time)),
        "key": None,
        "keyId": new_id(),
        "startDateTime": _stamp(start),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    }


def generate_policies(
    rng: random.Random, reference_time: int, admin_role: str, new_id: Callable[[], str]
) -> list[dict[str, Any]]:
    """The tenant's conditional access policies: the usual baseline (MFA for admins, block legacy auth...)."""
    specs = (
        ("Require MFA for administrators", "enabled", {"includeRoles": [admin_role]}, ["mfa"]),
        ("Block legacy authentication", "enabled", {"includeUsers": ["All"]}, ["block"]),
        ("Require MFA for all users", "enabledForReportingButNotEnforced", {"includeUsers": ["All"]}, ["mfa"]),
        ("Require compliant device", "disabled", {"includeUsers": ["All"]}, ["compliantDevice", "mfa"]),
        ("ゲストは MFA 必須", "enabled", {"includeUsers": ["GuestsOrExternalUsers"]}, ["mfa"]),
    )  # fmt: skip
    policies = []
    for name, state, users, controls in specs:
        created = reference_time - int(rng.random() * 700 * DAY) - DAY
        modified = created + int(rng.random() * (reference_time - created))
        user_conditions: dict[str, Any] = {
            "includeUsers": [],
            "excludeUsers": [],
            "includeGroups": [],
            "excludeGroups": [],
            "includeRoles": [],
            "excludeRoles": [],
            "includeGuestsOrExternalUsers": None,
            "excludeGuestsOrExternalUsers": None,
        } | users
        policies.append(
            {
                "id": new_id(),
                "templateId": None,
                "displayName": name,
                "createdDateTime": _stamp(created),
                "modifiedDateTime": _stamp(modified) if rng.random() < 0.7 else None,
                "state": state,
                "conditions": {
                    "userRiskLevels": [],
                    "signInRiskLevels": [],
                    "clientAppTypes": ["exchangeActiveSync", "other"] if "block" in controls else ["all"],
                    "applications": {"includeApplications": ["All"], "excludeApplications": []},
                    "users": user_conditions,
                    "platforms": None,
                    "locations": None,
                },
                "grantControls": {
                    "operator": "OR",
                    "builtInControls": controls,
                    "customAuthenticationFactors": [],
                    "termsOfUse": [],
                },
                "sessionControls": None,
            }
        )
    return policies
