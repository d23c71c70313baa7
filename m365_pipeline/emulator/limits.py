"""Graph's published throttling limits (concepts/throttling-limits.md, graph_api.md) as token buckets, per tenant
and app (conditional access: per tenant, all apps together).

- identity (users, groups, subscribedSkus, roles, applications...): resource units per 10 s, 3,500 / 5,000 / 8,000
  for a tenant of < 50 / 50-500 / > 500 users; a request costs its resource units (``resource_units``);
- Entra logs and reports (sign-ins, directory audits, authentication methods reports): 5 requests per 10 s;
- conditional access policies: 1 request per second per tenant, all apps together, 429 WITHOUT Retry-After;
- usage reports: 14 requests per 10 min per report per app (the emulator serves none yet);
- Teams: 30 requests per second per app and tenant, and 4 per second per app on one team (``TEAM``, keyed by it);
- call records: 1,500 requests per 20 s per app and tenant, and 40 per 20 s on one call record or on the list of
  them (``CALL_RECORD``, keyed by the record's id or ``list``).

A bucket starts full and refills continuously. A request it cannot pay for is refused (429) and pays nothing; the
Retry-After is the time until the bucket holds its cost, so a retry before then is refused again. Every refusal is
counted per tenant and class (``over_limit``), and what every allowed request cost is kept per bucket
(``minimum_seconds_spent``: the least time the published budgets allow for the requests the emulator served).
"""

from __future__ import annotations

import enum
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

WINDOW = 10.0
# A client that waits the time a token takes to refill is owed it: without a tolerance, the refill computed in
# floating point (1/30 s x 30 per second = 0.99999...) would refuse it by a rounding error. A thousandth of a token
# (33 us at 30 per second) is far below what Graph's own clocks resolve.
SLACK = 0.001


class LimitClass(enum.Enum):
    IDENTITY = "identity"
    REPORTS = "reports"
    CONDITIONAL_ACCESS = "conditionalAccess"
    USAGE_REPORTS = "usageReports"
    TEAMS = "teams"
    TEAM = "team"
    CALL_RECORDS = "callRecords"
    CALL_RECORD = "callRecord"


@dataclass(frozen=True)
class Budget:
    capacity: float  # what a full bucket holds
    per_second: float  # what it regains each second
    sends_retry_after: bool = True
    per_app: bool = True  # False: one bucket for the whole tenant


def budget(limit_class: LimitClass, tenant_users: int) -> Budget:
    if limit_class is LimitClass.IDENTITY:
        units = 3500 if tenant_users < 50 else 5000 if tenant_users <= 500 else 8000
        return Budget(units, units / WINDOW)
    if limit_class is LimitClass.REPORTS:
        return Budget(5, 5 / WINDOW)
    if limit_class is LimitClass.CONDITIONAL_ACCESS:
        return Budget(1, 1.0, sends_retry_after=False, per_app=False)
    if limit_class in _SERVICE_BUDGETS:
        return _SERVICE_BUDGETS[limit_class]
    return Budget(14, 14 / 600)


_SERVICE_BUDGETS = {
    LimitClass.TEAMS: Budget(30, 30.0),
    LimitClass.TEAM: Budget(4, 4.0),
    LimitClass.CALL_RECORDS: Budget(1500, 1500 / 20),
    LimitClass.CALL_RECORD: Budget(40, 40 / 20),
}


def resource_units(base: int, *, select: bool, expand: bool, small_top: bool) -> int:
    """throttling-limits.md's cost of an identity request: its base cost, -1 with $select, +1 with $expand,
    -1 with $top below 20, never below 1."""
    return max(1, base - select + expand - small_top)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float | None  # seconds, when refused and the class sends it
    used: float  # the share of the budget in use after this request (may pass 1 when refused)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Limiter:
    """Thread-safe buckets for every (tenant, app, class, key); ``enabled=False`` lets everything through."""

    def __init__(self, clock: Callable[[], float], enabled: bool = False) -> None:
        self.enabled = enabled
        self._clock = clock
        self._buckets: dict[tuple[str, str, LimitClass, str], _Bucket] = {}
        self._over_limit: Counter[tuple[str, LimitClass]] = Counter()
        self._spent: dict[tuple[str, str, LimitClass, str], float] = {}  # allowed cost per bucket
        self._tenant_users: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(
        self,
        tenant_id: str,
        client_id: str,
        limit_class: LimitClass,
        cost: float,
        tenant_users: int,
        key: str = "",
    ) -> Decision:
        rule = budget(limit_class, tenant_users)
        bucket_key = (tenant_id, client_id if rule.per_app else "", limit_class, key)
        if not self.enabled:
            with self._lock:
                self._spend(bucket_key, cost, tenant_users)
            return Decision(True, None, 0.0)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(bucket_key)
            if bucket is None:
                bucket = self._buckets[bucket_key] = _Bucket(rule.capacity, now)
            bucket.tokens = min(rule.capacity, bucket.tokens + (now - bucket.updated) * rule.per_second)
            bucket.updated = max(bucket.updated, now)
            if bucket.tokens + SLACK >= cost:
                bucket.tokens -= cost
                self._spend(bucket_key, cost, tenant_users)
                return Decision(True, None, 1 - bucket.tokens / rule.capacity)
            self._over_limit[(tenant_id, limit_class)] += 1
            wait = (cost - bucket.tokens) / rule.per_second
            return Decision(False, math.ceil(wait) if rule.sends_retry_after else None, 1 + wait / WINDOW)

    def _spend(self, bucket_key: tuple[str, str, LimitClass, str], cost: float, tenant_users: int) -> None:
        self._spent[bucket_key] = self._spent.get(bucket_key, 0.0) + cost
        self._tenant_users[bucket_key[0]] = tenant_users

    def minimum_seconds_spent(self, tenant_id: str) -> float:
        """The least time the published budgets allow for the requests served to the tenant since the start (or
        the last ``reset``), every app's buckets draining in parallel from full."""
        with self._lock:
            spent = [
                (limit_class, f"{app}|{key}", cost)
                for (tenant, app, limit_class, key), cost in self._spent.items()
                if tenant == tenant_id
            ]
            users = self._tenant_users.get(tenant_id, 0)
        return minimum_seconds(spent, users)

    def reset(self) -> None:
        """Full buckets, no refusals counted, nothing spent: a fresh start for a measurement."""
        with self._lock:
            self._buckets.clear()
            self._over_limit.clear()
            self._spent.clear()

    def over_limit(self, tenant_id: str | None = None) -> dict[str, dict[str, int]]:
        """Refused requests: tenant id -> class -> count."""
        with self._lock:
            counts: dict[str, dict[str, int]] = {}
            for (tenant, limit_class), count in sorted(self._over_limit.items(), key=lambda item: item[0][0]):
                if tenant_id is None or tenant == tenant_id:
                    counts.setdefault(tenant, {})[limit_class.value] = count
            return counts


def minimum_seconds(requests: Iterable[tuple[LimitClass, str, float]], tenant_users: int) -> float:
    """The least time the published budgets allow for ``requests`` (class, bucket key, cost) made by one app in
    one tenant from full buckets: each bucket pays its first ``capacity`` at once and the rest at its rate; the
    buckets drain in parallel, so the slowest one decides."""
    totals: dict[tuple[LimitClass, str], float] = {}
    for limit_class, key, cost in requests:
        totals[(limit_class, key)] = totals.get((limit_class, key), 0.0) + cost
    slowest = 0.0
    for (limit_class, _), total in totals.items():
        rule = budget(limit_class, tenant_users)
        slowest = max(slowest, (total - rule.capacity) / rule.per_second)
    return slowest
