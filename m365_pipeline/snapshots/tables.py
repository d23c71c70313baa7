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
import functools
import hashlib
import io
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_sqlite.dbapi
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa

from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.migrate import VERSION_TABLE

BATCH_ROWS = 40_000
"""Rows a batch holds at most as rows are read, compared and written. Comparing, checksumming and checking the key
order cost a few Arrow calls a column for each batch, which hold the GIL that two tables read at once share: a
scattered incremental of the 500 MB benchmark took 2.4-2.7 s with batches of 40,000 rows instead of 2.6-3.0 with
10,000. A batch of users is about 18 MB as Arrow, one of a table of 1 KB rows 40 MB; a table being read holds a
few batches at once (those read ahead, those being compared), and two tables are read at once."""
DRIVER_ROWS = 10_000
"""Rows turned into or made from Python values at once (rows a database driver takes or gives): a batch of a wide
table's rows is ten times its Arrow size as Python objects."""
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
        return _schema(self.columns, self.types)

    def keys_only(self) -> TableSpec:
        """The spec of the table's key columns alone."""
        return TableSpec(self.name, self.key, self.key, tuple(self.types[self.columns.index(k)] for k in self.key))

    def delta_schema(self) -> pa.Schema:
        return _schema(self.columns, self.types, delta=True)

    def to_dict(self) -> dict[str, Any]:
        columns = [list(pair) for pair in zip(self.columns, self.types, strict=True)]
        return {"primary_key": list(self.primary_key), "columns": columns}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> TableSpec:
        columns = [tuple(c) for c in data["columns"]]
        return cls(name, tuple(data["primary_key"]), tuple(c[0] for c in columns), tuple(c[1] for c in columns))


@functools.lru_cache(maxsize=1024)
def _schema(columns: tuple[str, ...], types: tuple[str, ...], delta: bool = False) -> pa.Schema:
    """The Arrow schema of these columns (built once: a snapshot asks for each table's many times)."""
    fields = [pa.field(c, _ARROW_TYPES[t]) for c, t in zip(columns, types, strict=True)]
    return pa.schema(fields + ([pa.field(OP_COLUMN, pa.string(), nullable=False)] if delta else []))


def _arrow_type(column_type: sa.types.TypeEngine[Any]) -> pa.DataType:
    # SQLAlchemy 2.0 raises NotImplementedError from python_type for a type without one (2.1 answers `object`);
    # such a column is stored as text, as an `object` one is below
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


WAREHOUSE_TABLES = frozenset(schema.metadata.tables) | {VERSION_TABLE}
"""The warehouse's tables (every table is declared in ``warehouse.schema``) and its Alembic version table; a
PostgreSQL database may hold others (Dagster's storage), which are not the warehouse's."""


def reflect_tables(connection: sa.Connection, only: Collection[str] | None = None) -> dict[str, sa.Table]:
    """The tables of the database's default schema (those of ``only`` when given) with their columns, typed as
    the database reports them, and their primary keys; nothing else (indexes, unique and foreign keys: reading
    those took most of the time, and reading and writing rows needs none of them)."""
    inspector = sa.inspect(connection)
    names = sorted(n for n in inspector.get_table_names() if only is None or n in only)
    if not names:
        return {}
    columns = inspector.get_multi_columns(filter_names=names)
    keys = {
        table: c["constrained_columns"]
        for (_, table), c in inspector.get_multi_pk_constraint(filter_names=names).items()
    }
    metadata = sa.MetaData()
    reflected = {}
    for name in names:
        key = keys.get(name) or []
        described = [sa.Column(c["name"], c["type"], nullable=c["nullable"]) for c in columns[(None, name)]]
        reflected[name] = sa.Table(name, metadata, *described, *([sa.PrimaryKeyConstraint(*key)] if key else []))
    return reflected


def spec_of(table: sa.Table) -> TableSpec:
    columns = list(table.columns)
    return TableSpec(
        table.name,
        tuple(c.name for c in table.primary_key.columns),
        tuple(c.name for c in columns),
        tuple(str(_arrow_type(c.type)) for c in columns),
    )


def read_batches(
    connection: sa.Connection, table: sa.Table, spec: TableSpec, batch_rows: int = DRIVER_ROWS
) -> Iterator[pa.RecordBatch]:
    """The rows of ``table`` in key order, as Arrow batches of ``spec``'s schema. The driver's values go to Arrow
    column by column (Arrow converts them in C); only a column Arrow cannot take as is (SQLite's text
    timestamps and integer booleans, JSON) is converted value by value."""
    sql = select_sql(connection, table, spec)
    if connection.dialect.name == "postgresql" and simply_typed(table, spec):
        yield from postgres_copy_out(connection, sql, spec)
        return
    # Per statement: Connection.execution_options would switch the whole connection to server-side cursors.
    result = connection.exec_driver_sql(sql, execution_options={"stream_results": True})
    schema = spec.schema()
    while rows := result.fetchmany(batch_rows):
        yield driver_batch(rows, schema)


