"""Who a drive item's permission lets in: one classification per grantee.

- ``anonymous``: a link anyone with it can use (``link.scope == "anonymous"``);
- ``internal``: an organization-wide link, a grantee whose address is at one of the tenant's verified domains, or a
  group (a directory group, or a SharePoint site's group such as its members: who is in it is the site's affair);
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
        granted = permission.get("grantedToV2") or {}
        owner = granted.get("user") or _group_of(granted) or {}
        return [Grant("owner", owner.get("id"), owner.get("email"))]
    scope = (permission.get("link") or {}).get("scope")
    if scope == "anonymous":
        return [Grant("anonymous", None, None)]
    if scope == "organization":
        return [Grant("internal", None, None)]
    identities = [permission.get("grantedToV2") or {}, *(permission.get("grantedToIdentitiesV2") or [])]
    grants = []
    for identity in identities:
        if identity.get("user"):
            grants.append(_grantee(identity["user"], domains))
        elif group := _group_of(identity):
            grants.append(Grant("internal", group.get("id"), group.get("email")))
    invitation = (permission.get("invitation") or {}).get("email")
    if not grants and invitation:
        grants = [_grantee({"email": invitation}, domains)]
    return grants


def _group_of(identity: dict[str, Any]) -> dict[str, Any] | None:
    group = identity.get("group") or identity.get("siteGroup")
    return group if isinstance(group, dict) else None


def _grantee(user: dict[str, Any], domains: set[str]) -> Grant:
    email = user.get("email")
    domain = email.rsplit("@", 1)[-1].lower() if isinstance(email, str) and "@" in email else None
    if domain in domains:
        return Grant("internal", user.get("id"), email)
    if user.get("id"):
        return Grant("external_guest", user.get("id"), email)
    return Grant("external_domain", None, email)
