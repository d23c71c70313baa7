"""OneDrive as the emulator serves it (drive-get.md, driveitem-delta.md, driveitem-list-permissions.md).

Every licensed member has a OneDrive: ``GET /users/{id}/drive`` answers it with its quota (a user without one: 404
``ResourceNotFound``). Other drives (SharePoint document libraries, ``sites.py``) join with ``add_drive``: the item
endpoints serve every drive alike. ``GET /drives/{id}/root/delta`` pages the drive's items and ends with an
``@odata.deltaLink``; that link answers only the items changed since (none, until a test changes one with
``share`` or deletes one with ``remove``: it comes back with the ``deleted`` facet). Shared items carry the
``shared`` facet; ``GET /drives/{id}/items/{item}/permissions`` lists an item's permissions: the owner's, and each
share as Graph writes it (an anonymous or organization link, a direct grant to a member, a guest or a group, a
specific-people link to an address outside the tenant).

``expire_tokens`` makes every delta and next link issued so far answer 410 Gone ``resyncRequired`` with a
``Location`` that starts a fresh enumeration (driveitem-delta.md): the client must enumerate the drive again and
drop what the enumeration no longer returns.

The shares are a function of the drive's position, so a test knows exactly which item is shared how
(``KNOWN_SHARES``, ``kinds``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from m365_pipeline.emulator.odata import GraphError, PageTokens
from m365_pipeline.emulator.tenant import SyntheticTenant

QUOTA_TOTAL = 1_099_511_627_776
FILES_PER_DRIVE = 6
# File position in the drive -> how it is shared (the other files are not shared)
KNOWN_SHARES = {0: "anonymous", 1: "organization", 2: "internal", 3: "guest", 4: "external", 5: "group"}
EXTERNAL_ADDRESS = "partner@fabrikam.example"
GENERATION_SHIFT = 56  # a delta token's state: generation (expiry) << 56 | version << 32 | offset
RESYNC_REQUIRED = (
    "Resync required. Replace any local items with the server's version (including deletes) "
    "(resyncChangesApplyDifferences); use the Location header to enumerate the drive again."
)


def _address(user: dict[str, Any]) -> str:
    return str(user["mail"] or user["userPrincipalName"])


def _drive_id(owner_id: str) -> str:
    return f"b!{_id('drive', owner_id)}"


def _id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24].upper()


@dataclass
class Drive:
    id: str
    owner: dict[str, Any]  # a user (a OneDrive's owner) or a group-like identity (a site's owners)
    position: int
    items: list[dict[str, Any]]
    permissions: dict[str, list[dict[str, Any]]]
    kinds: dict[tuple[str, str, str], str]  # where its shares are recorded (OneDrives.kinds, Sites.kinds)
    changed: list[str] = field(default_factory=list)  # item ids changed since the first delta, in order
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)  # item id -> what the delta reports of it


class OneDrives:
    def __init__(self, tenant: SyntheticTenant, tokens: PageTokens) -> None:
        self._tenant = tenant
        self._tokens = tokens
        owners = [user for user in tenant.users if user["userType"] == "Member" and user["assignedLicenses"]]
        guests = [user for user in tenant.users if user["userType"] == "Guest"]
        self._guest = guests[0] if guests else None
        self._group = next((group for group in tenant.groups if group.get("mail")), None)
        self._members = owners
        self._positions = {owner["id"]: position for position, owner in enumerate(owners)}
        # (drive id, item id, permission id) -> the kind of share the emulator made: what a classifier must find
        self.kinds: dict[tuple[str, str, str], str] = {}
        self._drives: dict[str, Drive] = {}  # by owner id, made on first use (a big tenant's drives cost memory)
        self._owner_of_drive: dict[str, str] | None = None
        self._other_drives: dict[str, Drive] = {}  # by drive id: document libraries (add_drive)
        self._generation = 0  # tokens of an older generation are answered 410 Gone

    def drive_of_user(self, user_id: str, base: str) -> dict[str, Any]:
        drive = self._of_user(user_id.lower())
        if drive is None:
            raise GraphError(404, "ResourceNotFound", "User's mysite not found.")
        used = 1_000_000 * (drive.position % 900 + 1) * 1000
        state = "normal" if used < QUOTA_TOTAL * 0.9 else "nearing"
        owner = drive.owner
        return {
            "id": drive.id,
            "driveType": "business",
            "name": "OneDrive",
            "webUrl": f"https://contoso-my.sharepoint.com/personal/{owner['id']}/Documents",
            "owner": {"user": {"id": owner["id"], "displayName": owner["displayName"], "email": _address(owner)}},
            "quota": {
                "deleted": 0,
                "remaining": QUOTA_TOTAL - used,
                "state": state,
                "total": QUOTA_TOTAL,
                "used": used,
            },
        }

    def delta(self, drive_id: str, token: str | None, base: str, size: int) -> dict[str, Any]:
        """A page of the drive's delta: from the start, or from a delta/next token (its generation, the version of
        the drive it starts from, the offset of the page); a token of an older generation is 410 Gone."""
        drive = self._find(drive_id)
        scope = f"delta|{drive.id}"
        start = f"{base}/v1.0/drives/{drive.id}/root/delta"
        if token is None:
            version, offset, items = 0, 0, drive.items
        else:
            state = self._tokens.offset(scope, token)
            if state >> GENERATION_SHIFT < self._generation:
                raise GraphError(410, "resyncRequired", RESYNC_REQUIRED, {"Location": start})
            version, offset = divmod(state & ((1 << GENERATION_SHIFT) - 1), 1 << 32)
            changed = set(drive.changed[version:])
            items = [item for item in [*drive.items, *drive.removed.values()] if item["id"] in changed]
        page = items[offset : offset + size]
        generation = self._generation << GENERATION_SHIFT
        answer: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#Collection(driveItem)", "value": page}
        if offset + size < len(items):
            next_state = generation | version << 32 | offset + size
            answer["@odata.nextLink"] = f"{start}?token={self._tokens.issue(scope, next_state)}"
        else:
            delta_state = generation | len(drive.changed) << 32
            answer["@odata.deltaLink"] = f"{start}?token={self._tokens.issue(scope, delta_state)}"
        return answer

    def expire_tokens(self) -> None:
        """Every delta and next link issued so far is answered 410 Gone (resyncRequired)."""
        self._generation += 1

    def add_drive(self, drive: Drive) -> None:
        """Serve another drive (a document library) through the item endpoints."""
        self._other_drives[drive.id] = drive

    def remove(self, drive_id: str, item_id: str) -> None:
        """Delete an item: a fresh enumeration no longer returns it; the next delta reports it ``deleted``."""
        drive = self._find(drive_id)
        item = next(item for item in drive.items if item["id"] == item_id)
        drive.items.remove(item)
        del drive.permissions[item_id]
        drive.removed[item_id] = {"id": item_id, "name": item.get("name"), "deleted": {"state": "deleted"}}
        drive.changed.append(item_id)
        for key in [key for key in drive.kinds if key[:2] == (drive_id, item_id)]:
            del drive.kinds[key]

    def permissions(self, drive_id: str, item_id: str) -> list[dict[str, Any]]:
        drive = self._find(drive_id)
        if item_id not in drive.permissions:
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        return drive.permissions[item_id]

    def share(self, drive_id: str, item_id: str, permissions: list[dict[str, Any]]) -> None:
        """Replace an item's shares (the owner's permission stays): the next delta reports the item changed."""
        drive = self._find(drive_id)
        owner = drive.permissions[item_id][0]
        drive.permissions[item_id] = [owner, *permissions]
        item = next(item for item in drive.items if item["id"] == item_id)
        if permissions:
            item["shared"] = {"scope": "users"}
        else:
            item.pop("shared", None)
        drive.changed.append(item_id)

    def _of_user(self, user_id: str) -> Drive | None:
        position = self._positions.get(user_id)
        if position is None:
            return None
        if user_id not in self._drives:
            self._drives[user_id] = self._drive(self._members[position], position)
        return self._drives[user_id]

    def _find(self, drive_id: str) -> Drive:
        if drive_id in self._other_drives:
            return self._other_drives[drive_id]
        if self._owner_of_drive is None:
            self._owner_of_drive = {_drive_id(owner["id"]): owner["id"] for owner in self._members}
        owner_id = self._owner_of_drive.get(drive_id)
        drive = self._of_user(owner_id) if owner_id is not None else None
        if drive is None:
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        return drive

    def _drive(self, owner: dict[str, Any], position: int) -> Drive:
        drive_id = _drive_id(owner["id"])
        grantee = {"user": {"id": owner["id"], "displayName": owner["displayName"], "email": _address(owner)}}
        return self.build_drive(drive_id, owner, grantee, position, self.kinds)

    def build_drive(
        self,
        drive_id: str,
        owner: dict[str, Any],
        grantee: dict[str, Any],
        position: int,
        kinds: dict[tuple[str, str, str], str],
    ) -> Drive:
        """A drive of FILES_PER_DRIVE files under its root, ``grantee`` (a ``grantedToV2`` identity set) the owner
        of every item; the files are shared as KNOWN_SHARES says when ``position`` is even, each share recorded in
        ``kinds``."""
        root: dict[str, Any] = {
            "id": _id(drive_id, "root"),
            "name": "root",
            "root": {},
            "folder": {"childCount": FILES_PER_DRIVE},
        }
        items = [root]
        permissions: dict[str, list[dict[str, Any]]] = {root["id"]: [self._owner(grantee, drive_id, root["id"])]}
        for index in range(FILES_PER_DRIVE):
            item_id = _id(drive_id, f"file{index}")
            item: dict[str, Any] = {
                "id": item_id,
                "name": f"資料{index + 1}.docx",
                "file": {"mimeType": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
                "size": 10_000 * (index + 1),
                "parentReference": {"driveId": drive_id, "id": root["id"]},
            }
            shares = self._shares(drive_id, item_id, index, position, kinds)
            if shares:
                item["shared"] = {"scope": shares[0].get("link", {}).get("scope", "users")}
            items.append(item)
            permissions[item_id] = [self._owner(grantee, drive_id, item_id), *shares]
        return Drive(drive_id, owner, position, items, permissions, kinds)

    @staticmethod
    def _owner(grantee: dict[str, Any], drive_id: str, item_id: str) -> dict[str, Any]:
        return {"id": _id(drive_id, item_id, "owner"), "roles": ["owner"], "grantedToV2": grantee}

    def _shares(
        self, drive_id: str, item_id: str, index: int, position: int, kinds: dict[tuple[str, str, str], str]
    ) -> list[dict[str, Any]]:
        kind = KNOWN_SHARES.get(index) if position % 2 == 0 else None
        absent = {"internal": not self._members, "guest": self._guest is None, "group": self._group is None}
        if kind is not None and absent.get(kind, False):
            return []
        if kind is not None:
            kinds[(drive_id, item_id, _id(drive_id, item_id, "share"))] = kind
        permission_id = _id(drive_id, item_id, "share")
        url = f"https://contoso-my.sharepoint.com/:w:/g/personal/{permission_id}"
        if kind == "anonymous":
            return [
                {"id": permission_id, "roles": ["read"], "link": {"scope": "anonymous", "type": "view", "webUrl": url}}
            ]
        if kind == "organization":
            return [
                {
                    "id": permission_id,
                    "roles": ["write"],
                    "link": {"scope": "organization", "type": "edit", "webUrl": url},
                }
            ]
        if kind == "internal":
            member = self._members[(position + 1) % len(self._members)]
            grantee = {"id": member["id"], "displayName": member["displayName"], "email": _address(member)}
            return [{"id": permission_id, "roles": ["write"], "grantedToV2": {"user": grantee}}]
        if kind == "guest" and self._guest is not None:
            guest = self._guest
            grantee = {"id": guest["id"], "displayName": guest["displayName"], "email": guest["mail"]}
            return [{"id": permission_id, "roles": ["read"], "grantedToV2": {"user": grantee}}]
        if kind == "group" and self._group is not None:
            group = {"id": self._group["id"], "displayName": self._group["displayName"], "email": self._group["mail"]}
            return [{"id": permission_id, "roles": ["write"], "grantedToV2": {"group": group}}]
        if kind == "external":
            return [
                {
                    "id": permission_id,
                    "roles": ["read"],
                    "link": {"scope": "users", "type": "view", "webUrl": url},
                    "grantedToIdentitiesV2": [{"user": {"email": EXTERNAL_ADDRESS, "displayName": "Partner"}}],
                }
            ]
        return []
