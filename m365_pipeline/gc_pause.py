"""Pausing Python's cyclic garbage collector around work that makes millions of small objects without cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block: while a loop makes and keeps many small objects (a generated
    tenant, the batches of a streamed file), each young collection they survive walks the growing heap again, for
    garbage that has no cycles; what the block leaves is collected after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
