"""Each user's registered authentication methods and their registration details
(``reports/authenticationMethods/userRegistrationDetails``), derived from the user's id when asked.

Nothing is stored: the methods follow from a hash of the user id, so a 100,000-user tenant costs nothing until a
client asks, and a user added by a change gets methods like any other. The details carry the user's current
principal name, display name and type (``member``/``guest`` lower-case, as this report writes it).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection
from typing import Any

PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"  # the same in every tenant, per Graph's docs
DAY = 86400

# (the report's methodsRegistered name, the method's @odata.type); the first bits of the hash pick them
_METHODS = (
    ("microsoftAuthenticatorPush", "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"),
    ("mobilePhone", "#microsoft.graph.phoneAuthenticationMethod"),
    ("email", "#microsoft.graph.emailAuthenticationMethod"),
    ("fido2", "#microsoft.graph.fido2AuthenticationMethod"),
    ("softwareOneTimePasscode", "#microsoft.graph.softwareOathAuthenticationMethod"),
    ("windowsHelloForBusiness", "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod"),
)
_SHARES = (0.7, 0.45, 0.3, 0.06, 0.08, 0.15)
_STRONG = frozenset({"microsoftAuthenticatorPush", "mobilePhone", "fido2", "softwareOneTimePasscode"})
_PASSWORDLESS = frozenset({"fido2", "windowsHelloForBusiness"})


def _digest(user_id: str) -> bytes:
    return hashlib.sha256(f"auth-methods|{user_id}".encode()).digest()


def _fraction(digest: bytes, index: int) -> float:
    return int.from_bytes(digest[2 * index : 2 * index + 2], "big") / 65536


def registered_methods(user: dict[str, Any]) -> list[str]:
    digest = _digest(user["id"])
    guest = user.get("userType") == "Guest"
    return [
        name
        for index, ((name, _), share) in enumerate(zip(_METHODS, _SHARES, strict=True))
        if _fraction(digest, index) < (share / 3 if guest else share)
    ]


def registration_details(user: dict[str, Any], admins: Collection[str], reference_time: int) -> dict[str, Any]:
    """The user's ``userRegistrationDetails`` object."""
    digest = _digest(user["id"])
    methods = registered_methods(user)
    strong = [name for name in methods if name in _STRONG]
    updated = reference_time - int(_fractions_tail(digest) * 400 * DAY)
    preferred = strong[0] if strong else None
    system_preferred = ["push"] if "microsoftAuthenticatorPush" in methods else (["sms"] if strong else [])
    sspr_enabled = user.get("userType") != "Guest"
    return {
        "id": user["id"],
        "userPrincipalName": user["userPrincipalName"],
        "userDisplayName": user["displayName"],
        "userType": (user.get("userType") or "Member").lower(),
        "isAdmin": user["id"] in admins,
        "isMfaRegistered": bool(strong),
        "isMfaCapable": bool(strong) and user.get("accountEnabled") is not False,
        "isSsprRegistered": bool(methods) and sspr_enabled,
        "isSsprEnabled": sspr_enabled,
        "isSsprCapable": bool(methods) and sspr_enabled,
        "isPasswordlessCapable": any(name in _PASSWORDLESS for name in methods),
        "isSystemPreferredAuthenticationMethodEnabled": True,
        "systemPreferredAuthenticationMethods": system_preferred,
        "userPreferredMethodForSecondaryAuthentication": {
            "microsoftAuthenticatorPush": "push",
            "mobilePhone": "sms",
            "fido2": "none",
            "softwareOneTimePasscode": "oath",
        }.get(preferred or "", "none"),
        "methodsRegistered": methods,
        "lastUpdatedDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(updated)),
    }


def _fractions_tail(digest: bytes) -> float:
    return int.from_bytes(digest[-2:], "big") / 65536


def authentication_methods(user: dict[str, Any], reference_time: int) -> list[dict[str, Any]]:
    """The user's ``/users/{id}/authentication/methods``: the password, then each registered method."""
    digest = _digest(user["id"])
    created = user.get("createdDateTime")
    methods: list[dict[str, Any]] = [
        {
            "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
            "id": PASSWORD_METHOD_ID,
            "password": None,
            "createdDateTime": created,
        }
    ]
    names = registered_methods(user)
    for index, (name, odata_type) in enumerate(_METHODS):
        if name not in names:
            continue
        method_id = _method_id(digest, index)
        registered = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(reference_time - int(_fraction(digest, 8 + index) * 900 * DAY))
        )
        method: dict[str, Any] = {"@odata.type": odata_type, "id": method_id}
        if name == "microsoftAuthenticatorPush":
            method |= {
                "displayName": "iPhone" if _fraction(digest, 14) < 0.55 else "Pixel 8",
                "deviceTag": "SoftwareTokenActivated",
                "phoneAppVersion": "6.8.12",
                "createdDateTime": registered,
            }
        elif name == "mobilePhone":
            method |= {
                "phoneNumber": f"+81 90{int(_fraction(digest, 15) * 1e8):08d}",
                "phoneType": "mobile",
                "smsSignInState": "notAllowedByPolicy",
            }
        elif name == "email":
            method |= {"emailAddress": f"{user['id'][:8]}@example.com"}
        elif name == "fido2":
            method |= {
                "displayName": "YubiKey 5 NFC",
                "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8",
                "model": "YubiKey 5 Series",
                "attestationCertificates": [],
                "attestationLevel": "attested",
                "createdDateTime": registered,
            }
        elif name == "softwareOneTimePasscode":
            method |= {"secretKey": None}
        else:
            method |= {
                "displayName": "LAPTOP-" + method_id[:6].upper(),
                "createdDateTime": registered,
                "keyStrength": "normal",
            }
        methods.append(method)
    return methods


def _method_id(digest: bytes, index: int) -> str:
    text = hashlib.sha256(digest + bytes([index])).hexdigest()
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{text[17:20]}-{text[20:32]}"
