"""Who a drive item's permission lets in: one classification per grantee.

- ``anonymous``: a link anyone with it can use (``link.scope == "anonymous"``);
- ``internal``: an organization-wide link, or a grantee whose address is at one of the tenant's verified domains;
- ``external_guest``: a grantee outside those domains who is a directory object of the tenant (a guest user);
- ``external_domain``: a grantee outside those domains known only by address (a specific-people link);
- ``owner``: the owner's own permission.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Grant:
    classification: str
    grantee_id: str | None
    grantee_email: str | None


def classify(permission: dict[str, Any], verified_domains: Collection[str]) -> list[Grant]:
    domains = {domain.lower() for domain in verified_domains}
    if "owner" in (permission.get("roles") or []):
        user = (permission.get("grantedToV2") or {}).get("user") or {}
        return [Grant("owner", user.get("id"), user.get("email"))]
    scope = (permission.get("link") or {}).get("scope")
    if scope == "anonymous":
        return [Grant("anonymous", None, None)]
    if scope == "organization":
        return [Grant("internal", None, None)]
    grantees = [(permission.get("grantedToV2") or {}).get("user")]
    grantees += [identity.get("user") for identity in permission.get("grantedToIdentitiesV2") or []]
    invitation = (permission.get("invitation") or {}).get("email")
    grants = [_grantee(user, domains) for user in grantees if user]
    if not grants and invitation:
        grants = [_grantee({"email": invitation}, domains)]
    return grants


def _grantee(user: dict[str, Any], domains: set[str]) -> Grant:
    email = user.get("email")
    domain = email.rsplit("@", 1)[-1].lower() if isinstance(email, str) and "@" in email else None
    if domain in domains:
        return Grant("internal", user.get("id"), email)
    if user.get("id"):
        return Grant("external_guest", user.get("id"), email)
    return Grant("external_domain", None, email)
