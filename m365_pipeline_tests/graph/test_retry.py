from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from m365_pipeline.graph.retry import RetryPolicy, parse_retry_after

NOW = datetime(2025, 6, 24, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1", 1.0),
        ("0", 0.0),
        ("2.128", 2.128),
        (" 30 ", 30.0),
        ("315", 315.0),
        ("-5", 0.0),
        ("Tue, 24 Jun 2025 10:00:07 GMT", 7.0),
        ("Tue, 24 Jun 2025 09:59:00 GMT", 0.0),
        ("Tue, 24 Jun 2025 10:05:00 +0000", 300.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Tue, 99 Foo 2025 10:00:07 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 6, 10, 40, 1000])
def test_backoff_stays_within_the_exponential_ceiling_and_max_delay(attempt: int) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=20.0)
    rng = random.Random(attempt)
    waits = [policy.backoff(attempt, rng) for _ in range(500)]
    ceiling = min(20.0, 0.5 * 2 ** (attempt - 1))
    assert all(0.0 <= wait <= ceiling for wait in waits)
    # full jitter spreads the waits over the whole range, not a fixed value
    assert max(waits) > 0.8 * ceiling
    assert min(waits) < 0.2 * ceiling


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    policy = RetryPolicy()
    assert [policy.backoff(n, random.Random(7)) for n in range(1, 6)] == [
        policy.backoff(n, random.Random(7)) for n in range(1, 6)
    ]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"base_delay": 0}, "base_delay"),
        ({"max_delay": 0.5}, "max_delay"),
    ],
)
def test_retry_policy_rejects_nonsense(arguments: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        RetryPolicy(**arguments)  # type: ignore[arg-type]
