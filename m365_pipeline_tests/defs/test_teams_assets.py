"""The teams job: a tenant's teams with their settings and installed apps, from a served emulator to the warehouse."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline.definitions import build_definitions
from m365_pipeline.defs.teams.assets import TEAMS_JOB_NAME
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.teams import TeamsDirectory
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.settings import load_settings
from m365_pipeline.warehouse.teams_tables import team_installed_apps, teams

SEED, USERS = 43, 400


def test_the_teams_job_loads_every_team_with_its_settings_and_apps(
    embedded_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = generate_tenant(SEED, USERS)
    directory = TeamsDirectory(tenant)
    expected = {team["id"]: directory.team(team["id"]) for team in directory.teams}
    apps = {
        (team_id, installation["teamsAppDefinition"]["displayName"])
        for team_id in expected
        for installation in directory.installed_apps(team_id, expand=True)
    }
    assert len(expected) >= 3 and apps
    monkeypatch.setenv("M365_EMULATOR_SEED", str(SEED))
    monkeypatch.setenv("M365_EMULATOR_USERS", str(USERS))
    monkeypatch.setenv("M365_PAGE_SIZE", "2")
    with serve(GraphEmulator(tenant)) as served:
        monkeypatch.setenv("M365_EMULATOR_URL", served.url)
        job = build_definitions(load_settings()).resolve_job_def(TEAMS_JOB_NAME)
        result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=tenant.tenant_id)

    assert result.success
    engine = sa.create_engine(f"sqlite:///{embedded_default / 'warehouse.db'}")
    with engine.connect() as connection:
        loaded = {
            row.id: row
            for row in connection.execute(
                sa.select(teams.c.id, teams.c.is_archived, teams.c.guests_delete_channels, teams.c.giphy_content_rating)
            )
        }
        loaded_apps = set(
            connection.execute(sa.select(team_installed_apps.c.team_id, team_installed_apps.c.display_name)).all()
        )
    engine.dispose()
    assert set(loaded) == set(expected)
    for team_id, team in expected.items():
        assert loaded[team_id].is_archived == team["isArchived"]
        assert loaded[team_id].guests_delete_channels == team["guestSettings"]["allowDeleteChannels"]
        assert loaded[team_id].giphy_content_rating == team["funSettings"]["giphyContentRating"]
    assert loaded_apps == apps
