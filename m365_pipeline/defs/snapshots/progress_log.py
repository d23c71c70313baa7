"""Progress of a long snapshot operation in a run's log: every tenth of the work, with the time left at the rate
so far (the CLI shows the same progress as a bar)."""

import time
from collections.abc import Callable

STEPS = 10


def progress_log(log: Callable[[str], None], what: str, unit: str) -> Callable[[int, int], None]:
    """A progress callback (work done, work in all) that logs ``what: 40% of 1234 unit, about 12 s left``."""
    started, next_share = time.monotonic(), 1

    def progress(done: int, total: int) -> None:
        nonlocal next_share
        share = STEPS if total <= 0 else done * STEPS // total
        if share >= next_share:
            elapsed = time.monotonic() - started
            left = elapsed * (total - done) / done if done else 0.0
            log(f"{what}: {share * 100 // STEPS}% of {total} {unit}, about {left:.0f} s left")
            next_share = share + 1

    return progress
