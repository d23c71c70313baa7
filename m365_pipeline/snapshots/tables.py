"""Warehouse tables as streams of rows in primary-key order: read from a database in batches, written to and read
from Parquet, checksummed, compared by key (sorted merge) and patched with a delta.

Everything here streams: rows flow batch by batch and two tables are compared by walking both in key order, so
no table is ever held whole. The key order must be the same on every side: PostgreSQL sorts text by its
collation, so text keys are ordered ``COLLATE "C"`` (bytes of UTF-8, which is code point order, Python's order);
SQLite's default BINARY collation is the same. A stream found out of key order is an error, never a wrong diff.

A table without a primary key is keyed by all its columns (its rows compared as a set).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

BATCH_ROWS = 10_000
OP_COLUMN = "_m365_op"
"""The column of a delta saying whether its row is an ``upsert`` (added or changed) or a ``delete``."""
UPSERT, DELETE = "upsert", "delete"

_ARROW_TYPES = {
    str(t): t
    for t in (
        pa.string(),
        pa.int64(),
        pa.bool_(),
        pa.float64(),
        pa.timestamp("us", tz="UTC"),
        pa.timestamp("us"),
        pa.date32(),
        pa.binary(),
    )
}

Row = dict[str, Any]


class KeyOrderError(ValueError):
    """A table stream whose rows are not in strictly increasing key order."""


@dataclass(frozen=True)
class TableSpec:
    """A table's name, key and columns with their Arrow types (as recorded in a manifest)."""

    name: str
    primary_key: tuple[str, ...]
    columns: tuple[str, ...]
    types: tuple[str, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return self.primary_key or self.columns

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c, _ARROW_TYPES[t]) for c, t in zip(self.columns, self.types, strict=True)])

    def delta_schema(self) -> pa.Schema:
        return self.schema().append(pa.field(OP_COLUMN, pa.string(), nullable=False))

    def to_dict(self) -> dict[str, Any]:
        columns = [list(pair) for pair in zip(self.columns, self.types, strict=True)]
        return {"primary_key": list(self.primary_key), "columns": columns}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> TableSpec:
        columns = [tuple(c) for c in data["columns"]]
        return cls(name, tuple(data["primary_key"]), tuple(c[0] for c in columns), tuple(c[1] for c in columns))


def _arrow_type(column_type: sa.types.TypeEngine[Any]) -> pa.DataType:
    try:
        python = column_type.python_type
    except NotImplementedError:
        return pa.string()
    if python is bool:
        return pa.bool_()
    if python is int:
        return pa.int64()
    if python is float:
        return pa.float64()
    if python is dt.datetime:
        return pa.timestamp("us", tz="UTC") if getattr(column_type, "timezone", False) else pa.timestamp("us")
    if python is dt.date:
        return pa.date32()
    if python is bytes:
        return pa.binary()
    return pa.string()


