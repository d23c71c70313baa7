from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from m365_pipeline.graph.rate_limit import (
    DEFAULT_CAPACITY,
    InProcessTokenBucket,
    RedisTokenBucket,
    rate_limiter_for,
    resource_unit_cost,
)
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


def test_redis_buckets_on_one_key_share_the_budget(redis_client: redis.Redis, bucket_key: str) -> None:
    clock = FakeClock()  # both "processes" read the same wall time, as NTP-synced machines do
    first = RedisTokenBucket(redis_client, bucket_key, capacity=10, refill_per_second=1.0, clock=clock)
    second = RedisTokenBucket(redis_client, bucket_key, capacity=10, refill_per_second=1.0, clock=clock)
    first.acquire(6)
    second.acquire(4)
    assert clock.sleeps == []
    assert float(redis_client.hget(bucket_key, "tokens") or -1) == pytest.approx(0.0)
    second.acquire(3)  # the first bucket's spending left nothing: 3 units at 1 per second
    assert clock.sleeps == [pytest.approx(3.0)]
    first.acquire(2)
    assert clock.sleeps[-1] == pytest.approx(2.0)
    assert 0 < redis_client.ttl(bucket_key) <= 70


def test_redis_bucket_refills_with_wall_time_up_to_capacity(redis_client: redis.Redis, bucket_key: str) -> None:
    clock = FakeClock()
    bucket = RedisTokenBucket(redis_client, bucket_key, capacity=4, refill_per_second=0.5, clock=clock)
    bucket.acquire(4)
    clock.advance(3600)
    for _ in range(4):
        bucket.acquire(1)
    assert clock.sleeps == []
    bucket.acquire(1)
    assert clock.sleeps == [pytest.approx(2.0)]


def test_the_settings_choose_redis_when_a_redis_url_is_set(redis_url: str, redis_client: redis.Redis) -> None:
    settings = load_settings({"M365_REDIS_URL": redis_url, "M365_EMULATOR_SEED": "11"})
    clock = FakeClock()
    limiter = rate_limiter_for(settings, clock)
    assert isinstance(limiter, RedisTokenBucket)
    try:
        limiter.acquire(DEFAULT_CAPACITY)
        limiter.acquire(35)  # the budget refills 350 units per second
        assert clock.sleeps == [pytest.approx(0.1)]
    finally:
        redis_client.delete(limiter.key)
    assert isinstance(rate_limiter_for(load_settings({}), clock), InProcessTokenBucket)
