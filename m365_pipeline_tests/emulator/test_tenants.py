"""Several tenants in one emulator, as one multi-tenant app registration sees them: the sign-in path picks the
tenant, the token carries it, Graph answers from it alone, and one tenant may refuse the app."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.settings import FaultRates
from m365_pipeline_tests.emulator.helpers import GRAPH, LOGIN, request_token

DENIED = {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}


@pytest.fixture(scope="module")
def first() -> SyntheticTenant:
    return generate_tenant(21, 250)


@pytest.fixture(scope="module")
def second() -> SyntheticTenant:
    return generate_tenant(22, 180)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def on(emulator: GraphEmulator) -> httpx.Client:
    return httpx.Client(transport=EmulatorTransport(emulator))


def token(http: httpx.Client, tenant_name: str) -> dict[str, str]:
    response = request_token(http, tenant_name)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def claims(bearer: dict[str, str]) -> dict[str, Any]:
    payload = bearer["Authorization"].removeprefix("Bearer ").split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def all_user_ids(http: httpx.Client, bearer: dict[str, str]) -> list[str]:
    ids: list[str] = []
    url: str | None = f"{GRAPH}/users?$top=100"
    while url:
        page = http.get(url, headers=bearer).json()
        ids += [user["id"] for user in page["value"]]
        url = page.get("@odata.nextLink")
    return ids


def test_the_sign_in_path_picks_the_tenant_and_graph_answers_from_the_tokens_tenant(
    first: SyntheticTenant, second: SyntheticTenant
) -> None:
    emulator = GraphEmulator([first, second])
    assert emulator.tenant is first and emulator.tenants == {first.tenant_id: first, second.tenant_id: second}
    with on(emulator) as http:
        by_id, by_domain = token(http, first.tenant_id), token(http, second.default_domain)
        assert claims(by_id)["tid"] == first.tenant_id and claims(by_domain)["tid"] == second.tenant_id
        assert all_user_ids(http, by_id) == [user["id"] for user in first.users]
        assert all_user_ids(http, by_domain) == [user["id"] for user in second.users]
        organization = http.get(f"{GRAPH}/organization", headers=by_domain).json()["value"]
        assert [item["id"] for item in organization] == [second.tenant_id]
        skus = http.get(f"{GRAPH}/subscribedSkus", headers=by_domain).json()["value"]
        assert {sku["id"].split("_")[0] for sku in skus} == {second.tenant_id}


def test_openid_discovery_is_per_tenant(first: SyntheticTenant, second: SyntheticTenant) -> None:
    with on(GraphEmulator([first, second])) as http:
        for tenant in (first, second):
            discovery = http.get(f"{LOGIN}/{tenant.default_domain}/v2.0/.well-known/openid-configuration").json()
            assert discovery["issuer"] == f"{LOGIN}/{tenant.tenant_id}/v2.0"
            assert discovery["token_endpoint"] == f"{LOGIN}/{tenant.tenant_id}/oauth2/v2.0/token"


def test_a_token_of_one_tenant_cannot_read_another(first: SyntheticTenant, second: SyntheticTenant) -> None:
    with on(GraphEmulator([first, second])) as http:
        of_first, of_second = token(http, first.tenant_id), token(http, second.tenant_id)
        someone_in_second = second.users[0]
        for key in (someone_in_second["id"], someone_in_second["userPrincipalName"]):
            response = http.get(f"{GRAPH}/users/{key}", headers=of_first)
            assert (response.status_code, response.json()["error"]["code"]) == (404, "Request_ResourceNotFound")
        assert http.get(f"{GRAPH}/users/{someone_in_second['id']}", headers=of_second).status_code == 200
        # a page of the second tenant cannot be continued with the first's token
        next_link = http.get(f"{GRAPH}/users?$top=10", headers=of_second).json()["@odata.nextLink"]
        refused = http.get(next_link, headers=of_first)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "Request_BadRequest")
        assert not set(all_user_ids(http, of_first)) & {user["id"] for user in second.users}


def test_a_tenant_without_consent_answers_403_while_the_others_work(
    first: SyntheticTenant, second: SyntheticTenant
) -> None:
    emulator = GraphEmulator([first, second], permissions_by_tenant={second.tenant_id: frozenset()})
    with on(emulator) as http:
        refused_tenant = token(http, second.tenant_id)  # the app signs in: its token just has no roles
        assert claims(refused_tenant)["roles"] == []
        for path in ("users", "groups", "organization", "subscribedSkus"):
            response = http.get(f"{GRAPH}/{path}", headers=refused_tenant)
            assert response.status_code == 403
            error = response.json()["error"]
            assert {"code": error["code"], "message": error["message"]} == DENIED
            assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
        assert all_user_ids(http, token(http, first.tenant_id)) == [user["id"] for user in first.users]


def test_consent_may_cover_part_of_the_apps_permissions(first: SyntheticTenant, second: SyntheticTenant) -> None:
    emulator = GraphEmulator([first, second], permissions_by_tenant={second.tenant_id: frozenset({"User.Read.All"})})
    with on(emulator) as http:
        bearer = token(http, second.tenant_id)
        assert http.get(f"{GRAPH}/users", headers=bearer).status_code == 200
        assert http.get(f"{GRAPH}/groups", headers=bearer).json()["error"]["code"] == DENIED["code"]
        selected = http.get(f"{GRAPH}/users?$select=id,signInActivity", headers=bearer)
        assert selected.status_code == 403  # AuditLog.Read.All was not consented there


def test_tenants_must_be_distinct_and_consent_must_name_a_served_tenant(first: SyntheticTenant) -> None:
    with pytest.raises(ValueError, match="both named"):
        GraphEmulator([first, first])
    with pytest.raises(ValueError, match="does not serve"):
        GraphEmulator(first, permissions_by_tenant={"00000000-0000-4000-8000-000000000000": frozenset()})
    with pytest.raises(ValueError, match="at least one tenant"):
        GraphEmulator([])


def first_tenants_answers(
    first: SyntheticTenant, second: SyntheticTenant, *, interleave: bool
) -> list[tuple[int, str]]:
    """Status and request id of a fixed sequence of the first tenant's requests, with or without the second
    tenant's requests in between."""
    emulator = GraphEmulator([first, second], FaultRates(throttle=0.3, unavailable=0.2, seed=4))
    answers: list[tuple[int, str]] = []
    with on(emulator) as http:
        of_first = token(http, first.tenant_id)
        of_second = token(http, second.tenant_id) if interleave else {}
        for _ in range(12):
            response = http.get(f"{GRAPH}/users?$top=5", headers=of_first)
            answers.append((response.status_code, response.headers["request-id"]))
            if interleave:
                http.get(f"{GRAPH}/groups", headers=of_second)
                request_token(http, second.tenant_id)
    return answers


def test_request_ids_and_faults_are_deterministic_per_tenant(first: SyntheticTenant, second: SyntheticTenant) -> None:
    alone = first_tenants_answers(first, second, interleave=False)
    assert alone == first_tenants_answers(first, second, interleave=True)
    assert {status for status, _ in alone} == {200, 429, 503}


def test_the_request_base_urls_own_scope_is_graphs(first: SyntheticTenant) -> None:
    with on(GraphEmulator(first)) as http:
        own = request_token(
            http, first.tenant_id, login="https://127.0.0.1:8443", scope="https://127.0.0.1:8443/.default"
        )
        assert own.status_code == 200, own.text
        in_process = request_token(http, first.tenant_id, scope="https://graph.emulator.invalid/.default")
        assert in_process.status_code == 200, in_process.text
        other_port = request_token(
            http, first.tenant_id, login="https://127.0.0.1:8443", scope="https://127.0.0.1:9443/.default"
        )
        assert (other_port.status_code, other_port.json()["error"]) == (400, "invalid_resource")
