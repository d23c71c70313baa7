"""One multi-tenant app registration, several tenants: one token provider and one client per tenant, each
reading its own tenant. Against the emulator served over https and addressed as a national cloud, msal and
all, trusting the emulator's certificate through SSL_CERT_FILE as a deployment would."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.entities import USERS
from m365_pipeline.graph.auth import MsalTokenProvider
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.settings import GraphCredentials, Secret
from m365_pipeline_tests.graph.emulated import TOKEN_PATH
from m365_pipeline_tests.graph.fake_clock import FakeClock


def test_each_tenant_of_a_multi_tenant_app_is_read_over_https_through_msal(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    second, unconsented = generate_tenant(8, 40), generate_tenant(9, 10)
    tenants = [small_tenant, second, unconsented]
    emulator = GraphEmulator(tenants, permissions_by_tenant={unconsented.tenant_id: frozenset()})
    with serve(emulator, tls_dir=tmp_path) as served:
        assert served.url.startswith("https://") and served.certificate is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(served.certificate))
        credentials = GraphCredentials(
            tenant_ids=tuple(tenant.tenant_id for tenant in tenants),
            client_id=EMULATOR_CLIENT_ID,
            client_secret=Secret(EMULATOR_CLIENT_SECRET),
            certificate_path=None,
            certificate_password=None,
            authority_host=served.url,
        )
        read: dict[str, list[str]] = {}
        for tenant in tenants:
            http = httpx.Client(timeout=10)
            tokens = MsalTokenProvider(
                credentials, tenant.tenant_id, graph_base_url=served.graph_base_url, http_client=http
            )
            with GraphClient(served.graph_base_url, tokens, http, clock=clock) as client:
                try:
                    read[tenant.tenant_id] = [user["id"] for user in client.iter_items(USERS.path, USERS.params)]
                except GraphError as error:
                    assert (error.status, error.code) == (403, "Authorization_RequestDenied")
    assert read == {tenant.tenant_id: [user["id"] for user in tenant.users] for tenant in (small_tenant, second)}
    token_posts = [path for method, path, _ in emulator.requests if method == "POST" and path.endswith(TOKEN_PATH)]
    assert token_posts == [f"/{tenant.tenant_id}{TOKEN_PATH}" for tenant in tenants]  # one sign-in per tenant
    assert clock.sleeps == []
