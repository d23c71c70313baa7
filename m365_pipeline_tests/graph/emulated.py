"""The Graph client wired to the in-process emulator, and transports that watch or reshape its traffic.

The wrappers forward every request to the real emulator; they only record it or rewrite one header, so the
client under test still meets the emulator's behaviour.
"""

from __future__ import annotations

import random
from datetime import timedelta
from email.utils import format_datetime

import httpx

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.graph.auth import EMULATOR_AUTHORITY_HOST, EMULATOR_GRAPH_BASE_URL, MsalTokenProvider
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.retry import RetryPolicy
from m365_pipeline.settings import GraphCredentials, Secret
from m365_pipeline_tests.graph.fake_clock import FakeClock


def emulator_credentials(
    emulator: GraphEmulator, client_id: str = EMULATOR_CLIENT_ID, secret: str = EMULATOR_CLIENT_SECRET
) -> GraphCredentials:
    return GraphCredentials(
        tenant_id=emulator.tenant.tenant_id,
        client_id=client_id,
        client_secret=Secret(secret),
        certificate_path=None,
        certificate_password=None,
        authority_host=EMULATOR_AUTHORITY_HOST,
    )


def emulator_client(
    emulator: GraphEmulator,
    clock: FakeClock,
    *,
    page_size: int = 999,
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008
    transport: httpx.BaseTransport | None = None,
) -> GraphClient:
    """A GraphClient on ``emulator`` in-process, signed in through msal as the emulator's built-in client."""
    http = httpx.Client(transport=transport or EmulatorTransport(emulator))
    tokens = MsalTokenProvider(emulator_credentials(emulator), http_client=http, clock=clock)
    return GraphClient(
        EMULATOR_GRAPH_BASE_URL, tokens, http, retry=retry, clock=clock, rng=random.Random(0), page_size=page_size
    )


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
