"""Graph's semantics as the emulator answers them, through the in-process transport."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator, RegisteredClient
from m365_pipeline.emulator.identity import ALL_PERMISSIONS
from m365_pipeline.emulator.tenant import USER_DEFAULT_PROPERTIES, SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.entities import GROUPS, USERS
from m365_pipeline_tests.emulator.helpers import GRAPH, ManualClock, signed_in

SELECT = ",".join(USERS.select)
EVENTUAL = {"ConsistencyLevel": "eventual"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def all_pages(graph: httpx.Client, url: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    pages = []
    next_url: str | None = url
    while next_url:
        response = graph.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        next_url = pages[-1].get("@odata.nextLink")
    return pages


def test_users_come_with_the_eleven_default_properties_in_pages_of_100(graph: httpx.Client) -> None:
    body = graph.get(f"{GRAPH}/users").json()
    assert body["@odata.context"] == f"{GRAPH}/$metadata#users"
    assert len(body["value"]) == 100
    assert all(set(user) == set(USER_DEFAULT_PROPERTIES) for user in body["value"])
    assert len(USER_DEFAULT_PROPERTIES) == 11


def test_select_returns_exactly_the_selected_properties(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    body = graph.get(f"{GRAPH}/users", params={"$select": SELECT, "$top": "5"}).json()
    assert body["@odata.context"] == f"{GRAPH}/$metadata#users({SELECT})"
    assert body["value"] == [{name: user[name] for name in USERS.select} for user in tenant.users[:5]]
    assert [list(user) for user in body["value"]] == [list(USERS.select)] * 5


def test_select_matches_names_without_regard_to_case(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    body = graph.get(f"{GRAPH}/users", params={"$select": "DISPLAYNAME, id", "$top": "1"}).json()
    assert body["value"] == [{"displayName": tenant.users[0]["displayName"], "id": tenant.users[0]["id"]}]


def test_an_unknown_selected_property_is_a_400(graph: httpx.Client) -> None:
    response = graph.get(f"{GRAPH}/users", params={"$select": "id,shoeSize"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "Request_BadRequest"
    assert error_of(response)["message"] == "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'."


@pytest.mark.parametrize("top", ["1", "999"])
def test_top_between_1_and_999_sets_the_page_size(graph: httpx.Client, top: str) -> None:
    assert len(graph.get(f"{GRAPH}/users", params={"$top": top}).json()["value"]) == int(top)


@pytest.mark.parametrize("top", ["1000", "0", "-5", "ten"])
def test_top_outside_1_to_999_is_a_400_with_graphs_message(graph: httpx.Client, top: str) -> None:
    response = graph.get(f"{GRAPH}/users", params={"$top": top})
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
    )


def test_paging_returns_every_user_exactly_once_in_order(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    pages = all_pages(graph, f"{GRAPH}/users?$select={SELECT}&$top=999")
    # signInActivity is selected: a page holds at most 120 users whatever $top asks
    assert [len(page["value"]) for page in pages] == [120] * 20 + [100]
    assert [user["id"] for page in pages for user in page["value"]] == [user["id"] for user in tenant.users]
    assert "@odata.nextLink" not in pages[-1]
    link = pages[0]["@odata.nextLink"]
    assert link.startswith(f"{GRAPH}/users?$select={SELECT}&$top=999&$skiptoken=")


def test_next_links_follow_the_host_the_client_used(emulator: GraphEmulator, tenant: SyntheticTenant) -> None:
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        signed_in(http, tenant.tenant_id)
        body = http.get("http://127.0.0.1:8365/v1.0/groups?$top=10").json()
    assert body["@odata.nextLink"].startswith("http://127.0.0.1:8365/v1.0/groups?$top=10&$skiptoken=")


def test_a_page_ends_exactly_at_the_last_user_without_a_next_link(graph: httpx.Client) -> None:
    pages = all_pages(graph, f"{GRAPH}/users?$top=500&$select=id")
    assert [len(page["value"]) for page in pages] == [500] * 5


def test_a_changed_skiptoken_is_a_400(graph: httpx.Client) -> None:
    link = graph.get(f"{GRAPH}/users").json()["@odata.nextLink"]
    token = link.rsplit("=", 1)[1]
    changed = link[: -len(token)] + ("A" if token[0] != "A" else "B") + token[1:]
    response = graph.get(changed)
    assert response.status_code == 400
    assert "$skiptoken" in error_of(response)["message"]
    assert graph.get(f"{GRAPH}/users?$skiptoken=not-a-token").status_code == 400


def test_a_skiptoken_does_not_page_another_query(graph: httpx.Client) -> None:
    link = graph.get(f"{GRAPH}/users", params={"$filter": "userType eq 'Member'"}).json()["@odata.nextLink"]
    token = link.rsplit("$skiptoken=", 1)[1]
    assert graph.get(f"{GRAPH}/users?$skiptoken={token}").status_code == 400
    assert graph.get(f"{GRAPH}/groups?$skiptoken={token}").status_code == 400


def test_count_needs_consistency_level_eventual(graph: httpx.Client) -> None:
    response = graph.get(f"{GRAPH}/users", params={"$count": "true"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "Request_UnsupportedQuery"
    assert "ConsistencyLevel:eventual" in error_of(response)["message"]


def test_count_comes_on_the_first_page_only(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    pages = all_pages(graph, f"{GRAPH}/users?$count=true&$top=999&$select=id", headers=EVENTUAL)
    assert pages[0]["@odata.count"] == len(tenant.users)
    assert all("@odata.count" not in page for page in pages[1:])
    assert list(pages[0]) == ["@odata.context", "@odata.count", "@odata.nextLink", "value"]
    assert sum(len(page["value"]) for page in pages) == len(tenant.users)


def ids_where(tenant: SyntheticTenant, predicate: Any) -> list[str]:
    return [user["id"] for user in tenant.users if predicate(user)]


def filtered_ids(graph: httpx.Client, expression: str, headers: dict[str, str] | None = None) -> list[str]:
    query = {"$filter": expression, "$select": "id", "$top": "999"}
    if headers:
        query["$count"] = "true"
    first = graph.get(f"{GRAPH}/users", params=query, headers=headers)
    assert first.status_code == 200, first.text
    pages = [first.json()]
    while "@odata.nextLink" in pages[-1]:
        pages.append(graph.get(pages[-1]["@odata.nextLink"], headers=headers).json())
    return [user["id"] for page in pages for user in page["value"]]


def test_filter_eq_on_text_ignores_case(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    expected = ids_where(tenant, lambda u: u["department"] == "営業部")
    assert expected and filtered_ids(graph, "department eq '営業部'") == expected
    expected = ids_where(tenant, lambda u: u["userType"] == "Guest")
    assert expected and filtered_ids(graph, "userType eq 'guest'") == expected


def test_filter_on_booleans_startswith_and_and(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    expected = ids_where(tenant, lambda u: u["accountEnabled"] is False)
    assert expected and filtered_ids(graph, "accountEnabled eq false") == expected
    expected = ids_where(
        tenant,
        lambda u: u["userPrincipalName"].startswith("taro.") and u["usageLocation"] == "JP" and u["accountEnabled"],
    )
    expression = "startswith(userPrincipalName,'Taro.') and usageLocation eq 'JP' and accountEnabled eq true"
    assert expected and filtered_ids(graph, expression) == expected


def test_filter_text_may_hold_a_quote(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    expected = ids_where(tenant, lambda u: u["surname"] == "O'Brien")
    assert expected and filtered_ids(graph, "surname eq 'O''Brien'") == expected


def test_filter_per_page_gives_short_and_empty_pages_that_still_carry_a_next_link(tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(tenant, filter_per_page=True)
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        url = f"{GRAPH}/users?$select=id&$top=25&$filter=userType eq 'Guest'"
        pages = all_pages(signed_in(http, tenant.tenant_id), url)
    assert len(pages) == len(tenant.users) // 25
    assert [user["id"] for page in pages for user in page["value"]] == ids_where(
        tenant, lambda u: u["userType"] == "Guest"
    )
    empty_with_link = [page for page in pages if not page["value"] and "@odata.nextLink" in page]
    assert empty_with_link and all(len(page["value"]) < 25 for page in pages)


def test_advanced_operators_need_eventual_consistency_and_count(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    for expression in ("userType ne 'Member'", "endswith(mail,'@gmail.com')"):
        response = graph.get(f"{GRAPH}/users", params={"$filter": expression})
        assert response.status_code == 400
        assert error_of(response)["code"] == "Request_UnsupportedQuery"
    guests = ids_where(tenant, lambda u: u["userType"] != "Member")
    assert filtered_ids(graph, "userType ne 'Member'", headers=EVENTUAL) == guests
    gmail = ids_where(tenant, lambda u: (u["mail"] or "").endswith("@gmail.com"))
    assert gmail and filtered_ids(graph, "endswith(mail,'@gmail.com')", headers=EVENTUAL) == gmail


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("userType eq 'Member' or userType eq 'Guest'", "Request_UnsupportedQuery"),
        ("createdDateTime ge 2024-01-01T00:00:00Z or userType eq 'Guest'", "Request_UnsupportedQuery"),
        ("assignedLicenses/any(x:x/skuId ge 5)", "Request_UnsupportedQuery"),
        ("businessPhones/any(x:x eq true)", "Request_BadRequest"),
        ("businessPhones eq '1'", "Request_UnsupportedQuery"),
        ("shoeSize eq '42'", "Request_BadRequest"),
        ("accountEnabled eq 'true'", "Request_BadRequest"),
        ("displayName eq", "Request_UnsupportedQuery"),
    ],
)
def test_filters_outside_the_subset_are_refused(graph: httpx.Client, expression: str, code: str) -> None:
    response = graph.get(f"{GRAPH}/users", params={"$filter": expression})
    assert response.status_code == 400
    assert error_of(response)["code"] == code


def test_a_user_by_id_or_principal_name(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    guest = next(user for user in tenant.users if user["userType"] == "Guest")
    for key in (guest["id"], quote(guest["userPrincipalName"]), quote(guest["userPrincipalName"].upper())):
        body = graph.get(f"{GRAPH}/users/{key}", params={"$select": "id,userType"}).json()
        assert body == {
            "@odata.context": f"{GRAPH}/$metadata#users(id,userType)/$entity",
            "id": guest["id"],
            "userType": "Guest",
        }
    response = graph.get(f"{GRAPH}/users/nobody@nowhere.example")
    assert response.status_code == 404
    assert error_of(response)["code"] == "Request_ResourceNotFound"


def test_groups_page_and_filter(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    pages = all_pages(graph, f"{GRAPH}/groups?$select={','.join(GROUPS.select)}&$top=50")
    assert [group["id"] for page in pages for group in page["value"]] == [group["id"] for group in tenant.groups]
    body = graph.get(f"{GRAPH}/groups", params={"$filter": "mailEnabled eq false", "$top": "999"}).json()
    assert [group["id"] for group in body["value"]] == [g["id"] for g in tenant.groups if not g["mailEnabled"]]
    one = graph.get(f"{GRAPH}/groups/{tenant.groups[3]['id']}").json()
    assert one["displayName"] == tenant.groups[3]["displayName"]


def test_subscribed_skus_take_only_select(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    body = graph.get(f"{GRAPH}/subscribedSkus").json()
    assert body["@odata.context"] == f"{GRAPH}/$metadata#subscribedSkus"
    assert body["value"] == tenant.skus
    selected = graph.get(f"{GRAPH}/subscribedSkus", params={"$select": "skuId,consumedUnits"}).json()["value"]
    assert selected == [{"skuId": s["skuId"], "consumedUnits": s["consumedUnits"]} for s in tenant.skus]
    for option in ("$top=5", "$filter=skuPartNumber eq 'SPE_E3'", "$count=true"):
        assert graph.get(f"{GRAPH}/subscribedSkus?{option}", headers=EVENTUAL).status_code == 400


def test_organization_is_the_tenant(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    (organization,) = graph.get(f"{GRAPH}/organization").json()["value"]
    assert organization["id"] == tenant.tenant_id
    assert organization["verifiedDomains"][0]["isDefault"] is True


def test_unknown_paths_and_methods(graph: httpx.Client) -> None:
    response = graph.get(f"{GRAPH}/teamsTemplates")
    assert response.status_code == 400  # Graph answers an unknown segment 400, not 404
    assert error_of(response) | {"innerError": None} == {
        "code": "BadRequest",
        "message": "Resource not found for the segment 'teamsTemplates'.",
        "innerError": None,
    }
    assert error_of(graph.get(f"{GRAPH}/users/x/y/z"))["message"] == "Resource not found for the segment 'y'."
    assert graph.post(f"{GRAPH}/users", json={}).status_code == 405


def test_errors_carry_graphs_envelope_and_echo_the_client_request_id(graph: httpx.Client) -> None:
    response = graph.get(f"{GRAPH}/users?$top=1000", headers={"client-request-id": "my-correlation-1"})
    error = error_of(response)
    assert set(error) == {"code", "message", "innerError"}
    inner = error["innerError"]
    assert inner["client-request-id"] == response.headers["client-request-id"] == "my-correlation-1"
    assert inner["request-id"] == response.headers["request-id"]
    assert not inner["date"].endswith("Z") and len(inner["date"]) == 19
    assert response.headers["content-type"].startswith("application/json;odata.metadata=minimal")


def test_every_answer_carries_request_ids_and_resource_units(graph: httpx.Client) -> None:
    first, second = graph.get(f"{GRAPH}/users"), graph.get(f"{GRAPH}/users?$select=id&$top=10")
    assert first.headers["request-id"] != second.headers["request-id"]
    assert first.headers["client-request-id"] == first.headers["request-id"]
    assert (first.headers["x-ms-resource-unit"], second.headers["x-ms-resource-unit"]) == ("2", "1")


def test_the_request_log_records_method_path_and_status(graph: httpx.Client, emulator: GraphEmulator) -> None:
    graph.get(f"{GRAPH}/users?$top=3")
    graph.get(f"{GRAPH}/nothing")
    assert list(emulator.requests)[-2:] == [("GET", "/v1.0/users?$top=3", 200), ("GET", "/v1.0/nothing", 400)]


def test_a_missing_or_unknown_token_is_a_401(emulator: GraphEmulator) -> None:
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        missing = http.get(f"{GRAPH}/users")
        unknown = http.get(f"{GRAPH}/users", headers={"Authorization": "Bearer made-up"})
    assert (missing.status_code, unknown.status_code) == (401, 401)
    assert error_of(missing)["code"] == error_of(unknown)["code"] == "InvalidAuthenticationToken"
    assert error_of(unknown)["message"] == "Access token has expired or is not yet valid."
    assert "Bearer" in missing.headers["www-authenticate"]


def test_revoked_tokens_are_a_401_until_the_client_signs_in_again(
    graph: httpx.Client, emulator: GraphEmulator, tenant: SyntheticTenant
) -> None:
    assert graph.get(f"{GRAPH}/organization").status_code == 200
    emulator.revoke_tokens()
    response = graph.get(f"{GRAPH}/organization")
    assert response.status_code == 401
    assert error_of(response)["message"] == "Access token has expired or is not yet valid."
    assert signed_in(graph, tenant.tenant_id).get(f"{GRAPH}/organization").status_code == 200


def test_tokens_expire_with_the_clock(tenant: SyntheticTenant, clock: ManualClock) -> None:
    emulator = GraphEmulator(tenant, token_lifetime=600, clock=clock)
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        signed_in(http, tenant.tenant_id)
        clock.advance(599)
        assert http.get(f"{GRAPH}/organization").status_code == 200
        clock.advance(1)
        response = http.get(f"{GRAPH}/organization")
    assert response.status_code == 401
    assert error_of(response)["code"] == "InvalidAuthenticationToken"


def test_a_client_without_the_permission_is_a_403(tenant: SyntheticTenant) -> None:
    clients = {
        "groups-only": RegisteredClient("s1", frozenset({"Group.Read.All"})),
        "directory": RegisteredClient("s2", frozenset({"Directory.Read.All"})),
    }
    emulator = GraphEmulator(tenant, clients=clients)
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        signed_in(http, tenant.tenant_id, "groups-only", "s1")
        denied = http.get(f"{GRAPH}/users")
        assert http.get(f"{GRAPH}/groups").status_code == 200
        assert http.get(f"{GRAPH}/subscribedSkus").status_code == 403
        signed_in(http, tenant.tenant_id, "directory", "s2")
        statuses = [http.get(f"{GRAPH}/{path}").status_code for path in ("users", "groups", "subscribedSkus")]
    assert denied.status_code == 403
    assert error_of(denied) | {"innerError": None} == {
        "code": "Authorization_RequestDenied",
        "message": "Insufficient privileges to complete the operation.",
        "innerError": None,
    }
    assert statuses == [200, 200, 200]


def test_sign_in_activity_needs_audit_log_read_all_and_a_premium_tenant(tenant: SyntheticTenant) -> None:
    clients = {
        "all": RegisteredClient("s1", ALL_PERMISSIONS),
        "no-audit-log": RegisteredClient("s2", ALL_PERMISSIONS - {"AuditLog.Read.All"}),
    }
    user = tenant.users[0]
    urls = (f"{GRAPH}/users?$select=id,signInActivity&$top=3", f"{GRAPH}/users/{user['id']}?$select=SignInActivity")
    answers: dict[tuple[bool, str], list[httpx.Response]] = {}
    for premium in (True, False):
        emulator = GraphEmulator(tenant, clients=clients, premium=premium)
        with httpx.Client(transport=EmulatorTransport(emulator)) as http:
            for client, secret in (("all", "s1"), ("no-audit-log", "s2")):
                signed_in(http, tenant.tenant_id, client, secret)
                answers[premium, client] = [http.get(url) for url in urls]
                assert http.get(f"{GRAPH}/users?$select=id,mail").status_code == 200
                assert http.get(f"{GRAPH}/users/{user['id']}").status_code == 200
    allowed = answers[True, "all"]
    assert [response.status_code for response in allowed] == [200, 200]
    assert allowed[0].json()["value"][0] == {"id": user["id"], "signInActivity": user["signInActivity"]}
    assert allowed[1].json()["signInActivity"] == user["signInActivity"]
    for key in ((True, "no-audit-log"), (False, "no-audit-log")):
        assert [response.status_code for response in answers[key]] == [403, 403]
        assert {error_of(response)["code"] for response in answers[key]} == {"Authorization_RequestDenied"}
        assert error_of(answers[key][0])["message"] == "Insufficient privileges to complete the operation."
    assert [response.status_code for response in answers[False, "all"]] == [403, 403]
    refusal = error_of(answers[False, "all"][0])
    assert refusal["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    assert refusal["message"] == "Neither tenant is B2C or tenant doesn't have premium license"


def test_concurrent_clients_each_page_every_user(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    results: list[list[str]] = []

    def page_all() -> None:
        pages = all_pages(graph, f"{GRAPH}/users?$select=id&$top=700")
        results.append([user["id"] for page in pages for user in page["value"]])

    threads = [threading.Thread(target=page_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[user["id"] for user in tenant.users]] * 4
