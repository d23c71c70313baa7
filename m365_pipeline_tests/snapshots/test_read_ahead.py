import threading
from collections.abc import Iterator

import pytest

from m365_pipeline.snapshots.read_ahead import read_ahead


def test_items_arrive_in_order_and_the_producer_runs_ahead_in_its_own_thread() -> None:
    producers: set[str] = set()

    def numbers() -> Iterator[int]:
        for number in range(1000):
            producers.add(threading.current_thread().name)
            yield number

    assert list(read_ahead(numbers(), depth=3)) == list(range(1000))
    assert producers == {"read-ahead"}


def test_an_error_of_the_source_is_raised_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("row 3 is unreadable")

    received = []
    with pytest.raises(ValueError, match="row 3 is unreadable"):
        for item in read_ahead(failing()):
            received.append(item)
    assert received == [1, 2]


def test_a_consumer_stopping_early_stops_the_producer_and_closes_the_source() -> None:
    produced, closed = [], threading.Event()

    def endless() -> Iterator[int]:
        number = 0
        try:
            while True:
                produced.append(number)
                yield number
                number += 1
        finally:
            closed.set()

    stream = read_ahead(endless(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()
    assert closed.is_set()
    assert not any(thread.name == "read-ahead" for thread in threading.enumerate())
    assert len(produced) <= 5 + 2 + 1  # at most the queue's depth and the item being put were read beyond
