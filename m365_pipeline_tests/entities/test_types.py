"""Graph's timestamp and GUID formats, as the entity models read them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from m365_pipeline.entities.types import GraphTimestamp, Guid, parse_graph_timestamp


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-06-24T10:51:08.1234567Z", datetime(2025, 6, 24, 10, 51, 8, 123456, tzinfo=UTC)),
        ("2025-06-24T10:51:08.9999999Z", datetime(2025, 6, 24, 10, 51, 8, 999999, tzinfo=UTC)),
        ("2025-06-24T10:51:08.5Z", datetime(2025, 6, 24, 10, 51, 8, 500000, tzinfo=UTC)),
        ("2025-06-24T10:51:08Z", datetime(2025, 6, 24, 10, 51, 8, tzinfo=UTC)),
        ("2025-06-24T10:51:08+00:00", datetime(2025, 6, 24, 10, 51, 8, tzinfo=UTC)),
        ("2025-06-24T10:51:08-00:00", datetime(2025, 6, 24, 10, 51, 8, tzinfo=UTC)),
        ("2025-06-24T19:51:08+09:00", datetime(2025, 6, 24, 10, 51, 8, tzinfo=UTC)),
        ("2025-06-24T05:51:08.25-05:00", datetime(2025, 6, 24, 10, 51, 8, 250000, tzinfo=UTC)),
        ("2025-06-24T10:51:08", datetime(2025, 6, 24, 10, 51, 8, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("0001-01-01T00:00:00.0000000Z", None),
        ("0001-01-01T00:00:00", None),
        ("0001-01-01T00:00:00+00:00", None),
        (None, None),
    ],
)
def test_parse_graph_timestamp(value: str | None, expected: datetime | None) -> None:
    parsed = parse_graph_timestamp(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2025-06-24",
        "2025-06-24 10:51:08Z",
        "2025-06-24T10:51Z",
        "2025-13-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-06-24T24:00:00Z",
        "2025-06-24T10:51:08.12345678Z",
        "2025-06-24T10:51:08+24:00",
        "2025-06-24T10:51:08z",
        "２０２５-06-24T10:51:08Z",
        "0001-01-01T00:00:00+09:00",
        1719224400,
    ],
)
def test_parse_graph_timestamp_rejects_garbage_naming_the_value(value: object) -> None:
    with pytest.raises(ValueError) as caught:
        parse_graph_timestamp(value)
    assert repr(value) in str(caught.value)


def test_a_graph_timestamp_field_validates_with_the_parser() -> None:
    timestamps = TypeAdapter(GraphTimestamp)
    assert timestamps.validate_python("2025-06-24T10:51:08.1234567Z") == datetime(
        2025, 6, 24, 10, 51, 8, 123456, tzinfo=UTC
    )
    assert timestamps.validate_python("0001-01-01T00:00:00Z") is None
    with pytest.raises(ValidationError, match=r"hour must be in 0\.\.23"):
        timestamps.validate_python("2025-06-24T25:61:00Z")


def test_guids_are_lower_cased_and_checked() -> None:
    guids = TypeAdapter(Guid)
    assert guids.validate_python("6E1D2C3B-4A59-4867-9F10-2A3B4C5D6E7F") == "6e1d2c3b-4a59-4867-9f10-2a3b4c5d6e7f"
    with pytest.raises(ValidationError, match="'ENTERPRISEPACK' is not a GUID"):
        guids.validate_python("ENTERPRISEPACK")
    with pytest.raises(ValidationError, match="Input should be a valid string"):
        guids.validate_python(12345)
