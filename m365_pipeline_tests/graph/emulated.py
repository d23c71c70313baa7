"""The Graph client wired to the emulator (in-process, or served on a socket), and transports that watch or
reshape its traffic. Tests are where the client and the emulator meet: graph/ itself knows no emulator.

The wrappers forward every request to the real emulator; they only record it or rewrite one header, so the
client under test still meets the emulator's behaviour.
"""

from __future__ import annotations

import random
from datetime import timedelta
from email.utils import format_datetime

import httpx

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator
from m365_pipeline.emulator.in_process import EMULATOR_AUTHORITY_HOST, EMULATOR_GRAPH_BASE_URL
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.graph.auth import (
    DEFAULT_GRAPH_BASE_URL,
    ClientCredentialsTokenProvider,
    MsalTokenProvider,
    graph_scope,
)
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.retry import RetryPolicy
from m365_pipeline.graph.throttling import ServiceLimiter
from m365_pipeline.settings import GraphCredentials, Secret
from m365_pipeline_tests.graph.fake_clock import FakeClock

__all__ = ["EMULATOR_AUTHORITY_HOST", "EMULATOR_GRAPH_BASE_URL"]  # where the in-process emulator answers

TOKEN_PATH = "/oauth2/v2.0/token"


def emulator_credentials(
    emulator: GraphEmulator, client_id: str = EMULATOR_CLIENT_ID, secret: str = EMULATOR_CLIENT_SECRET
) -> GraphCredentials:
    return GraphCredentials(
        tenant_ids=(emulator.tenant.tenant_id,),
        client_id=client_id,
        client_secret=Secret(secret),
        certificate_path=None,
        certificate_password=None,
        authority_host=EMULATOR_AUTHORITY_HOST,
    )


def emulator_tokens(
    emulator: GraphEmulator,
    http: httpx.Client,
    client_id: str = EMULATOR_CLIENT_ID,
    secret: str = EMULATOR_CLIENT_SECRET,
) -> MsalTokenProvider:
    """msal signing in to ``emulator``'s (first) tenant over ``http``, which carries the emulator's transport,
    as the composition root does: the scope follows the emulator's Graph base URL, as for a national cloud."""
    credentials = emulator_credentials(emulator, client_id, secret)
    return MsalTokenProvider(
        credentials, emulator.tenant.tenant_id, graph_base_url=EMULATOR_GRAPH_BASE_URL, http_client=http
    )


def emulator_client(
    emulator: GraphEmulator,
    clock: FakeClock,
    *,
    page_size: int = 999,
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008
    transport: httpx.BaseTransport | None = None,
    limiter: ServiceLimiter | None = None,
) -> GraphClient:
    """A GraphClient on ``emulator`` in-process, signed in through msal as the emulator's built-in client."""
    http = httpx.Client(transport=transport or EmulatorTransport(emulator))
    return GraphClient(
        EMULATOR_GRAPH_BASE_URL,
        emulator_tokens(emulator, http),
        http,
        retry=retry,
        clock=clock,
        rng=random.Random(0),
        page_size=page_size,
        limiter=limiter,
    )


def served_client(base_url: str, tenant_id: str, clock: FakeClock, *, page_size: int = 999) -> GraphClient:
    """A GraphClient on an emulator served over plain http at ``base_url``, signed in to ``tenant_id`` by the
    plain client-credentials grant (msal refuses an http authority)."""
    http = httpx.Client(timeout=10.0)
    tokens = ClientCredentialsTokenProvider(
        f"{base_url}/{tenant_id}{TOKEN_PATH}",
        EMULATOR_CLIENT_ID,
        Secret(EMULATOR_CLIENT_SECRET),
        scope=graph_scope(DEFAULT_GRAPH_BASE_URL),
        http=http,
        clock=clock,
    )
    return GraphClient(f"{base_url}/v1.0", tokens, http, clock=clock, page_size=page_size)


def graph_requests(emulator: GraphEmulator) -> list[tuple[str, str, int]]:
    """The emulator's log of Graph calls (not sign-in calls)."""
    return [request for request in emulator.requests if request[1].startswith("/v1.0/")]


class RecordingTransport(httpx.BaseTransport):
    """Forwards to ``inner`` and keeps every request it saw."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)


class RetryAfterAsDate(httpx.BaseTransport):
    """Rewrites the emulator's Retry-After seconds into the equivalent HTTP date, by ``clock``'s wall time."""

    def __init__(self, inner: httpx.BaseTransport, clock: FakeClock) -> None:
        self.inner = inner
        self.clock = clock
        self.dates: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        seconds = response.headers.get("Retry-After")
        if seconds is not None:
            moment = self.clock.utcnow() + timedelta(seconds=float(seconds))
            response.headers["Retry-After"] = format_datetime(moment, usegmt=True)
            self.dates.append(response.headers["Retry-After"])
        return response
