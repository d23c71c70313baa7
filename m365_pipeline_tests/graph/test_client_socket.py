"""The client over a real socket: the emulator served on 127.0.0.1, connections dropped mid-body."""

from __future__ import annotations

from collections import Counter

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.entities import USERS
from m365_pipeline.settings import FaultRates
from m365_pipeline_tests.graph.emulated import graph_requests, served_client
from m365_pipeline_tests.graph.fake_clock import FakeClock


def test_extraction_over_a_socket_with_throttling_outages_and_drops_returns_every_user_once(
    large_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    faults = FaultRates(throttle=0.05, retry_after=1, unavailable=0.02, drop=0.03, seed=9)
    emulator = GraphEmulator(large_tenant, faults)
    with serve(emulator) as served, served_client(served.url, large_tenant.tenant_id, clock, page_size=100) as client:
        ids = [user["id"] for user in client.iter_items(USERS.path, USERS.params, cost=2)]
    assert len(ids) == len(set(ids)) == 5000
    assert set(ids) == {user["id"] for user in large_tenant.users}
    seen = Counter(status for _, _, status in graph_requests(emulator))
    dropped = emulator.faults.counts
    assert seen[429] > 0 and seen[503] > 0 and sum(dropped.values()) > seen[429] + seen[503]  # drops happened
    # a dropped answer is logged by the emulator as a 200 whose body never arrived whole
    assert seen[200] == 50 + (sum(dropped.values()) - seen[429] - seen[503])
    assert len(clock.sleeps) == sum(dropped.values())
    # over plain http the token comes from the client-credentials grant, not from msal's discovery
    sign_in = [(method, path) for method, path, _ in emulator.requests if not path.startswith("/v1.0/")]
    assert sign_in == [("POST", f"/{large_tenant.tenant_id}/oauth2/v2.0/token")]
