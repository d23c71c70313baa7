"""A sign-in service that answers 429/5xx is retried like Graph; one that cannot be reached gets one quick
retry; a refusal is not retried."""

from __future__ import annotations

import logging
import random

import httpx
import pytest

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.entities import USERS
from m365_pipeline.graph.auth import DEFAULT_GRAPH_BASE_URL, ClientCredentialsTokenProvider, graph_scope
from m365_pipeline.graph.client import QUICK_RETRY_MAX_WAIT, GraphClient
from m365_pipeline.graph.errors import GraphAuthError, GraphRetriesExhausted
from m365_pipeline.graph.retry import RetryPolicy
from m365_pipeline.settings import Secret
from m365_pipeline_tests.graph.emulated import (
    EMULATOR_AUTHORITY_HOST,
    EMULATOR_GRAPH_BASE_URL,
    TOKEN_PATH,
    emulator_client,
    emulator_tokens,
    graph_requests,
    served_client,
)
from m365_pipeline_tests.graph.fake_clock import FakeClock


class SignInConnectionRefused(httpx.BaseTransport):
    """Forwards every request to the emulator, except that sign-in request number ``refuse`` (1: the first)
    meets a refused connection, as if the sign-in service were unreachable for that moment."""

    def __init__(self, inner: httpx.BaseTransport, refuse: int) -> None:
        self.inner = inner
        self.refuse = refuse
        self.sign_in_paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.startswith("/v1.0/"):
            self.sign_in_paths.append(request.url.path)
            if len(self.sign_in_paths) == self.refuse:
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return self.inner.handle_request(request)


def user_ids(client: GraphClient) -> list[str]:
    return [user["id"] for user in client.iter_items(USERS.path, USERS.params)]


def token_statuses(emulator: GraphEmulator) -> list[int]:
    return [status for _, path, status in emulator.requests if path.endswith(TOKEN_PATH)]


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if "before retry" in record.getMessage()]


