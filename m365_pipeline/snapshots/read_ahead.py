"""Reading a stream of batches in a thread of its own, a few batches ahead of the code that uses them.

A table is read (SQLite through ADBC, PostgreSQL through COPY, Parquet) while the previous batches are checksummed,
compared and written: both sides spend their time in C with the GIL released, so on two cores a table takes about
the longer of the two instead of their sum. At most ``depth`` batches wait, so memory stays bounded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
DEPTH = 2
_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class _End:
    error: BaseException | None


def read_ahead(items: Iterable[T], depth: int = DEPTH) -> Generator[T, None, None]:
    """``items``, produced by a thread of their own up to ``depth`` ahead. An error of the producer is raised
    here; when the consumer stops early, the producer stops at its next item, closes ``items`` (a generator's
    cursor or file with it) and is waited for, all before this generator's close returns."""
    waiting: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stopping = threading.Event()

    def put(item: T | _End) -> bool:
        while not stopping.is_set():
            try:
                waiting.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            put(_End(error))
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        put(_End(None))

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item = waiting.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stopping.set()
        producer.join()
