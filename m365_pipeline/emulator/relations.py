"""The links between a synthetic tenant's objects: group members (nested groups included) and owners, each user's
manager, and who holds which directory role.

They are drawn from a generator of their own (seeded from the tenant's seed), after the users and groups exist,
so adding them changed none of the objects drawn before. A few groups are very large (everyone, every member),
so that a large group is split over several pages of a groups delta, as Graph splits it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class RoleTemplate(NamedTuple):
    template_id: str  # the roleTemplateId, and the roleDefinitionId of its role assignments
    display_name: str
    description: str
    holders_per_10_000: int  # how many users hold it, per 10,000 users (at least one)


GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"

# Microsoft's built-in role template ids (the same in every tenant)
ROLE_TEMPLATES: tuple[RoleTemplate, ...] = (
    RoleTemplate(
        GLOBAL_ADMINISTRATOR,
        "Global Administrator",
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
        3,
    ),
    RoleTemplate(
        "fe930be7-5e62-47db-91af-98c3a49a38b1",
        "User Administrator",
        "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
        6,
    ),
    RoleTemplate(
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
        "Can manage all aspects of the Exchange product.",
        3,
    ),
    RoleTemplate(
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
        "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365.",
        2,
    ),
    RoleTemplate(
        "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
        "Global Reader",
        "Can read everything that a Global Administrator can, but not update anything.",
        4,
    ),
    RoleTemplate(
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
        "Can reset passwords for non-administrators and Helpdesk Administrators.",
        10,
    ),
    RoleTemplate(
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
        "Can perform common billing related tasks like updating payment information.",
        1,
    ),
)

LARGE_GROUPS = 2  # the first groups hold a large share of the users
LARGE_GROUP_SHARE = 0.3
NESTING_SHARE = 0.12  # groups that hold other groups


@dataclass(frozen=True)
class Relations:
    members: dict[str, list[str]]  # group id -> member ids (users and groups), in the order they were added
    owners: dict[str, list[str]]  # group id -> owner user ids
    managers: dict[str, str]  # user id -> their manager's user id
    directory_roles: list[dict[str, Any]]  # the activated roles, as Graph's directoryRole objects
    role_members: dict[str, list[str]]  # role template id -> principal ids


def generate_relations(
    rng: random.Random,
    users: Sequence[dict[str, Any]],
    groups: Sequence[dict[str, Any]],
    new_id: Callable[[], str],
) -> Relations:
    user_ids = [user["id"] for user in users]
    member_ids = [user["id"] for user in users if user["userType"] == "Member"]
    group_ids = [group["id"] for group in groups]
    members: dict[str, list[str]] = {group_id: [] for group_id in group_ids}
    random_float = rng.random
    count = len(group_ids)
    for user_id in user_ids:
        for index in range(LARGE_GROUPS):
            if random_float() < LARGE_GROUP_SHARE:
                members[group_ids[index]].append(user_id)
        joined = int(random_float() ** 1.5 * 5)  # 0..4 ordinary groups, most in one or two
        for _ in range(joined):
            group_list = members[group_ids[LARGE_GROUPS + int(random_float() * (count - LARGE_GROUPS))]]
            if not group_list or group_list[-1] != user_id:
                group_list.append(user_id)
    for index, group_id in enumerate(group_ids[: count - 1]):
        if index >= LARGE_GROUPS and random_float() < NESTING_SHARE:
            # only later groups: the nesting never loops
            for _ in range(1 + int(random_float() * 2)):
                nested = group_ids[index + 1 + int(random_float() * (count - index - 1))]
                if nested not in members[group_id]:
                    members[group_id].append(nested)
    owners: dict[str, list[str]] = {}
    for group in groups:
        if member_ids and (group["securityEnabled"] or "Unified" in group["groupTypes"]):
            owners[group["id"]] = sorted({member_ids[int(random_float() * len(member_ids))] for _ in range(2)})
    managers: dict[str, str] = {}
    for position, user_id in enumerate(member_ids[1:], start=1):
        if random_float() < 0.85:
            managers[user_id] = member_ids[int(random_float() * random_float() * position)]
    return Relations(members, owners, managers, *_roles(rng, member_ids, new_id))


def _roles(
    rng: random.Random, member_ids: list[str], new_id: Callable[[], str]
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    roles, holders = [], {}
    for template in ROLE_TEMPLATES:
        roles.append(
            {
                "id": new_id(),
                "deletedDateTime": None,
                "description": template.description,
                "displayName": template.display_name,
                "roleTemplateId": template.template_id,
            }
        )
        wanted = max(1, len(member_ids) * template.holders_per_10_000 // 10_000)
        chosen: dict[str, None] = {}
        for _ in range(wanted):
            if member_ids:
                chosen[member_ids[int(rng.random() * len(member_ids))]] = None
        holders[template.template_id] = list(chosen)
    return roles, holders
