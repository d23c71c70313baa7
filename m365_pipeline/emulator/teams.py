"""Teams as the emulator serves them (team-list.md, team-get.md, team-list-installedapps.md).

Every group whose ``resourceProvisioningOptions`` holds ``Team`` is a team. ``GET /teams`` pages the tenant's
teams with their basic properties (id, displayName, description); ``GET /teams/{id}`` answers the team with its
member, guest, messaging and fun settings; ``GET /teams/{id}/installedApps`` its app installations, with
``$expand=teamsAppDefinition`` the definition of each app. Settings and apps are a pure function of the team's id.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from m365_pipeline.emulator.odata import GraphError
from m365_pipeline.emulator.tenant import SyntheticTenant

_APPS = (
    ("com.microsoft.teamspace.tab.planner", "Planner", "store"),
    ("com.microsoft.teamspace.tab.wiki", "Wiki", "store"),
    ("0d820ecd-def2-4297-adad-78056cde7c78", "OneNote", "store"),
    ("26bc2873-6023-480c-a11b-76b66605ce8c", "Approvals", "store"),
    ("7d0f9d56-4d2e-45b2-9d8d-0b8d8f1d2a11", "Contoso Expenses", "organization"),
    ("b3f5a1c2-9d4e-4f60-8a7b-2c1d0e9f8a76", "Trello", "store"),
)


def _rng(team_id: str, purpose: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{team_id}|{purpose}".encode()).digest())


class TeamsDirectory:
    def __init__(self, tenant: SyntheticTenant) -> None:
        self.teams = [group for group in tenant.groups if "Team" in (group.get("resourceProvisioningOptions") or [])]
        self._by_id = {team["id"]: team for team in self.teams}

    def basic(self, team: dict[str, Any]) -> dict[str, Any]:
        return {"id": team["id"], "displayName": team["displayName"], "description": team["description"]}

    def team(self, team_id: str) -> dict[str, Any]:
        group = self._find(team_id)
        rng = _rng(group["id"], "settings")
        flag = rng.random
        return {
            "id": group["id"],
            "createdDateTime": group["createdDateTime"],
            "displayName": group["displayName"],
            "description": group["description"],
            "internalId": f"19:{group['id'].replace('-', '')}@thread.tacv2",
            "classification": group["classification"],
            "specialization": "none",
            "visibility": (group["visibility"] or "private").lower(),
            "webUrl": f"https://teams.microsoft.com/l/team/19%3a{group['id'].replace('-', '')}%40thread.tacv2",
            "isArchived": flag() < 0.1,
            "memberSettings": {
                "allowCreateUpdateChannels": flag() < 0.8,
                "allowCreatePrivateChannels": flag() < 0.6,
                "allowDeleteChannels": flag() < 0.5,
                "allowAddRemoveApps": flag() < 0.7,
                "allowCreateUpdateRemoveTabs": flag() < 0.8,
                "allowCreateUpdateRemoveConnectors": flag() < 0.6,
            },
            "guestSettings": {"allowCreateUpdateChannels": flag() < 0.2, "allowDeleteChannels": flag() < 0.1},
            "messagingSettings": {
                "allowUserEditMessages": flag() < 0.9,
                "allowUserDeleteMessages": flag() < 0.8,
                "allowOwnerDeleteMessages": flag() < 0.9,
                "allowTeamMentions": flag() < 0.9,
                "allowChannelMentions": flag() < 0.9,
            },
            "funSettings": {
                "allowGiphy": flag() < 0.7,
                "giphyContentRating": "moderate" if flag() < 0.8 else "strict",
                "allowStickersAndMemes": flag() < 0.8,
                "allowCustomMemes": flag() < 0.5,
            },
        }

    def installed_apps(self, team_id: str, expand: bool) -> list[dict[str, Any]]:
        group = self._find(team_id)
        rng = _rng(group["id"], "apps")
        chosen = [app for app in _APPS if rng.random() < 0.5]
        installations = []
        for app_id, name, distribution in chosen:
            installation: dict[str, Any] = {"id": f"{group['id']}##{app_id}"}
            if expand:
                installation["teamsAppDefinition"] = {
                    "id": hashlib.sha256(app_id.encode()).hexdigest()[:32],
                    "teamsAppId": app_id,
                    "displayName": name,
                    "version": f"1.{int(rng.random() * 9)}.0",
                    "publishingState": "published",
                    "distributionMethod": distribution,
                }
            installations.append(installation)
        return installations

    def _find(self, team_id: str) -> dict[str, Any]:
        team = self._by_id.get(team_id.lower())
        if team is None:
            raise GraphError(404, "NotFound", f"No team found with Group Id {team_id}")
        return team