def select_sql(
    connection: sa.Connection, table: sa.Table, spec: TableSpec, keys: int = 0, code_point_ordered: Collection[str] = ()
) -> str:
    """``SELECT`` of ``spec``'s columns of ``table`` in key order (text keys ``COLLATE "C"`` on PostgreSQL, but
    those of ``code_point_ordered``, whose own collation sorts that way: their index gives the order); with
    ``keys``, only the rows at that many keys given as parameters (joined with their ``VALUES`` list, which both
    databases answer through the key's index; an ``IN`` list of row values makes SQLite scan the table)."""
    postgres = connection.dialect.name == "postgresql"
    quote = connection.dialect.identifier_preparer.quote
    name = quote(table.name)
    order = [
        f"{name}.{quote(column)}"
        + (
            ' COLLATE "C"'
            if postgres and column not in code_point_ordered and _arrow_type(table.c[column].type) == pa.string()
            else ""
        )
        for column in spec.key
    ]
    # Written out rather than compiled by SQLAlchemy: compiling costs milliseconds a table, and there are a hundred.
    selected = ", ".join(f"{name}.{quote(column)}" for column in spec.columns)
    source = name
    if keys:
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        row = f"({', '.join(marker for _ in spec.key)})"
        on = " AND ".join(f"{name}.{quote(column)} = keys.column{i}" for i, column in enumerate(spec.key, 1))
        source = f"(VALUES {', '.join(row for _ in range(keys))}) AS keys JOIN {name} ON {on}"
    return f"SELECT {selected} FROM {source} ORDER BY {', '.join(order)}"


