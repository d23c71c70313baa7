"""Injected failures: throttling with and without Retry-After, 503, 504 and connections dropped mid-body.

A ``FaultInjector`` decides, per Graph data request, whether a fault replaces the answer. Its decisions come
from ``random.Random(FaultRates.seed)`` in request order, so a single-threaded client meets the same faults on
every run. A fault never changes the data: the client's retry is decided afresh and gets the same page.

Graph's Retry-After varies from one 429 to the next (and Graph has sent decimals such as ``2.128``): with a range
(``FaultRates.retry_after_max``) each throttled answer draws its own, to the millisecond, from the same seeded
sequence.
"""

from __future__ import annotations

import enum
import random
import threading
from collections import Counter
from dataclasses import dataclass

from m365_pipeline.settings import FaultRates


class FaultKind(enum.Enum):
    THROTTLE = "throttle"  # 429 with Retry-After
    THROTTLE_BARE = "throttle_bare"  # 429 without Retry-After (identity protection, conditional access)
    UNAVAILABLE = "unavailable"  # 503
    GATEWAY_TIMEOUT = "gateway_timeout"  # 504
    DROP = "drop"  # the connection dies halfway through the body


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int
    code: str
    message: str
    retry_after: str | None = None  # the Retry-After header's value, as Graph writes it

    def headers(self, client_id: str, tenant_id: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        if self.status == 429:
            headers["x-ms-throttle-scope"] = f"Tenant_Application/ReadWrite/{client_id}/{tenant_id}"
            headers["x-ms-throttle-information"] = "ResourceUnitLimitExceeded"
        return headers


def format_retry_after(seconds: float) -> str:
    """Whole seconds as an integer ("3"), otherwise the decimal ("2.128"), as Graph has sent both."""
    if seconds == int(seconds):
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


class FaultInjector:
    """Thread-safe, deterministic fault decisions over ``FaultRates``; counts what it injected."""

    def __init__(self, rates: FaultRates) -> None:
        self.rates = rates
        self._random = random.Random(rates.seed)
        self._lock = threading.Lock()
        self._counts: Counter[FaultKind] = Counter()
        self._retry_after_range = None if rates.retry_after_max is None else (rates.retry_after, rates.retry_after_max)
        self._thresholds: list[tuple[float, FaultKind]] = []
        total = 0.0
        for rate, kind in (
            (rates.throttle, FaultKind.THROTTLE),
            (rates.throttle_bare, FaultKind.THROTTLE_BARE),
            (rates.unavailable, FaultKind.UNAVAILABLE),
            (rates.gateway_timeout, FaultKind.GATEWAY_TIMEOUT),
            (rates.drop, FaultKind.DROP),
        ):
            total += rate
            self._thresholds.append((total, kind))

    @property
    def counts(self) -> dict[FaultKind, int]:
        with self._lock:
            return dict(self._counts)

    def decide(self) -> Fault | None:
        """The fault for the next request, or None to answer it normally."""
        with self._lock:
            roll, variant = self._random.random(), self._random.random()
            kind = next((kind for threshold, kind in self._thresholds if roll < threshold), None)
            if kind is None:
                return None
            self._counts[kind] += 1
            retry_after = self.rates.retry_after
            if kind is FaultKind.THROTTLE and self._retry_after_range is not None:
                retry_after = round(self._random.uniform(*self._retry_after_range), 3)
        return self._fault(kind, variant, retry_after)

    def _fault(self, kind: FaultKind, variant: float, retry_after: float) -> Fault:
        if kind is FaultKind.THROTTLE:
            return Fault(kind, 429, "TooManyRequests", "Please retry again later.", format_retry_after(retry_after))
        if kind is FaultKind.THROTTLE_BARE:
            return Fault(
                kind, 429, "Request_ThrottledTemporarily", "Your request is throttled temporarily. Try again later."
            )
        if kind is FaultKind.UNAVAILABLE:
            if variant < 0.5:
                return Fault(kind, 503, "serviceNotAvailable", "The service is temporarily unavailable.")
            return Fault(kind, 503, "UnknownError", "")
        if kind is FaultKind.GATEWAY_TIMEOUT:
            return Fault(kind, 504, "UnknownError", "The gateway did not receive a response in time.")
        return Fault(kind, 200, "", "")
