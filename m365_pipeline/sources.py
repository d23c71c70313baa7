"""The composition root: which Graph the settings call for, and the tenants it serves.

Three sources, one client: the bundled emulator in this process (the embedded default), an emulator served on
a socket (``M365_EMULATOR_URL``), or Microsoft Graph itself (``M365_TENANT_ID``: one multi-tenant app
registration, any number of tenants). Only this module knows the emulator exists; ``graph/`` speaks to
whatever base URL and sign-in service it is given.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from m365_pipeline.emulator.identity import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET
from m365_pipeline.emulator.in_process import EMULATOR_AUTHORITY_HOST, EMULATOR_GRAPH_BASE_URL, shared_emulator
from m365_pipeline.emulator.tenant import tenant_id_for_seed
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.graph.auth import ClientCredentialsTokenProvider, MsalTokenProvider, TokenProvider, graph_scope
from m365_pipeline.graph.cache import response_cache_for
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.retry import Clock, RetryPolicy, SystemClock
from m365_pipeline.graph.throttling import service_limiter_for
from m365_pipeline.settings import GraphCredentials, Secret, Settings


def configured_tenants(settings: Settings) -> tuple[str, ...]:
    """The tenants this deployment serves, in the order configured: the partition keys of every asset."""
    if settings.credentials is not None:
        return settings.credentials.tenant_ids
    return tuple(tenant_id_for_seed(seed) for seed in settings.emulator.seeds)


def source_description(settings: Settings) -> str:
    if settings.credentials is not None:
        return settings.graph_base_url
    if settings.emulator.url is not None:
        return f"the Graph emulator at {settings.emulator.url}"
    return "the bundled Graph emulator (in-process)"


@contextmanager
def graph_client(
    settings: Settings, tenant: str, *, clock: Clock | None = None, limited: bool = True
) -> Iterator[GraphClient]:
    """A Graph client signed in to ``tenant`` through the source the settings call for; closed on exit.
    ``limited=False`` leaves out the published limits' limiter (a benchmark measuring the extraction alone)."""
    clock = clock or SystemClock()
    base_url, http, tokens = _connection(settings, tenant)
    client = GraphClient(
        base_url,
        tokens,
        http,
        retry=RetryPolicy(max_retries=settings.max_retries),
        limiter=service_limiter_for(settings, tenant, clock) if limited else None,
        clock=clock,
        rng=random.Random(),
        page_size=settings.page_size,
        cache=response_cache_for(settings, tenant, clock),
    )
    with client:
        yield client


@contextmanager
def download_client(settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client WITHOUT any credentials, for the pre-authorized links Graph redirects to (usage reports)."""
    if settings.credentials is None and settings.emulator.url is None:
        emulator = shared_emulator(settings.emulator.seeds, settings.emulator.users, settings.emulator.faults)
        http = httpx.Client(transport=EmulatorTransport(emulator), timeout=settings.http_timeout)
    else:
        http = httpx.Client(timeout=settings.http_timeout)
    with http:
        yield http


def _connection(settings: Settings, tenant: str) -> tuple[str, httpx.Client, TokenProvider]:
    if settings.credentials is not None:
        http = httpx.Client(timeout=settings.http_timeout)
        tokens = MsalTokenProvider(
            settings.credentials, tenant, graph_base_url=settings.graph_base_url, http_client=http
        )
        return settings.graph_base_url, http, tokens
    if settings.emulator.url is not None:
        # a served emulator speaking plain http: msal refuses http authorities, so the OAuth form is posted as is
        http = httpx.Client(timeout=settings.http_timeout)
        tokens_url = f"{settings.emulator.url.rstrip('/')}/{tenant}/oauth2/v2.0/token"
        client_credentials = ClientCredentialsTokenProvider(
            tokens_url,
            EMULATOR_CLIENT_ID,
            Secret(EMULATOR_CLIENT_SECRET),
            scope=graph_scope(settings.graph_base_url),
            http=http,
        )
        return settings.graph_base_url, http, client_credentials
    emulator = shared_emulator(settings.emulator.seeds, settings.emulator.users, settings.emulator.faults)
    http = httpx.Client(transport=EmulatorTransport(emulator), timeout=settings.http_timeout)
    credentials = GraphCredentials(
        tenant_ids=(tenant,),
        client_id=EMULATOR_CLIENT_ID,
        client_secret=Secret(EMULATOR_CLIENT_SECRET),
        certificate_path=None,
        certificate_password=None,
        authority_host=EMULATOR_AUTHORITY_HOST,
    )
    tokens = MsalTokenProvider(credentials, tenant, graph_base_url=EMULATOR_GRAPH_BASE_URL, http_client=http)
    return EMULATOR_GRAPH_BASE_URL, http, tokens
