"""The served emulator over https, addressed as a national cloud: msal signs in to it over a real socket."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import msal
import pytest
from cryptography import x509

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator
from m365_pipeline.emulator.certificate import loopback_certificate
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.settings import FaultRates
from m365_pipeline_tests.emulator.helpers import signed_in


def trusting(certificate: Path | None) -> ssl.SSLContext:
    assert certificate is not None
    context = ssl.create_default_context(cafile=str(certificate))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # as Python 3.13 sets by default
    return context


def test_msal_signs_in_over_https_with_the_scope_of_the_emulators_own_url_and_reads_users(
    tenant: SyntheticTenant, tmp_path: Path
) -> None:
    second = generate_tenant(12, 40)
    emulator = GraphEmulator([second, tenant])
    with (
        serve(emulator, tls_dir=tmp_path) as served,
        httpx.Client(verify=trusting(served.certificate), timeout=10) as http,
    ):
        assert served.url.startswith("https://127.0.0.1:")
        assert served.certificate is not None and served.certificate.parent == tmp_path
        app = msal.ConfidentialClientApplication(
            EMULATOR_CLIENT_ID,
            client_credential=EMULATOR_CLIENT_SECRET,
            authority=f"{served.url}/{tenant.tenant_id}",
            instance_discovery=False,
            http_client=http,
        )
        result = app.acquire_token_for_client(scopes=[f"{served.url}/.default"])
        assert "access_token" in result, result
        bearer = {"Authorization": f"Bearer {result['access_token']}"}
        ids: list[str] = []
        url: str | None = f"{served.graph_base_url}/users?$top=999"
        while url:
            page = http.get(url, headers=bearer)
            assert page.status_code == 200 and page.url.scheme == "https"
            ids += [user["id"] for user in page.json()["value"]]
            url = page.json().get("@odata.nextLink")
            assert url is None or url.startswith(f"{served.url}/v1.0/users?")
        # msal keeps the token: a second call is answered from its cache, not the token endpoint
        again = app.acquire_token_for_client(scopes=[f"{served.url}/.default"])
        assert again["access_token"] == result["access_token"]
    assert ids == [user["id"] for user in tenant.users]
    sign_in = [(method, path) for method, path, _ in emulator.requests if not path.startswith("/v1.0/")]
    assert sign_in == [
        ("GET", f"/{tenant.tenant_id}/v2.0/.well-known/openid-configuration"),
        ("POST", f"/{tenant.tenant_id}/oauth2/v2.0/token"),
    ]


def test_the_certificate_file_is_trusted_through_ssl_cert_file(
    emulator: GraphEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(emulator, tls_dir=tmp_path) as served:
        monkeypatch.setenv("SSL_CERT_FILE", str(served.certificate))
        with httpx.Client(timeout=10) as http:
            discovery = http.get(f"{served.url}/{emulator.tenant.default_domain}/v2.0/.well-known/openid-configuration")
        assert discovery.json()["token_endpoint"] == f"{served.url}/{emulator.tenant.tenant_id}/oauth2/v2.0/token"


def test_a_client_that_does_not_trust_it_fails_and_the_server_goes_on(emulator: GraphEmulator, tmp_path: Path) -> None:
    with serve(emulator, tls_dir=tmp_path) as served:
        with httpx.Client(timeout=10) as untrusting, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
            untrusting.get(f"{served.url}/v1.0/users")
        with httpx.Client(verify=trusting(served.certificate), timeout=10) as http:
            assert http.get(f"{served.url}/v1.0/users").status_code == 401  # answered: no token


def test_the_certificate_names_the_loopback_addresses_and_is_reused_while_valid(tmp_path: Path) -> None:
    files = loopback_certificate(tmp_path / "tls")
    certificate = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(address) for address in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert files.key.stat().st_mode & 0o077 == 0
    assert loopback_certificate(tmp_path / "tls") == files
    assert x509.load_pem_x509_certificate(files.certificate.read_bytes()) == certificate
    files.key.write_text("not a key")
    assert x509.load_pem_x509_certificate(loopback_certificate(tmp_path / "tls").certificate.read_bytes()) != (
        certificate
    )


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_https_on_the_ipv6_loopback(emulator: GraphEmulator, tmp_path: Path) -> None:
    with (
        serve(emulator, host="::1", tls_dir=tmp_path) as served,
        httpx.Client(verify=trusting(served.certificate), timeout=10) as http,
    ):
        assert served.url.startswith("https://[::1]:")
        assert http.get(f"{served.url}/v1.0/organization").status_code == 401


def test_a_drop_over_https_is_a_mid_body_connection_loss_too(tenant: SyntheticTenant, tmp_path: Path) -> None:
    with (
        serve(GraphEmulator(tenant, FaultRates(drop=1.0)), tls_dir=tmp_path) as served,
        httpx.Client(verify=trusting(served.certificate), timeout=10) as http,
    ):
        signed_in(http, tenant.tenant_id, login=served.url)
        with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
            http.get(f"{served.url}/v1.0/users?$top=999")
