"""Token providers against the emulator's sign-in service: msal (secret, PEM, .pfx) and the plain grant.

msal's token cache is msal's own: its tests assert on msal's real behaviour (real time, short token lifetimes),
not on a fake clock. The plain grant keeps a token of its own, on the clock it is given."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator, RegisteredClient
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.graph.auth import ClientCredentialsTokenProvider, MsalTokenProvider, graph_scope
from m365_pipeline.graph.errors import GraphAuthError, GraphSignInUnavailable
from m365_pipeline.settings import GraphCredentials, Secret, SettingsError
from m365_pipeline_tests.certificates import self_signed, write_pem, write_pfx
from m365_pipeline_tests.graph.emulated import (
    EMULATOR_AUTHORITY_HOST,
    EMULATOR_GRAPH_BASE_URL,
    RecordingTransport,
    emulator_credentials,
    emulator_tokens,
)
from m365_pipeline_tests.graph.fake_clock import FakeClock

CERTIFICATE_CLIENT = "c3a1f000-0000-4000-8000-000000000001"
PASSPHRASE = "pfx-passphrase-never-shown"


def token_requests(emulator: GraphEmulator) -> int:
    return sum(path.endswith("/oauth2/v2.0/token") for _, path, _ in emulator.requests)


def graph_status(http: httpx.Client, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return http.get(f"{EMULATOR_GRAPH_BASE_URL}/organization", headers=headers).status_code


def certificate_credentials(emulator: GraphEmulator, path: Path, password: str | None = None) -> GraphCredentials:
    return GraphCredentials(
        tenant_ids=(emulator.tenant.tenant_id,),
        client_id=CERTIFICATE_CLIENT,
        client_secret=None,
        certificate_path=path,
        certificate_password=Secret(password) if password else None,
        authority_host=EMULATOR_AUTHORITY_HOST,
    )


@pytest.fixture
def certificate_emulator(small_tenant: SyntheticTenant) -> GraphEmulator:
    """An emulator whose second app registration has no secret: only a certificate can sign it in."""
    clients = {
        EMULATOR_CLIENT_ID: RegisteredClient(EMULATOR_CLIENT_SECRET, frozenset({"Directory.Read.All"})),
        CERTIFICATE_CLIENT: RegisteredClient(None, frozenset({"Directory.Read.All"})),
    }
    return GraphEmulator(small_tenant, clients=clients)


def test_msal_answers_from_its_cache_until_invalidated(small_tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(small_tenant, token_lifetime=3600)
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        provider = emulator_tokens(emulator, http)
        first = provider.token()
        assert [provider.token() for _ in range(5)] == [first] * 5
        assert token_requests(emulator) == 1
        provider.invalidate()
        second = provider.token()
        assert second != first and token_requests(emulator) == 2
        assert graph_status(http, second) == 200


def test_msal_asks_again_once_its_token_has_less_than_five_minutes_left(small_tenant: SyntheticTenant) -> None:
    # msal counts a token with under 5 minutes left as expired: a 302 s token is good for one to two seconds
    # (msal stores its expiry in whole seconds), a token of 5 minutes or less is never reused
    emulator = GraphEmulator(small_tenant, token_lifetime=302)
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        provider = emulator_tokens(emulator, http)
        first = provider.token()
        assert provider.token() == first and token_requests(emulator) == 1
        time.sleep(2.05)
        second = provider.token()
        assert second != first and token_requests(emulator) == 2
        assert graph_status(http, second) == 200


def test_msal_never_reuses_a_token_of_five_minutes_or_less(small_tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(small_tenant, token_lifetime=300)
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        provider = emulator_tokens(emulator, http)
        tokens = [provider.token() for _ in range(3)]
        assert len(set(tokens)) == 3 and token_requests(emulator) == 3
        assert all(graph_status(http, token) == 200 for token in tokens)


def test_the_provider_signs_in_to_one_of_its_credentials_tenants(small_tenant: SyntheticTenant) -> None:
    credentials = emulator_credentials(GraphEmulator(small_tenant))
    with pytest.raises(ValueError, match="not one of the credentials' tenants"):
        MsalTokenProvider(credentials, "11111111-1111-1111-1111-111111111111")


def test_a_wrong_secret_is_an_auth_error_naming_aadsts_but_not_the_secret(small_tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(small_tenant)
    wrong = "wrong-secret-value-123"
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        provider = emulator_tokens(emulator, http, secret=wrong)
        with pytest.raises(GraphAuthError) as raised:
            provider.token()
    assert raised.value.code == "invalid_client"
    assert "AADSTS7000215" in str(raised.value)
    assert wrong not in str(raised.value) and wrong not in repr(raised.value.__dict__)


def test_an_unknown_tenant_is_an_auth_error(small_tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(small_tenant)
    credentials = GraphCredentials(
        tenant_ids=("00000000-0000-0000-0000-000000000000",),
        client_id=EMULATOR_CLIENT_ID,
        client_secret=Secret(EMULATOR_CLIENT_SECRET),
        certificate_path=None,
        certificate_password=None,
        authority_host=EMULATOR_AUTHORITY_HOST,
    )
    with httpx.Client(transport=EmulatorTransport(emulator)) as http, pytest.raises(GraphAuthError) as raised:
        MsalTokenProvider(credentials, "00000000-0000-0000-0000-000000000000", http_client=http).token()
    assert "00000000-0000-0000-0000-000000000000" in str(raised.value)
    assert EMULATOR_CLIENT_SECRET not in str(raised.value)


def test_the_scope_follows_the_graph_host_of_national_clouds(small_tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(small_tenant)  # it stands in for the public cloud: other clouds' Graph is unknown
    with httpx.Client(transport=EmulatorTransport(emulator)) as http, pytest.raises(GraphAuthError) as raised:
        MsalTokenProvider(
            emulator_credentials(emulator),
            small_tenant.tenant_id,
            graph_base_url="https://graph.microsoft.us/v1.0",
            http_client=http,
        ).token()
    assert raised.value.code == "invalid_resource" and "https://graph.microsoft.us" in raised.value.message


@pytest.mark.parametrize(
    ("base_url", "scope"),
    [
        ("https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/.default"),
        ("https://graph.microsoft.us/v1.0", "https://graph.microsoft.us/.default"),
        ("https://dod-graph.microsoft.us/beta", "https://dod-graph.microsoft.us/.default"),
        ("https://microsoftgraph.chinacloudapi.cn/v1.0/", "https://microsoftgraph.chinacloudapi.cn/.default"),
    ],
)
def test_graph_scope(base_url: str, scope: str) -> None:
    assert graph_scope(base_url) == scope


def _assertion_header(recorder: RecordingTransport) -> dict[str, str]:
    token_post = next(request for request in recorder.requests if request.method == "POST")
    form = dict(httpx.QueryParams(token_post.content.decode()))
    assert "client_secret" not in form
    header = form["client_assertion"].split(".")[0]
    decoded: dict[str, str] = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    return decoded


@pytest.mark.parametrize("password", [None, PASSPHRASE])
def test_msal_signs_in_with_a_pem_certificate(
    certificate_emulator: GraphEmulator, tmp_path: Path, password: str | None
) -> None:
    key, certificate = self_signed()
    pem = write_pem(tmp_path / "app.pem", key, certificate, password)
    recorder = RecordingTransport(EmulatorTransport(certificate_emulator))
    with httpx.Client(transport=recorder) as http:
        credentials = certificate_credentials(certificate_emulator, pem, password)
        provider = MsalTokenProvider(credentials, certificate_emulator.tenant.tenant_id, http_client=http)
        assert graph_status(http, provider.token()) == 200
    header = _assertion_header(recorder)
    thumbprint = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
    assert header["x5t"].rstrip("=") == thumbprint and header["alg"] == "RS256"


def test_msal_signs_in_with_a_pfx_certificate(certificate_emulator: GraphEmulator, tmp_path: Path) -> None:
    key, certificate = self_signed()
    pfx = write_pfx(tmp_path / "app.pfx", key, certificate, PASSPHRASE)
    recorder = RecordingTransport(EmulatorTransport(certificate_emulator))
    with httpx.Client(transport=recorder) as http:
        credentials = certificate_credentials(certificate_emulator, pfx, PASSPHRASE)
        provider = MsalTokenProvider(credentials, certificate_emulator.tenant.tenant_id, http_client=http)
        assert graph_status(http, provider.token()) == 200
    thumbprint = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256())).rstrip(b"=").decode()
    assert _assertion_header(recorder)["x5t#S256"].rstrip("=") == thumbprint


def test_certificate_files_that_cannot_sign_are_refused_naming_the_setting(
    certificate_emulator: GraphEmulator, tmp_path: Path
) -> None:
    key, certificate = self_signed()
    other_key, _ = self_signed("other")
    encrypted = write_pem(tmp_path / "encrypted.pem", key, certificate, PASSPHRASE)
    mismatched = write_pem(tmp_path / "mismatched.pem", other_key, certificate)
    no_key = tmp_path / "no-key.pem"
    no_key.write_text(mismatched.read_text().split("-----END PRIVATE KEY-----")[1])
    cases = [
        (encrypted, "wrong-passphrase", "M365_CLIENT_CERTIFICATE_PASSWORD"),
        (encrypted, None, "M365_CLIENT_CERTIFICATE_PASSWORD"),
        (mismatched, None, "no certificate matching its private key"),
        (no_key, None, "no PEM private key"),
        (tmp_path / "missing.pem", None, "cannot read"),
    ]
    for path, password, expected in cases:
        with pytest.raises(SettingsError) as raised:
            credentials = certificate_credentials(certificate_emulator, path, password)
            MsalTokenProvider(credentials, certificate_emulator.tenant.tenant_id)
        message = str(raised.value)
        assert "M365_CLIENT_CERTIFICATE_PATH" in message and str(path) in message and expected in message
        assert PASSPHRASE not in message and "wrong-passphrase" not in message


def test_the_plain_grant_gets_a_token_over_http_and_names_a_refusal(
    small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant)
    with serve(emulator) as served, httpx.Client() as http:
        token_url = f"{served.url}/{small_tenant.tenant_id}/oauth2/v2.0/token"
        provider = ClientCredentialsTokenProvider(
            token_url,
            EMULATOR_CLIENT_ID,
            Secret(EMULATOR_CLIENT_SECRET),
            scope="https://graph.microsoft.com/.default",
            http=http,
            clock=clock,
        )
        token = provider.token()
        assert provider.token() == token
        response = http.get(f"{served.graph_base_url}/organization", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        clock.advance(3301)
        assert provider.token() != token
        refused = ClientCredentialsTokenProvider(
            token_url, EMULATOR_CLIENT_ID, Secret("nope-wrong"), scope="https://graph.microsoft.com/.default", http=http
        )
        with pytest.raises(GraphAuthError) as raised:
            refused.token()
    assert raised.value.status == 401 and raised.value.code == "invalid_client"
    assert "AADSTS7000215" in str(raised.value) and "nope-wrong" not in str(raised.value)
    assert raised.value.request_id is not None


def test_an_unavailable_sign_in_service_is_a_transient_error_carrying_its_retry_after(
    small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant)
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        providers = [
            emulator_tokens(emulator, http),
            ClientCredentialsTokenProvider(
                f"{EMULATOR_AUTHORITY_HOST}/{small_tenant.tenant_id}/oauth2/v2.0/token",
                EMULATOR_CLIENT_ID,
                Secret(EMULATOR_CLIENT_SECRET),
                scope="https://graph.microsoft.com/.default",
                http=http,
                clock=clock,
            ),
        ]
        for provider in providers:
            emulator.sign_in_outage(1, retry_after=5)
            with pytest.raises(GraphSignInUnavailable) as raised:
                provider.token()
            error = raised.value
            assert isinstance(error, GraphAuthError) and error.retry_after == 5.0
            assert (error.status, error.code, error.method) == (503, "temporarily_unavailable", "POST")
            assert error.path == f"/{small_tenant.tenant_id}/oauth2/v2.0/token"
            assert graph_status(http, provider.token()) == 200  # asked again once the outage is over