def driver_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows as the database driver returns them, as a batch of ``schema``."""
    columns = list(zip(*rows, strict=True))
    arrays = [_arrow_column(values, field.type) for values, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class SqliteFile:
    """An SQLite file that nothing else writes to (a frozen warehouse, a restored file before its rename), given
    as a path or an SQLite URI, its tables read through ADBC's SQLite driver, which builds Arrow columns in C
    (about 4x faster than sqlite3's Python rows). One connection serves every table: opening one parses the whole
    schema again. Use as a context manager."""

    def __init__(self, path: Path | str) -> None:
        self._connection = adbc_driver_sqlite.dbapi.connect(str(path))

    def __enter__(self) -> SqliteFile:
        return self

    def __exit__(self, *_: object) -> None:
        self._connection.close()

    def read(self, connection: sa.Connection, table: sa.Table, spec: TableSpec) -> Iterator[pa.RecordBatch]:
        """``read_batches`` of ``table`` (``connection`` is one to this file): through ADBC when every column is
        text, integer, boolean, timestamp or date; other tables take the ``read_batches`` path."""
        if not simply_typed(table, spec):
            yield from read_batches(connection, table, spec)
            return
        with self._connection.cursor() as cursor:
            yield from _adbc_sqlite(cursor, spec)

    def read_where(
        self, spec: TableSpec, where: str, parameters: Sequence[Any] = (), joined: str = ""
    ) -> Iterator[pa.RecordBatch]:
        """The rows of the table matching the SQL condition ``where``, in key order, through ADBC (the table must
        be one ``read`` takes that path for); ``spec`` may name only some of its columns, and ``joined`` is
        what the table is joined to (``<relation> AS <name> JOIN``)."""
        with self._connection.cursor() as cursor:
            yield from _adbc_sqlite(cursor, spec, where, parameters, joined)

    def count_where(self, table: str, where: str, parameters: Sequence[Any] = ()) -> int:
        with self._connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {quoted(table)} WHERE {where}", tuple(parameters))
            found = cursor.fetchone()
            assert found is not None  # an aggregate without GROUP BY always answers one row
            return int(found[0])

    @staticmethod
    def readable(table: sa.Table, spec: TableSpec) -> bool:
        """Whether ``read`` reads ``table`` through ADBC (and so ``read_where`` can)."""
        return simply_typed(table, spec)


def key_range(
    spec: TableSpec, low: tuple[Any, ...] | None, high: tuple[Any, ...] | None
) -> tuple[str, tuple[Any, ...]]:
    """An SQL condition (with its parameters) for the rows whose key is above ``low`` and at most ``high`` (either
    None: unbounded), compared as row values, which SQLite answers through the key's index."""
    key = f"({', '.join(quoted(k) for k in spec.key)})"
    marks = f"({', '.join('?' for _ in spec.key)})"
    conditions, parameters = ["1"], ()
    if low is not None:
        conditions, parameters = [*conditions, f"{key} > {marks}"], (*parameters, *low)
    if high is not None:
        conditions, parameters = [*conditions, f"{key} <= {marks}"], (*parameters, *high)
    return " AND ".join(conditions), parameters


_TEXT_SENTINEL = "''"
_SENTINELS = {pa.int64(): "0", pa.bool_(): "0"}


def _adbc_sqlite(
    cursor: Any, spec: TableSpec, where: str = "1", parameters: Sequence[Any] = (), joined: str = ""
) -> Iterator[pa.RecordBatch]:
    """The driver infers each column's type from its first batch of rows (a column NULL throughout it would be
    taken as integer, and a later text value would fail the read), so the query's first row is a sentinel of
    each column's storage class (text for timestamps and dates, SQLite stores them as text), dropped here. A value
    of another class fails the read, never converts silently. The compound's ORDER BY puts the sentinel first and
    the rows in key order (BINARY collation). With a primary key, the sentinel's key is NULL (first in SQLite's
    order; the key's own values give its type) and the order is the key's alone, so SQLite merges the sentinel
    with a walk of the key's index instead of sorting the table. A sentinel found anywhere but first fails it."""
    schema = spec.schema()
    sentinel = ", ".join(
        f"{'NULL' if name in spec.primary_key else _SENTINELS.get(field.type, _TEXT_SENTINEL)} AS {quoted(name)}"
        for name, field in zip(spec.columns, schema, strict=True)
    )
    columns = ", ".join(f"{quoted(spec.name)}.{quoted(name)}" for name in spec.columns)
    positions = [str(spec.columns.index(k) + 2) for k in spec.key]
    order = ", ".join(positions if spec.primary_key else ["1", *positions])
    sql = (
        f"SELECT 0 AS _m365_sentinel, {sentinel} UNION ALL "
        f"SELECT 1, {columns} FROM {joined} {quoted(spec.name)} WHERE {where} ORDER BY {order}"
    )
    cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
    cursor.execute(sql, tuple(parameters) or None)
    first = True
    for batch in cursor.fetch_record_batch():
        if first:
            if batch.num_rows == 0 or batch.column(0)[0].as_py() != 0:
                raise KeyOrderError(f"table {spec.name}: the SQLite read did not start with its sentinel row")
            batch, first = batch.slice(1), False
        if batch.num_rows and pc.min(batch.column(0)).as_py() != 1:
            raise KeyOrderError(f"table {spec.name}: the SQLite read's sentinel row was not first")
        if batch.num_rows:
            arrays = [_arrow_cast(batch.column(i + 1), field.type) for i, field in enumerate(schema)]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def quoted(name: str) -> str:
    """``name`` as an SQL identifier (double-quoted)."""
    return '"' + name.replace('"', '""') + '"'


def _arrow_cast(column: pa.Array, arrow_type: pa.DataType) -> pa.Array:
    if column.type == arrow_type:
        return column
    if pa.types.is_boolean(arrow_type):
        return pc.not_equal(column, 0)
    return pc.cast(column, arrow_type)


_COPY_TYPES = {
    sa.String: pa.string(),
    sa.Integer: pa.int64(),
    sa.Boolean: pa.bool_(),
    sa.DateTime: None,  # either timestamp type
    sa.Date: pa.date32(),
}


def simply_typed(table: sa.Table, spec: TableSpec) -> bool:
    """Whether every column is text, integer, boolean, timestamp or date: types whose PostgreSQL text form Arrow's
    CSV reader parses into the Arrow type, and which the ADBC drivers give as Arrow types that widen to it."""
    for name, arrow_type in zip(spec.columns, spec.schema().types, strict=True):
        column_type = table.c[name].type
        matches = [expected for kind, expected in _COPY_TYPES.items() if isinstance(column_type, kind)]
        if not matches or (matches[0] is not None and matches[0] != arrow_type):
            return False
    return True


def postgres_copy_out(connection: sa.Connection, sql: str, spec: TableSpec) -> Iterator[pa.RecordBatch]:
    """The query's rows through ``COPY ... TO STDOUT (FORMAT csv)`` parsed by Arrow's CSV reader (in C++), in the
    connection's transaction. Timestamps are written in UTC and dates as ISO; an unquoted empty field is NULL and
    a quoted one the empty string."""
    connection.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    connection.exec_driver_sql("SET LOCAL datestyle = 'ISO, YMD'")
    schema = spec.schema()
    convert = pacsv.ConvertOptions(
        column_types=schema,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
        stream = _CopyStream(copy)
        if not stream.peek():
            return
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=list(spec.columns), use_threads=False, block_size=4 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=convert,
        )
        for batch in reader:
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)


