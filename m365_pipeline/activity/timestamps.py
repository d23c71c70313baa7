"""Graph timestamps to the 100 ns tick, which a Python datetime (microseconds) cannot hold.

Graph writes 0 to 7 fractional digits. An event at ``23:59:59.9999999Z`` belongs to its day; rounding it to
microseconds would move it to the next one, so the day of an event is decided on the exact ticks and a
``datetime`` is only ever derived by truncation (never crossing a day).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

TICKS_PER_SECOND = 10_000_000
TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND
_EPOCH = date(1970, 1, 1)
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?", re.ASCII)


def graph_ticks(text: str) -> int:
    """100 ns ticks since 1970-01-01T00:00:00Z of a Graph timestamp (no zone: UTC, as Graph's contract says)."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Graph timestamp such as 2025-06-24T10:51:08.1234567Z")
    day_text, hours, minutes, seconds, fraction, zone = match.groups()
    try:
        day = date.fromisoformat(day_text)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a valid timestamp: {error}") from None
    if int(hours) > 23 or int(minutes) > 59 or int(seconds) > 59:
        raise ValueError(f"{text!r} is not a valid timestamp: time out of range")
    total = (day - _EPOCH).days * 86_400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        total += sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return total * TICKS_PER_SECOND + int((fraction or "").ljust(7, "0"))


def day_of_ticks(ticks: int) -> date:
    return _EPOCH + timedelta(days=ticks // TICKS_PER_DAY)


def day_start_ticks(day: date) -> int:
    return (day - _EPOCH).days * TICKS_PER_DAY


def datetime_of_ticks(ticks: int) -> datetime:
    """The instant truncated to the microsecond (never rounded up into the next second or day)."""
    seconds, rest = divmod(ticks, TICKS_PER_SECOND)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 10)


def day_filter_bound(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"
