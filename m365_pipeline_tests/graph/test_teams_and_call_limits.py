"""The Teams and call records limits (throttling-limits.md): the emulator enforces them with Retry-After windows,
and the client's service limiter keeps within them so that the emulator refuses nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.in_process import EMULATOR_GRAPH_BASE_URL
from m365_pipeline.emulator.teams import TeamsDirectory
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.rate_limit import RateLimiter
from m365_pipeline.graph.throttling import (
    HEADROOM,
    ClassLimit,
    ServiceClass,
    ServiceLimiter,
    published_limits,
    service_class,
)
from m365_pipeline_tests.emulator.helpers import GRAPH, ManualClock, signed_in
from m365_pipeline_tests.graph.emulated import emulator_tokens
from m365_pipeline_tests.graph.fake_clock import FakeClock

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def tenant() -> SyntheticTenant:
    return generate_tenant(7, 1000)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/teams", ServiceClass.TEAMS),
        ("https://graph.microsoft.com/v1.0/teams?$skiptoken=x", ServiceClass.TEAMS),
        ("/teams/abc/installedApps?$expand=teamsAppDefinition", ServiceClass.TEAMS),
        ("/communications/callRecords", ServiceClass.CALL_RECORDS),
        (
            "https://graph.microsoft.com/v1.0/communications/callRecords/abc/sessions?$skiptoken=x",
            ServiceClass.CALL_RECORDS,
        ),
        ("/users/abc/joinedTeams", ServiceClass.IDENTITY),
        ("/groups/teams-like-name", ServiceClass.IDENTITY),
    ],
)
def test_teams_and_call_records_paths_fall_under_their_service(path: str, kind: ServiceClass) -> None:
    assert service_class(path) is kind


def test_the_client_keeps_the_published_budgets_of_teams_and_call_records() -> None:
    limits = published_limits(3500)
    assert limits[ServiceClass.TEAMS] == ClassLimit(30, 1.0, per_app=True, counts_units=False)
    assert limits[ServiceClass.CALL_RECORDS] == ClassLimit(1500, 20.0, per_app=True, counts_units=False)


def test_the_emulator_allows_thirty_teams_requests_a_second_and_four_on_one_team(tenant: SyntheticTenant) -> None:
    clock = ManualClock(NOW)
    emulator = GraphEmulator(tenant, clock=clock, limits=True)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), tenant.tenant_id)
    team = TeamsDirectory(tenant).teams[0]["id"]

    assert {http.get(f"{GRAPH}/teams").status_code for _ in range(30)} == {200}
    refused = http.get(f"{GRAPH}/teams")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    clock.advance(1)
    assert {http.get(f"{GRAPH}/teams/{team}").status_code for _ in range(4)} == {200}
    on_one_team = http.get(f"{GRAPH}/teams/{team}/installedApps")
    assert on_one_team.status_code == 429 and on_one_team.headers["Retry-After"] == "1"
    assert http.get(f"{GRAPH}/teams/{TeamsDirectory(tenant).teams[1]['id']}").status_code == 200
    assert emulator.over_limit() == {tenant.tenant_id: {"teams": 1, "team": 1}}


def _client(emulator: GraphEmulator, clock: FakeClock, limiter: ServiceLimiter | None) -> GraphClient:
    http = httpx.Client(transport=EmulatorTransport(emulator))
    return GraphClient(
        EMULATOR_GRAPH_BASE_URL,
        emulator_tokens(emulator, http),
        http,
        limiter=limiter,
        clock=clock,
        rng=random.Random(0),
    )


@pytest.mark.parametrize("limited", [True, False])
def test_the_client_sends_teams_requests_within_the_limit_the_emulator_enforces(
    tenant: SyntheticTenant, limited: bool
) -> None:
    clock = FakeClock()
    emulator = GraphEmulator(tenant, clock=lambda: NOW + clock.elapsed, limits=True)

    def in_process(key: str, limit: ClassLimit) -> RateLimiter:
        return limit.limiter(key, clock, None)

    limiter = ServiceLimiter(tenant.tenant_id, "app", published_limits(3500), in_process) if limited else None
    with _client(emulator, clock, limiter) as client:
        pages = [client.get_json("/teams")["value"] for _ in range(75)]

    assert all(len(page) == len(TeamsDirectory(tenant).teams) for page in pages)
    if limited:
        assert emulator.over_limit() == {}
        # 30 at once, 30 more a window later and the last 15 a window after that (the window kept HEADROOM wide)
        assert sum(clock.sleeps) == pytest.approx(2 / HEADROOM)
    else:
        assert emulator.over_limit()[tenant.tenant_id]["teams"] > 0
