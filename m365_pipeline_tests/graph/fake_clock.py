"""A clock for tests: ``sleep`` records the wait and moves time forward at once instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

CLOCK_START = datetime(2025, 6, 24, 10, 0, 0, tzinfo=UTC)


class FakeClock:
    """An injectable clock: ``sleep`` records the wait and moves time forward at once."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return 1000.0 + self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def utcnow(self) -> datetime:
        return CLOCK_START + timedelta(seconds=self.elapsed)

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds
