"""Graph's limits per service class: which class a path falls under, each class's own bucket, and two processes
sharing one Redis bucket staying inside it together."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator

import pytest
import redis

from m365_pipeline.graph.rate_limit import InProcessTokenBucket, RateLimiter, RedisTokenBucket
from m365_pipeline.graph.retry import SystemClock
from m365_pipeline.graph.throttling import ClassLimit, ServiceClass, ServiceLimiter, published_limits, service_class
from m365_pipeline_tests.graph.fake_clock import FakeClock


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/users", ServiceClass.IDENTITY),
        ("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x", ServiceClass.IDENTITY),
        ("/subscribedSkus", ServiceClass.IDENTITY),
        ("/users/abc/authentication/methods", ServiceClass.IDENTITY),
        ("/auditLogs/signIns?$top=1000", ServiceClass.ENTRA_REPORTS),
        ("https://graph.microsoft.com/v1.0/auditLogs/signins?$skiptoken=x", ServiceClass.ENTRA_REPORTS),
        ("/auditLogs/directoryAudits", ServiceClass.ENTRA_REPORTS),
        ("/reports/authenticationMethods/userRegistrationDetails", ServiceClass.ENTRA_REPORTS),
        ("/identity/conditionalAccess/policies", ServiceClass.CONDITIONAL_ACCESS),
        ("/identityProtection/riskyUsers", ServiceClass.CONDITIONAL_ACCESS),
        ("/reports/getOffice365ActiveUserDetail(period='D7')", ServiceClass.USAGE_REPORTS),
    ],
)
def test_service_class_of_a_path(path: str, kind: ServiceClass) -> None:
    assert service_class(path) is kind


def in_process(clock: FakeClock) -> ServiceLimiter:
    def make(key: str, limit: ClassLimit) -> RateLimiter:
        return InProcessTokenBucket(limit.capacity, limit.refill_per_second, clock)

    return ServiceLimiter("tenant", "app", published_limits(3500), make)


def test_each_class_spends_from_its_own_bucket_at_its_published_rate(clock: FakeClock) -> None:
    limiter = in_process(clock)
    for _ in range(5):
        limiter.acquire_for("/auditLogs/signIns", 1)
    assert clock.sleeps == []
    limiter.acquire_for("/users", 3500)  # identity has its own budget: no wait
    assert clock.sleeps == []
    limiter.acquire_for("/auditLogs/directoryAudits", 1)  # the 6th report request in 10 s waits 2 s
    assert clock.sleeps == [pytest.approx(2.0)]
    limiter.acquire_for("/identity/conditionalAccess/policies", 1)
    limiter.acquire_for("/identity/conditionalAccess/policies", 1)  # 1 per second
    assert clock.sleeps[-1] == pytest.approx(1.0)
    limiter.acquire_for("/reports/getMailboxUsageDetail(period='D7')", 1)
    limiter.acquire_for("/reports/getOffice365ActiveUserDetail(period='D7')", 1)  # per report: no wait
    assert len(clock.sleeps) == 2


def test_conditional_access_is_shared_by_every_app_of_the_tenant(clock: FakeClock) -> None:
    first, second = in_process(clock), in_process(clock)
    second.app = "another-app"
    assert first.key(ServiceClass.CONDITIONAL_ACCESS) == second.key(ServiceClass.CONDITIONAL_ACCESS)
    assert first.key(ServiceClass.IDENTITY) != second.key(ServiceClass.IDENTITY)
    assert first.key(ServiceClass.USAGE_REPORTS, "/reports/getA(period='D7')") != first.key(
        ServiceClass.USAGE_REPORTS, "/reports/getB(period='D7')"
    )


CAPACITY = 4
REFILL_PER_SECOND = 20.0
REQUESTS_PER_PROCESS = 30


def _spend_and_stamp(redis_url: str, key: str, stamps: str) -> None:
    """One process: spend 1 unit REQUESTS_PER_PROCESS times, recording the Redis server time of each grant."""
    client = redis.Redis.from_url(redis_url)
    bucket = RedisTokenBucket(client, key, CAPACITY, REFILL_PER_SECOND, SystemClock())
    for _ in range(REQUESTS_PER_PROCESS):
        bucket.acquire(1)
        seconds, micros = client.time()
        client.rpush(stamps, f"{seconds + micros / 1e6:.6f}")
    client.close()


@pytest.fixture
def redis_keys(redis_url: str) -> Iterator[tuple[str, str]]:
    prefix = f"m365_pipeline_tests:throttling:{uuid.uuid4().hex}"
    yield f"{prefix}:bucket", f"{prefix}:stamps"
    client = redis.Redis.from_url(redis_url)
    client.delete(f"{prefix}:bucket", f"{prefix}:stamps")
    client.close()


def test_two_processes_sharing_a_redis_bucket_stay_within_it_together(
    redis_url: str, redis_keys: tuple[str, str]
) -> None:
    key, stamps = redis_keys
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_spend_and_stamp, args=(redis_url, key, stamps)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    client = redis.Redis.from_url(redis_url)
    granted = sorted(float(stamp) for stamp in client.lrange(stamps, 0, -1))
    client.close()
    assert len(granted) == 2 * REQUESTS_PER_PROCESS
    # however the two interleaved, the grants in any span never exceed what the bucket allows in it: a full
    # bucket plus the refill over the span (stamps are taken just after each grant, so allow one in flight each)
    for first in range(len(granted)):
        for last in range(first, len(granted)):
            span = granted[last] - granted[first]
            assert last - first + 1 <= CAPACITY + REFILL_PER_SECOND * span + 2
