"""Graph's published limits per service class (throttling-limits.md), each kept by its own limiter: the one
limiter design of the pipeline (every Graph request spends through it, in ``GraphClient``).

``service_class(path)`` is the one place that says which limit a request falls under (the reports that other
parts of the pipeline extract use it too):

- identity (users, groups, subscribedSkus, roles, applications...): M365_GRAPH_BUDGET resource units per 10 s,
  per tenant and app;
- entra_reports (signIns, directoryAudits, authentication methods reports): 5 requests per 10 s per tenant and app;
- conditional_access (conditional access, identity protection): 1 request/s per tenant, every app together
  (Graph answers 429 without Retry-After there: the client backs off exponentially with jitter);
- usage_reports (``/reports/getXxx(...)`` CSV): 14 requests per 10 min per tenant, app and report;
- teams (``/teams...``): 30 requests per second per tenant and app (the extraction's two requests per team stay
  within the 4 per second Graph allows on one team);
- call_records (``/communications/callRecords...``): 1,500 requests per 20 s per tenant and app (a record's first
  page and its sessions pages stay within the 40 per 20 s Graph allows on one record).

The identity budget is a token bucket; the others are sliding windows (``ClassLimit.limiter`` says why), all
kept a little below the published figure (HEADROOM). With Redis they live there (one Lua script checks and spends
atomically), so every process and run on the tenant shares them; without it they live in this process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from m365_pipeline.graph.rate_limit import (
    BUDGET_WINDOW_SECONDS,
    InProcessSlidingWindow,
    InProcessTokenBucket,
    RateLimiter,
    RedisSlidingWindow,
    RedisTokenBucket,
    redis_client,
)
from m365_pipeline.graph.retry import Clock, SystemClock
from m365_pipeline.settings import Settings

if TYPE_CHECKING:
    import redis


class ServiceClass(StrEnum):
    IDENTITY = "identity"
    ENTRA_REPORTS = "entra_reports"
    CONDITIONAL_ACCESS = "conditional_access"
    USAGE_REPORTS = "usage_reports"
    TEAMS = "teams"
    CALL_RECORDS = "call_records"


_ENTRA_REPORTS = re.compile(r"/(auditlogs/(signins|directoryaudits|provisioning)|reports/authenticationmethods)(/|$)")
_CONDITIONAL_ACCESS = re.compile(r"/(identity/conditionalaccess|identityprotection)(/|$)")
_USAGE_REPORT = re.compile(r"/reports/(get[a-z0-9]+)\(")
_TEAMS = re.compile(r"(^|/v1\.0|/beta)/teams(/|$)")
_CALL_RECORDS = re.compile(r"/communications/callrecords(/|$)")


def service_class(path: str) -> ServiceClass:
    """The limit a request to ``path`` (a path, or a whole URL) falls under. Graph may change a path's case in a
    nextLink, so the comparison ignores case."""
    lowered = urlsplit(path).path.lower()
    if _ENTRA_REPORTS.search(lowered):
        return ServiceClass.ENTRA_REPORTS
    if _CONDITIONAL_ACCESS.search(lowered):
        return ServiceClass.CONDITIONAL_ACCESS
    if _USAGE_REPORT.search(lowered):
        return ServiceClass.USAGE_REPORTS
    if _TEAMS.search(lowered):
        return ServiceClass.TEAMS
    if _CALL_RECORDS.search(lowered):
        return ServiceClass.CALL_RECORDS
    return ServiceClass.IDENTITY


# The client plans within this share of each published limit: Graph counts a request when it arrives, not when the
# client spent for it, and requests sent together arrive in another order and spacing; the rest absorbs that.
HEADROOM = 0.95


@dataclass(frozen=True)
class ClassLimit:
    allowed: int  # resource units (identity) or requests Graph allows in a window
    window_seconds: float
    per_app: bool  # False: every app of the tenant shares it
    counts_units: bool  # True: a token bucket of resource units; False: at most ``allowed`` requests in any window

    def limiter(self, key: str, clock: Clock, shared: redis.Redis | None) -> RateLimiter:
        """The limiter the client keeps this limit with (HEADROOM below it): in the ``shared`` Redis under ``key``,
        or in this process when None.

        Identity is documented as a token bucket (a full bucket may be spent at once, then it refills). The others
        are "N requests per W seconds": a bucket of N refilled at N/W would let N plus the refill through within one
        window, so they are kept as sliding windows (a burst of N, then one each time the Nth before it is a window
        old), which is within the limit in every window."""
        if self.counts_units:
            capacity = max(1, int(self.allowed * HEADROOM))
            rate = capacity / self.window_seconds
            if shared is None:
                return InProcessTokenBucket(capacity, rate, clock)
            return RedisTokenBucket(shared, key, capacity, rate, clock)
        window = self.window_seconds / HEADROOM
        if shared is None:
            return InProcessSlidingWindow(self.allowed, window, clock)
        return RedisSlidingWindow(shared, f"{key}:window", self.allowed, window, clock)


ENTRA_REPORTS_LIMIT = ClassLimit(5, 10.0, per_app=True, counts_units=False)
CONDITIONAL_ACCESS_LIMIT = ClassLimit(1, 1.0, per_app=False, counts_units=False)
USAGE_REPORTS_LIMIT = ClassLimit(14, 600.0, per_app=True, counts_units=False)  # per report
TEAMS_LIMIT = ClassLimit(30, 1.0, per_app=True, counts_units=False)
CALL_RECORDS_LIMIT = ClassLimit(1500, 20.0, per_app=True, counts_units=False)


def published_limits(identity_budget: int) -> dict[ServiceClass, ClassLimit]:
    return {
        ServiceClass.IDENTITY: ClassLimit(identity_budget, BUDGET_WINDOW_SECONDS, per_app=True, counts_units=True),
        ServiceClass.ENTRA_REPORTS: ENTRA_REPORTS_LIMIT,
        ServiceClass.CONDITIONAL_ACCESS: CONDITIONAL_ACCESS_LIMIT,
        ServiceClass.USAGE_REPORTS: USAGE_REPORTS_LIMIT,
        ServiceClass.TEAMS: TEAMS_LIMIT,
        ServiceClass.CALL_RECORDS: CALL_RECORDS_LIMIT,
    }


LimiterFactory = Callable[[str, ClassLimit], RateLimiter]  # (key, limit) -> its limiter


class ServiceLimiter:
    """Spends each request from the limiter of its service class (made on first use, then kept)."""

    def __init__(self, tenant_id: str, app: str, limits: dict[ServiceClass, ClassLimit], make: LimiterFactory) -> None:
        self.tenant_id = tenant_id
        self.app = app
        self.limits = limits
        self._make = make
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def acquire_for(self, path: str, units: int) -> None:
        """Block until the request to ``path`` (costing ``units`` resource units) may go, then spend."""
        kind = service_class(path)
        limit = self.limits[kind]
        self.limiter(kind, path).acquire(units if limit.counts_units else 1)

    def key(self, kind: ServiceClass, path: str = "") -> str:
        limit = self.limits[kind]
        name = "resource_units" if kind is ServiceClass.IDENTITY else kind.value
        parts = ["m365_pipeline:graph", name, self.tenant_id]
        if limit.per_app:
            parts.append(self.app)
        if kind is ServiceClass.USAGE_REPORTS:
            match = _USAGE_REPORT.search(urlsplit(path).path.lower())
            parts.append(match.group(1) if match else "")
        return ":".join(parts)

    def limiter(self, kind: ServiceClass, path: str = "") -> RateLimiter:
        key = self.key(kind, path)
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = self._limiters[key] = self._make(key, self.limits[kind])
            return limiter


def app_name(settings: Settings) -> str:
    """The app Graph counts a budget for: the client id (not a secret), or which emulator."""
    if settings.credentials is not None:
        return settings.credentials.client_id
    return f"emulator:{settings.emulator.url or 'in-process'}"


def service_limiter_for(settings: Settings, tenant_id: str, clock: Clock) -> ServiceLimiter:
    """The limits of the settings' app in ``tenant_id``, M365_GRAPH_BUDGET the identity budget: in Redis when
    M365_REDIS_URL is set (shared by every process and run), else in this process (shared by every client of the
    process on the system clock; a test's own clock gets limiters of its own)."""
    limits = published_limits(settings.graph_budget)
    client = redis_client(settings.redis_url) if settings.redis_url is not None else None

    def make(key: str, limit: ClassLimit) -> RateLimiter:
        if client is None and isinstance(clock, SystemClock):
            return _process_limiter(key, limit)
        return limit.limiter(key, clock, client)

    return ServiceLimiter(tenant_id, app_name(settings), limits, make)


_PROCESS_LIMITERS: dict[tuple[str, ClassLimit], RateLimiter] = {}
_PROCESS_LOCK = threading.Lock()


def _process_limiter(key: str, limit: ClassLimit) -> RateLimiter:
    with _PROCESS_LOCK:
        limiter = _PROCESS_LIMITERS.get((key, limit))
        if limiter is None:
            limiter = _PROCESS_LIMITERS[(key, limit)] = limit.limiter(key, SystemClock(), None)
        return limiter
