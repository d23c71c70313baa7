from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from m365_pipeline.activity.timestamps import datetime_of_ticks, day_of_ticks, graph_ticks


@pytest.mark.parametrize(
    ("text", "day", "moment"),
    [
        ("2026-11-18T23:59:59.9999999Z", date(2026, 11, 18), datetime(2026, 11, 18, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2026-11-19T00:00:00Z", date(2026, 11, 19), datetime(2026, 11, 19, tzinfo=UTC)),
        ("2026-11-19T00:00:00.1Z", date(2026, 11, 19), datetime(2026, 11, 19, 0, 0, 0, 100000, tzinfo=UTC)),
        ("2026-11-19T08:59:59.99+09:00", date(2026, 11, 18), datetime(2026, 11, 18, 23, 59, 59, 990000, tzinfo=UTC)),
        ("2026-11-19T00:00:00", date(2026, 11, 19), datetime(2026, 11, 19, tzinfo=UTC)),
    ],
)
def test_the_day_is_decided_on_the_exact_tick(text: str, day: date, moment: datetime) -> None:
    ticks = graph_ticks(text)
    assert day_of_ticks(ticks) == day
    assert datetime_of_ticks(ticks) == moment


def test_seven_digits_are_kept_where_a_datetime_has_six() -> None:
    assert graph_ticks("2026-11-18T23:59:59.9999999Z") - graph_ticks("2026-11-18T23:59:59.999999Z") == 9


@pytest.mark.parametrize("text", ["2026-11-18 23:59:59Z", "2026-11-18T24:00:00Z", "2026-02-30T00:00:00Z", "x"])
def test_anything_else_is_refused_quoting_it(text: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        graph_ticks(text)
