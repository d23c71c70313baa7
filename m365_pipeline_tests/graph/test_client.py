"""The Graph client against the in-process emulator: paging, retries, Retry-After, token refresh, errors."""

from __future__ import annotations

import logging
from collections import Counter

import httpx
import pytest

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator, RegisteredClient
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.entities import GROUPS, SUBSCRIBED_SKUS, USERS
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphAuthError, GraphError, GraphRetriesExhausted
from m365_pipeline.graph.rate_limit import InProcessTokenBucket
from m365_pipeline.graph.retry import RetryPolicy
from m365_pipeline.settings import FaultRates
from m365_pipeline_tests.graph.emulated import (
    EMULATOR_GRAPH_BASE_URL,
    RecordingTransport,
    RetryAfterAsDate,
    emulator_client,
    emulator_tokens,
    graph_requests,
)
from m365_pipeline_tests.graph.fake_clock import FakeClock

ISSUE_FAULTS = FaultRates(throttle=0.05, retry_after=1, unavailable=0.02, seed=4)


def user_ids(client: GraphClient) -> list[str]:
    return [user["id"] for user in client.iter_items(USERS.path, USERS.params, cost=USERS.resource_unit_cost)]


def statuses(emulator: GraphEmulator) -> Counter[int]:
    return Counter(status for _, _, status in graph_requests(emulator))


def test_extraction_under_the_issues_fault_rates_returns_every_user_once(
    large_tenant: SyntheticTenant, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = GraphEmulator(large_tenant, ISSUE_FAULTS)
    with (
        caplog.at_level(logging.WARNING, logger="m365_pipeline.graph"),
        emulator_client(emulator, clock, page_size=100) as client,
    ):
        ids = user_ids(client)
    assert len(ids) == len(set(ids)) == 5000
    assert set(ids) == {user["id"] for user in large_tenant.users}
    seen = statuses(emulator)
    assert seen[200] == 50 and seen[429] > 0 and seen[503] > 0  # the faults did happen
    assert len(clock.sleeps) == seen[429] + seen[503]
    assert clock.sleeps.count(1.0) >= seen[429]  # every 429 waited its Retry-After
    retry_lines = [record.getMessage() for record in caplog.records if "before retry" in record.getMessage()]
    assert len(retry_lines) == seen[429] + seen[503]
    assert all("/v1.0/users" in line for line in retry_lines)


def test_retry_after_in_seconds_is_slept_exactly(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant, FaultRates(throttle=0.3, retry_after=2.128, seed=1))
    with emulator_client(emulator, clock, page_size=20) as client:
        ids = user_ids(client)
    assert len(set(ids)) == 300
    throttled = statuses(emulator)[429]
    assert throttled > 0
    assert clock.sleeps == [2.128] * throttled


def test_retry_after_as_an_http_date_is_slept_until_that_moment(
    small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant, FaultRates(throttle=0.3, retry_after=3, seed=2))
    transport = RetryAfterAsDate(EmulatorTransport(emulator), clock)
    with emulator_client(emulator, clock, page_size=20, transport=transport) as client:
        ids = user_ids(client)
    assert len(set(ids)) == 300
    assert transport.dates and all(date.endswith(" GMT") for date in transport.dates)
    assert clock.sleeps == [3.0] * len(transport.dates)


def test_retry_after_beyond_the_policy_fails_without_waiting(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant, FaultRates(throttle=1.0, retry_after=1200))
    with emulator_client(emulator, clock) as client, pytest.raises(GraphRetriesExhausted) as raised:
        user_ids(client)
    assert "Retry-After 1200 s" in str(raised.value) and "max_retry_after 900 s" in str(raised.value)
    assert raised.value.status == 429 and raised.value.code == "TooManyRequests"
    assert clock.sleeps == []


def test_throttling_without_retry_after_backs_off_with_jitter(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant, FaultRates(throttle_bare=0.3, gateway_timeout=0.1, seed=5))
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    with emulator_client(emulator, clock, page_size=20, retry=policy) as client:
        ids = user_ids(client)
    assert len(set(ids)) == 300
    seen = statuses(emulator)
    assert seen[429] > 0 and seen[504] > 0
    assert len(clock.sleeps) == seen[429] + seen[504]
    assert all(0 <= wait <= 4.0 for wait in clock.sleeps)
    assert len(set(clock.sleeps)) == len(clock.sleeps)  # jittered, not a fixed wait


def test_retries_are_bounded_and_the_error_names_graphs_code_and_request_id(
    small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant, FaultRates(unavailable=1.0))
    policy = RetryPolicy(max_retries=3, base_delay=1.0, max_delay=8.0)
    with emulator_client(emulator, clock, retry=policy) as client, pytest.raises(GraphRetriesExhausted) as raised:
        user_ids(client)
    error = raised.value
    assert len(graph_requests(emulator)) == 4 == error.attempts
    assert error.status == 503 and error.code in {"serviceNotAvailable", "UnknownError"}
    assert error.request_id is not None and error.request_id in str(error)
    assert "/v1.0/users" in str(error) and "gave up after 4 attempts" in str(error)
    assert len(clock.sleeps) == 3
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(clock.sleeps, (1.0, 2.0, 4.0), strict=True))


