"""Progress of long store operations (verify, prune, tier, diff) for a progress bar or a log with an ETA: a
callback called with the work done and the work in all, in the operation's own unit, from (0, total) to
(total, total)."""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[int, int], None]


class StepCounter:
    """Counts the work done of a known total and reports every step to ``progress`` (when there is one)."""

    def __init__(self, progress: ProgressCallback | None, total: int) -> None:
        self._progress, self.total, self.done = progress, total, 0
        if progress is not None:
            progress(0, total)

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        if self._progress is not None:
            self._progress(self.done, self.total)
