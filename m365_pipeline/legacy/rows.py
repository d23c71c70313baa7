"""Typed rows and quarantined rows: every record of a legacy file becomes exactly one of them.

A `TypedRow` holds a value for every column of its report type (columns the file's generation lacks are None):
`cells` in the report type's column order, then the later copies of a header repeated in the file (`name__2`,
`name__3`...), named by `keys`; `values` is the same as a dict by column name. Text placeholders that became NULL
are listed in `placeholders` with their original text, in the file's column order.

A `QuarantinedRow` is a record that could not be typed: a value that fits no form of its column, a record with
more or fewer fields than the header, or any record of a file whose layout is unknown. It keeps the file, the
record's data row number (1-based, header excluded), the physical line where it starts, every problem (column,
value, reason) and the fields as read, so nothing is dropped.

Records are typed in batches, column by column: each distinct text of a column is parsed once (legacy reports
repeat their statuses, flags, counts and dates) and the batch's values are then looked up in C (`map`), so the
cost per field is a dict lookup rather than a round of Python bytecode.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from operator import attrgetter
from typing import Any, NamedTuple

from m365_pipeline.legacy.layouts import Column, Layout
from m365_pipeline.legacy.reading import RawRecord
from m365_pipeline.legacy.values import Flagged, Kind, UnparsableValue, column_parser, common_form_parser


@dataclass(frozen=True, slots=True)
class PlaceholderFlag:
    column: str
    original: str


class TypedRow(NamedTuple):  # a tuple: one is made per record, and a tuple is made in C
    row_number: int  # 1-based data record number
    line: int  # physical line where the record starts
    cells: tuple[Any, ...]  # the report type's columns in its order, then the file's repeated headers
    keys: tuple[str, ...]  # the name of each cell
    placeholders: tuple[PlaceholderFlag, ...] = ()

    @property
    def values(self) -> dict[str, Any]:
        return dict(zip(self.keys, self.cells, strict=True))


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


BATCH_RECORDS = 250  # records typed together, column by column (a batch's texts stay in the CPU's cache)
CACHE_LIMIT = 8_192  # distinct texts remembered per column; past it the column starts remembering afresh


@dataclass(frozen=True, slots=True)
class _Unparsable:
    reason: str


def _texts(texts: tuple[str, ...]) -> Sequence[str | None]:
    """A text column: the texts as written, NULL for an empty field."""
    return [text or None for text in texts] if "" in texts else texts


class _ColumnTyper:
    """Types one typed column of a file, a batch of its texts at a time.

    Each distinct text is parsed once into `_values` (its value, a `Flagged` placeholder or an `_Unparsable`);
    the texts whose value is not a plain value are also in `_special`, so a batch without any is typed by one
    lookup per field."""

    def __init__(self, key: str, column: Column) -> None:
        self.key = key
        self._kind = column.kind.value
        self._parse = column_parser(column.kind, column.unit)
        self._common_form = common_form_parser(column.kind)
        self._values: dict[str, Any] = {}
        self._special: set[str] = set()

    def type(self, texts: tuple[str, ...]) -> list[Any]:
        values = self._values
        try:  # a column that repeats its texts has seen all of a batch's before
            return list(map(values.__getitem__, texts))
        except KeyError:
            pass
        unseen = set(texts).difference(values)
        if len(values) + len(unseen) > CACHE_LIMIT:
            values.clear()
            self._special.clear()
            unseen = set(texts)
        common_form = self._common_form
        if common_form is None:
            for text in unseen:
                values[text] = self._value_of(text)
        else:  # a column of distinct dates: most texts are the common form, read without the column parser's layers
            for text in unseen:
                value = common_form(text)
                values[text] = self._value_of(text) if value is None else value
        return list(map(values.__getitem__, texts))

    def _value_of(self, text: str) -> Any:
        try:
            value = self._parse(text)
        except UnparsableValue as error:
            self._special.add(text)
            return _Unparsable(f"{self._kind}: {error}")
        if value.__class__ is Flagged:
            self._special.add(text)
        return value

    def has_special(self, texts: tuple[str, ...]) -> bool:
        return bool(self._special) and not self._special.isdisjoint(texts)


@dataclass(frozen=True, slots=True)
class TypedBatch:
    """Consecutive records of a file, typed column by column: the typed ones as columns, the others quarantined."""

    keys: tuple[str, ...]  # the name of each column: the report type's columns, then the file's repeated headers
    row_numbers: list[int]  # of each typed record
    lines: list[int]
    columns: list[Sequence[Any]]  # one per key, a value per typed record
    placeholders: dict[int, tuple[PlaceholderFlag, ...]]  # by the typed record's index in the batch
    quarantined: list[QuarantinedRow]

    @property
    def records(self) -> int:
        return len(self.row_numbers) + len(self.quarantined)

    def rows(self) -> list[TypedRow | QuarantinedRow]:
        """The batch's records one by one, in the file's order."""
        cells = zip(*self.columns, strict=True) if self.columns else repeat(())
        typed: list[TypedRow | QuarantinedRow] = [
            TypedRow(row_number, line, values, self.keys, self.placeholders.get(index, ()))
            for index, (row_number, line, values) in enumerate(zip(self.row_numbers, self.lines, cells, strict=False))
        ]
        return sorted([*typed, *self.quarantined], key=attrgetter("row_number")) if self.quarantined else typed


def quarantined_batch(rows: list[QuarantinedRow]) -> TypedBatch:
    return TypedBatch((), [], [], [], {}, rows)


_fields = attrgetter("fields")  # read in C


class RowTyper:
    """Types the records of one file of a recognized layout."""

    def __init__(self, file: str, layout: Layout) -> None:
        self.file = file
        self.layout = layout
        file_keys = column_keys(layout.columns)
        self._typers = tuple(
            None if column.kind is Kind.TEXT else _ColumnTyper(key, column)
            for key, column in zip(file_keys, layout.columns, strict=True)
        )
        type_keys = tuple(column.name for column in layout.report_type.columns)
        self.keys = type_keys + tuple(key for key in file_keys if key not in type_keys)
        position = {key: index for index, key in enumerate(file_keys)}
        self._sources = tuple(position.get(key) for key in self.keys)  # None: a column the file lacks

    def batches(self, records: Iterator[RawRecord]) -> Iterator[TypedBatch]:
        while batch := list(islice(records, BATCH_RECORDS)):
            yield self._type_batch(batch)

    def _type_batch(self, records: list[RawRecord]) -> TypedBatch:
        width = len(self._typers)
        if set(map(len, map(_fields, records))) == {width}:
            fitting, quarantined = records, []
        else:
            fitting = [record for record in records if len(record.fields) == width]
            quarantined = [self._misfit(record, width) for record in records if len(record.fields) != width]
        if not fitting:
            return TypedBatch(self.keys, [], [], [[] for _ in self.keys], {}, quarantined)
        columns: list[Sequence[Any]] = []
        flags: dict[int, list[PlaceholderFlag]] = {}
        problems: dict[int, list[Problem]] = {}
        for typer, texts in zip(self._typers, zip(*map(_fields, fitting), strict=True), strict=True):
            if typer is None:
                columns.append(_texts(texts))
                continue
            values = typer.type(texts)
            if typer.has_special(texts):
                _take_special(typer.key, texts, values, flags, problems)
            columns.append(values)
        if problems:
            quarantined += [
                QuarantinedRow(
                    self.file, fitting[index].row_number, fitting[index].line, tuple(found), fitting[index].fields
                )
                for index, found in problems.items()
            ]
            kept = [index for index in range(len(fitting)) if index not in problems]
            fitting = [fitting[index] for index in kept]
            columns = [[column[index] for index in kept] for column in columns]
            flags = {new: flags[old] for new, old in enumerate(kept) if old in flags}
            quarantined.sort(key=attrgetter("row_number"))
        nulls = [None] * len(fitting)  # a column the file lacks
        return TypedBatch(
            self.keys,
            [record.row_number for record in fitting],
            [record.line for record in fitting],
            [nulls if source is None else columns[source] for source in self._sources],
            {index: tuple(found) for index, found in flags.items()},
            quarantined,
        )

    def _misfit(self, record: RawRecord, width: int) -> QuarantinedRow:
        problem = Problem(None, None, f"{len(record.fields)} fields where the header has {width}")
        return QuarantinedRow(self.file, record.row_number, record.line, (problem,), record.fields)


def _take_special(
    key: str,
    texts: tuple[str, ...],
    values: list[Any],
    flags: dict[int, list[PlaceholderFlag]],
    problems: dict[int, list[Problem]],
) -> None:
    """Placeholders become NULL and are flagged; values that fit no form are the record's problems."""
    for index, value in enumerate(values):
        if value.__class__ is Flagged:
            flags.setdefault(index, []).append(PlaceholderFlag(key, value.original))
            values[index] = None
        elif value.__class__ is _Unparsable:
            problems.setdefault(index, []).append(Problem(key, texts[index], value.reason))
