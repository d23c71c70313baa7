"""Graph's query semantics beyond plain paging: $count as a path segment, $filter with ge/le/any()/$count, the
signInActivity page cap, and unknown segments answered 400 as Graph answers them."""

from __future__ import annotations

import httpx

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline_tests.emulator.helpers import GRAPH, signed_in

EVENTUAL = {"ConsistencyLevel": "eventual"}


def every_id(graph: httpx.Client, url: str, headers: dict[str, str] | None = None) -> list[str]:
    ids: list[str] = []
    next_url: str | None = url
    while next_url:
        response = graph.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        ids += [item["id"] for item in response.json()["value"]]
        next_url = response.json().get("@odata.nextLink")
    return ids


def test_count_as_a_path_segment_is_plain_text_and_needs_eventual_consistency(
    graph: httpx.Client, tenant: SyntheticTenant
) -> None:
    refused = graph.get(f"{GRAPH}/users/$count")
    assert refused.status_code == 400
    answered = graph.get(f"{GRAPH}/users/$count", headers=EVENTUAL)
    assert answered.status_code == 200
    assert answered.headers["content-type"].startswith("text/plain")
    assert answered.text == str(len(tenant.users))
    guests = graph.get(f"{GRAPH}/users/$count", params={"$filter": "userType eq 'Guest'"}, headers=EVENTUAL)
    assert guests.text == str(sum(user["userType"] == "Guest" for user in tenant.users))
    assert graph.get(f"{GRAPH}/groups/$count", headers=EVENTUAL).text == str(len(tenant.groups))


def test_filter_ge_and_le_on_timestamps(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    expression = "createdDateTime ge 2022-01-01T00:00:00Z and createdDateTime le 2023-06-30T00:00:00Z"
    expected = [u["id"] for u in tenant.users if "2022-01-01" <= u["createdDateTime"][:10] < "2023-06-30"]
    assert expected and every_id(graph, f"{GRAPH}/users?$select=id&$top=999&$filter={expression}") == expected


def test_filter_any_on_licences_and_count_of_a_collection(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    sku = tenant.skus[0]["skuId"]
    holders = [u["id"] for u in tenant.users if any(lic["skuId"] == sku for lic in u["assignedLicenses"])]
    url = f"{GRAPH}/users?$select=id&$top=999&$filter=assignedLicenses/any(x:x/skuId eq {sku})"
    assert holders and every_id(graph, url) == holders
    unlicensed = [u["id"] for u in tenant.users if not u["assignedLicenses"]]
    url = f"{GRAPH}/users?$select=id&$top=999&$count=true&$filter=assignedLicenses/$count eq 0"
    assert graph.get(url).status_code == 400  # $count inside $filter is an advanced query
    assert every_id(graph, url, headers=EVENTUAL) == unlicensed


def test_filter_on_sign_in_activity(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    cutoff = "2025-06-01T00:00:00Z"
    expected = [
        u["id"]
        for u in tenant.users
        if (last := u["signInActivity"]["lastSignInDateTime"]) is not None and last[:19] + "Z" <= cutoff
    ]
    url = f"{GRAPH}/users?$select=id&$filter=signInActivity/lastSignInDateTime le {cutoff}"
    assert expected and every_id(graph, url) == expected


def test_selecting_sign_in_activity_caps_the_page_at_120(graph: httpx.Client) -> None:
    body = graph.get(f"{GRAPH}/users", params={"$select": "id,signInActivity", "$top": "999"}).json()
    assert len(body["value"]) == 120 and "@odata.nextLink" in body
    assert len(graph.get(f"{GRAPH}/users", params={"$select": "id", "$top": "999"}).json()["value"]) == 999
    assert len(graph.get(f"{GRAPH}/users", params={"$select": "id,signInActivity", "$top": "50"}).json()["value"]) == 50


def test_the_sign_in_activity_cap_can_be_the_later_documented_500(tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(tenant, sign_in_activity_page_cap=500)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), tenant.tenant_id)
    body = http.get(f"{GRAPH}/users", params={"$select": "id,signInActivity", "$top": "999"}).json()
    assert len(body["value"]) == 500


def test_unknown_segments_are_400_bad_request_and_unknown_ids_404(graph: httpx.Client) -> None:
    for path in ("/nothing", "/users/delta/more", "/groups/x/colleagues", "/reports/unknown"):
        response = graph.get(f"{GRAPH}{path}")
        assert response.status_code == 400, path
        assert response.json()["error"]["code"] == "BadRequest"
        assert response.json()["error"]["message"].startswith("Resource not found for the segment ")
    response = graph.get(f"{GRAPH}/groups/00000000-0000-4000-8000-000000000000/members")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "Request_ResourceNotFound")
