"""Typed rows and quarantined rows: every record of a legacy file becomes exactly one of them.

A `TypedRow` holds a value for every column of its report type (columns the file's generation lacks are None),
keyed by column name; a header repeated in the file gives `name__2`, `name__3`... for its later copies. Text
placeholders that became NULL are listed in `placeholders` with their original text.

A `QuarantinedRow` is a record that could not be typed: a value that fits no form of its column, a record with
more or fewer fields than the header, or any record of a file whose layout is unknown. It keeps the file, the
record's data row number (1-based, header excluded), the physical line where it starts, every problem (column,
value, reason) and the fields as read, so nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from m365_pipeline.legacy.layouts import Column, Layout
from m365_pipeline.legacy.reading import RawRecord
from m365_pipeline.legacy.values import Flagged, Kind, UnparsableValue, column_parser


@dataclass(frozen=True, slots=True)
class PlaceholderFlag:
    column: str
    original: str


@dataclass(frozen=True, slots=True)
class TypedRow:
    row_number: int  # 1-based data record number
    line: int  # physical line where the record starts
    values: dict[str, Any]
    placeholders: tuple[PlaceholderFlag, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    column: str | None  # None: the record as a whole (field count, unknown layout)
    value: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    file: str
    row_number: int
    line: int
    problems: tuple[Problem, ...]
    fields: tuple[str, ...]

    @property
    def column(self) -> str | None:
        return self.problems[0].column

    @property
    def reason(self) -> str:
        return "; ".join(
            f"{problem.column}: {problem.reason}" if problem.column else problem.reason for problem in self.problems
        )


def column_keys(columns: Sequence[Column]) -> tuple[str, ...]:
    """The value key of each of the file's columns: a repeated column's later copies get `__2`, `__3`..."""
    counts: dict[str, int] = {}
    keys = []
    for column in columns:
        counts[column.name] = counts.get(column.name, 0) + 1
        keys.append(column.name if counts[column.name] == 1 else f"{column.name}__{counts[column.name]}")
    return tuple(keys)


_MISSING = object()
CACHE_LIMIT = 4096  # distinct texts remembered per column: reports repeat statuses, flags, dates and counts


class RowTyper:
    """Types the records of one file of a recognized layout.

    Each typed column remembers the values of the first CACHE_LIMIT distinct texts it parsed (values are
    immutable, so rows may share them), so the repetition of legacy reports costs a dict lookup."""

    def __init__(self, file: str, layout: Layout) -> None:
        self.file = file
        self.layout = layout
        self.keys = column_keys(layout.columns)
        self._plan = tuple(
            (
                key,
                column_parser(column.kind, column.unit),
                column.kind.value,
                None if column.kind is Kind.TEXT else dict[str, Any](),
            )
            for key, column in zip(self.keys, layout.columns, strict=True)
        )
        self._template: dict[str, Any] = {column.name: None for column in layout.report_type.columns}

    def type(self, record: RawRecord) -> TypedRow | QuarantinedRow:
        fields = record.fields
        if len(fields) != len(self._plan):
            return QuarantinedRow(
                self.file,
                record.row_number,
                record.line,
                (Problem(None, None, f"{len(fields)} fields where the header has {len(self._plan)}"),),
                fields,
            )
        values: dict[str, Any] = dict(self._template)
        flags: list[PlaceholderFlag] = []
        problems: list[Problem] = []
        for (key, parser, kind, cache), text in zip(self._plan, fields, strict=True):
            if cache is None:  # a text column: the text as written, NULL when empty (values._text, inlined)
                values[key] = text or None
                continue
            value = cache.get(text, _MISSING)
            if value is _MISSING:
                try:
                    value = parser(text)
                except UnparsableValue as error:
                    problems.append(Problem(key, text, f"{kind}: {error}"))
                    continue
                if len(cache) < CACHE_LIMIT:
                    cache[text] = value
            if value.__class__ is Flagged:
                flags.append(PlaceholderFlag(key, value.original))
                value = None
            values[key] = value
        if problems:
            return QuarantinedRow(self.file, record.row_number, record.line, tuple(problems), fields)
        return TypedRow(record.row_number, record.line, values, tuple(flags))

    def rows(self, records: Iterator[RawRecord]) -> Iterator[TypedRow | QuarantinedRow]:
        for record in records:
            yield self.type(record)
