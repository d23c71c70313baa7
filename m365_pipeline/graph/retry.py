"""When and how long to wait before retrying a Graph request, and the clock the waiting goes through."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic clock (for intervals and expiry)."""

    def sleep(self, seconds: float) -> None: ...

    def utcnow(self) -> datetime:
        """The wall time, timezone-aware UTC (for HTTP dates and budgets shared between machines)."""


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def utcnow(self) -> datetime:
        return datetime.now(UTC)


def parse_retry_after(value: str | None, now_utc: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds (Graph has sent ``2.128``) or an HTTP date.

    A date or a number in the past gives 0; a missing or unreadable value gives None (the caller backs off).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now_utc).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # nan or inf
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a transient failure is retried and how long the client may wait between tries."""

    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 900.0  # a longer Retry-After fails the request rather than stalling a run

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy.max_retries must not be negative, got {self.max_retries}")
        if not 0 < self.base_delay <= self.max_delay:
            raise ValueError(
                f"RetryPolicy needs 0 < base_delay <= max_delay, got {self.base_delay} and {self.max_delay}"
            )

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Wait before retry number ``attempt`` (1 for the first retry): full jitter, uniform between 0 and
        ``base_delay * 2 ** (attempt - 1)``, that ceiling capped at ``max_delay``."""
        exponent = min(max(attempt - 1, 0), 32)  # 2**32 s is past any max_delay; avoids float overflow
        ceiling = min(self.max_delay, self.base_delay * 2**exponent)
        return rng.uniform(0.0, ceiling)
