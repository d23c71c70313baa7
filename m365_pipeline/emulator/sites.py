"""SharePoint sites and their document libraries as the emulator serves them (site-getallsites.md, drive-list.md).

``GET /sites/getAllSites`` pages every site of the tenant: the root site, one team site per group that has a
mailbox (at most ``GROUP_SITES``) and one user's personal site (``isPersonalSite``: its library is that user's
OneDrive). ``GET /sites/{id}/drives`` pages a site's document libraries (``LIBRARIES`` each), every one with its
quota; the quota's state follows the library's position (normal, nearing, critical, exceeded) so a test knows it.
The libraries' items, delta and permissions are served by ``drives.OneDrives`` like any drive, their owner being
the site's owners group; their files are shared as ``drives.KNOWN_SHARES`` says on every other library.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from m365_pipeline.emulator.drives import QUOTA_TOTAL, Drive, OneDrives
from m365_pipeline.emulator.odata import GraphError, PageTokens, QueryOptions, page_size
from m365_pipeline.emulator.tenant import SyntheticTenant

GROUP_SITES = 4
LIBRARIES = ("Documents", "Contracts")
# a library's position % 4 -> the share of its quota used: normal, nearing (> 90 %), critical (> 99 %), exceeded
QUOTA_USED = (0.25, 0.95, 0.995, 1.0)
CREATED = "2024-04-01T09:00:00Z"
MODIFIED = "2026-11-20T08:30:15.1234567Z"


def _guid(*parts: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256("|".join(parts).encode()).digest()[:16]))


def quota_of(position: int) -> dict[str, Any]:
    used = int(QUOTA_TOTAL * QUOTA_USED[position % len(QUOTA_USED)])
    state = ("normal", "nearing", "critical", "exceeded")[position % len(QUOTA_USED)]
    return {"deleted": 0, "remaining": max(0, QUOTA_TOTAL - used), "state": state, "total": QUOTA_TOTAL, "used": used}


class Sites:
    def __init__(self, tenant: SyntheticTenant, tokens: PageTokens, drives: OneDrives) -> None:
        self._tokens = tokens
        self._drives = drives
        # (library id, item id, permission id) -> the kind of share the emulator made: what a classifier must find
        self.kinds: dict[tuple[str, str, str], str] = {}
        self.host = f"{tenant.default_domain.split('.')[0]}.sharepoint.com"
        self.sites: list[dict[str, Any]] = [self._site("Communication site", "", root=True)]
        groups = [group for group in tenant.groups if group.get("mail")][:GROUP_SITES]
        self.sites += [self._site(group["displayName"], f"/sites/{group['mailNickname']}") for group in groups]
        # site id -> its libraries (drive resources, quota included)
        self.libraries: dict[str, list[dict[str, Any]]] = {
            site["id"]: [
                self._library(site, name, number * len(LIBRARIES) + offset) for offset, name in enumerate(LIBRARIES)
            ]
            for number, site in enumerate(self.sites)
        }
        member = next((u for u in tenant.users if u["userType"] == "Member" and u["assignedLicenses"]), None)
        self._personal_owner = member
        if member is not None:
            personal = self._site(member["displayName"], f"/personal/{member['id']}", personal=True)
            self.sites.append(personal)

    @property
    def library_ids(self) -> set[str]:
        return {library["id"] for libraries in self.libraries.values() for library in libraries}

    def page_of_sites(self, base: str, options: QueryOptions) -> dict[str, Any]:
        options.allow_only(("$top", "$skiptoken", "$select"))
        return self._page("sites", self.sites, f"{base}/v1.0/sites/getAllSites", base, options)

    def page_of_drives(self, site_id: str, base: str, options: QueryOptions) -> dict[str, Any]:
        options.allow_only(("$top", "$skiptoken", "$select"))
        site = next((site for site in self.sites if site["id"].lower() == site_id.lower()), None)
        if site is None:
            raise GraphError(404, "itemNotFound", "Requested site could not be found")
        if site.get("isPersonalSite"):
            assert self._personal_owner is not None
            drives = [self._drives.drive_of_user(self._personal_owner["id"], base)]
        else:
            drives = self.libraries[site["id"]]
        return self._page(f"drives|{site['id']}", drives, f"{base}/v1.0/sites/{site['id']}/drives", base, options)

    def _page(
        self, scope: str, items: list[dict[str, Any]], link: str, base: str, options: QueryOptions
    ) -> dict[str, Any]:
        size = page_size(options.get("$top"), default=200, maximum=999)
        token = options.get("$skiptoken")
        offset = self._tokens.offset(scope, token) if token is not None else 0
        answer: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#{scope.split('|')[0]}"}
        if offset + size < len(items):
            carried = options.link_query(without="$skiptoken")
            skip = self._tokens.issue(scope, offset + size)
            answer["@odata.nextLink"] = f"{link}?{carried + '&' if carried else ''}$skiptoken={skip}"
        answer["value"] = items[offset : offset + size]
        return answer

    def _site(self, name: str, path: str, *, root: bool = False, personal: bool = False) -> dict[str, Any]:
        host = f"{self.host.replace('.sharepoint.com', '-my.sharepoint.com')}" if personal else self.host
        site: dict[str, Any] = {
            "id": f"{host},{_guid(host, path, 'site')},{_guid(host, path, 'web')}",
            "name": name,
            "displayName": name,
            "description": f"{name} のサイト",
            "createdDateTime": CREATED,
            "lastModifiedDateTime": MODIFIED,
            "webUrl": f"https://{host}{path}",
            "isPersonalSite": personal,
            "root": {},
            "siteCollection": {"hostName": host, "dataLocationCode": "JPN"},
        }
        if root:
            site["siteCollection"]["root"] = {}
        return site

    def _library(self, site: dict[str, Any], name: str, position: int) -> dict[str, Any]:
        drive_id = f"b!{_guid(site['id'], name).replace('-', '')}"
        owners = {"id": _guid(site["id"], "owners"), "displayName": f"{site['displayName']} Owners"}
        drive: Drive = self._drives.build_drive(drive_id, owners, {"siteGroup": owners}, position, self.kinds)
        self._drives.add_drive(drive)
        return {
            "id": drive_id,
            "driveType": "documentLibrary",
            "name": name,
            "description": "",
            "createdDateTime": CREATED,
            "lastModifiedDateTime": MODIFIED,
            "webUrl": f"{site['webUrl']}/{name.replace(' ', '%20')}",
            "owner": {"group": {"id": owners["id"], "displayName": owners["displayName"]}},
            "quota": quota_of(position),
        }
