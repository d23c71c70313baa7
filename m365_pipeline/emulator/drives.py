"""OneDrive as the emulator serves it (drive-get.md, driveitem-delta.md, driveitem-list-permissions.md).

Every licensed member has a OneDrive: ``GET /users/{id}/drive`` answers it with its quota (a user without one: 404
``ResourceNotFound``). ``GET /drives/{id}/root/delta`` pages the drive's items and ends with an
``@odata.deltaLink``; that link answers only the items changed since (none, until a test changes one with
``share``). Shared items carry the ``shared`` facet; ``GET /drives/{id}/items/{item}/permissions`` lists an item's
permissions: the owner's, and each share as Graph writes it (an anonymous or organization link, a direct grant to a
member or a guest, a specific-people link to an address outside the tenant).

The shares are a function of the drive's position, so a test knows exactly which item is shared how
(``KNOWN_SHARES``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from m365_pipeline.emulator.odata import GraphError, PageTokens
from m365_pipeline.emulator.tenant import SyntheticTenant

QUOTA_TOTAL = 1_099_511_627_776
FILES_PER_DRIVE = 5
# File position in the drive -> how it is shared (the other files are not shared)
KNOWN_SHARES = {0: "anonymous", 1: "organization", 2: "internal", 3: "guest", 4: "external"}
EXTERNAL_ADDRESS = "partner@fabrikam.example"


def _address(user: dict[str, Any]) -> str:
    return str(user["mail"] or user["userPrincipalName"])


def _drive_id(owner_id: str) -> str:
    return f"b!{_id('drive', owner_id)}"


def _id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24].upper()


@dataclass
class _Drive:
    id: str
    owner: dict[str, Any]
    position: int
    items: list[dict[str, Any]]
    permissions: dict[str, list[dict[str, Any]]]
    changed: list[str] = field(default_factory=list)  # item ids changed since the first delta, in order
    version: int = 0


class OneDrives:
    def __init__(self, tenant: SyntheticTenant, tokens: PageTokens) -> None:
        self._tenant = tenant
        self._tokens = tokens
        owners = [user for user in tenant.users if user["userType"] == "Member" and user["assignedLicenses"]]
        guests = [user for user in tenant.users if user["userType"] == "Guest"]
        self._guest = guests[0] if guests else None
        self._members = owners
        self._positions = {owner["id"]: position for position, owner in enumerate(owners)}
        # (drive id, item id, permission id) -> the kind of share the emulator made: what a classifier must find
        self.kinds: dict[tuple[str, str, str], str] = {}
        self._drives: dict[str, _Drive] = {}  # by owner id, made on first use (a big tenant's drives cost memory)
        self._owner_of_drive: dict[str, str] | None = None

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
        """A page of the drive's delta: from the start, or from a delta/next token (``version:offset``)."""
        drive = self._find(drive_id)
        scope = f"delta|{drive.id}"
        if token is None:
            version, offset, items = 0, 0, drive.items
        else:
            state = self._tokens.offset(scope, token)
            version, offset = divmod(state, 1 << 32)
            items = [item for item in drive.items if item["id"] in drive.changed[version:]]
        page = items[offset : offset + size]
        link = f"{base}/v1.0/drives/{drive.id}/root/delta?token="
        answer: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#Collection(driveItem)", "value": page}
        if offset + size < len(items):
            answer["@odata.nextLink"] = link + self._tokens.issue(scope, version * (1 << 32) + offset + size)
        else:
            answer["@odata.deltaLink"] = link + self._tokens.issue(scope, len(drive.changed) * (1 << 32))
        return answer

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

    def _of_user(self, user_id: str) -> _Drive | None:
        position = self._positions.get(user_id)
        if position is None:
            return None
        if user_id not in self._drives:
            self._drives[user_id] = self._drive(self._members[position], position)
        return self._drives[user_id]

    def _find(self, drive_id: str) -> _Drive:
        if self._owner_of_drive is None:
            self._owner_of_drive = {_drive_id(owner["id"]): owner["id"] for owner in self._members}
        owner_id = self._owner_of_drive.get(drive_id)
        drive = self._of_user(owner_id) if owner_id is not None else None
        if drive is None:
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        return drive

    def _drive(self, owner: dict[str, Any], position: int) -> _Drive:
        drive_id = _drive_id(owner["id"])
        root: dict[str, Any] = {
            "id": _id(drive_id, "root"),
            "name": "root",
            "root": {},
            "folder": {"childCount": FILES_PER_DRIVE},
        }
        items = [root]
        permissions: dict[str, list[dict[str, Any]]] = {root["id"]: [self._owner(owner, drive_id, "root")]}
        for index in range(FILES_PER_DRIVE):
            item_id = _id(drive_id, f"file{index}")
            item: dict[str, Any] = {
                "id": item_id,
                "name": f"資料{index + 1}.docx",
                "file": {"mimeType": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
                "size": 10_000 * (index + 1),
                "parentReference": {"driveId": drive_id, "id": root["id"]},
            }
            shares = self._shares(drive_id, item_id, index, position)
            if shares:
                item["shared"] = {"scope": shares[0].get("link", {}).get("scope", "users")}
            items.append(item)
            permissions[item_id] = [self._owner(owner, drive_id, item_id), *shares]
        return _Drive(drive_id, owner, position, items, permissions)

    @staticmethod
    def _owner(owner: dict[str, Any], drive_id: str, item_id: str) -> dict[str, Any]:
        return {
            "id": _id(drive_id, item_id, "owner"),
            "roles": ["owner"],
            "grantedToV2": {"user": {"id": owner["id"], "displayName": owner["displayName"], "email": _address(owner)}},
        }

    def _shares(self, drive_id: str, item_id: str, index: int, position: int) -> list[dict[str, Any]]:
        kind = KNOWN_SHARES.get(index) if position % 2 == 0 else None
        if kind == "guest" and self._guest is None:
            return []
        if kind is not None:
            self.kinds[(drive_id, item_id, _id(drive_id, item_id, "share"))] = kind
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
