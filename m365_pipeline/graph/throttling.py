"""Graph's published limits per service class (throttling-limits.md), each its own token bucket.

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

With Redis the buckets live there (one Lua script refills and spends atomically), so every process and run on
the tenant shares them; without it they live in this process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from m365_pipeline.graph.rate_limit import (
    BUDGET_WINDOW_SECONDS,
    InProcessTokenBucket,
    RateLimiter,
    RedisTokenBucket,
    redis_client,
)
from m365_pipeline.graph.retry import Clock
from m365_pipeline.settings import Settings


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


@dataclass(frozen=True)
class ClassLimit:
    capacity: int  # requests (or resource units for identity) the bucket holds
    window_seconds: float  # refilled entirely in this long
    per_app: bool  # False: every app of the tenant shares it
    counts_units: bool  # True: a request spends its resource units; False: 1

    @property
    def refill_per_second(self) -> float:
        return self.capacity / self.window_seconds


def published_limits(identity_budget: int) -> dict[ServiceClass, ClassLimit]:
    return {
        ServiceClass.IDENTITY: ClassLimit(identity_budget, BUDGET_WINDOW_SECONDS, per_app=True, counts_units=True),
        ServiceClass.ENTRA_REPORTS: ClassLimit(5, 10.0, per_app=True, counts_units=False),
        ServiceClass.CONDITIONAL_ACCESS: ClassLimit(1, 1.0, per_app=False, counts_units=False),
        ServiceClass.USAGE_REPORTS: ClassLimit(14, 600.0, per_app=True, counts_units=False),
        ServiceClass.TEAMS: ClassLimit(30, 1.0, per_app=True, counts_units=False),
        ServiceClass.CALL_RECORDS: ClassLimit(1500, 20.0, per_app=True, counts_units=False),
    }


BucketFactory = Callable[[str, ClassLimit], RateLimiter]  # (key, limit) -> bucket


class ServiceLimiter:
    """Spends each request from the bucket of its service class (buckets made on first use, then kept)."""

    def __init__(self, tenant_id: str, app: str, limits: dict[ServiceClass, ClassLimit], make: BucketFactory) -> None:
        self.tenant_id = tenant_id
        self.app = app
        self.limits = limits
        self._make = make
        self._buckets: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def acquire_for(self, path: str, units: int) -> None:
        """Block until the request to ``path`` (costing ``units`` resource units) may go, then spend."""
        kind = service_class(path)
        limit = self.limits[kind]
        self.bucket(kind, path).acquire(units if limit.counts_units else 1)

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

    def bucket(self, kind: ServiceClass, path: str = "") -> RateLimiter:
        key = self.key(kind, path)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = self._make(key, self.limits[kind])
            return bucket


def app_name(settings: Settings) -> str:
    """The app Graph counts a budget for: the client id (not a secret), or which emulator."""
    if settings.credentials is not None:
        return settings.credentials.client_id
    return f"emulator:{settings.emulator.url or 'in-process'}"


def service_limiter_for(settings: Settings, tenant_id: str, clock: Clock) -> ServiceLimiter:
    """The limits of the settings' app in ``tenant_id``: in Redis when M365_REDIS_URL is set (shared by every
    run), else in this process. The identity budget is M365_GRAPH_BUDGET."""
    app = app_name(settings)
    limits = published_limits(settings.graph_budget)
    if settings.redis_url is None:

        def in_process(key: str, limit: ClassLimit) -> RateLimiter:
            return InProcessTokenBucket(limit.capacity, limit.refill_per_second, clock)

        return ServiceLimiter(tenant_id, app, limits, in_process)
    client = redis_client(settings.redis_url)

    def in_redis(key: str, limit: ClassLimit) -> RateLimiter:
        return RedisTokenBucket(client, key, limit.capacity, limit.refill_per_second, clock)

    return ServiceLimiter(tenant_id, app, limits, in_redis)
