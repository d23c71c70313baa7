"""The tenant's teams into the raw store: one file of teams (settings included) and one of installed apps.

``GET /teams`` pages the teams (basic properties); each team is then read whole (``GET /teams/{id}``) and its
apps listed (``GET /teams/{id}/installedApps?$expand=teamsAppDefinition``). Both files are written as the pages
arrive and replace the tenant's previous snapshot in the store. Graph allows 30 requests per second per app and
tenant and 4 per second on one team; this extraction sends one request at a time, two per team.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from m365_pipeline.entities.teams import TEAM_INSTALLED_APPS, TEAMS
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.organization import fetch_tenant
from m365_pipeline.raw_store import RawStore, StoredFile

SNAPSHOT = "current"


@dataclass(frozen=True)
class TeamsExtract:
    teams: StoredFile
    installed_apps: StoredFile


def extract_teams(client: GraphClient, store: RawStore, tenant: str) -> TeamsExtract:
    identity = fetch_tenant(client)
    metadata = {key.encode(): value.encode() for key, value in identity.as_file_metadata().items()}
    with store.staging() as folder:
        teams_file, apps_file = folder / "teams.parquet", folder / "team_installed_apps.parquet"
        with (
            pq.ParquetWriter(teams_file, TEAMS.arrow_schema.with_metadata(metadata)) as teams_writer,
            pq.ParquetWriter(apps_file, TEAM_INSTALLED_APPS.arrow_schema.with_metadata(metadata)) as apps_writer,
        ):
            for teams, apps in _pages(client):
                if teams:
                    teams_writer.write_batch(pa.RecordBatch.from_pylist(teams, schema=TEAMS.arrow_schema))
                if apps:
                    apps_writer.write_batch(pa.RecordBatch.from_pylist(apps, schema=TEAM_INSTALLED_APPS.arrow_schema))
        stored_teams = store.put(teams_file, TEAMS.name, tenant, SNAPSHOT)
        stored_apps = store.put(apps_file, TEAM_INSTALLED_APPS.name, tenant, SNAPSHOT)
    return TeamsExtract(stored_teams, stored_apps)


def _pages(client: GraphClient) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Per page of ``GET /teams``: its teams read whole, and their installed apps."""
    for page in client.iter_pages("/teams"):
        teams, apps = [], []
        for basic in page:
            team_id = basic["id"]
            teams.append(client.get_json(f"/teams/{team_id}", cost=1))
            installed = client.get_json(f"/teams/{team_id}/installedApps", {"$expand": "teamsAppDefinition"})
            apps += [{"teamId": team_id, **installation} for installation in installed.get("value") or []]
        yield teams, apps
