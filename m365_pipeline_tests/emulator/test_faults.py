"""Injected faults: their rates, their determinism, their shape on the wire, and paging that survives them."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.faults import FaultInjector, FaultKind, format_retry_after
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.settings import FaultRates
from m365_pipeline_tests.emulator.helpers import GRAPH, signed_in

MIXED = FaultRates(throttle=0.10, throttle_bare=0.05, unavailable=0.05, gateway_timeout=0.04, drop=0.06, seed=7)


def decisions(rates: FaultRates, count: int) -> list[FaultKind | None]:
    injector = FaultInjector(rates)
    return [fault.kind if (fault := injector.decide()) else None for _ in range(count)]


def test_fault_rates_are_roughly_as_configured() -> None:
    counts = Counter(decisions(MIXED, 20_000))
    expected = {
        FaultKind.THROTTLE: 0.10,
        FaultKind.THROTTLE_BARE: 0.05,
        FaultKind.UNAVAILABLE: 0.05,
        FaultKind.GATEWAY_TIMEOUT: 0.04,
        FaultKind.DROP: 0.06,
        None: 0.70,
    }
    for kind, rate in expected.items():
        assert abs(counts[kind] / 20_000 - rate) < 0.012, (kind, counts[kind])


def test_faults_are_deterministic_for_a_seed() -> None:
    assert decisions(MIXED, 500) == decisions(MIXED, 500)
    other_seed = FaultRates(**{**MIXED.__dict__, "seed": 8})
    assert decisions(MIXED, 500) != decisions(other_seed, 500)


def test_no_rates_no_faults() -> None:
    assert set(decisions(FaultRates(), 1000)) == {None}


def test_the_injector_counts_every_decision_under_concurrency() -> None:
    injector = FaultInjector(FaultRates(throttle=0.5, seed=1))
    threads = [threading.Thread(target=lambda: [injector.decide() for _ in range(500)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 800 < injector.counts[FaultKind.THROTTLE] < 1200
    assert set(injector.counts) == {FaultKind.THROTTLE}


@pytest.mark.parametrize(("seconds", "text"), [(1.0, "1"), (30, "30"), (2.128, "2.128"), (0.5, "0.5")])
def test_retry_after_is_written_like_graph(seconds: float, text: str) -> None:
    assert format_retry_after(seconds) == text


def test_each_throttle_draws_its_retry_after_from_the_range_the_same_way_for_a_seed() -> None:
    rates = FaultRates(throttle=0.5, retry_after=0.0, retry_after_max=2.0, seed=3)

    def drawn() -> list[str | None]:
        injector = FaultInjector(rates)
        faults = [injector.decide() for _ in range(400)]
        return [fault.retry_after for fault in faults if fault is not None]

    values = drawn()
    seconds = [float(value) for value in values if value is not None]
    assert len(seconds) == len(values) > 150
    assert all(0.0 <= value <= 2.0 for value in seconds)
    assert min(seconds) < 0.2 and max(seconds) > 1.8 and len(set(seconds)) > 100
    assert drawn() == values


def answer_under(tenant: SyntheticTenant, rates: FaultRates) -> httpx.Response:
    with httpx.Client(transport=EmulatorTransport(GraphEmulator(tenant, rates))) as http:
        return signed_in(http, tenant.tenant_id).get(f"{GRAPH}/users")


def test_throttling_with_retry_after(tenant: SyntheticTenant) -> None:
    response = answer_under(tenant, FaultRates(throttle=1.0, retry_after=2.5))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2.5"
    assert response.json()["error"]["code"] == "TooManyRequests"
    assert response.headers["x-ms-throttle-scope"].startswith("Tenant_Application/ReadWrite/")
    assert response.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"


def test_throttling_without_retry_after(tenant: SyntheticTenant) -> None:
    response = answer_under(tenant, FaultRates(throttle_bare=1.0))
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    assert "x-ms-throttle-scope" in response.headers


@pytest.mark.parametrize(
    ("rates", "status"), [(FaultRates(unavailable=1.0), 503), (FaultRates(gateway_timeout=1.0), 504)]
)
def test_server_errors_come_without_retry_after(tenant: SyntheticTenant, rates: FaultRates, status: int) -> None:
    response = answer_under(tenant, rates)
    assert response.status_code == status
    assert "retry-after" not in response.headers
    assert response.json()["error"]["innerError"]["request-id"] == response.headers["request-id"]


def test_a_drop_over_the_in_process_transport_raises_remote_protocol_error(tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(tenant, FaultRates(drop=1.0))
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        signed_in(http, tenant.tenant_id)
        with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
            http.get(f"{GRAPH}/users")
    assert emulator.faults.counts == {FaultKind.DROP: 1}


def test_a_drop_cuts_the_body_about_halfway(tenant: SyntheticTenant) -> None:
    from m365_pipeline.emulator.app import EmulatorRequest

    emulator = GraphEmulator(tenant, FaultRates(drop=1.0))
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        token = signed_in(http, tenant.tenant_id).headers["Authorization"]
    answer = emulator.handle(EmulatorRequest("GET", f"{GRAPH}/users", {"Authorization": token}))
    assert answer.status == 200 and answer.drop_after == len(answer.body) // 2 > 0


def test_paging_stays_exact_when_every_kind_of_fault_interrupts_it(tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(tenant, MIXED)
    seen: list[str] = []
    retries = 0
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        signed_in(http, tenant.tenant_id)
        url: str | None = f"{GRAPH}/users?$select=id&$top=40"
        while url:
            try:
                response = http.get(url)
            except httpx.RemoteProtocolError:
                retries += 1
                continue
            if response.status_code in (429, 503, 504):
                retries += 1
                continue
            body = response.json()
            seen += [user["id"] for user in body["value"]]
            url = body.get("@odata.nextLink")
    assert seen == [user["id"] for user in tenant.users]
    assert retries == sum(emulator.faults.counts.values()) > 0
    assert set(emulator.faults.counts) == set(FaultKind)
