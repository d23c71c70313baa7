"""The Entra logs' published limit (throttling-limits.md): 5 requests per 10 s per app per tenant, shared by
sign-ins, directory audits and the authentication methods reports.

A token bucket of capacity 1 refilled at 0.5 requests per second: never more than 5 requests start within any
10 s (a fuller bucket would let a burst and its refill exceed the limit within one window), and a steady
extraction runs at the limit. The bucket is the identity budget's (``graph.rate_limit``) with another size:
in Redis when M365_REDIS_URL is set (every run of the tenant shares it), else one per tenant in this process.
"""

from __future__ import annotations

from functools import cache

from m365_pipeline.graph.rate_limit import InProcessTokenBucket, RateLimiter, RedisTokenBucket
from m365_pipeline.graph.retry import SystemClock
from m365_pipeline.settings import Settings

LOGS_REQUESTS_PER_WINDOW = 5
LOGS_WINDOW_SECONDS = 10
LOGS_REQUESTS_PER_SECOND = LOGS_REQUESTS_PER_WINDOW / LOGS_WINDOW_SECONDS


def entra_logs_limiter(settings: Settings, tenant: str) -> RateLimiter:
    """The logs budget of the settings' app in ``tenant`` (each request costs 1)."""
    app = settings.credentials.client_id if settings.credentials is not None else "emulator"
    if settings.redis_url is None:
        return _in_process_bucket(tenant, app)
    import redis  # only where Redis is configured (importing it costs a fifth of a second)

    return RedisTokenBucket(
        redis.Redis.from_url(settings.redis_url),
        f"m365_pipeline:graph:entra_logs:{tenant}:{app}",
        1,
        LOGS_REQUESTS_PER_SECOND,
        SystemClock(),
    )


@cache
def _in_process_bucket(tenant: str, app: str) -> InProcessTokenBucket:
    return InProcessTokenBucket(1, LOGS_REQUESTS_PER_SECOND, SystemClock())
