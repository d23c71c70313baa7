"""The published throttling limits: token buckets per class with real Retry-After windows, the over-limit
counter, and the least time a list of requests needs under them."""

from __future__ import annotations

import threading

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator, RegisteredClient
from m365_pipeline.emulator.identity import ALL_PERMISSIONS
from m365_pipeline.emulator.limits import LimitClass, Limiter, minimum_seconds, resource_units
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline_tests.emulator.helpers import GRAPH, ManualClock, signed_in

REPORT = f"{GRAPH}/reports/authenticationMethods/userRegistrationDetails?$top=10"
POLICIES = f"{GRAPH}/identity/conditionalAccess/policies"
SECOND_APP = "36500000-0000-4000-8000-00000000a002"


@pytest.fixture(scope="module")
def small() -> SyntheticTenant:
    return generate_tenant(51, 200)


def test_resource_unit_costs_follow_the_published_table() -> None:
    assert resource_units(2, select=False, expand=False, small_top=False) == 2
    assert resource_units(2, select=True, expand=False, small_top=False) == 1
    assert resource_units(5, select=True, expand=True, small_top=True) == 4
    assert resource_units(1, select=True, expand=False, small_top=True) == 1  # never below 1


@pytest.mark.parametrize(("users", "budget"), [(10, 3500), (200, 5000), (501, 8000)])
def test_the_identity_bucket_holds_the_tenant_sizes_budget_and_refills_over_ten_seconds(
    users: int, budget: int
) -> None:
    clock = ManualClock()
    limiter = Limiter(clock, enabled=True)
    for _ in range(budget // 2):
        assert limiter.take("t", "app", LimitClass.IDENTITY, 2, users).allowed
    refused = limiter.take("t", "app", LimitClass.IDENTITY, 2, users)
    assert not refused.allowed and refused.retry_after == 1
    assert limiter.take("t", "other-app", LimitClass.IDENTITY, 2, users).allowed  # per app
    clock.advance(10)
    assert limiter.take("t", "app", LimitClass.IDENTITY, budget, users).allowed
    assert limiter.over_limit() == {"t": {"identity": 1}}


def test_a_report_retried_before_its_retry_after_is_refused_again(small: SyntheticTenant) -> None:
    clock = ManualClock()
    emulator = GraphEmulator(small, clock=clock, limits=True)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), small.tenant_id)
    statuses = [http.get(REPORT).status_code for _ in range(5)]
    assert statuses == [200] * 5
    refused = http.get(REPORT)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "TooManyRequests"
    assert refused.headers["Retry-After"] == "2"
    clock.advance(1)
    early = http.get(REPORT)
    assert early.status_code == 429 and early.headers["Retry-After"] == "1"
    clock.advance(1)
    assert http.get(REPORT).status_code == 200
    assert emulator.over_limit() == {small.tenant_id: {"reports": 2}}


def test_conditional_access_is_one_request_a_second_for_all_apps_without_retry_after(
    small: SyntheticTenant,
) -> None:
    clock = ManualClock()
    clients = {
        "36500000-e3a1-4d2f-8b6c-9a0d3e365001": RegisteredClient("first-secret", ALL_PERMISSIONS),
        SECOND_APP: RegisteredClient("second-secret", ALL_PERMISSIONS),
    }
    emulator = GraphEmulator(small, clock=clock, limits=True, clients=clients)
    first = signed_in(
        httpx.Client(transport=EmulatorTransport(emulator)),
        small.tenant_id,
        "36500000-e3a1-4d2f-8b6c-9a0d3e365001",
        "first-secret",
    )
    second = signed_in(
        httpx.Client(transport=EmulatorTransport(emulator)), small.tenant_id, SECOND_APP, "second-secret"
    )
    assert first.get(POLICIES).status_code == 200
    refused = second.get(POLICIES)
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    clock.advance(1)
    assert second.get(POLICIES).status_code == 200
    assert emulator.over_limit(small.tenant_id) == {small.tenant_id: {"conditionalAccess": 1}}