def test_a_permanent_403_fails_at_once(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    groups_only = {EMULATOR_CLIENT_ID: RegisteredClient(EMULATOR_CLIENT_SECRET, frozenset({"Group.Read.All"}))}
    emulator = GraphEmulator(small_tenant, ISSUE_FAULTS, clients=groups_only)
    with emulator_client(emulator, clock) as client, pytest.raises(GraphError) as raised:
        user_ids(client)
    assert type(raised.value) is GraphError
    assert raised.value.status == 403 and "Authorization_RequestDenied" in str(raised.value)
    assert raised.value.request_id is not None and raised.value.request_id in str(raised.value)
    assert len(graph_requests(emulator)) == 1
    assert clock.sleeps == []


def test_a_400_fails_at_once_with_graphs_message(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant)
    with emulator_client(emulator, clock) as client, pytest.raises(GraphError) as raised:
        client.get_json("/users", {"$filter": "endswith(mail,'@example.com')"})
    assert raised.value.status == 400 and raised.value.code == "Request_UnsupportedQuery"
    assert "ConsistencyLevel" in raised.value.message or "advanced" in raised.value.message.lower()
    assert len(graph_requests(emulator)) == 1


def test_a_revoked_token_is_refreshed_once_mid_extraction(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant)
    ids: list[str] = []
    with emulator_client(emulator, clock, page_size=50) as client:
        for number, page in enumerate(client.iter_pages(USERS.path, USERS.params), start=1):
            ids.extend(user["id"] for user in page)
            if number == 2:
                emulator.revoke_tokens()
    assert len(ids) == len(set(ids)) == 300
    assert statuses(emulator) == Counter({200: 6, 401: 1})
    assert sum(path.endswith("/oauth2/v2.0/token") for _, path, _ in emulator.requests) == 2


def test_a_token_rejected_twice_is_an_auth_error(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant, token_lifetime=0.0)  # every token is born expired
    with emulator_client(emulator, clock) as client, pytest.raises(GraphAuthError) as raised:
        user_ids(client)
    assert raised.value.status == 401 and raised.value.code == "InvalidAuthenticationToken"
    assert statuses(emulator) == Counter({401: 2})


def test_consistency_level_goes_with_every_page(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant)
    recorder = RecordingTransport(EmulatorTransport(emulator))
    query = {"$select": "id,mail", "$count": "true", "$filter": "endswith(mail,'.onmicrosoft.com')"}
    with emulator_client(emulator, clock, page_size=40, transport=recorder) as client:
        first = client.get_json("/users", query | {"$top": "40"}, {"ConsistencyLevel": "eventual"})
        pages = list(client.iter_pages("/users", query, {"ConsistencyLevel": "eventual"}))
    assert first["@odata.count"] == sum(len(page) for page in pages) > 40
    graph = [request for request in recorder.requests if request.url.path.startswith("/v1.0/")]
    assert len(graph) == 1 + len(pages) > 2
    assert all(request.headers["ConsistencyLevel"] == "eventual" for request in graph)
    # the emulator refuses $count without the header: every nextLink page really needed it
    assert all("%24count=true" in path or "$count=true" in path for _, path, _ in graph_requests(emulator))
    assert set(statuses(emulator)) == {200}


def test_every_request_carries_bearer_token_fresh_client_request_id_and_accept(
    small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant)
    recorder = RecordingTransport(EmulatorTransport(emulator))
    with emulator_client(emulator, clock, page_size=5, transport=recorder) as client:
        list(client.iter_pages(GROUPS.path, GROUPS.params, {"Prefer": "include-unknown-enum-members"}))
    graph = [request for request in recorder.requests if request.url.path.startswith("/v1.0/")]
    assert len(graph) > 1
    assert all(request.headers["Authorization"].startswith("Bearer ") for request in graph)
    assert all(request.headers["Accept"] == "application/json" for request in graph)
    assert all(request.headers["Prefer"] == "include-unknown-enum-members" for request in graph)
    request_ids = [request.headers["client-request-id"] for request in graph]
    assert len(set(request_ids)) == len(request_ids)


def test_next_links_are_followed_whole(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant)
    recorder = RecordingTransport(EmulatorTransport(emulator))
    with emulator_client(emulator, clock, page_size=100, transport=recorder) as client:
        first_page = client.get_json(USERS.path, USERS.params | {"$top": "100"})
        pages = list(client.iter_pages(USERS.path, USERS.params))
    assert len(pages) == 3
    # the second page's request is the first page's nextLink byte for byte, never rebuilt from its $skiptoken
    assert str(recorder.requests[-2].url) == first_page["@odata.nextLink"]


def test_top_is_the_page_size_on_paged_collections_only(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant)
    with emulator_client(emulator, clock, page_size=250) as client:
        skus = list(client.iter_items(SUBSCRIBED_SKUS.path, SUBSCRIBED_SKUS.params, paged=False))
        users = list(client.iter_items(USERS.path, USERS.params))
    assert skus and len(users) == 300
    paths = [path for _, path, _ in graph_requests(emulator)]
    sku_paths = [path for path in paths if path.startswith("/v1.0/subscribedSkus")]
    assert sku_paths and not any("top" in path for path in sku_paths)
    assert "%24top=250" in paths[1] or "$top=250" in paths[1]


@pytest.mark.parametrize("page_size", [0, 1000, -5])
def test_a_page_size_outside_graphs_range_is_rejected(page_size: int, small_tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(small_tenant)
    http = httpx.Client(transport=EmulatorTransport(emulator))
    tokens = emulator_tokens(emulator, http)
    with pytest.raises(ValueError, match=f"page_size .*got {page_size}"):
        GraphClient(EMULATOR_GRAPH_BASE_URL, tokens, http, page_size=page_size)
    http.close()


def test_an_empty_page_is_yielded_and_paging_goes_on(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant, filter_per_page=True)  # Graph's empty pages that carry a nextLink
    query = {"$select": "id", "$filter": "userType eq 'Guest'"}
    with emulator_client(emulator, clock, page_size=20) as client:
        pages = list(client.iter_pages(USERS.path, query))
    guests = [user["id"] for user in small_tenant.users if user["userType"] == "Guest"]
    assert len(pages) == 15 and [user["id"] for page in pages for user in page] == guests
    empty = [number for number, page in enumerate(pages) if not page]
    assert empty and max(empty) < len(pages) - 1  # empty pages, each followed by more
    assert set(statuses(emulator)) == {200}


def test_an_empty_collection_is_one_empty_page(clock: FakeClock) -> None:
    from m365_pipeline.emulator.tenant import generate_tenant

    emulator = GraphEmulator(generate_tenant(3, 0))
    with emulator_client(emulator, clock) as client:
        pages = list(client.iter_pages(USERS.path, USERS.params))
    assert pages == [[]]


def test_each_request_spends_its_resource_units_from_the_budget(
    small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant)
    budget = InProcessTokenBucket(capacity=3, refill_per_second=0.1, clock=clock)
    http = httpx.Client(transport=EmulatorTransport(emulator))
    tokens = emulator_tokens(emulator, http)
    with GraphClient(EMULATOR_GRAPH_BASE_URL, tokens, http, limiter=budget, clock=clock, page_size=100) as client:
        select = {"$select": USERS.params["$select"]}
        pages = list(client.iter_pages(USERS.path, select, cost=USERS.resource_unit_cost))  # 1 unit each
        assert len(pages) == 3 and clock.sleeps == []
        client.get_json(SUBSCRIBED_SKUS.path, cost=SUBSCRIBED_SKUS.resource_unit_cost)  # 3 units, bucket empty
    assert clock.sleeps == [pytest.approx(30.0)]
    assert [path.split("?")[0] for _, path, _ in graph_requests(emulator)][-1] == "/v1.0/subscribedSkus"
