"""Token buckets for Graph's limits (throttling-limits.md; which bucket a request uses: ``throttling``).

The client spends a request's cost before sending it. In one process a bucket lives in memory; when several
runs share a tenant's budget, it lives in Redis and one Lua script refills and spends atomically.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from m365_pipeline.graph.retry import Clock

if TYPE_CHECKING:
    import redis

# Graph's identity budget is counted per 10 s window (M365_GRAPH_BUDGET units in each)
BUDGET_WINDOW_SECONDS = 10
# Refill computed from wall-clock seconds (~1.7e9) carries float error of ~1e-4 units; without this slack a
# bucket refilled "exactly" enough would ask for a further sleep of a fraction of a microsecond.
SLACK = 0.001


class RateLimiter(Protocol):
    def acquire(self, cost: int) -> None:
        """Block (through the clock) until ``cost`` resource units are available, then spend them."""


def resource_unit_cost(base_cost: int, params: Mapping[str, str]) -> int:
    """Resource units of one request: ``$select`` -1, ``$expand`` +1, ``$top`` below 20 -1, never below 1."""
    cost = base_cost
    if "$select" in params:
        cost -= 1
    if "$expand" in params:
        cost += 1
    top = params.get("$top", "")
    if top.isdigit() and int(top) < 20:
        cost -= 1
    return max(1, cost)


def _check_bucket(capacity: int, refill_per_second: float) -> None:
    if capacity < 1:
        raise ValueError(f"token bucket capacity must be at least 1, got {capacity}")
    if refill_per_second <= 0:
        raise ValueError(f"token bucket refill_per_second must be positive, got {refill_per_second}")


def _check_cost(cost: int, capacity: int) -> None:
    if not 1 <= cost <= capacity:
        raise ValueError(f"a request's cost must be between 1 and the bucket capacity {capacity}, got {cost}")


class InProcessTokenBucket:
    """A token bucket shared by the threads of one process; starts full."""

    def __init__(self, capacity: int, refill_per_second: float, clock: Clock) -> None:
        _check_bucket(capacity, refill_per_second)
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(capacity)
        self._updated = clock.now()

    def acquire(self, cost: int) -> None:
        _check_cost(cost, self.capacity)
        while (wait := self._try_spend(cost)) > 0:
            self._clock.sleep(wait)

    def _try_spend(self, cost: int) -> float:
        """Spend ``cost`` and return 0, or return the seconds until the bucket will hold enough."""
        with self._lock:
            now = self._clock.now()
            if now > self._updated:
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.refill_per_second)
                self._updated = now
            if self._tokens + SLACK >= cost:
                self._tokens -= cost
                return 0.0
            return (cost - self._tokens) / self.refill_per_second


# KEYS[1]: the bucket (a hash of tokens and the time they were counted); ARGV: capacity, refill per second,
# cost, slack. Time is the Redis server's own (TIME): processes on machines whose clocks disagree still share
# one consistent budget. Numbers are stored with 17 digits so that a double survives the round trip. Returns
# the seconds to wait as a string (a Lua number would come back truncated to an integer); "0": spent.
_SPEND_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local slack = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
if now > updated then
  tokens = math.min(capacity, tokens + (now - updated) * rate)
end
-- a stamp from the future (a server clock stepped back) restarts the count from now instead of starving
updated = now
local wait = 0
if tokens + slack >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'updated', string.format('%.17g', updated))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""


class RedisTokenBucket:
    """A token bucket in Redis under ``key``: every process using the same key shares one budget."""

    def __init__(self, client: redis.Redis, key: str, capacity: int, refill_per_second: float, clock: Clock) -> None:
        _check_bucket(capacity, refill_per_second)
        self.key = key
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self._clock = clock
        self._spend = client.register_script(_SPEND_SCRIPT)

    def acquire(self, cost: int) -> None:
        _check_cost(cost, self.capacity)
        while (wait := self._try_spend(cost)) > 0:
            self._clock.sleep(wait)

    def _try_spend(self, cost: int) -> float:
        answer = self._spend(keys=[self.key], args=[self.capacity, self.refill_per_second, cost, SLACK])
        return float(answer.decode() if isinstance(answer, bytes) else answer)


def redis_client(url: str) -> redis.Redis:
    import redis  # only where Redis is configured: importing it costs a fifth of a second on every run

    return redis.Redis.from_url(url)
