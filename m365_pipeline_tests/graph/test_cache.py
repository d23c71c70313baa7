"""The response cache: kinds and their TTLs, answers shared between clients (and runs) through Redis, errors and
delta rounds never cached, keys that carry no token."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.graph.cache import (
    CacheKind,
    InProcessResponseStore,
    RedisResponseStore,
    ResponseCache,
    ResponseStore,
    cache_kind,
)
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.settings import CacheSettings
from m365_pipeline_tests.graph.emulated import EMULATOR_GRAPH_BASE_URL, emulator_tokens, graph_requests
from m365_pipeline_tests.graph.fake_clock import FakeClock


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://graph.microsoft.com/v1.0/users?$select=id", CacheKind.USERS),
        ("https://graph.microsoft.com/v1.0/users/abc/manager", CacheKind.USERS),
        ("https://graph.microsoft.com/v1.0/subscribedSkus", CacheKind.LICENCES),
        ("https://graph.microsoft.com/v1.0/users/abc/licenseDetails", CacheKind.LICENCES),
        ("https://graph.microsoft.com/v1.0/reports/authenticationMethods/userRegistrationDetails", CacheKind.SECURITY),
        ("https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=1000", None),
        ("https://graph.microsoft.com/v1.0/auditLogs/directoryAudits", None),
        ("https://graph.microsoft.com/v1.0/communications/callRecords/abc?$expand=sessions", None),
        ("https://graph.microsoft.com/v1.0/users/abc/authentication/methods", CacheKind.SECURITY),
        ("https://graph.microsoft.com/v1.0/identity/conditionalAccess/policies", CacheKind.SECURITY),
        ("https://graph.microsoft.com/v1.0/directoryRoles", CacheKind.SECURITY),
        ("https://graph.microsoft.com/v1.0/groups", CacheKind.DEFAULT),
        ("https://graph.microsoft.com/v1.0/users/delta?$select=id", None),
        ("https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=abc", None),
    ],
)
def test_the_kind_of_an_answer(url: str, kind: CacheKind | None) -> None:
    assert cache_kind(url) is kind


def client_on(emulator: GraphEmulator, clock: FakeClock, store: ResponseStore) -> GraphClient:
    http = httpx.Client(transport=EmulatorTransport(emulator))
    cache = ResponseCache(store, CacheSettings(), f"{emulator.tenant.tenant_id}|app")
    return GraphClient(
        EMULATOR_GRAPH_BASE_URL, emulator_tokens(emulator, http), http, clock=clock, rng=random.Random(0), cache=cache
    )


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[tuple[redis.Redis, RedisResponseStore, str]]:
    client = redis.Redis.from_url(redis_url)
    prefix = f"m365_pipeline_tests:cache:{uuid.uuid4().hex}:"
    yield client, RedisResponseStore(client, prefix), prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_a_second_client_is_answered_from_redis_and_errors_are_asked_again(
    small_tenant: SyntheticTenant, clock: FakeClock, redis_store: tuple[redis.Redis, RedisResponseStore, str]
) -> None:
    redis_client, store, prefix = redis_store
    emulator = GraphEmulator(small_tenant)
    first, second = client_on(emulator, clock, store), client_on(emulator, clock, store)
    params = {"$select": "id,displayName", "$top": "50"}
    pages = list(first.iter_pages("/users", params))
    asked = len(graph_requests(emulator))
    assert list(second.iter_pages("/users", params)) == pages
    assert len(graph_requests(emulator)) == asked  # every page from the cache
    assert second.get_json("/subscribedSkus") == first.get_json("/subscribedSkus")
    assert len(graph_requests(emulator)) == asked + 1
    for client in (first, second):
        with pytest.raises(GraphError):
            client.get_json("/users/00000000-0000-0000-0000-000000000000")
    assert len(graph_requests(emulator)) == asked + 3
    keys = [key.decode() for key in redis_client.scan_iter(f"{prefix}*")]
    assert keys and all(key.removeprefix(prefix).split(":")[0] in {"users", "licences"} for key in keys)
    ttls = {key.removeprefix(prefix).split(":")[0]: redis_client.ttl(key) for key in keys}
    assert 1700 < ttls["licences"] <= 1800 and 200 < ttls["users"] <= 300
    token = emulator_tokens(emulator, httpx.Client(transport=EmulatorTransport(emulator))).token()
    assert all(token not in key for key in keys)


def test_an_answer_expires_after_its_kinds_ttl_and_delta_is_never_cached(
    small_tenant: SyntheticTenant, clock: FakeClock
) -> None:
    emulator = GraphEmulator(small_tenant)
    client = client_on(emulator, clock, InProcessResponseStore(clock, 10_000_000))
    client.get_json("/users", {"$top": "5"})
    client.get_json("/users", {"$top": "5"})
    assert len(graph_requests(emulator)) == 1
    clock.advance(301)
    client.get_json("/users", {"$top": "5"})
    assert len(graph_requests(emulator)) == 2
    first = client.get_json("/users/delta?$select=id")
    link = first.get("@odata.nextLink") or first["@odata.deltaLink"]
    client.get_json(link)
    client.get_json(link)
    assert len(graph_requests(emulator)) == 5


def test_the_in_process_store_drops_the_oldest_beyond_its_bound(clock: FakeClock) -> None:
    store = InProcessResponseStore(clock, max_bytes=10)
    store.put("a", b"12345", 60)
    store.put("b", b"12345", 60)
    store.put("c", b"1", 60)
    assert store.get("a") is None and store.get("b") == b"12345" and store.get("c") == b"1"
    store.put("huge", b"x" * 11, 60)
    assert store.get("huge") is None
