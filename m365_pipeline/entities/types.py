"""Value types of Graph's raw records, with the validation Graph's own formats need.

Each type is an ``Annotated`` pydantic type; ``RawArrowType`` in its metadata says how the value is stored in the
raw extract when that differs from the validated Python type (a timestamp is validated into a datetime but stored
as the string Graph sent, so nothing is lost before validation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import pyarrow as pa
from pydantic import AfterValidator, PlainValidator, StringConstraints


@dataclass(frozen=True)
class RawArrowType:
    """The Arrow type of a value in the raw extract, where it is not the one of its validated Python type."""

    arrow_type: pa.DataType


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,7})?(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)
_NEVER = datetime(1, 1, 1)


def parse_graph_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from a Graph timestamp; None for null and for the "never" sentinel 0001-01-01.

    Graph sends 0 to 7 fractional digits (100 ns ticks); the 7th is truncated to fit a datetime. Graph
    timestamps are UTC by contract, so a value without an offset is read as UTC. Only Graph's own shape is
    accepted (no space for the T, no lower-case z, no date alone): anything else is a ValueError quoting it.
    The regular expression checks the shape; ``datetime.fromisoformat`` (C) reads the value and its ranges.
    """
    if value is None:
        return None
    if not isinstance(value, str) or _TIMESTAMP.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a Graph timestamp such as 2025-06-24T10:51:08.1234567Z")
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is UTC:
            return None if parsed.year == 1 and parsed.replace(tzinfo=None) == _NEVER else parsed
        if not parsed.utcoffset():  # no offset, or +00:00 / -00:00
            return None if parsed.replace(tzinfo=None) == _NEVER else parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{value!r} is not a valid timestamp: {error}") from None


def _lower_case_guid(value: str) -> str:
    if _GUID.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a GUID")
    return value.lower()


GraphTimestamp = Annotated[
    datetime | None,
    PlainValidator(parse_graph_timestamp, json_schema_input_type=str | None),
    RawArrowType(pa.string()),
]
"""A Graph ``Edm.DateTimeOffset``: text in the raw extract, an aware UTC datetime (or None for "never") once
validated."""

Guid = Annotated[str, AfterValidator(_lower_case_guid)]
"""A GUID (``Edm.Guid``, or an object id), lower-cased so that keys compare equal whatever case Graph used."""

RequiredText = Annotated[str, StringConstraints(min_length=1)]
"""Text that must be present and not empty (a key or a name the warehouse cannot do without)."""
