"""ISO 8601 durations of call records read to the 100 ns tick."""

from __future__ import annotations

import pytest

from m365_pipeline.calls.durations import duration_milliseconds, duration_seconds, duration_ticks


@pytest.mark.parametrize(
    ("text", "ticks"),
    [
        ("PT0.016S", 160_000),
        ("PT0.0161234S", 161_234),
        ("PT1S", 10_000_000),
        ("PT0S", 0),
        ("PT1M2.5S", 625_000_000),
        ("PT2H", 72_000_000_000),
        ("P1DT2H3M4.0000001S", ((26 * 60 + 3) * 60 + 4) * 10_000_000 + 1),
        ("P1D", 864_000_000_000),
        ("-PT0.5S", -5_000_000),
    ],
)
def test_a_duration_is_its_exact_ticks(text: str, ticks: int) -> None:
    assert duration_ticks(text) == ticks


def test_milliseconds_and_seconds_are_the_ticks_divided_once() -> None:
    assert duration_milliseconds("PT0.016S") == 16.0
    assert duration_milliseconds("PT0.0161234S") == 16.1234
    assert duration_milliseconds("PT1.2105867S") == 1210.5867
    assert duration_seconds("PT1M2.5S") == 62.5
    assert duration_milliseconds(None) is None


@pytest.mark.parametrize("text", ["P1Y", "P2M", "PT", "P", "P1DT", "0.016", "PT0.016", "PT0.12345678S", "pt1s", ""])
def test_anything_else_is_refused_quoting_it(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO 8601 duration"):
        duration_ticks(text)
