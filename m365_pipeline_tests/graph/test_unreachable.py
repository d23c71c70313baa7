"""A host that cannot be reached fails after one quick retry (so in seconds, not minutes), naming it; over real
sockets, on the real clock.

Connection refused, an unresolvable name and an untrusted certificate get one quick retry, then
``GraphUnreachable``; a connection dropped mid-answer keeps the whole retry policy (test_client_socket.py).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.entities import USERS
from m365_pipeline.graph.auth import ClientCredentialsTokenProvider, MsalTokenProvider, TokenProvider
from m365_pipeline.graph.client import QUICK_RETRY_MAX_WAIT, GraphClient
from m365_pipeline.graph.errors import GraphUnreachable
from m365_pipeline.graph.retry import RetryPolicy
from m365_pipeline.settings import GraphCredentials, Secret
from m365_pipeline_tests.graph.emulated import (
    EMULATOR_GRAPH_BASE_URL,
    TOKEN_PATH,
    emulator_client,
    graph_requests,
)
from m365_pipeline_tests.graph.fake_clock import FakeClock

UNRESOLVABLE = "nonexistent.invalid"


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: every connection to it is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


class StaticToken:
    """A token provider for tests where the sign-in service is not the subject."""

    def token(self) -> str:
        return "static-test-token"

    def invalidate(self) -> None:
        pass


def first_page_fails(client: GraphClient) -> GraphUnreachable:
    with client, pytest.raises(GraphUnreachable) as raised:
        next(client.iter_pages(USERS.path, USERS.params))
    return raised.value


def msal_tokens(tenant_id: str, authority_host: str, http: httpx.Client) -> MsalTokenProvider:
    credentials = GraphCredentials(
        tenant_ids=(tenant_id,),
        client_id=EMULATOR_CLIENT_ID,
        client_secret=Secret(EMULATOR_CLIENT_SECRET),
        certificate_path=None,
        certificate_password=None,
        authority_host=authority_host,
    )
    return MsalTokenProvider(credentials, tenant_id, graph_base_url=f"{authority_host}/v1.0", http_client=http)


def test_a_closed_graph_port_fails_fast_naming_the_graph_host() -> None:
    with closed_port() as port:
        client = GraphClient(f"http://127.0.0.1:{port}/v1.0", StaticToken(), httpx.Client(timeout=10))
        error = first_page_fails(client)
    assert (error.status, error.code, error.service, error.host, error.attempts) == (
        0,
        "ConnectError",
        "Graph",
        f"127.0.0.1:{port}",
        2,
    )
    assert str(error) == (
        f"GET /v1.0/users: ConnectError: the Graph host 127.0.0.1:{port} could not be reached "
        "([Errno 111] Connection refused) - gave up after 2 attempts"
    )


def test_an_unresolvable_graph_host_fails_fast_naming_it() -> None:
    client = GraphClient(f"https://graph.{UNRESOLVABLE}/v1.0", StaticToken(), httpx.Client(timeout=10))
    error = first_page_fails(client)
    assert error.host == f"graph.{UNRESOLVABLE}" and error.attempts == 2
    assert f"the Graph host graph.{UNRESOLVABLE} could not be reached" in str(error)


@pytest.mark.parametrize("grant", ["msal", "plain"])
def test_a_closed_sign_in_port_fails_fast_naming_the_sign_in_host(grant: str) -> None:
    tenant_id = "7e4a0000-0000-4000-8000-000000000365"
    with closed_port() as port, httpx.Client(timeout=10) as http:
        tokens: TokenProvider = (
            msal_tokens(tenant_id, f"https://127.0.0.1:{port}", http)
            if grant == "msal"
            else ClientCredentialsTokenProvider(
                f"http://127.0.0.1:{port}/{tenant_id}{TOKEN_PATH}",
                EMULATOR_CLIENT_ID,
                Secret(EMULATOR_CLIENT_SECRET),
                scope="https://graph.microsoft.com/.default",
                http=http,
            )
        )
        error = first_page_fails(GraphClient(f"http://127.0.0.1:{port}/v1.0", tokens, http))
    assert (error.service, error.host, error.attempts) == ("sign-in", f"127.0.0.1:{port}", 2)
    assert f"the sign-in host 127.0.0.1:{port} could not be reached" in str(error)
    assert EMULATOR_CLIENT_SECRET not in f"{error} {error!r} {error.__dict__}"


def test_an_unresolvable_sign_in_host_fails_fast_naming_it() -> None:
    with httpx.Client(timeout=10) as http:
        tokens = msal_tokens("7e4a0000-0000-4000-8000-000000000365", f"https://login.{UNRESOLVABLE}", http)
        error = first_page_fails(GraphClient(EMULATOR_GRAPH_BASE_URL, tokens, http))
    assert (error.service, error.host) == ("sign-in", f"login.{UNRESOLVABLE}")
    assert error.method == "GET" and error.path.endswith("/.well-known/openid-configuration")  # msal's discovery


def test_an_untrusted_certificate_fails_fast_naming_the_sign_in_host(
    small_tenant: SyntheticTenant, tmp_path: Path
) -> None:
    emulator = GraphEmulator(small_tenant)
    with serve(emulator, tls_dir=tmp_path) as served, httpx.Client(timeout=10) as http:
        tokens = msal_tokens(small_tenant.tenant_id, served.url, http)  # the system's trust store only
        error = first_page_fails(GraphClient(served.graph_base_url, tokens, http))
    host = served.url.removeprefix("https://")
    assert (error.service, error.host, error.attempts) == ("sign-in", host, 2)
    assert "CERTIFICATE_VERIFY_FAILED" in error.cause
    assert graph_requests(emulator) == []


class GraphConnectionRefused(httpx.BaseTransport):
    """Forwards to the emulator, except that the Graph requests numbered in ``refuse`` (1: the first) meet a
    refused connection."""

    def __init__(self, inner: httpx.BaseTransport, refuse: set[int]) -> None:
        self.inner = inner
        self.refuse = refuse
        self.graph_calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1.0/"):
            self.graph_calls += 1
            if self.graph_calls in self.refuse:
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return self.inner.handle_request(request)


def test_one_refused_connection_is_retried_once_quickly(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant)
    transport = GraphConnectionRefused(EmulatorTransport(emulator), {2})
    with emulator_client(emulator, clock, page_size=100, transport=transport) as client:
        pages = list(client.iter_pages(USERS.path, USERS.params))
    assert sum(len(page) for page in pages) == 300
    assert len(clock.sleeps) == 1 and 0 <= clock.sleeps[0] <= QUICK_RETRY_MAX_WAIT
    assert [status for _, _, status in graph_requests(emulator)] == [200, 200, 200]


@pytest.mark.parametrize(
    ("policy", "refused", "attempts"),
    [(RetryPolicy(), {1, 2}, 2), (RetryPolicy(max_retries=0), {1}, 1)],
    ids=["twice", "no-retries-allowed"],
)
def test_an_unreachable_host_gives_up_after_its_quick_retry(
    policy: RetryPolicy, refused: set[int], attempts: int, small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant)
    transport = GraphConnectionRefused(EmulatorTransport(emulator), refused)
    with (
        emulator_client(emulator, clock, retry=policy, transport=transport) as client,
        pytest.raises(GraphUnreachable) as raised,
    ):
        client.get_json(USERS.path, USERS.params)
    assert raised.value.attempts == attempts == transport.graph_calls
    assert len(clock.sleeps) == attempts - 1 and graph_requests(emulator) == []
    assert raised.value.host == "graph.emulator.invalid"
