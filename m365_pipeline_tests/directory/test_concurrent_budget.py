"""Issue 6's budget criterion: four concurrent runs against one emulator tenant, each in its own process with its
own client, sharing the tenant's limiters through Redis, cause zero over-limit requests (the emulator's counter),
while together they ask for more than Graph's published limits allow at once (so the pacing was needed)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from m365_pipeline.directory.auth_methods import extract_authentication_methods
from m365_pipeline.directory.extract import extract_directory
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.graph.retry import SystemClock
from m365_pipeline.graph.throttling import ServiceClass, service_limiter_for
from m365_pipeline.raw_store import RawStore
from m365_pipeline.settings import Settings, load_settings
from m365_pipeline.sources import graph_client

SEED = 64
USERS = 1_000  # over 500 users: 8,000 resource units per 10 s
RUNS = 4
ROUNDS = 2  # per run: the directory, then every user's methods (~1,100 resource units), twice


def _settings(url: str, redis_url: str, folder: str) -> Settings:
    return load_settings(
        {
            "M365_EMULATOR_URL": url,
            "M365_EMULATOR_SEED": str(SEED),
            "M365_REDIS_URL": redis_url,
            "M365_DATA_DIR": folder,
            "M365_GRAPH_BUDGET": "8000",
            # every run asks Graph itself: a run answered from another's cache would not spend the budget
            "M365_CACHE_TTL_USERS": "0",
            "M365_CACHE_TTL_LICENCES": "0",
            "M365_CACHE_TTL_SECURITY": "0",
            "M365_CACHE_TTL_DEFAULT": "0",
        }
    )


def _one_run(url: str, redis_url: str, tenant: str, folder: str) -> None:
    settings = _settings(url, redis_url, folder)
    store = RawStore(str(Path(folder) / "raw"))
    with graph_client(settings, tenant) as client:
        for _ in range(ROUNDS):
            extract_directory(client, store, tenant)
            extract_authentication_methods(client, store, tenant)


@pytest.fixture
def emulator() -> Iterator[GraphEmulator]:
    yield GraphEmulator(generate_tenant(SEED, USERS), limits=True)


def test_four_concurrent_runs_cause_no_request_over_the_limit(
    emulator: GraphEmulator, redis_url: str, tmp_path: Path
) -> None:
    tenant = emulator.state().tenant_id
    context = multiprocessing.get_context("spawn")
    with serve(emulator) as served:
        limiter = service_limiter_for(_settings(served.url, redis_url, str(tmp_path)), tenant, SystemClock())
        keys = [limiter.key(kind) for kind in ServiceClass] + [f"{limiter.key(kind)}:window" for kind in ServiceClass]
        try:
            runs = [
                context.Process(target=_one_run, args=(served.url, redis_url, tenant, str(tmp_path / f"run{number}")))
                for number in range(RUNS)
            ]
            for run in runs:
                run.start()
            for run in runs:
                run.join(300)
                assert run.exitcode == 0
        finally:
            client = redis.Redis.from_url(redis_url)
            client.delete(*keys)  # this test's app (the served port) only
            client.close()

    assert emulator.over_limit() == {}
    # the runs asked the registration report 8 times (5 per 10 s allowed) and the conditional access policies
    # 8 times (1 per second): served within the limits, they needed at least 7 s
    assert emulator.limiter.minimum_seconds_spent(tenant) >= 7.0
