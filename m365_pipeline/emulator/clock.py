"""The emulator's clock: a base clock (the wall clock, or a test's manual one) plus an offset that only grows, so
that tests and ``m365 emulator change`` can move the emulator's time forward (days of tenant changes, delta tokens
that expire after 7 days) without waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class EmulatorClock:
    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self._base = base
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._base() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the emulator's time ``seconds`` forward; returns the new time."""
        if seconds < 0:
            raise ValueError("the emulator's clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self()
