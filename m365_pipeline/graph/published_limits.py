"""Graph's published per-service limits this project respects besides the identity budget (throttling-limits.md):

- Entra logs and reports (sign-ins, directory audits, authentication methods reports): 5 requests per 10 s per
  app per tenant, one budget for all of them;
- Microsoft 365 usage reports: 14 requests per 10 minutes per app per tenant for each report.

Each is a token bucket of capacity 1 (the identity budget's buckets, ``graph.rate_limit``, with another size):
a fuller bucket would let a burst plus its refill exceed the limit within one window, while capacity 1 refilled
at the limit's rate never does, and a steady extraction still runs at the limit. In Redis when M365_REDIS_URL is
set (every run of the tenant shares it), else one bucket per tenant (and report) in this process.
"""

from __future__ import annotations

from functools import cache

from m365_pipeline.graph.rate_limit import InProcessTokenBucket, RateLimiter, RedisTokenBucket
from m365_pipeline.graph.retry import SystemClock
from m365_pipeline.settings import Settings

LOGS_REQUESTS_PER_WINDOW = 5
LOGS_WINDOW_SECONDS = 10
USAGE_REPORT_REQUESTS_PER_WINDOW = 14
USAGE_REPORT_WINDOW_SECONDS = 600


def entra_logs_limiter(settings: Settings, tenant: str) -> RateLimiter:
    """The logs budget of the settings' app in ``tenant`` (each request costs 1)."""
    return _bucket(settings, f"entra_logs:{tenant}", LOGS_REQUESTS_PER_WINDOW / LOGS_WINDOW_SECONDS)


def usage_report_limiter(settings: Settings, tenant: str, report: str) -> RateLimiter:
    """The budget of one usage report of the settings' app in ``tenant`` (each request costs 1)."""
    rate = USAGE_REPORT_REQUESTS_PER_WINDOW / USAGE_REPORT_WINDOW_SECONDS
    return _bucket(settings, f"usage_reports:{tenant}:{report}", rate)


def _bucket(settings: Settings, scope: str, per_second: float) -> RateLimiter:
    app = settings.credentials.client_id if settings.credentials is not None else "emulator"
    if settings.redis_url is None:
        return _in_process_bucket(f"{scope}:{app}", per_second)
    import redis  # only where Redis is configured (importing it costs a fifth of a second)

    key = f"m365_pipeline:graph:{scope}:{app}"
    return RedisTokenBucket(redis.Redis.from_url(settings.redis_url), key, 1, per_second, SystemClock())


@cache
def _in_process_bucket(key: str, per_second: float) -> InProcessTokenBucket:
    return InProcessTokenBucket(1, per_second, SystemClock())