class _CopyStream(io.RawIOBase):
    """A readable file over the data of a psycopg ``COPY ... TO STDOUT`` (which arrives a row at a time)."""

    def __init__(self, copy: Any) -> None:
        self._copy = copy
        self._pending: bytes | memoryview = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def peek(self) -> bool:
        """Whether there is any data."""
        return self._refill()

    def _refill(self) -> bool:
        if self._offset < len(self._pending):
            return True
        self._pending, self._offset = self._copy.read(), 0
        return len(self._pending) > 0

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._refill():
            count = min(len(view) - filled, len(self._pending) - self._offset)
            view[filled : filled + count] = self._pending[self._offset : self._offset + count]
            filled += count
            self._offset += count
        return filled


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


def parquet_batches(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    # A path would make Arrow resolve a file system for every file. Pre-buffering (made for object stores, on by
    # default) reads ahead whole row groups: on a 142 MiB table, peak RSS 272 MiB and 0.45 CPU-s, against 144 MiB
    # and 0.18 CPU-s without. Decoding the columns in Arrow's thread pool took 0.44 CPU-s (0.31 s) for that table,
    # in this thread 0.14 CPU-s (0.14 s): its batches are small, and the callers already read in threads of their own.
    with pa.OSFile(str(path)) as handle:
        yield from pq.ParquetFile(handle, pre_buffer=False).iter_batches(batch_size=batch_rows, use_threads=False)


class TableDigest:
    """Row count and SHA-256 of a run of rows in key order, the same whichever database or file they come from
    and however they are cut into batches. Computed column by column on Arrow's buffers: for each column, the
    stream of its validity (a byte per row), of its values' lengths (text and bytes) and of its values (nulls as
    zero, timestamps as microseconds), each hashed on its own so batch boundaries do not matter."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self._columns = columns
        self._hashes = {c: (hashlib.sha256(), hashlib.sha256(), hashlib.sha256()) for c in columns}
        self.rows = 0

    def add_batch(self, batch: pa.RecordBatch) -> None:
        self.add_rows(ColumnStreams(batch, self._columns), 0, batch.num_rows)

    def add_rows(self, streams: ColumnStreams, start: int, stop: int) -> None:
        """Add rows ``start`` to ``stop`` (exclusive) of the batch ``streams`` were computed from."""
        for name in self._columns:
            for hashed, stream in zip(self._hashes[name], streams.rows(name, start, stop), strict=True):
                hashed.update(stream)
        self.rows += stop - start

    def digest(self) -> bytes:
        total = hashlib.sha256(str(self.rows).encode())
        for name in self._columns:
            total.update(name.encode() + b"\0" + b"".join(h.digest() for h in self._hashes[name]))
        return total.digest()

    @property
    def checksum(self) -> str:
        return self.digest().hex()


class WindowedChecksum:
    """Row count and checksum of a table cut into windows at keys (a full's, see ``row_groups``): the SHA-256 of the row
    count and of each window's ``TableDigest``, so that an incremental takes an unchanged window's digest from its
    base full instead of reading its rows. A table in one window (no keys to cut at: an empty table, a snapshot
    from before windows) has that window's own checksum, as every table had before."""

    def __init__(self) -> None:
        self.windows: list[tuple[int, bytes]] = []

    def add(self, rows: int, digest: bytes) -> None:
        self.windows.append((rows, digest))

    @property
    def rows(self) -> int:
        return sum(rows for rows, _ in self.windows)

    @property
    def checksum(self) -> str:
        if len(self.windows) == 1:
            return self.windows[0][1].hex()
        total = hashlib.sha256(b"m365.windows\0" + str(self.rows).encode())
        for _, digest in self.windows:
            total.update(digest)
        return total.hexdigest()


def windowed_digest(
    batches: Iterable[pa.RecordBatch], spec: TableSpec, boundaries: Sequence[tuple[Any, ...]] = ()
) -> WindowedChecksum:
    """The ``WindowedChecksum`` of key-ordered ``batches`` cut at ``boundaries`` (``digested_windows``)."""
    checksum = WindowedChecksum()
    for _ in digested_windows(batches, spec, boundaries, checksum):
        pass
    return checksum


def digested_windows(
    batches: Iterable[pa.RecordBatch],
    spec: TableSpec,
    boundaries: Sequence[tuple[Any, ...]],
    checksum: WindowedChecksum,
) -> Iterator[pa.RecordBatch]:
    """Key-ordered ``batches`` passed on as they are while their windows (the rows up to each of ``boundaries``,
    then those past the last) go into ``checksum``: each batch's column streams are computed once and cut at the
    boundaries inside it."""
    schema = spec.schema()
    digest = TableDigest(spec.columns)
    window = 0
    for batch in batches:
        if not batch.schema.equals(schema):  # hashed as the spec's types, as every side hashes it
            arrays = [batch.column(name).cast(field.type) for name, field in zip(schema.names, schema, strict=True)]
            batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        streams = ColumnStreams(batch, spec.columns)
        start = 0
        while start < batch.num_rows:
            bound = boundaries[window] if window < len(boundaries) else None
            stop = batch.num_rows if bound is None else _rows_through(batch, spec.key, bound, start)
            digest.add_rows(streams, start, stop)
            if stop < batch.num_rows:  # the next row is past this window's last key
                checksum.add(digest.rows, digest.digest())
                digest, window = TableDigest(spec.columns), window + 1
            start = stop
        yield batch
    while window <= len(boundaries):  # the window being filled, and those after it, empty
        checksum.add(digest.rows, digest.digest())
        digest, window = TableDigest(spec.columns), window + 1


def _rows_through(batch: pa.RecordBatch, key: tuple[str, ...], bound: tuple[Any, ...], start: int) -> int:
    """The end of the rows from ``start`` whose key is at most ``bound`` (a key-ordered batch)."""
    low, high = start, batch.num_rows
    if _key_at(batch, key, high - 1) <= bound:
        return high
    while low < high:
        middle = (low + high) // 2
        if _key_at(batch, key, middle) <= bound:
            low = middle + 1
        else:
            high = middle
    return low


Streams = tuple[memoryview, memoryview, memoryview]
"""A column's validity (a byte a row), lengths (4 bytes a row; empty for fixed-width types) and values, as
``TableDigest`` hashes them."""


class ColumnStreams:
    """The ``Streams`` of a batch's columns, computed once and cut for any run of its rows (``rows``)."""

    def __init__(self, batch: pa.RecordBatch, columns: tuple[str, ...]) -> None:
        self._cutters = {name: _stream_cutter(batch.column(name)) for name in columns}

    def rows(self, name: str, start: int, stop: int) -> Streams:
        return self._cutters[name](start, stop)


def _stream_cutter(column: pa.Array) -> Callable[[int, int], Streams]:
    validity = _buffer_bytes(pc.cast(pc.is_valid(column), pa.uint8()), 1)
    if pa.types.is_string(column.type) or pa.types.is_binary(column.type):
        filled = column.fill_null("" if pa.types.is_string(column.type) else b"")
        lengths = _buffer_bytes(pc.binary_length(filled), 4)
        offsets_buffer, data = filled.buffers()[1], filled.buffers()[2]
        if offsets_buffer is None or data is None:
            return lambda start, stop: (validity[start:stop], lengths[4 * start : 4 * stop], memoryview(b""))
        offsets, first, text = memoryview(offsets_buffer).cast("i"), filled.offset, memoryview(data)
        return lambda start, stop: (
            validity[start:stop],
            lengths[4 * start : 4 * stop],
            text[offsets[first + start] : offsets[first + stop]] if stop > start else memoryview(b""),
        )
    filled = _fixed_width(column)
    width = filled.type.bit_width // 8
    values = _buffer_bytes(filled, width)
    return lambda start, stop: (validity[start:stop], memoryview(b""), values[width * start : width * stop])


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


class ParquetSink:
    """Writes batches of one schema as a Parquet file to ``out`` (anything with ``write(bytes)``), uncompressed:
    the store compresses after chunking, and uncompressed pages keep unchanged rows' bytes unchanged, so
    content-defined chunks deduplicate them. ``close`` ends the file; ``out`` stays open.

    Each batch written is a row group, unless ``group_rows`` is given: then batches are held and written together
    once they hold that many rows (a delta arrives in many small batches, and each row group costs its metadata and
    a few calls a column)."""

    def __init__(self, out: Any, schema: pa.Schema, group_rows: int = 0) -> None:
        # Plain pages without statistics: written twice as fast as dictionary pages, a row's bytes do not depend on
        # the other rows of its page (better deduplication), and zstd makes them as small.
        self._writer = pq.ParquetWriter(out, schema, compression="none", use_dictionary=False, write_statistics=False)
        self._group_rows = group_rows
        self._held: list[pa.RecordBatch] = []
        self._held_rows = 0
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        self.rows += batch.num_rows
        if not self._group_rows:
            self._writer.write_batch(batch)
            return
        self._held.append(batch)
        self._held_rows += batch.num_rows
        if self._held_rows >= self._group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._held:
            self._writer.write_table(pa.Table.from_batches(self._held), row_group_size=self._held_rows)
            self._held, self._held_rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


_OLD_PRESENT, _NEW_PRESENT = "_m365_old", "_m365_new"
_OLD_SUFFIX, _NEW_SUFFIX = "_m365_was", "_m365_now"


class _OrderedStream:
    """A key-ordered stream of batches, buffered so that a window of it (every row up to a key) can be taken;
    it checks the order as batches arrive."""

    def __init__(self, batches: Iterable[pa.RecordBatch], spec: TableSpec, schema: pa.Schema, label: str) -> None:
        self._batches, self._spec, self._schema = iter(checked_key_order(batches, spec, label)), spec, schema
        self._buffer = schema.empty_table()
        self.done = False

    def fill(self) -> None:
        while self._buffer.num_rows == 0 and not self.done:
            batch = next(self._batches, None)
            if batch is None:
                self.done = True
                return
            table = pa.Table.from_batches([batch]).select(self._schema.names).cast(self._schema)
            if table.num_rows == 0:
                continue
            self._buffer = table

    @property
    def empty(self) -> bool:
        return self._buffer.num_rows == 0

    def last_key(self) -> tuple[Any, ...]:
        return _key_at(self._buffer, self._spec.key, self._buffer.num_rows - 1)

    def take_through(self, boundary: tuple[Any, ...]) -> pa.Table:
        """Remove and return the buffered rows whose key is at most ``boundary``."""
        low, high = 0, self._buffer.num_rows
        while low < high:
            middle = (low + high) // 2
            if _key_at(self._buffer, self._spec.key, middle) <= boundary:
                low = middle + 1
            else:
                high = middle
        taken, self._buffer = self._buffer.slice(0, low), self._buffer.slice(low)
        return taken

    def take_all(self) -> pa.Table:
        taken, self._buffer = self._buffer, self._schema.empty_table()
        return taken


_BINDABLE_KEYS = {str(pa.string()), str(pa.int64())}


def comparable_by_key(spec: TableSpec) -> bool:
    """Whether the table's key values, as Arrow gives them, compare in SQL as the database stores them (text and
    integers do; SQLite stores timestamps and dates as text whose form this cannot know): only such tables are
    read by key range."""
    return bool(spec.primary_key) and all(t in _BINDABLE_KEYS for t in spec.keys_only().types)


def checked_key_order(batches: Iterable[pa.RecordBatch], spec: TableSpec, label: str) -> Iterator[pa.RecordBatch]:
    """``batches``, each checked as it passes to continue the strictly increasing key order (``KeyOrderError``
    names the table and ``label`` otherwise)."""
    last: tuple[Any, ...] | None = None
    for batch in batches:
        if batch.num_rows:
            table = pa.Table.from_batches([batch])
            if not _rows_in_key_order(table, spec) or (last is not None and not last < _key_at(table, spec.key, 0)):
                raise KeyOrderError(f"table {spec.name} ({label}): rows are not in key order")
            last = _key_at(table, spec.key, table.num_rows - 1)
        yield batch


def _rows_in_key_order(table: pa.Table, spec: TableSpec) -> bool:
    """Whether each row's key is greater than the previous row's: compared column by column with the row before,
    without sorting (a key with nulls is checked by sorting, which puts them last)."""
    rows = table.num_rows
    if rows < 2:
        return True
    if any(table.column(name).null_count for name in spec.key):
        indices = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in spec.key])
        return bool(indices.equals(pa.array(range(rows), indices.type)))
    greater: Any = pa.chunked_array([pa.repeat(False, rows - 1)])
    tied: Any = pa.chunked_array([pa.repeat(True, rows - 1)])
    for name in spec.key:
        column = table.column(name)
        before, after = column.slice(0, rows - 1), column.slice(1)
        greater = pc.or_(greater, pc.and_(tied, pc.greater(after, before)))
        tied = pc.and_(tied, pc.equal(after, before))
    return bool(pc.all(greater).as_py())


