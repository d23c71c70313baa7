"""ISO 8601 durations as Graph writes them in call records (``PT0.016S``, ``PT1M2.5S``, ``P1DT2H``) to exact
100 ns ticks, so that a jitter of ``PT0.0161234S`` becomes 16.1234 ms without a binary rounding on the way.

Graph's ``Edm.Duration`` never uses years or months (they have no fixed length): such a value is refused, like
anything else that is not a duration, with a ValueError quoting it.
"""

from __future__ import annotations

import re

TICKS_PER_SECOND = 10_000_000
TICKS_PER_MILLISECOND = 10_000
_DURATION = re.compile(
    r"(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,7}))?S)?)?",
    re.ASCII,
)


def duration_ticks(text: str) -> int:
    """The duration ``text`` in 100 ns ticks (negative when Graph wrote ``-P...``)."""
    match = _DURATION.fullmatch(text)
    if match is None or text.rstrip("-") in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT0.016S")
    sign, days, hours, minutes, seconds, fraction = match.groups()
    whole = ((int(days or 0) * 24 + int(hours or 0)) * 60 + int(minutes or 0)) * 60 + int(seconds or 0)
    ticks = whole * TICKS_PER_SECOND + int((fraction or "").ljust(7, "0"))
    return -ticks if sign else ticks


def duration_milliseconds(text: str | None) -> float | None:
    """The duration in milliseconds (None stays None): ticks / 10,000, the one rounding a float must make."""
    return None if text is None else duration_ticks(text) / TICKS_PER_MILLISECOND


def duration_seconds(text: str | None) -> float | None:
    return None if text is None else duration_ticks(text) / TICKS_PER_SECOND
