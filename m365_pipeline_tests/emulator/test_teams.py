"""The emulator's teams: paged basic list, a team with its settings, installed apps with their definitions."""

from __future__ import annotations

import httpx

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline_tests.emulator.helpers import GRAPH, signed_in


def test_teams_are_the_groups_provisioned_as_teams_with_their_settings_and_apps() -> None:
    tenant = generate_tenant(43, 400)
    http = signed_in(httpx.Client(transport=EmulatorTransport(GraphEmulator(tenant))), tenant.tenant_id)
    expected = {group["id"] for group in tenant.groups if "Team" in group["resourceProvisioningOptions"]}

    listed, url = [], f"{GRAPH}/teams?$top=2"
    while url:
        page = http.get(url).json()
        assert len(page["value"]) <= 2 and set(page["value"][0]) == {"id", "displayName", "description"}
        listed += [team["id"] for team in page["value"]]
        url = page.get("@odata.nextLink")
    team = http.get(f"{GRAPH}/teams/{listed[0]}").json()
    plain = http.get(f"{GRAPH}/teams/{listed[0]}/installedApps").json()["value"]
    expanded = http.get(f"{GRAPH}/teams/{listed[0]}/installedApps", params={"$expand": "teamsAppDefinition"}).json()

    assert sorted(listed) == sorted(expected)
    assert {"memberSettings", "guestSettings", "messagingSettings", "funSettings"} <= set(team)
    assert all("teamsAppDefinition" not in app for app in plain)
    assert [app["id"] for app in expanded["value"]] == [app["id"] for app in plain]
    assert all(app["teamsAppDefinition"]["displayName"] for app in expanded["value"])
    assert http.get(f"{GRAPH}/teams/00000000-0000-0000-0000-000000000000").status_code == 404
