"""Limiters for Graph's limits (throttling-limits.md; which one a request uses: ``throttling``): token buckets of
resource units, and sliding windows of at most N requests in any W seconds.

The client spends a request's cost before sending it. In one process a limiter lives in memory; when several
runs share a tenant's budget, it lives in Redis and one Lua script checks and spends atomically.
"""

from __future__ import annotations

import threading
from collections import deque
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


def _check_window(requests: int, window_seconds: float) -> None:
    if requests < 1:
        raise ValueError(f"a window must allow at least 1 request, got {requests}")
    if window_seconds <= 0:
        raise ValueError(f"a window must last a positive time, got {window_seconds}")


class InProcessSlidingWindow:
    """At most ``requests`` requests in any ``window_seconds``, for the threads of one process: a request goes when
    the one ``requests`` places before it is at least a window old. Each request costs one, whatever ``cost``."""

    def __init__(self, requests: int, window_seconds: float, clock: Clock) -> None:
        _check_window(requests, window_seconds)
        self.requests = requests
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: deque[float] = deque(maxlen=requests)

    def acquire(self, cost: int) -> None:
        while (wait := self._try_send()) > 0:
            self._clock.sleep(wait)

    def _try_send(self) -> float:
        with self._lock:
            now = self._clock.now()
            if len(self._sent) == self.requests:
                wait = self._sent[0] + self.window_seconds - now
                if wait > 0:
                    return wait
            self._sent.append(now)
            return 0.0


# KEYS[1]: a list of the times of the latest requests (at most ARGV[1]); ARGV: requests, window seconds. Time is
# the Redis server's own, as for the bucket. Returns the seconds to wait as a string; "0": the request may go.
_WINDOW_SCRIPT = """
local requests = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
if redis.call('LLEN', KEYS[1]) >= requests then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], -requests))
  -- an oldest stamp from the future (a server clock stepped back) counts from now instead of starving
  if oldest > now then oldest = now end
  if now - oldest < window then
    return tostring(oldest + window - now)
  end
end
redis.call('RPUSH', KEYS[1], string.format('%.17g', now))
redis.call('LTRIM', KEYS[1], -requests, -1)
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 60)
return "0"
"""


class RedisSlidingWindow:
    """``InProcessSlidingWindow`` in Redis under ``key``: every process using the same key shares the window."""

    def __init__(self, client: redis.Redis, key: str, requests: int, window_seconds: float, clock: Clock) -> None:
        _check_window(requests, window_seconds)
        self.key = key
        self.requests = requests
        self.window_seconds = window_seconds
        self._clock = clock
        self._send = client.register_script(_WINDOW_SCRIPT)

    def acquire(self, cost: int) -> None:
        while (wait := self._try_send()) > 0:
            self._clock.sleep(wait)

    def _try_send(self) -> float:
        answer = self._send(keys=[self.key], args=[self.requests, self.window_seconds])
        return float(answer.decode() if isinstance(answer, bytes) else answer)


def redis_client(url: str) -> redis.Redis:
    import redis  # only where Redis is configured: importing it costs a fifth of a second on every run

    return redis.Redis.from_url(url)
