"""A tenant's directory as it is now, and every change made to it since it was generated, each with the emulator
time it happened at.

``TenantState`` starts as a copy of the generated ``SyntheticTenant`` (whose objects it never mutates: a change
replaces an object with a new dict, so several emulators can share one generated tenant) and changes only through
its methods, which are the Python change API: add, update, soft delete, hard delete, restore, licence, role and
membership changes, and ``random_changes``. The change log is what delta queries answer from, and what
``users_at`` / ``licence_holders_at`` / ``members_at`` / ``role_members_at`` rewind to tell the tenant's state at
any past emulator time (the truth a history is checked against).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from m365_pipeline.emulator.clock import EmulatorClock
from m365_pipeline.emulator.relations import ROLE_TEMPLATES
from m365_pipeline.emulator.skus import SKUS
from m365_pipeline.emulator.tenant import GROUP_PROPERTIES, USER_PROPERTIES, SyntheticTenant, guid

Kind = Literal["user", "group", "role"]
DEPARTMENTS_FOR_CHANGES = ("営業部", "Sales", "Engineering", "人事部", "Finance", "情報システム部", "Marketing")


class ChangeError(ValueError):
    """A change that cannot apply (unknown object, a member already there...): nothing was changed."""


@dataclass(frozen=True)
class Change:
    """One change as the log keeps it. ``before`` is the object before it (None: it did not exist) and
    ``before_deleted`` whether it was then soft-deleted; membership and role changes name ``related``."""

    seq: int
    at: float  # emulator time, seconds since the epoch
    kind: Kind  # the collection whose delta reports it
    object_id: str
    action: str
    properties: tuple[str, ...] = ()  # the properties it changed
    related: str | None = None  # the member (membership), the principal (role)
    before: dict[str, Any] | None = None
    before_deleted: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "kind": self.kind,
            "objectId": self.object_id,
            "action": self.action,
            "properties": list(self.properties),
            **({"relatedId": self.related} if self.related else {}),
        }


@dataclass
class DirectoryObjects:
    """Users or groups: the live ones in order, and the soft-deleted ones (restorable)."""

    live: dict[str, dict[str, Any]]
    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)


class TenantState:
    """The live directory of one tenant; thread-safe. ``clock`` gives the emulator time of each change."""

    def __init__(self, tenant: SyntheticTenant, clock: EmulatorClock) -> None:
        self.tenant = tenant
        self.tenant_id = tenant.tenant_id
        self._clock = clock
        self.lock = threading.RLock()
        self.users = DirectoryObjects({user["id"]: user for user in tenant.users})
        self.groups = DirectoryObjects({group["id"]: group for group in tenant.groups})
        relations = tenant.relations
        self.members: dict[str, dict[str, None]] = {
            group["id"]: dict.fromkeys(relations.members.get(group["id"], ())) for group in tenant.groups
        }
        self.owners: dict[str, list[str]] = {key: list(value) for key, value in relations.owners.items()}
        self.managers: dict[str, str] = dict(relations.managers)
        self.directory_roles = relations.directory_roles
        self.role_members: dict[str, dict[str, None]] = {
            template: dict.fromkeys(principals) for template, principals in relations.role_members.items()
        }
        # how many more (or fewer) users hold each product than when the tenant was generated
        self.licence_count_changes: Counter[str] = Counter()
        self.log: list[Change] = []
        self.version = 0  # grows with every change; caches of the live objects compare it
        self._ids = random.Random(f"changes|{tenant.tenant_id}")
        # memberships a soft delete took away, given back by a restore
        self._suspended_memberships: dict[str, list[str]] = {}

    # --- reading ---------------------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The sequence number of the latest change (0: none yet)."""
        return len(self.log)

    def now(self) -> float:
        return self._clock()

    def object_kind(self, object_id: str) -> Kind | None:
        if object_id in self.users.live or object_id in self.users.deleted:
            return "user"
        if object_id in self.groups.live or object_id in self.groups.deleted:
            return "group"
        return None

    def admins(self) -> set[str]:
        with self.lock:
            return {principal for holders in self.role_members.values() for principal in holders}

    def changes_since(self, seq: int, until: int | None = None) -> list[Change]:
        with self.lock:
            return self.log[seq : until if until is not None else len(self.log)]

    def skus(self) -> list[dict[str, Any]]:
        """subscribedSkus with consumedUnits as the users' licences make them now."""
        with self.lock:
            return [
                sku | {"consumedUnits": sku["consumedUnits"] + self.licence_count_changes[sku["skuId"]]}
                for sku in self.tenant.skus
            ]

    def extract_counts(self) -> dict[str, int]:
        """How many records a complete extract of the directory holds now, per raw entity: the truth an
        extraction under faults is checked against (none lost, none twice)."""
        with self.lock:
            groups = self.groups.live
            tenant = self.tenant
            return {
                "organization": 1,
                "users": len(self.users.live),
                "subscribed_skus": len(tenant.skus),
                "groups": len(groups),
                "directory_roles": len(self.directory_roles),
                "role_assignments": sum(len(holders) for holders in self.role_members.values()),
                # the report leaves out disabled accounts
                "user_registration_details": sum(
                    1 for user in self.users.live.values() if user.get("accountEnabled") is not False
                ),
                "conditional_access_policies": len(tenant.conditional_access_policies),
                "applications": len(tenant.applications),
                "service_principals": len(tenant.service_principals),
                "group_relations": sum(
                    len(self.members.get(group_id, {}))
                    + len(self.transitive_members(group_id))
                    + len(self.owners.get(group_id, ()))
                    for group_id in groups
                ),
            }

    # --- the past --------------------------------------------------------------------------------------

    def users_at(self, when: float) -> dict[str, dict[str, Any]]:
        """The users that existed (not deleted) at emulator time ``when``, as they were then."""
        with self.lock:
            live = dict(self.users.live)
            deleted = dict(self.users.deleted)
            for change in reversed(self.log):
                if change.at <= when:
                    break
                if change.kind != "user":
                    continue
                live.pop(change.object_id, None)
                deleted.pop(change.object_id, None)
                if change.before is not None:
                    (deleted if change.before_deleted else live)[change.object_id] = change.before
            return live

    def licence_holders_at(self, sku_id: str, when: float) -> set[str]:
        return {
            user_id
            for user_id, user in self.users_at(when).items()
            if any(licence["skuId"] == sku_id for licence in user["assignedLicenses"])
        }

    def members_at(self, group_id: str, when: float) -> set[str]:
        return self._related_at(self.members.get(group_id, {}), group_id, when, ("addMember", "removeMember"))

    def role_members_at(self, template_id: str, when: float) -> set[str]:
        return self._related_at(
            self.role_members.get(template_id, {}), template_id, when, ("addRoleMember", "removeRoleMember")
        )

    def _related_at(self, now: dict[str, None], owner: str, when: float, actions: tuple[str, str]) -> set[str]:
        with self.lock:
            held = set(now)
            for change in reversed(self.log):
                if change.at <= when:
                    break
                if change.object_id == owner and change.related is not None:
                    if change.action == actions[0]:
                        held.discard(change.related)
                    elif change.action == actions[1]:
                        held.add(change.related)
            return held

    # --- the change API --------------------------------------------------------------------------------

    def add_user(self, **properties: Any) -> str:
        """Create a user (``properties`` override the generated ones); returns its id."""
        with self.lock:
            user_id = properties.pop("id", None) or self._new_id()
            stamp = self._stamp()
            nickname = f"new.user.{len(self.log) + 1}"
            user: dict[str, Any] = dict.fromkeys(USER_PROPERTIES) | {
                "id": user_id,
                "businessPhones": [],
                "displayName": f"New User {len(self.log) + 1}",
                "userPrincipalName": f"{nickname}@{self.tenant.default_domain}",
                "mailNickname": nickname,
                "accountEnabled": True,
                "assignedLicenses": [],
                "createdDateTime": stamp,
                "userType": "Member",
                "signInActivity": _never_signed_in(),
            }
            unknown = set(properties) - set(USER_PROPERTIES)
            if unknown:
                raise ChangeError(f"users have no properties {sorted(unknown)}")
            user |= properties
            if user_id in self.users.live or user_id in self.users.deleted:
                raise ChangeError(f"user {user_id} exists already")
            self.users.live[user_id] = user
            self.licence_count_changes.update(licence["skuId"] for licence in user["assignedLicenses"])
            self._record("user", user_id, "addUser", tuple(USER_PROPERTIES), None)
            return user_id

    def update_user(self, user_id: str, **properties: Any) -> None:
        with self.lock:
            user = self._live(self.users, user_id, "user")
            unknown = set(properties) - set(USER_PROPERTIES) - {"id"}
            if unknown or "id" in properties:
                raise ChangeError(f"cannot update {sorted(unknown | ({'id'} & set(properties)))} of a user")
            changed = tuple(name for name, value in properties.items() if user.get(name) != value)
            if "assignedLicenses" in changed:
                self.licence_count_changes.subtract(licence["skuId"] for licence in user["assignedLicenses"])
                self.licence_count_changes.update(licence["skuId"] for licence in properties["assignedLicenses"])
            self.users.live[user_id] = user | properties
            self._record("user", user_id, "updateUser", changed, None, before=user)

    def add_group(self, **properties: Any) -> str:
        with self.lock:
            group_id = properties.pop("id", None) or self._new_id()
            unknown = set(properties) - set(GROUP_PROPERTIES)
            if unknown:
                raise ChangeError(f"groups have no properties {sorted(unknown)}")
            number = len(self.log) + 1
            group: dict[str, Any] = dict.fromkeys(GROUP_PROPERTIES) | {
                "id": group_id,
                "createdDateTime": self._stamp(),
                "creationOptions": [],
                "displayName": f"New Group {number}",
                "groupTypes": [],
                "mailEnabled": False,
                "mailNickname": f"new-group-{number}",
                "proxyAddresses": [],
                "resourceBehaviorOptions": [],
                "resourceProvisioningOptions": [],
                "securityEnabled": True,
            }
            group |= properties
            if group_id in self.groups.live or group_id in self.groups.deleted:
                raise ChangeError(f"group {group_id} exists already")
            self.groups.live[group_id] = group
            self.members[group_id] = {}
            self._record("group", group_id, "addGroup", tuple(GROUP_PROPERTIES), None)
            return group_id

    def update_group(self, group_id: str, **properties: Any) -> None:
        with self.lock:
            group = self._live(self.groups, group_id, "group")
            unknown = set(properties) - set(GROUP_PROPERTIES) - {"id"}
            if unknown or "id" in properties:
                raise ChangeError(f"cannot update {sorted(unknown | ({'id'} & set(properties)))} of a group")
            changed = tuple(name for name, value in properties.items() if group.get(name) != value)
            self.groups.live[group_id] = group | properties
            self._record("group", group_id, "updateGroup", changed, None, before=group)

    def soft_delete(self, object_id: str) -> None:
        """Move a user or a Microsoft 365 group to the deleted items (restorable for 30 days in Entra ID): it
        leaves every group it was in (a restore gives the memberships back) and every directory role. Entra ID
        keeps no deleted security or distribution groups: deleting one is for good."""
        with self.lock:
            kind, objects = self._kind_of(object_id)
            current = self._live(objects, object_id, kind)
            self._move_to_deleted(kind, objects, object_id, current)
            if kind == "group" and "Unified" not in (current.get("groupTypes") or []):
                self._purge(kind, objects, object_id)

    def restore(self, object_id: str) -> None:
        with self.lock:
            kind, objects = self._kind_of(object_id)
            deleted = objects.deleted.pop(object_id, None)
            if deleted is None:
                raise ChangeError(f"{kind} {object_id} is not in the deleted items")
            restored = deleted | {"deletedDateTime": None} if kind == "group" else deleted
            objects.live[object_id] = restored
            if kind == "user":
                self.licence_count_changes.update(licence["skuId"] for licence in restored["assignedLicenses"])
            self._record(kind, object_id, "restore", (), None, before=deleted, before_deleted=True)
            for group_id in self._suspended_memberships.pop(object_id, []):
                if group_id in self.groups.live and object_id not in self.members[group_id]:
                    self._add_member(group_id, object_id)

    def hard_delete(self, object_id: str) -> None:
        """Delete for good, from the live objects (soft-deleting first) or from the deleted items."""
        with self.lock:
            kind, objects = self._kind_of(object_id)
            current = objects.live.get(object_id)
            if current is not None:
                self._move_to_deleted(kind, objects, object_id, current)
            self._purge(kind, objects, object_id)

    def assign_licence(self, user_id: str, sku_id: str, disabled_plans: Iterable[str] = ()) -> None:
        with self.lock:
            user = self._live(self.users, user_id, "user")
            if sku_id not in {sku.sku_id for sku in SKUS}:
                raise ChangeError(f"the tenant has no product {sku_id}")
            if any(licence["skuId"] == sku_id for licence in user["assignedLicenses"]):
                raise ChangeError(f"user {user_id} holds {sku_id} already")
            licences = [*user["assignedLicenses"], {"disabledPlans": sorted(disabled_plans), "skuId": sku_id}]
            self.users.live[user_id] = user | {"assignedLicenses": licences}
            self.licence_count_changes[sku_id] += 1
            self._record("user", user_id, "assignLicence", ("assignedLicenses",), sku_id, before=user)

    def remove_licence(self, user_id: str, sku_id: str) -> None:
        with self.lock:
            user = self._live(self.users, user_id, "user")
            kept = [licence for licence in user["assignedLicenses"] if licence["skuId"] != sku_id]
            if len(kept) == len(user["assignedLicenses"]):
                raise ChangeError(f"user {user_id} does not hold {sku_id}")
            self.users.live[user_id] = user | {"assignedLicenses": kept}
            self.licence_count_changes[sku_id] -= 1
            self._record("user", user_id, "removeLicence", ("assignedLicenses",), sku_id, before=user)

    def add_role_member(self, template_id: str, principal_id: str) -> None:
        with self.lock:
            held = self._role(template_id)
            if principal_id not in self.users.live:
                raise ChangeError(f"no user {principal_id}")
            if principal_id in held:
                raise ChangeError(f"{principal_id} holds role {template_id} already")
            held[principal_id] = None
            self._record("role", template_id, "addRoleMember", (), principal_id)

    def remove_role_member(self, template_id: str, principal_id: str) -> None:
        with self.lock:
            if principal_id not in self._role(template_id):
                raise ChangeError(f"{principal_id} does not hold role {template_id}")
            self._remove_role_member(template_id, principal_id)

    def add_member(self, group_id: str, member_id: str) -> None:
        with self.lock:
            self._live(self.groups, group_id, "group")
            if member_id not in self.users.live and member_id not in self.groups.live:
                raise ChangeError(f"no user or group {member_id}")
            if member_id == group_id or member_id in self.members[group_id]:
                raise ChangeError(f"{member_id} cannot be added to group {group_id}")
            if member_id in self.groups.live and group_id in self.transitive_members(member_id):
                raise ChangeError(f"adding group {member_id} to {group_id} would make a loop")
            self._add_member(group_id, member_id)

    def remove_member(self, group_id: str, member_id: str) -> None:
        with self.lock:
            self._live(self.groups, group_id, "group")
            if member_id not in self.members[group_id]:
                raise ChangeError(f"{member_id} is not a member of group {group_id}")
            self._remove_member(group_id, member_id)

    def transitive_members(self, group_id: str) -> list[str]:
        """Every user and group in the group, directly or through nested groups, once each."""
        with self.lock:
            seen: dict[str, None] = {}
            pending = [group_id]
            while pending:
                for member in self.members.get(pending.pop(), {}):
                    if member not in seen:
                        seen[member] = None
                        if member in self.members:
                            pending.append(member)
            return list(seen)

    def random_changes(self, count: int, seed: int, every_seconds: float = 0.0) -> list[Change]:
        """``count`` plausible random changes of every kind, the same for the same seed and state; with
        ``every_seconds`` the emulator's clock moves that far forward before each change."""
        rng = random.Random(seed)
        start = len(self.log)
        weights = (
            ("update", 30),
            ("licence", 20),
            ("membership", 20),
            ("add", 8),
            ("softDelete", 7),
            ("restore", 4),
            ("hardDelete", 4),
            ("role", 7),
        )
        kinds = [name for name, _ in weights]
        shares = [weight for _, weight in weights]
        # who may be picked: everyone live now and everyone added since (a pick that is no longer live is drawn
        # again), so a change does not list 100,000 users
        pools = {"user": list(self.users.live), "group": list(self.groups.live)}
        made = 0
        while made < count:
            if self._random_change(rng, rng.choices(kinds, shares)[0], pools):
                made += 1
                if every_seconds and made < count:
                    self._clock.advance(every_seconds)
        return self.log[start:]

    # --- internals -------------------------------------------------------------------------------------

    def _random_change(self, rng: random.Random, kind: str, pools: dict[str, list[str]]) -> bool:
        def pick(pool: list[str], live: dict[str, dict[str, Any]]) -> str:
            while True:
                candidate = pool[int(rng.random() * len(pool))]
                if candidate in live:
                    return candidate

        users: list[str] = pools["user"] if self.users.live else []
        groups: list[str] = pools["group"] if self.groups.live else []

        def any_user() -> str:
            return pick(users, self.users.live)

        def any_group() -> str:
            return pick(groups, self.groups.live)

        try:
            if kind == "update" and users:
                user_id = any_user()
                update = rng.choice(
                    (
                        {"department": rng.choice(DEPARTMENTS_FOR_CHANGES)},
                        {"accountEnabled": not self.users.live[user_id]["accountEnabled"]},
                        {"jobTitle": rng.choice(("Manager", "課長", "Engineer", None))},
                        {"userType": "Guest" if self.users.live[user_id]["userType"] == "Member" else "Member"},
                    )
                )
                self.update_user(user_id, **update)
            elif kind == "licence" and users:
                user_id = any_user()
                held = self.users.live[user_id]["assignedLicenses"]
                if held and rng.random() < 0.45:
                    self.remove_licence(user_id, rng.choice(held)["skuId"])
                else:
                    self.assign_licence(user_id, rng.choice([sku.sku_id for sku in SKUS if sku.role != "idle"]))
            elif kind == "membership" and groups and users:
                group_id = any_group()
                current = list(self.members[group_id])
                if current and rng.random() < 0.45:
                    self.remove_member(group_id, rng.choice(current))
                else:
                    self.add_member(group_id, any_user())
            elif kind == "add":
                if rng.random() < 0.85:
                    added = self.add_user(
                        department=rng.choice(DEPARTMENTS_FOR_CHANGES),
                        usageLocation="JP",
                        assignedLicenses=[{"disabledPlans": [], "skuId": SKUS[0].sku_id}],
                    )
                    pools["user"].append(added)
                else:
                    pools["group"].append(self.add_group())
            elif kind == "softDelete" and users:
                self.soft_delete(any_user() if rng.random() < 0.85 or not groups else any_group())
            elif kind == "restore" and (self.users.deleted or self.groups.deleted):
                self.restore(rng.choice([*self.users.deleted, *self.groups.deleted]))
            elif kind == "hardDelete" and (self.users.deleted or users):
                if self.users.deleted and rng.random() < 0.7:
                    self.hard_delete(rng.choice(list(self.users.deleted)))
                else:
                    self.hard_delete(any_user())
            elif kind == "role" and users:
                template = rng.choice(ROLE_TEMPLATES).template_id
                holders = list(self.role_members.get(template, {}))
                if holders and rng.random() < 0.5:
                    self.remove_role_member(template, rng.choice(holders))
                else:
                    self.add_role_member(template, any_user())
            else:
                return False
        except ChangeError:
            return False
        return True

    def _new_id(self) -> str:
        return guid(self._ids.getrandbits(128))

    def _stamp(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now()))

    def _kind_of(self, object_id: str) -> tuple[Kind, DirectoryObjects]:
        kind = self.object_kind(object_id)
        if kind is None:
            raise ChangeError(f"no user or group {object_id}")
        return kind, self.users if kind == "user" else self.groups

    def _role(self, template_id: str) -> dict[str, None]:
        held = self.role_members.get(template_id)
        if held is None:
            raise ChangeError(f"no directory role with template {template_id}")
        return held

    @staticmethod
    def _live(objects: DirectoryObjects, object_id: str, kind: str) -> dict[str, Any]:
        current = objects.live.get(object_id)
        if current is None:
            raise ChangeError(f"no {kind} {object_id} (or it is deleted)")
        return current

    def _move_to_deleted(self, kind: Kind, objects: DirectoryObjects, object_id: str, current: dict[str, Any]) -> None:
        left = [group_id for group_id, held in self.members.items() if object_id in held]
        for group_id in left:
            self._remove_member(group_id, object_id)
        for template_id, held in self.role_members.items():
            if object_id in held:
                self._remove_role_member(template_id, object_id)
        self._suspended_memberships[object_id] = left
        del objects.live[object_id]
        objects.deleted[object_id] = current | {"deletedDateTime": self._stamp()} if kind == "group" else current
        if kind == "user":
            self.licence_count_changes.subtract(licence["skuId"] for licence in current["assignedLicenses"])
        self._record(kind, object_id, "softDelete", (), None, before=current)

    def _purge(self, kind: Kind, objects: DirectoryObjects, object_id: str) -> None:
        deleted = objects.deleted.pop(object_id)
        self._suspended_memberships.pop(object_id, None)
        self.managers.pop(object_id, None)
        self.managers = {user: manager for user, manager in self.managers.items() if manager != object_id}
        if kind == "group":
            self.members.pop(object_id, None)
            self.owners.pop(object_id, None)
        self._record(kind, object_id, "hardDelete", (), None, before=deleted, before_deleted=True)

    def _add_member(self, group_id: str, member_id: str) -> None:
        self.members[group_id][member_id] = None
        self._record("group", group_id, "addMember", ("members",), member_id)

    def _remove_member(self, group_id: str, member_id: str) -> None:
        del self.members[group_id][member_id]
        self._record("group", group_id, "removeMember", ("members",), member_id)

    def _remove_role_member(self, template_id: str, principal_id: str) -> None:
        del self.role_members[template_id][principal_id]
        self._record("role", template_id, "removeRoleMember", (), principal_id)

    def _record(
        self,
        kind: Kind,
        object_id: str,
        action: str,
        properties: tuple[str, ...],
        related: str | None,
        *,
        before: dict[str, Any] | None = None,
        before_deleted: bool = False,
    ) -> None:
        change = Change(
            len(self.log) + 1, self.now(), kind, object_id, action, properties, related, before, before_deleted
        )
        self.log.append(change)
        self.version += 1


def _never_signed_in() -> dict[str, Any]:
    return dict.fromkeys(
        (
            "lastSignInDateTime",
            "lastSignInRequestId",
            "lastNonInteractiveSignInDateTime",
            "lastNonInteractiveSignInRequestId",
            "lastSuccessfulSignInDateTime",
            "lastSuccessfulSignInRequestId",
        )
    )
