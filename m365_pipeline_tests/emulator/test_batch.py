"""JSON batching: at most 20 requests, unique ids, relative URLs, per-request headers, dependsOn and 424, answers
in a shuffled order, each inner request throttled on its own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline_tests.emulator.helpers import GRAPH, ManualClock, signed_in


@pytest.fixture(scope="module")
def small() -> SyntheticTenant:
    return generate_tenant(61, 120)


def batch(http: httpx.Client, requests: list[dict[str, Any]]) -> httpx.Response:
    return http.post(f"{GRAPH}/$batch", json={"requests": requests})


def methods_requests(tenant: SyntheticTenant, count: int) -> list[dict[str, Any]]:
    return [
        {"id": str(index), "method": "GET", "url": f"/users/{user['id']}/authentication/methods"}
        for index, user in enumerate(tenant.users[:count])
    ]


def test_twenty_requests_answered_by_id_in_a_shuffled_order(small: SyntheticTenant) -> None:
    http = signed_in(httpx.Client(transport=EmulatorTransport(GraphEmulator(small))), small.tenant_id)
    response = batch(http, methods_requests(small, 20))
    assert response.status_code == 200
    responses = response.json()["responses"]
    ids = [answer["id"] for answer in responses]
    assert sorted(ids, key=int) == [str(index) for index in range(20)] and ids != sorted(ids, key=int)
    by_id = {answer["id"]: answer for answer in responses}
    for index, user in enumerate(small.users[:20]):
        single = http.get(f"{GRAPH}/users/{user['id']}/authentication/methods").json()
        assert by_id[str(index)]["status"] == 200
        assert by_id[str(index)]["body"]["value"] == single["value"]


@pytest.mark.parametrize(
    "requests",
    [
        [{"id": str(index), "method": "GET", "url": "/organization"} for index in range(21)],
        [{"id": "1", "method": "GET", "url": "/organization"}, {"id": "1", "method": "GET", "url": "/users"}],
        [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]}],
        [],
    ],
)
def test_malformed_batches_are_refused(small: SyntheticTenant, requests: list[dict[str, Any]]) -> None:
    http = signed_in(httpx.Client(transport=EmulatorTransport(GraphEmulator(small))), small.tenant_id)
    response = batch(http, requests)
    assert response.status_code == 400 and "error" in response.json()


def test_per_request_headers_and_a_failed_dependency(small: SyntheticTenant) -> None:
    http = signed_in(httpx.Client(transport=EmulatorTransport(GraphEmulator(small))), small.tenant_id)
    requests: list[dict[str, Any]] = [
        {"id": "count", "method": "GET", "url": "/users/$count", "headers": {"ConsistencyLevel": "eventual"}},
        {"id": "uncounted", "method": "GET", "url": "/users/$count"},
        {"id": "after", "method": "GET", "url": "/organization", "dependsOn": ["uncounted"]},
        {"id": "fine", "method": "GET", "url": "/organization", "dependsOn": ["count"]},
        {"id": "missing", "method": "GET", "url": "/nothing"},
        {"id": "absolute", "method": "GET", "url": "https://graph.microsoft.com/v1.0/organization"},
    ]
    by_id = {answer["id"]: answer for answer in batch(http, requests).json()["responses"]}
    assert (by_id["count"]["status"], by_id["count"]["body"]) == (200, str(len(small.users)))
    assert by_id["uncounted"]["status"] == 400
    assert by_id["after"]["status"] == 424
    assert by_id["fine"]["status"] == 200
    assert (by_id["missing"]["status"], by_id["missing"]["body"]["error"]["code"]) == (400, "BadRequest")
    absolute = by_id["absolute"]["body"]["error"]["message"]
    assert by_id["absolute"]["status"] == 400 and absolute == "Resource not found for the segment 'https:'."


def test_each_inner_request_is_throttled_on_its_own_with_its_own_retry_after(small: SyntheticTenant) -> None:
    clock = ManualClock()
    emulator = GraphEmulator(small, clock=clock, limits=True)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), small.tenant_id)
    report = "/reports/authenticationMethods/userRegistrationDetails?$top=5"
    requests = [{"id": str(index), "method": "GET", "url": report} for index in range(8)]
    requests.append({"id": "users", "method": "GET", "url": "/users?$select=id"})
    response = batch(http, requests)
    assert response.status_code == 200
    by_id = {answer["id"]: answer for answer in response.json()["responses"]}
    assert [by_id[str(index)]["status"] for index in range(8)] == [200] * 5 + [429] * 3
    assert {by_id[str(index)]["headers"]["Retry-After"] for index in range(5, 8)} == {"2"}
    assert by_id["users"]["status"] == 200 and by_id["users"]["headers"]["x-ms-resource-unit"] == "1"
    assert emulator.over_limit() == {small.tenant_id: {"reports": 3}}
