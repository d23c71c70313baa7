"""The sign-in side: OpenID discovery and the client-credentials token endpoint, driven by msal itself."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import msal
import pytest
from cryptography.hazmat.primitives import serialization

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator, RegisteredClient
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.settings import FaultRates
from m365_pipeline_tests.certificates import self_signed
from m365_pipeline_tests.emulator.helpers import GRAPH, GRAPH_SCOPE, LOGIN, ManualClock, request_token

CERTIFICATE_CLIENT = "c3a1f000-0000-4000-8000-00000000cert"


@pytest.fixture
def http(emulator: GraphEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(transport=EmulatorTransport(emulator)) as client:
        yield client


def msal_app(http: httpx.Client | FormSafeHttp, tenant: SyntheticTenant, client_id: str, credential: Any) -> Any:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=f"{LOGIN}/{tenant.tenant_id}",
        instance_discovery=False,
        http_client=http,
    )


def test_msal_signs_in_with_the_built_in_client_secret(http: httpx.Client, tenant: SyntheticTenant) -> None:
    result = msal_app(http, tenant, EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET).acquire_token_for_client(
        scopes=[GRAPH_SCOPE]
    )
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3600
    response = http.get(f"{GRAPH}/organization", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert response.status_code == 200


def test_discovery_names_https_endpoints_on_the_host_asked(http: httpx.Client, tenant: SyntheticTenant) -> None:
    body = http.get(
        f"https://login.example.test:8443/{tenant.default_domain}/v2.0/.well-known/openid-configuration"
    ).json()
    root = f"https://login.example.test:8443/{tenant.tenant_id}"
    assert body["token_endpoint"] == f"{root}/oauth2/v2.0/token"
    assert body["authorization_endpoint"] == f"{root}/oauth2/v2.0/authorize"
    assert body["issuer"] == f"{root}/v2.0"


class FormSafeHttp:
    """msal's ``http_client`` contract over httpx, decoding the bytes msal puts in a form: its client assertion
    is bytes, which httpx would send as the text "b'eyJ...'"."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def post(self, url: str, data: Any = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {name: value.decode() if isinstance(value, bytes) else value for name, value in data.items()}
        return self._http.post(url, data=data, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._http.get(url, **kwargs)

    def close(self) -> None:
        self._http.close()


@pytest.fixture(scope="module")
def certificate_credential() -> dict[str, str]:
    key, certificate = self_signed("emulator-test")
    return {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


def test_msal_signs_in_with_a_certificate(tenant: SyntheticTenant, certificate_credential: dict[str, str]) -> None:
    emulator = GraphEmulator(tenant, clients={CERTIFICATE_CLIENT: RegisteredClient(None, frozenset({"User.Read.All"}))})
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        app = msal_app(FormSafeHttp(http), tenant, CERTIFICATE_CLIENT, certificate_credential)
        result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        assert "access_token" in result, result
        response = http.get(f"{GRAPH}/users?$top=1", headers={"Authorization": f"Bearer {result['access_token']}"})
        assert response.status_code == 200
        refused = request_token(http, tenant.tenant_id, CERTIFICATE_CLIENT, "a guessed secret")
        assert refused.json()["error"] == "invalid_client"


def test_msal_over_bare_httpx_sends_a_mangled_assertion_which_is_refused(
    tenant: SyntheticTenant, certificate_credential: dict[str, str]
) -> None:
    emulator = GraphEmulator(tenant, clients={CERTIFICATE_CLIENT: RegisteredClient(None, frozenset({"User.Read.All"}))})
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        result = msal_app(http, tenant, CERTIFICATE_CLIENT, certificate_credential).acquire_token_for_client(
            scopes=[GRAPH_SCOPE]
        )
    assert result["error_codes"] == [50027]


def test_a_wrong_secret_is_invalid_client_and_is_not_echoed(http: httpx.Client, tenant: SyntheticTenant) -> None:
    response = request_token(http, tenant.tenant_id, secret="wrong-secret-value")
    body = response.json()
    assert response.status_code == 401
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert body["error_codes"] == [7000215]
    assert "wrong-secret-value" not in response.text


def test_an_unknown_client_is_unauthorized_client(http: httpx.Client, tenant: SyntheticTenant) -> None:
    response = request_token(http, tenant.tenant_id, client_id="00000000-aaaa-4bbb-8ccc-000000000000")
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert response.json()["error_description"].startswith("AADSTS700016: ")


@pytest.mark.parametrize(
    ("scope", "error"),
    [
        ("User.Read.All", "invalid_scope"),
        ("https://graph.microsoft.com/User.Read.All", "invalid_scope"),
        ("https://management.azure.com/.default", "invalid_resource"),
    ],
)
def test_only_graphs_default_scope_is_granted(
    http: httpx.Client, tenant: SyntheticTenant, scope: str, error: str
) -> None:
    response = request_token(http, tenant.tenant_id, scope=scope)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_other_grants_and_missing_fields_are_refused(http: httpx.Client, tenant: SyntheticTenant) -> None:
    token_url = f"{LOGIN}/{tenant.tenant_id}/oauth2/v2.0/token"
    password = http.post(token_url, data={"grant_type": "password", "client_id": EMULATOR_CLIENT_ID})
    assert (password.status_code, password.json()["error"]) == (400, "unsupported_grant_type")
    no_credential = http.post(
        token_url, data={"grant_type": "client_credentials", "client_id": EMULATOR_CLIENT_ID, "scope": GRAPH_SCOPE}
    )
    assert (no_credential.status_code, no_credential.json()["error_codes"]) == (401, [7000218])
    assert http.get(token_url).status_code == 400


def test_an_unknown_tenant_is_refused(http: httpx.Client, tenant: SyntheticTenant) -> None:
    discovery = http.get(f"{LOGIN}/someone-else.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert discovery.status_code == 400
    assert request_token(http, "someone-else.onmicrosoft.com").json()["error_codes"] == [90002]
    assert request_token(http, tenant.default_domain).status_code == 200


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def assertion_form(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": EMULATOR_CLIENT_ID,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": GRAPH_SCOPE,
    }


def test_client_assertions_are_checked_for_shape_issuer_and_expiry(
    http: httpx.Client, tenant: SyntheticTenant, clock: ManualClock
) -> None:
    """The signature is not verified (the emulator knows no certificates); everything else is."""
    token_url = f"{LOGIN}/{tenant.tenant_id}/oauth2/v2.0/token"
    now = clock.now
    good = {"iss": EMULATOR_CLIENT_ID, "sub": EMULATOR_CLIENT_ID, "exp": now + 600}
    assert http.post(token_url, data=assertion_form(jwt(good))).status_code == 200
    other = http.post(token_url, data=assertion_form(jwt(good | {"iss": "someone-else"})))
    assert (other.status_code, other.json()["error"]) == (401, "invalid_client")
    expired = http.post(token_url, data=assertion_form(jwt(good | {"exp": now - 1})))
    assert expired.json()["error_codes"] == [700024]
    malformed = http.post(token_url, data=assertion_form("not.a-jwt"))
    assert (malformed.status_code, malformed.json()["error_codes"]) == (400, [50027])


def test_sign_in_endpoints_are_never_faulted(tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(tenant, FaultRates(throttle=0.5, unavailable=0.5))
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        statuses = {request_token(http, tenant.tenant_id).status_code for _ in range(20)}
    assert statuses == {200}


def test_a_sign_in_outage_answers_token_requests_503_then_ends(tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(tenant)
    emulator.sign_in_outage(2, retry_after=7)
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        discovery = http.get(f"{LOGIN}/{tenant.tenant_id}/v2.0/.well-known/openid-configuration")
        answers = [request_token(http, tenant.tenant_id) for _ in range(3)]
    assert discovery.status_code == 200  # only the token endpoint is down
    assert [answer.status_code for answer in answers] == [503, 503, 200]
    body = answers[0].json()
    assert (body["error"], body["error_codes"]) == ("temporarily_unavailable", [90033])
    assert body["error_description"].startswith("AADSTS90033: A transient error has occurred.")
    assert answers[0].headers["Retry-After"] == "7" and "Retry-After" not in answers[2].headers


def test_a_registered_clients_repr_hides_its_secret() -> None:
    assert "hunter2" not in repr(RegisteredClient("hunter2", frozenset({"User.Read.All"})))
