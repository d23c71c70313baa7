"""Graph's limits per service class: which class a path falls under, each class's own limiter (a token bucket of
resource units, or a sliding window of requests), and processes sharing one in Redis staying inside it together."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator

import pytest
import redis

from m365_pipeline.graph.rate_limit import InProcessSlidingWindow, RateLimiter, RedisSlidingWindow, RedisTokenBucket
from m365_pipeline.graph.retry import SystemClock
from m365_pipeline.graph.throttling import (
    HEADROOM,
    ClassLimit,
    ServiceClass,
    ServiceLimiter,
    published_limits,
    service_class,
    service_limiter_for,
)
from m365_pipeline.settings import load_settings
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
        return limit.limiter(key, clock, None)

    return ServiceLimiter("tenant", "app", published_limits(3500), make)


def test_each_class_spends_from_its_own_limiter_within_its_published_limit(clock: FakeClock) -> None:
    limiter = in_process(clock)
    for _ in range(5):
        limiter.acquire_for("/auditLogs/signIns", 1)
    assert clock.sleeps == []
    limiter.acquire_for("/users", int(3500 * HEADROOM))  # identity has its own budget: no wait
    assert clock.sleeps == []
    limiter.acquire_for("/auditLogs/directoryAudits", 1)  # the 6th report request waits until the 1st is 10 s old
    assert clock.sleeps == [pytest.approx(10.0 / HEADROOM)]
    limiter.acquire_for("/identity/conditionalAccess/policies", 1)
    limiter.acquire_for("/identity/conditionalAccess/policies", 1)  # 1 per second
    assert clock.sleeps[-1] == pytest.approx(1.0 / HEADROOM)
    limiter.acquire_for("/reports/getMailboxUsageDetail(period='D7')", 1)
    limiter.acquire_for("/reports/getOffice365ActiveUserDetail(period='D7')", 1)  # per report: no wait
    assert len(clock.sleeps) == 2


def test_a_sliding_window_allows_a_burst_then_never_more_than_its_requests_in_any_window(clock: FakeClock) -> None:
    window = InProcessSlidingWindow(requests=5, window_seconds=10.0, clock=clock)
    granted = []
    for _ in range(23):
        window.acquire(1)
        granted.append(clock.now())
        clock.advance(0.3)
    assert granted[4] - granted[0] == pytest.approx(1.2)  # the first five at once (as fast as they came)
    for first in range(len(granted)):
        inside = [stamp for stamp in granted if granted[first] <= stamp < granted[first] + 10.0]
        assert len(inside) <= 5
    assert granted[-1] - granted[0] == pytest.approx(40.0 + 0.3 * 2)  # 23 = 5 per 10 s over four windows, then 3


def test_every_client_of_a_process_on_the_system_clock_shares_one_limiter() -> None:
    settings = load_settings({"M365_EMULATOR_SEED": "11"})
    first = service_limiter_for(settings, "tenant-shared", SystemClock())
    second = service_limiter_for(settings, "tenant-shared", SystemClock())
    assert first.limiter(ServiceClass.ENTRA_REPORTS) is second.limiter(ServiceClass.ENTRA_REPORTS)
    assert first.limiter(ServiceClass.IDENTITY) is second.limiter(ServiceClass.IDENTITY)
    other_tenant = service_limiter_for(settings, "tenant-other", SystemClock())
    assert other_tenant.limiter(ServiceClass.IDENTITY) is not first.limiter(ServiceClass.IDENTITY)


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
WINDOW_REQUESTS = 3
WINDOW_SECONDS = 0.5
WINDOW_REQUESTS_PER_PROCESS = 6


def _acquire_and_stamp(redis_url: str, key: str, stamps: str, window: bool) -> None:
    """One process: acquire from a Redis sliding window (``window``) or token bucket, recording the Redis server
    time of each grant."""
    client = redis.Redis.from_url(redis_url)
    if window:
        limiter: RateLimiter = RedisSlidingWindow(client, key, WINDOW_REQUESTS, WINDOW_SECONDS, SystemClock())
    else:
        limiter = RedisTokenBucket(client, key, CAPACITY, REFILL_PER_SECOND, SystemClock())
    for _ in range(WINDOW_REQUESTS_PER_PROCESS if window else REQUESTS_PER_PROCESS):
        limiter.acquire(1)
        seconds, micros = client.time()
        client.rpush(stamps, f"{seconds + micros / 1e6:.6f}")
    client.close()


def _grants_of_two_processes(redis_url: str, key: str, stamps: str, window: bool) -> list[float]:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_acquire_and_stamp, args=(redis_url, key, stamps, window)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    client = redis.Redis.from_url(redis_url)
    granted = sorted(float(stamp) for stamp in client.lrange(stamps, 0, -1))
    client.close()
    return granted


@pytest.fixture
def redis_keys(redis_url: str) -> Iterator[tuple[str, str]]:
    prefix = f"m365_pipeline_tests:throttling:{uuid.uuid4().hex}"
    yield f"{prefix}:bucket", f"{prefix}:stamps"
    client = redis.Redis.from_url(redis_url)
    client.delete(f"{prefix}:bucket", f"{prefix}:stamps")
    client.close()


def test_two_processes_sharing_a_redis_window_stay_within_it_together(
    redis_url: str, redis_keys: tuple[str, str]
) -> None:
    granted = _grants_of_two_processes(redis_url, *redis_keys, window=True)
    assert len(granted) == 2 * WINDOW_REQUESTS_PER_PROCESS
    # each grant is stamped just after it: a window holds its requests plus at most one in flight per process
    for first in range(len(granted)):
        inside = [stamp for stamp in granted if granted[first] <= stamp < granted[first] + WINDOW_SECONDS - 0.05]
        assert len(inside) <= WINDOW_REQUESTS + 1
    # 12 requests at 3 per 0.5 s take at least three more windows after the first burst
    assert granted[-1] - granted[0] >= 3 * WINDOW_SECONDS - 0.05


def test_two_processes_sharing_a_redis_bucket_stay_within_it_together(
    redis_url: str, redis_keys: tuple[str, str]
) -> None:
    granted = _grants_of_two_processes(redis_url, *redis_keys, window=False)
    assert len(granted) == 2 * REQUESTS_PER_PROCESS
    # however the two interleaved, the grants in any span never exceed what the bucket allows in it: a full
    # bucket plus the refill over the span (stamps are taken just after each grant, so allow one in flight each)
    for first in range(len(granted)):
        for last in range(first, len(granted)):
            span = granted[last] - granted[first]
            assert last - first + 1 <= CAPACITY + REFILL_PER_SECOND * span + 2
