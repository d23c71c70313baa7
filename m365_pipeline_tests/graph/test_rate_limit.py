from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from m365_pipeline.graph.rate_limit import (
    InProcessTokenBucket,
    RedisTokenBucket,
    resource_unit_cost,
)
from m365_pipeline.graph.retry import SystemClock
from m365_pipeline.graph.throttling import ServiceClass, service_limiter_for
from m365_pipeline.settings import load_settings
from m365_pipeline_tests.graph.fake_clock import FakeClock


@pytest.mark.parametrize(
    ("base", "params", "cost"),
    [
        (2, {}, 2),  # GET users
        (2, {"$select": "id"}, 1),
        (2, {"$select": "id", "$top": "999"}, 1),
        (2, {"$select": "id", "$top": "10"}, 1),  # never below 1
        (3, {"$select": "id"}, 2),  # subscribedSkus
        (3, {"$select": "id", "$top": "5"}, 1),
        (3, {"$top": "20"}, 3),  # 20 is not below 20
        (3, {"$top": "19"}, 2),
        (1, {"$expand": "manager"}, 2),
        (5, {"$expand": "members", "$select": "id"}, 5),
        (1, {"$select": "id", "$top": "1"}, 1),
    ],
)
def test_resource_unit_cost(base: int, params: dict[str, str], cost: int) -> None:
    assert resource_unit_cost(base, params) == cost


def test_in_process_bucket_spends_then_waits_for_the_refill(clock: FakeClock) -> None:
    bucket = InProcessTokenBucket(capacity=10, refill_per_second=2.0, clock=clock)
    for _ in range(5):
        bucket.acquire(2)
    assert clock.sleeps == []
    bucket.acquire(3)  # empty: 3 units at 2 per second
    assert clock.sleeps == [pytest.approx(1.5)]
    clock.advance(100)  # refills to capacity, not beyond
    for _ in range(10):
        bucket.acquire(1)
    assert len(clock.sleeps) == 1
    bucket.acquire(1)
    assert clock.sleeps[-1] == pytest.approx(0.5)


def test_in_process_bucket_paces_a_long_run_at_the_refill_rate(clock: FakeClock) -> None:
    bucket = InProcessTokenBucket(capacity=50, refill_per_second=5.0, clock=clock)
    for _ in range(550):
        bucket.acquire(1)
    # 50 from the full bucket, 500 more at 5 per second
    assert clock.elapsed == pytest.approx(100.0)


@pytest.mark.parametrize("cost", [0, 11])
def test_bucket_rejects_a_cost_it_can_never_hold(clock: FakeClock, cost: int) -> None:
    with pytest.raises(ValueError, match="capacity 10"):
        InProcessTokenBucket(capacity=10, refill_per_second=1.0, clock=clock).acquire(cost)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def bucket_key(redis_client: redis.Redis) -> Iterator[str]:
    key = f"m365_pipeline_tests:bucket:{uuid.uuid4().hex}"
    yield key
    redis_client.delete(key)


class SleepingClock(SystemClock):
    """Real time (the Redis bucket reads the server's clock), with every wait recorded."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


def test_redis_buckets_on_one_key_share_the_budget(redis_client: redis.Redis, bucket_key: str) -> None:
    clock = SleepingClock()
    first = RedisTokenBucket(redis_client, bucket_key, capacity=100, refill_per_second=10.0, clock=clock)
    second = RedisTokenBucket(redis_client, bucket_key, capacity=100, refill_per_second=10.0, clock=clock)
    first.acquire(60)
    second.acquire(40)
    assert clock.sleeps == []
    assert float(redis_client.hget(bucket_key, "tokens") or -1) == pytest.approx(0.0, abs=1.0)
    second.acquire(2)  # the first bucket's spending left (almost) nothing: about 2 units at 10 per second
    assert clock.sleeps[0] == pytest.approx(0.2, abs=0.1)
    assert 0 < redis_client.ttl(bucket_key) <= 80


def test_redis_bucket_refills_with_server_time_up_to_capacity(redis_client: redis.Redis, bucket_key: str) -> None:
    clock = SleepingClock()
    bucket = RedisTokenBucket(redis_client, bucket_key, capacity=4, refill_per_second=40.0, clock=clock)
    bucket.acquire(4)
    SystemClock().sleep(0.5)  # refills 20 units, capped at the capacity of 4
    for _ in range(4):
        bucket.acquire(1)
    assert clock.sleeps == []
    assert float(redis_client.hget(bucket_key, "tokens") or -1) == pytest.approx(0.0, abs=0.5)


def test_a_stale_bucket_from_another_clock_does_not_starve_a_process(
    redis_client: redis.Redis, bucket_key: str
) -> None:
    redis_client.hset(bucket_key, mapping={"tokens": "0", "updated": "4102444800"})  # stamped in 2100
    clock = SleepingClock()
    RedisTokenBucket(redis_client, bucket_key, capacity=4, refill_per_second=40.0, clock=clock).acquire(1)
    assert sum(clock.sleeps) < 1.0


def test_the_settings_choose_redis_when_a_redis_url_is_set(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings({"M365_REDIS_URL": redis_url, "M365_EMULATOR_SEED": "11", "M365_GRAPH_BUDGET": "5000"})
    clock = SleepingClock()
    limiter = service_limiter_for(settings, "tenant-a", clock)
    other_tenant = service_limiter_for(settings, "tenant-b", clock)
    key = limiter.key(ServiceClass.IDENTITY)
    assert key != other_tenant.key(ServiceClass.IDENTITY)  # Graph's budget is per app and tenant
    bucket = limiter.limiter(ServiceClass.IDENTITY)
    assert isinstance(bucket, RedisTokenBucket)
    assert (bucket.capacity, bucket.refill_per_second) == (4750, 475.0)  # 5000 units kept with the headroom
    redis_client.delete(key)
    try:
        limiter.acquire_for("/users", 4750)
        limiter.acquire_for("/users", 100)  # the bucket refills 475 units per second
        assert clock.sleeps[0] == pytest.approx(100 / 475, abs=0.1)
    finally:
        redis_client.delete(key)
    in_process = service_limiter_for(load_settings({"M365_GRAPH_BUDGET": "8000"}), "tenant-a", clock)
    identity = in_process.limiter(ServiceClass.IDENTITY)
    assert isinstance(identity, InProcessTokenBucket)
    assert (identity.capacity, identity.refill_per_second) == (7600, 760.0)