def reflect_tables(connection: sa.Connection) -> dict[str, sa.Table]:
    """Every table of the database's default schema, reflected (types as the database reports them)."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    return dict(sorted(metadata.tables.items()))


def spec_of(table: sa.Table) -> TableSpec:
    columns = list(table.columns)
    return TableSpec(
        table.name,
        tuple(c.name for c in table.primary_key.columns),
        tuple(c.name for c in columns),
        tuple(str(_arrow_type(c.type)) for c in columns),
    )


def read_batches(
    connection: sa.Connection, table: sa.Table, spec: TableSpec, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The rows of ``table`` in key order, as Arrow batches of ``spec``'s schema. The driver's values go to Arrow
    column by column (Arrow converts them in C); only a column Arrow cannot take as is (SQLite's text
    timestamps and integer booleans, JSON) is converted value by value."""
    postgres = connection.dialect.name == "postgresql"
    order = [
        table.c[name].collate("C") if postgres and _arrow_type(table.c[name].type) == pa.string() else table.c[name]
        for name in spec.key
    ]
    query = sa.select(*(table.c[name] for name in spec.columns)).order_by(*order)
    sql = str(query.compile(dialect=connection.dialect))
    result = connection.execution_options(stream_results=True).exec_driver_sql(sql)
    schema = spec.schema()
    while rows := result.fetchmany(batch_rows):
        columns = list(zip(*rows, strict=True))
        arrays = [_arrow_column(values, field.type) for values, field in zip(columns, schema, strict=True)]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _arrow_column(values: tuple[Any, ...], arrow_type: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        pass
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return pc.cast(pa.array([None if v is None else str(v) for v in values], pa.string()), arrow_type)
    if arrow_type == pa.string():
        return pa.array([None if v is None else _text(v) for v in values], pa.string())
    convert = {pa.bool_(): bool, pa.int64(): int, pa.float64(): float}.get(arrow_type, lambda v: v)
    return pa.array([None if v is None else convert(v) for v in values], type=arrow_type)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def rows_of(batches: Iterable[pa.RecordBatch]) -> Iterator[Row]:
    for batch in batches:
        yield from batch.to_pylist()


def batches_of(rows: Iterable[Row], schema: pa.Schema, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    pending: list[Row] = []
    for row in rows:
        pending.append(row)
        if len(pending) == batch_rows:
            yield pa.RecordBatch.from_pylist(pending, schema=schema)
            pending = []
    if pending:
        yield pa.RecordBatch.from_pylist(pending, schema=schema)


def parquet_batches(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)


class TableDigest:
    """Row count and SHA-256 of a table's rows in key order, the same whichever database or file they come from
    and however they are cut into batches. Computed column by column on Arrow's buffers: for each column, the
    stream of its validity (a byte per row), of its values' lengths (text and bytes) and of its values (nulls as
    zero, timestamps as microseconds), each hashed on its own so batch boundaries do not matter."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self._columns = columns
        self._hashes = {c: (hashlib.sha256(), hashlib.sha256(), hashlib.sha256()) for c in columns}
        self.rows = 0

    def add_batch(self, batch: pa.RecordBatch) -> None:
        for name in self._columns:
            validity, lengths, values = self._hashes[name]
            column = batch.column(name)
            validity.update(_buffer_bytes(pc.cast(pc.is_valid(column), pa.uint8()), 1))
            if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
                filled = column.fill_null("" if pa.types.is_string(column.type) else b"")
                lengths.update(_buffer_bytes(pc.binary_length(filled), 4))
                values.update(_variable_bytes(filled))
            else:
                filled = _fixed_width(column)
                values.update(_buffer_bytes(filled, filled.type.bit_width // 8))
        self.rows += batch.num_rows

    @property
    def checksum(self) -> str:
        total = hashlib.sha256(str(self.rows).encode())
        for name in self._columns:
            total.update(name.encode() + b"\0" + b"".join(h.digest() for h in self._hashes[name]))
        return total.hexdigest()


def _fixed_width(column: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.int64())
    elif pa.types.is_date32(column.type):
        column = pc.cast(column, pa.int32())
    elif pa.types.is_boolean(column.type):
        column = pc.cast(column, pa.uint8())
    return column.fill_null(0)


def _buffer_bytes(array: pa.Array, width: int) -> memoryview:
    buffer = array.buffers()[1]
    if buffer is None:
        return memoryview(b"")
    return memoryview(buffer)[array.offset * width : (array.offset + len(array)) * width]


def _variable_bytes(array: pa.Array) -> memoryview:
    offsets_buffer, data = array.buffers()[1], array.buffers()[2]
    if offsets_buffer is None or data is None or len(array) == 0:
        return memoryview(b"")
    offsets = memoryview(offsets_buffer).cast("i")
    return memoryview(data)[offsets[array.offset] : offsets[array.offset + len(array)]]


def table_digest(batches: Iterable[pa.RecordBatch], spec: TableSpec) -> TableDigest:
    digest = TableDigest(spec.columns)
    for batch in batches:
        digest.add_batch(batch)
    return digest


class ParquetSink:
    """Writes batches of one schema to a Parquet file, uncompressed: the store compresses after chunking, and
    uncompressed pages keep unchanged rows' bytes unchanged, so content-defined chunks deduplicate them."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema, compression="none")
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write_batch(batch)
            self.rows += batch.num_rows

    def close(self) -> None:
        self._writer.close()


def keyed(rows: Iterable[Row], key: tuple[str, ...], table: str) -> Iterator[tuple[tuple[Any, ...], Row]]:
    """``(key, row)`` for each row, checking the keys strictly increase."""
    previous: tuple[Any, ...] | None = None
    for row in rows:
        current = tuple(row[k] for k in key)
        if previous is not None and not previous < current:
            raise KeyOrderError(f"table {table}: key {current} follows {previous}, rows are not in key order")
        previous = current
        yield current, row


def changes(
    old: Iterable[Row], new: Iterable[Row], spec: TableSpec
) -> Iterator[tuple[tuple[Any, ...], Row | None, Row | None]]:
    """Sorted merge of two key-ordered tables: ``(key, old row, new row)`` for each added (old None), removed
    (new None) or changed row."""
    olds, news = keyed(old, spec.key, spec.name), keyed(new, spec.key, spec.name)
    a, b = next(olds, None), next(news, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield a[0], a[1], None
            a = next(olds, None)
        elif a is None or b[0] < a[0]:
            yield b[0], None, b[1]
            b = next(news, None)
        else:
            if any(a[1][c] != b[1][c] for c in spec.columns):
                yield a[0], a[1], b[1]
            a, b = next(olds, None), next(news, None)


def delta_rows(old: Iterable[Row], new: Iterable[Row], spec: TableSpec) -> Iterator[Row]:
    """The delta turning ``old`` into ``new``: each added or changed row whole (upsert), each removed row's key
    (delete), in key order."""
    for key, _, after in changes(old, new, spec):
        if after is None:
            yield {**dict.fromkeys(spec.columns), **dict(zip(spec.key, key, strict=True)), OP_COLUMN: DELETE}
        else:
            yield {**after, OP_COLUMN: UPSERT}


def apply_delta(base: Iterable[Row], delta: Iterable[Row], spec: TableSpec) -> Iterator[Row]:
    """``base`` with ``delta`` applied, in key order (the table the delta was taken of)."""
    bases, deltas = keyed(base, spec.key, spec.name), keyed(delta, spec.key, spec.name)
    a, d = next(bases, None), next(deltas, None)
    while a is not None or d is not None:
        if d is None or (a is not None and a[0] < d[0]):
            assert a is not None
            yield a[1]
            a = next(bases, None)
            continue
        if a is not None and a[0] == d[0]:
            a = next(bases, None)
        if d[1][OP_COLUMN] == UPSERT:
            yield {c: d[1][c] for c in spec.columns}
        d = next(deltas, None)