@pytest.mark.parametrize(
    ("refused", "path"),
    [(1, "/v2.0/.well-known/openid-configuration"), (2, TOKEN_PATH), (3, TOKEN_PATH)],
    ids=["discovery", "first-token", "refresh"],
)
def test_a_refused_connection_to_the_sign_in_service_gets_one_quick_retry(
    refused: int,
    path: str,
    small_tenant: SyntheticTenant,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a token of 5 minutes or less is never reused by msal: every page asks the sign-in service again
    emulator = GraphEmulator(small_tenant, token_lifetime=60)
    transport = SignInConnectionRefused(EmulatorTransport(emulator), refused)
    ids: list[str] = []
    with (
        caplog.at_level(logging.WARNING, logger="m365_pipeline.graph"),
        emulator_client(emulator, clock, page_size=100, transport=transport) as client,
    ):
        for page in client.iter_pages(USERS.path, USERS.params):
            ids.extend(user["id"] for user in page)
    assert sorted(ids) == sorted(user["id"] for user in small_tenant.users)
    assert len(clock.sleeps) == 1 and 0 <= clock.sleeps[0] <= QUICK_RETRY_MAX_WAIT
    assert transport.sign_in_paths[refused - 1] == transport.sign_in_paths[refused]  # the same request, again
    assert transport.sign_in_paths[refused - 1].endswith(path)
    (line,) = retry_lines(caplog)
    assert line.startswith("no response ConnectError on ") and path in line and "retry 1 of 1" in line
    assert "the sign-in host login.emulator.invalid could not be reached" in line
    assert [status for _, _, status in graph_requests(emulator)] == [200, 200, 200]


def test_the_plain_grant_retries_a_refused_connection_too(small_tenant: SyntheticTenant, clock: FakeClock) -> None:
    emulator = GraphEmulator(small_tenant)
    http = httpx.Client(transport=SignInConnectionRefused(EmulatorTransport(emulator), 1))
    tokens = ClientCredentialsTokenProvider(
        f"{EMULATOR_AUTHORITY_HOST}/{small_tenant.tenant_id}{TOKEN_PATH}",
        EMULATOR_CLIENT_ID,
        Secret(EMULATOR_CLIENT_SECRET),
        scope=graph_scope(DEFAULT_GRAPH_BASE_URL),
        http=http,
        clock=clock,
    )
    with GraphClient(EMULATOR_GRAPH_BASE_URL, tokens, http, clock=clock, rng=random.Random(0)) as client:
        assert len(user_ids(client)) == 300
    assert len(clock.sleeps) == 1 and clock.sleeps[0] <= QUICK_RETRY_MAX_WAIT and token_statuses(emulator) == [200]


def test_a_sign_in_outage_is_waited_out_as_long_as_its_retry_after_asks(
    small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant)
    emulator.sign_in_outage(2, retry_after=7)
    with emulator_client(emulator, clock) as client:
        assert len(user_ids(client)) == 300
    # every retry reached the sign-in service: msal did not answer it from its memory of the 503
    assert token_statuses(emulator) == [503, 503, 200]
    assert clock.sleeps == [7.0, 7.0]


def test_a_sign_in_outage_is_retried_over_a_socket_by_the_plain_grant(
    small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant)
    emulator.sign_in_outage(1)
    with serve(emulator) as served, served_client(served.url, small_tenant.tenant_id, clock) as client:
        assert len(user_ids(client)) == 300
    assert token_statuses(emulator) == [503, 200]
    assert len(clock.sleeps) == 1 and 0 <= clock.sleeps[0] <= RetryPolicy().base_delay


def test_a_sign_in_service_that_stays_down_exhausts_the_retry_policy_naming_it(
    small_tenant: SyntheticTenant, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, msal's, httpx's
    emulator = GraphEmulator(small_tenant)
    emulator.sign_in_outage(100)
    policy = RetryPolicy(max_retries=2)
    with emulator_client(emulator, clock, retry=policy) as client, pytest.raises(GraphRetriesExhausted) as raised:
        user_ids(client)
    error = raised.value
    assert (error.status, error.code, error.attempts, error.method) == (503, "temporarily_unavailable", 3, "POST")
    assert str(error).startswith(f"POST /{small_tenant.tenant_id}{TOKEN_PATH}: HTTP 503 temporarily_unavailable: ")
    assert "AADSTS90033" in str(error) and str(error).endswith("gave up after 3 attempts")
    assert len(clock.sleeps) == 2 and graph_requests(emulator) == []
    lines = [record.getMessage() for record in caplog.records]
    assert len(retry_lines(caplog)) == 2
    assert EMULATOR_CLIENT_SECRET not in f"{error} {error!r} {error.__dict__}"
    assert not [line for line in lines if EMULATOR_CLIENT_SECRET in line]


@pytest.mark.parametrize(
    ("client_id", "secret", "code"),
    [
        (EMULATOR_CLIENT_ID, "wrong~secret~value", "invalid_client"),
        ("00000000-aaaa-4bbb-8ccc-000000000000", EMULATOR_CLIENT_SECRET, "unauthorized_client"),
    ],
    ids=["wrong-secret", "unknown-client"],
)
def test_a_refused_sign_in_fails_at_once(
    client_id: str, secret: str, code: str, small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant)
    http = httpx.Client(transport=EmulatorTransport(emulator))
    tokens = emulator_tokens(emulator, http, client_id, secret)
    with (
        GraphClient(EMULATOR_GRAPH_BASE_URL, tokens, http, clock=clock) as client,
        pytest.raises(GraphAuthError) as raised,
    ):
        user_ids(client)
    assert type(raised.value) is GraphAuthError and raised.value.code == code
    assert secret not in str(raised.value)
    assert clock.sleeps == [] and len(token_statuses(emulator)) == 1 and graph_requests(emulator) == []