def test_answers_carry_resource_units_and_the_budget_share_past_80_percent(small: SyntheticTenant) -> None:
    clock = ManualClock()
    emulator = GraphEmulator(small, clock=clock, limits=True)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), small.tenant_id)
    answers = [http.get(REPORT) for _ in range(5)]
    assert "x-ms-throttle-limit-percentage" not in answers[3].headers
    assert answers[4].headers["x-ms-throttle-limit-percentage"] == "1.0"
    users = http.get(f"{GRAPH}/users?$select=id&$top=10")
    assert users.headers["x-ms-resource-unit"] == "1"


def test_limits_are_off_unless_switched_on(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), small.tenant_id)
    assert {http.get(POLICIES).status_code for _ in range(5)} == {200}
    assert emulator.over_limit() == {}


def test_the_minimum_time_the_published_budget_allows() -> None:
    assert minimum_seconds([(LimitClass.IDENTITY, "", 1.0)] * 20_000, tenant_users=20_000) == pytest.approx(15.0)
    assert minimum_seconds([(LimitClass.REPORTS, "", 1.0)] * 25, tenant_users=10) == pytest.approx(40.0)
    assert minimum_seconds([(LimitClass.IDENTITY, "", 2.0)] * 10, tenant_users=10) == 0.0


def test_the_emulator_prices_a_list_of_requests(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    methods = [f"/users/{user['id']}/authentication/methods" for user in small.users] * 30  # 6,000 RU
    assert emulator.minimum_seconds(methods) == pytest.approx((6000 - 5000) / 500)
    assert emulator.minimum_seconds(["/reports/authenticationMethods/userRegistrationDetails"] * 7) == 4.0


def _batched_methods(http: httpx.Client, urls: list[str]) -> list[int]:
    """The inner statuses of ``urls`` sent 20 to a $batch."""
    statuses = []
    for start in range(0, len(urls), 20):
        requests = [{"id": str(number), "method": "GET", "url": url} for number, url in enumerate(urls[start:][:20])]
        answer = http.post(f"{GRAPH}/$batch", json={"requests": requests})
        statuses += [response["status"] for response in answer.json()["responses"]]
    return statuses


def test_the_emulator_prices_the_requests_it_served_and_starts_afresh_on_reset() -> None:
    tenant = generate_tenant(52, 40)  # < 50 users: 3,500 resource units per 10 s
    clock = ManualClock()
    emulator = GraphEmulator(tenant, clock=clock, limits=True)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), tenant.tenant_id)
    urls = [f"/users/{user['id']}/authentication/methods" for user in tenant.users] * 100  # 1 unit each

    first = _batched_methods(http, urls)  # 4,000 against a full bucket of 3,500
    clock.advance(2)  # 700 units more
    second = _batched_methods(http, urls[:1000])

    assert (first.count(200), first.count(429)) == (3500, 500)
    assert (second.count(200), second.count(429)) == (700, 300)
    assert emulator.limiter.minimum_seconds_spent(tenant.tenant_id) == pytest.approx((4200 - 3500) / 350)
    assert emulator.minimum_seconds(urls + urls[:200]) == pytest.approx(2.0)  # the same priced from the URLs
    admin = http.get("http://localhost/_emulator/limits").json()
    assert admin["overLimit"] == {tenant.tenant_id: {"identity": 800}} and admin["minimumSeconds"] == 2.0
    reset = http.post("http://localhost/_emulator/limits", json={"reset": True}).json()
    assert reset == {"enabled": True, "overLimit": {}, "minimumSeconds": 0.0}
    assert set(_batched_methods(http, urls[:3500])) == {200}  # full buckets again


def test_concurrent_clients_of_one_app_share_its_budget(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small, clock=ManualClock(), limits=True)
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), small.tenant_id)
        for _ in range(5):
            status = http.get(REPORT).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 5 + [429] * 15
    assert emulator.over_limit() == {small.tenant_id: {"reports": 15}}
