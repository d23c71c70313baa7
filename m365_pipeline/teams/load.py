"""Load the tenant's teams snapshot from the raw store: both tables replaced in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from m365_pipeline.entities.teams import TEAM_INSTALLED_APPS, TEAMS
from m365_pipeline.entities.types import parse_graph_timestamp
from m365_pipeline.raw_store import RawStore
from m365_pipeline.teams.extract import SNAPSHOT
from m365_pipeline.warehouse.staging import write_rows
from m365_pipeline.warehouse.teams_tables import team_installed_apps, teams

_MEMBER = {
    "members_create_update_channels": "allowCreateUpdateChannels",
    "members_create_private_channels": "allowCreatePrivateChannels",
    "members_delete_channels": "allowDeleteChannels",
    "members_add_remove_apps": "allowAddRemoveApps",
    "members_manage_tabs": "allowCreateUpdateRemoveTabs",
    "members_manage_connectors": "allowCreateUpdateRemoveConnectors",
}
_GUEST = {"guests_create_update_channels": "allowCreateUpdateChannels", "guests_delete_channels": "allowDeleteChannels"}
_MESSAGING = {
    "users_edit_messages": "allowUserEditMessages",
    "users_delete_messages": "allowUserDeleteMessages",
    "owners_delete_messages": "allowOwnerDeleteMessages",
    "team_mentions": "allowTeamMentions",
    "channel_mentions": "allowChannelMentions",
}
_FUN = {
    "giphy": "allowGiphy",
    "giphy_content_rating": "giphyContentRating",
    "stickers_and_memes": "allowStickersAndMemes",
    "custom_memes": "allowCustomMemes",
}


@dataclass(frozen=True)
class TeamsLoad:
    tenant_id: str
    teams: int
    installed_apps: int


def load_teams(engine: sa.Engine, store: RawStore, tenant: str) -> TeamsLoad:
    teams_path = store.path(TEAMS.name, tenant, SNAPSHOT)
    apps_path = store.path(TEAM_INSTALLED_APPS.name, tenant, SNAPSHOT)
    for path in (teams_path, apps_path):
        if not store.exists(path):
            raise FileNotFoundError(f"tenant {tenant}: no {store.location(path)}; materialize raw/teams first")
    tenant_id = store.file_metadata(teams_path)["m365.tenant_id"]
    counts = {"teams": 0, "apps": 0}
    with engine.begin() as connection:
        for table in (team_installed_apps, teams):
            connection.execute(table.delete().where(table.c.tenant_id == tenant_id))
        for batch in store.iter_record_batches(teams_path):
            rows = [_team(tenant_id, record) for record in batch]
            write_rows(connection, teams, rows)
            counts["teams"] += len(rows)
        for batch in store.iter_record_batches(apps_path):
            apps = [_app(tenant_id, record) for record in batch]
            write_rows(connection, team_installed_apps, apps)
            counts["apps"] += len(apps)
    return TeamsLoad(tenant_id, counts["teams"], counts["apps"])


def _settings(record: dict[str, Any], facet: str, names: dict[str, str]) -> dict[str, Any]:
    values = record.get(facet) or {}
    return {column: values.get(name) for column, name in names.items()}


def _team(tenant_id: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "id": record["id"].lower(),
        "display_name": record.get("displayName"),
        "description": record.get("description"),
        "visibility": record.get("visibility"),
        "is_archived": record.get("isArchived"),
        "classification": record.get("classification"),
        "specialization": record.get("specialization"),
        "created_at": parse_graph_timestamp(record.get("createdDateTime")),
        "web_url": record.get("webUrl"),
        **_settings(record, "memberSettings", _MEMBER),
        **_settings(record, "guestSettings", _GUEST),
        **_settings(record, "messagingSettings", _MESSAGING),
        **_settings(record, "funSettings", _FUN),
    }


def _app(tenant_id: str, record: dict[str, Any]) -> dict[str, Any]:
    definition = record.get("teamsAppDefinition") or {}
    return {
        "tenant_id": tenant_id,
        "team_id": record["teamId"].lower(),
        "installation_id": record["id"],
        "teams_app_id": definition.get("teamsAppId"),
        "display_name": definition.get("displayName"),
        "version": definition.get("version"),
        "distribution_method": definition.get("distributionMethod"),
    }