def _key_at(table: pa.Table | pa.RecordBatch, key: tuple[str, ...], row: int) -> tuple[Any, ...]:
    return tuple(table.column(k)[row].as_py() for k in key)


def _windows(left: _OrderedStream, right: _OrderedStream) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Pairs of slices of two key-ordered streams holding every row of both up to the same key: a sorted merge,
    a batch at a time."""
    while True:
        left.fill()
        right.fill()
        if left.empty and right.empty:
            return
        if left.empty:
            boundary = right.last_key()
        elif right.empty:
            boundary = left.last_key()
        else:
            boundary = min(left.last_key(), right.last_key())
        yield left.take_through(boundary), right.take_through(boundary)


def cut_at(
    batches: Iterable[pa.RecordBatch], spec: TableSpec, boundaries: Sequence[tuple[Any, ...]]
) -> Iterator[Iterator[pa.RecordBatch]]:
    """The key-ordered ``batches`` cut at the increasing keys ``boundaries``: for each boundary, the rows whose key
    is at most it (and above the one before), then the rows past the last; ``len(boundaries) + 1`` streams, each
    read lazily from the one below (a window is never held whole here). A stream not read to its end is skipped
    when the next is asked for."""
    schema = spec.schema()
    stream = _OrderedStream(batches, spec, schema, "new")

    def window(boundary: tuple[Any, ...] | None) -> Iterator[pa.RecordBatch]:
        while True:
            stream.fill()
            if stream.empty:
                return
            piece = stream.take_all() if boundary is None else stream.take_through(boundary)
            yield from piece.to_batches()
            if not stream.empty:  # the next row is past the boundary
                return

    for boundary in [*boundaries, None]:
        current = window(boundary)
        yield current
        for _ in current:  # what the consumer left of this window
            pass


@dataclass(frozen=True)
class WindowDiff:
    """The differences within one window, each in key order."""

    added: pa.Table
    removed: pa.Table
    changed_old: pa.Table
    changed_new: pa.Table


def compare(old: Iterable[pa.RecordBatch], new: Iterable[pa.RecordBatch], spec: TableSpec) -> Iterator[WindowDiff]:
    """Sorted merge of two key-ordered tables (compared on ``spec``'s columns), window by window: within a window
    the rows are matched by a hash join on the key and compared column by column, all in Arrow."""
    schema = spec.schema()
    olds, news = _OrderedStream(old, spec, schema, "old"), _OrderedStream(new, spec, schema, "new")
    empty = schema.empty_table()
    for before, after in _windows(olds, news):
        if before.num_rows == 0 or after.num_rows == 0:
            yield WindowDiff(after, before, empty, empty)
            continue
        yield _compare_window(before, after, spec)


def _compare_window(before: pa.Table, after: pa.Table, spec: TableSpec) -> WindowDiff:
    if before.num_rows == after.num_rows and all(before[k].equals(after[k]) for k in spec.key):
        return _compare_aligned(before, after, spec)
    joined = before.append_column(_OLD_PRESENT, pa.repeat(True, before.num_rows)).join(
        after.append_column(_NEW_PRESENT, pa.repeat(True, after.num_rows)),
        keys=list(spec.key),
        join_type="full outer",
        left_suffix=_OLD_SUFFIX,
        right_suffix=_NEW_SUFFIX,
        use_threads=False,
    )
    joined = joined.sort_by([(k, "ascending") for k in spec.key])
    values = [c for c in spec.columns if c not in spec.key]
    in_old, in_new = pc.is_valid(joined[_OLD_PRESENT]), pc.is_valid(joined[_NEW_PRESENT])
    same = pc.and_(in_old, in_new)
    for name in values:
        was, now = joined[name + _OLD_SUFFIX], joined[name + _NEW_SUFFIX]
        equal = pc.or_kleene(pc.equal(was, now), pc.and_(pc.is_null(was), pc.is_null(now)))
        same = pc.and_(same, pc.fill_null(equal, False))
    changed = pc.and_(pc.and_(in_old, in_new), pc.invert(same))
    schema = spec.schema()

    def side(mask: pa.ChunkedArray, suffix: str) -> pa.Table:
        chosen = joined.filter(mask)
        return pa.table({c: chosen[c if c in spec.key else c + suffix] for c in spec.columns}).cast(schema)

    return WindowDiff(
        added=side(pc.invert(in_old), _NEW_SUFFIX),
        removed=side(pc.invert(in_new), _OLD_SUFFIX),
        changed_old=side(changed, _OLD_SUFFIX),
        changed_new=side(changed, _NEW_SUFFIX),
    )


def _compare_aligned(before: pa.Table, after: pa.Table, spec: TableSpec) -> WindowDiff:
    """A window whose two sides hold the same keys row for row (no row added or removed, the usual case): its
    rows compared in place, without a join."""
    same = pa.chunked_array([pa.repeat(True, before.num_rows)])
    for name in spec.columns:
        if name in spec.key:
            continue
        was, now = before[name], after[name]
        equal = pc.or_kleene(pc.equal(was, now), pc.and_(pc.is_null(was), pc.is_null(now)))
        same = pc.and_(same, pc.fill_null(equal, False))
    changed = pc.invert(same)
    empty = spec.schema().empty_table()
    return WindowDiff(added=empty, removed=empty, changed_old=before.filter(changed), changed_new=after.filter(changed))


def changes(
    old: Iterable[pa.RecordBatch], new: Iterable[pa.RecordBatch], spec: TableSpec
) -> Iterator[tuple[tuple[Any, ...], Row | None, Row | None]]:
    """``(key, old row, new row)`` for each added (old None), removed (new None) or changed row, in key order;
    only these rows become Python objects."""
    for window in compare(old, new, spec):
        found: list[tuple[tuple[Any, ...], Row | None, Row | None]] = []
        for row in window.added.to_pylist():
            found.append((tuple(row[k] for k in spec.key), None, row))
        for row in window.removed.to_pylist():
            found.append((tuple(row[k] for k in spec.key), row, None))
        for was, now in zip(window.changed_old.to_pylist(), window.changed_new.to_pylist(), strict=True):
            found.append((tuple(now[k] for k in spec.key), was, now))
        yield from sorted(found, key=lambda change: change[0])


def delta_batches(
    old: Iterable[pa.RecordBatch], new: Iterable[pa.RecordBatch], spec: TableSpec
) -> Iterator[pa.RecordBatch]:
    """The delta turning ``old`` into ``new``, in key order: each added or changed row whole (``upsert``), each
    removed row's key with nulls (``delete``)."""
    delta_schema = spec.delta_schema()
    for window in compare(old, new, spec):
        upserts = pa.concat_tables([window.added, window.changed_new])
        upserts = upserts.append_column(OP_COLUMN, pa.repeat(UPSERT, upserts.num_rows).cast(pa.string()))
        count = window.removed.num_rows
        deletes = pa.table(
            {
                **{
                    f.name: window.removed[f.name] if f.name in spec.key else pa.nulls(count, f.type)
                    for f in spec.schema()
                },
                OP_COLUMN: pa.repeat(DELETE, count).cast(pa.string()),
            }
        )
        delta = pa.concat_tables([upserts.cast(delta_schema), deletes.cast(delta_schema)])
        if delta.num_rows:
            yield from delta.sort_by([(k, "ascending") for k in spec.key]).to_batches()


def apply_delta(
    base: Iterable[pa.RecordBatch], delta: Iterable[pa.RecordBatch], spec: TableSpec
) -> Iterator[pa.RecordBatch]:
    """``base`` with ``delta`` applied, in key order (the table the delta was taken of)."""
    schema = spec.schema()
    bases = _OrderedStream(base, spec, schema, "base")
    deltas = _OrderedStream(delta, spec, spec.delta_schema(), "delta")
    for before, changes_ in _windows(bases, deltas):
        if changes_.num_rows == 0:
            yield from before.to_batches()
            continue
        key = list(spec.key)
        kept = before.join(changes_.select(key), keys=key, join_type="left anti", use_threads=False)
        upserts = changes_.filter(pc.equal(changes_[OP_COLUMN], UPSERT)).select(list(spec.columns))
        merged = pa.concat_tables([kept.select(list(spec.columns)).cast(schema), upserts.cast(schema)])
        yield from merged.sort_by([(k, "ascending") for k in spec.key]).to_batches()


_POSITION, _CHANGED_POSITION = "_m365_position", "_m365_changed_position"


def patched(
    base: Iterable[pa.RecordBatch], changed: Iterable[pa.RecordBatch], spec: TableSpec, replaced: list[pa.Table]
) -> Iterator[pa.RecordBatch]:
    """``base`` with the ``changed`` rows (whole, key-ordered) put in, in key order: each replaces the base's row at
    its key, or is added; the base's rows replaced are appended to ``replaced``, in key order. A piece of the base
    whose changed rows all replace one of its rows keeps its order: they are put in place without sorting."""
    schema = spec.schema()
    bases, news = _OrderedStream(base, spec, schema, "base"), _OrderedStream(changed, spec, schema, "changed")
    key = list(spec.key)
    for before, after in _windows(bases, news):
        if after.num_rows == 0 or before.num_rows == 0:
            yield from (before if after.num_rows == 0 else after).to_batches()
            continue
        at = (
            before.select(key)
            .append_column(_POSITION, pa.array(np.arange(before.num_rows)))
            .join(
                after.select(key).append_column(_CHANGED_POSITION, pa.array(np.arange(after.num_rows))),
                keys=key,
                join_type="inner",
                use_threads=False,
            )
        )
        positions = at.column(_POSITION).to_numpy()
        if at.num_rows:
            replaced.append(before.take(pa.array(np.sort(positions))))
        if at.num_rows == after.num_rows:  # every changed row replaces one: the order stays
            taken = np.arange(before.num_rows)
            taken[positions] = before.num_rows + at.column(_CHANGED_POSITION).to_numpy()
            yield from pa.concat_tables([before, after]).take(pa.array(taken)).to_batches()
            continue
        kept = np.ones(before.num_rows, dtype=bool)
        kept[positions] = False
        merged = pa.concat_tables([before.filter(pa.array(kept)), after])
        yield from merged.sort_by([(k, "ascending") for k in key]).to_batches()
