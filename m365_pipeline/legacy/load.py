"""Loading legacy CSV files into the warehouse: one transaction per file, recorded in the ledger by content.

    result = migrate_file(engine, path, tenant_id)   # FileResult: status, rows in / loaded / quarantined

- Identity: the SHA-256 of the file's content, per tenant. Content already in the ledger is not read again
  (`already_migrated`); a changed file under the same path is a new content, loaded as the path's next version.
- Atomicity: the rows, the quarantined records and the ledger row are written in one transaction, so a run killed
  at any point leaves the file either wholly migrated or not at all (the next run migrates it then).
- Concurrency: PostgreSQL takes a transaction-scoped advisory lock on (tenant, content) before looking at the
  ledger, so a concurrent migration of the same file waits and then finds it done; SQLite's writer lock (BEGIN
  IMMEDIATE) serializes the same way. The ledger's primary key (tenant, sha256) is the last guard.
- Speed and memory: typed rows stream into PostgreSQL through COPY (psycopg 3) and into SQLite through batched
  executemany; quarantined records are written in batches between COPYs. Python holds one batch at a time.
- Directory history: a user list, licence or group report is folded into the directory history in the same
  transaction (``legacy.history``: the intervals of its report type are recomputed, so any order gives the same).
- Reconciliation: before committing, the rows of the file in its table and in legacy_quarantine are counted in
  the database and must equal what was read (rows in = loaded + quarantined), and the file must still have the
  content it had at the start; otherwise the transaction is rolled back and the error names the file.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy.dialects import postgresql

from m365_pipeline.gc_pause import collector_paused
from m365_pipeline.legacy.files import LegacyFile, read_legacy_file
from m365_pipeline.legacy.history import NOTHING_LEFT_OUT, REPORT_FOLDS, HistoryFoldResult, fold_report_history
from m365_pipeline.legacy.layouts import ReportType
from m365_pipeline.legacy.reading import LegacyEncodingError
from m365_pipeline.legacy.rows import QuarantinedRow, TypedBatch
from m365_pipeline.warehouse.schema import (
    LEGACY_TABLES,
    legacy_files,
    legacy_quarantine,
)

BATCH_ROWS = 5_000  # SQLite executemany batch
QUARANTINE_BATCH_ROWS = 1_000  # quarantined records held before they are written
_HASH_CHUNK = 1 << 20

Clock = Callable[[], datetime]


class LegacyLoadError(RuntimeError):
    """A file could not be migrated consistently; its transaction was rolled back. The message names the file."""


@dataclass(frozen=True)
class FileResult:
    path: Path
    sha256: str
    size_bytes: int
    status: str  # loaded, quarantined, unknown_layout, empty, unreadable
    report_type: str | None
    table_name: str | None
    rows_in: int
    rows_loaded: int
    rows_quarantined: int
    reason: str | None
    version: int
    already_migrated: bool  # the ledger had this content: nothing was read or written
    history: HistoryFoldResult = NOTHING_LEFT_OUT  # facts of the report the directory history could not hold

    @property
    def reconciled(self) -> bool:
        return self.rows_in == self.rows_loaded + self.rows_quarantined


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of the file's content, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def lock_key(tenant_id: str, sha256: str) -> int:
    """A signed 64-bit advisory lock key for one tenant's migration of one content."""
    digest = hashlib.sha256(f"m365-legacy:{tenant_id}:{sha256}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def legacy_csv_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every .csv file under the given folders (a whole old Reports/ tree), and the given files, sorted per folder."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                (found for found in path.rglob("*") if found.is_file() and found.suffix.lower() == ".csv"),
                key=lambda found: found.as_posix(),
            )
        else:
            yield path


def migrate_file(engine: sa.Engine, path: Path, tenant_id: str, *, clock: Clock | None = None) -> FileResult:
    """Migrate one legacy file for `tenant_id` in one transaction (a no-op when its content is in the ledger)."""
    now = clock or (lambda: datetime.now(UTC))
    sha256, size = file_digest(path)
    location = str(path.resolve())  # a path's versions are counted whatever folder the run started in
    started_at = now()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(tenant_id, sha256)})
        done = connection.execute(
            sa.select(legacy_files).where(legacy_files.c.tenant_id == tenant_id, legacy_files.c.sha256 == sha256)
        ).first()
        if done is not None:
            return _result_of(path, done._mapping, already_migrated=True)
        version = (
            1
            + connection.execute(
                sa.select(sa.func.count())
                .select_from(legacy_files)
                .where(legacy_files.c.tenant_id == tenant_id, legacy_files.c.path == location)
            ).scalar_one()
        )
        ledger: dict[str, Any] = {
            "tenant_id": tenant_id,
            "sha256": sha256,
            "path": location,
            "size_bytes": size,
            "version": version,
            "started_at": started_at,
        }
        try:
            legacy = read_legacy_file(path)
        except LegacyEncodingError as error:
            ledger |= {"status": "unreadable", "reason": str(error), "rows_in": 0, "rows_loaded": 0}
            ledger |= {"rows_quarantined": 0}
        else:
            dbapi_error = connection.dialect.loaded_dbapi.Error
            try:
                ledger |= _load(connection, legacy, tenant_id, sha256)
            except dbapi_error as error:  # from COPY or executemany on the driver: raised as SQLAlchemy raises
                raise sa.exc.DBAPIError.instance(f"migrating {path}", None, error, dbapi_error) from error
        if file_digest(path)[0] != sha256:
            raise LegacyLoadError(f"{path}: the file changed while it was being migrated; nothing was written")
        ledger["migrated_at"] = now()
        connection.execute(sa.insert(legacy_files), ledger)
        history = NOTHING_LEFT_OUT
        if ledger.get("report_type") in REPORT_FOLDS and ledger["report_timestamp"] is not None:
            history = fold_report_history(connection, tenant_id, ledger["report_type"], ledger["report_timestamp"])
    return _result_of(path, ledger, already_migrated=False, history=history)


def _load(connection: sa.Connection, legacy: LegacyFile, tenant_id: str, sha256: str) -> dict[str, Any]:
    layout = legacy.layout
    table = LEGACY_TABLES[layout.report_type.name] if layout is not None else None
    quarantine = _QuarantineWriter(connection, tenant_id, sha256)
    rows_in = 0
    with ExitStack() as stack:
        writer = None
        shape: Callable[[TypedBatch], Iterator[tuple[Any, ...]]] | None = None
        if table is not None and layout is not None:
            writer = stack.enter_context(_TypedWriter(connection, table))
            shape = batch_shaper(layout.report_type, tenant_id, sha256, layout.generation, legacy.report_timestamp)
        stack.enter_context(collector_paused())
        for batch in legacy.batches():
            rows_in += batch.records
            if batch.row_numbers:
                assert writer is not None and shape is not None  # typed rows come only from a recognized layout
                writer.add(shape(batch))
            for row in batch.quarantined:
                if quarantine.add(row):
                    if writer is not None:
                        writer.pause()
                    quarantine.flush()
    quarantine.flush()
    loaded = _count(connection, table, tenant_id, sha256) if table is not None else 0
    quarantined = _count(connection, legacy_quarantine, tenant_id, sha256)
    if rows_in != loaded + quarantined:
        raise LegacyLoadError(
            f"{legacy.path}: {rows_in} records read but {loaded} loaded and {quarantined} quarantined; rolled back"
        )
    if legacy.status == "unknown_layout":
        status, reason = "unknown_layout", quarantine.first_reason or "unknown layout"
    elif legacy.status == "empty":
        status, reason = "empty", None
    elif quarantined:
        status, reason = "quarantined", f"{quarantined} of {rows_in} rows quarantined; first: {quarantine.first_reason}"
    else:
        status, reason = "loaded", None
    return {
        "status": status,
        "reason": reason,
        "report_type": layout.report_type.name if layout else None,
        "table_name": table.name if table is not None else None,
        "layout_generation": layout.generation if layout else None,
        "encoding": legacy.dialect.encoding,
        "report_timestamp": legacy.report_timestamp,
        "report_timestamp_source": legacy.report_timestamp_source,
        "rows_in": rows_in,
        "rows_loaded": loaded,
        "rows_quarantined": quarantined,
    }


def _count(connection: sa.Connection, table: sa.Table, tenant_id: str, sha256: str) -> int:
    return connection.execute(
        sa.select(sa.func.count())
        .select_from(table)
        .where(table.c.tenant_id == tenant_id, table.c.source_sha256 == sha256)
    ).scalar_one()


def _result_of(
    path: Path, ledger: Any, *, already_migrated: bool, history: HistoryFoldResult = NOTHING_LEFT_OUT
) -> FileResult:
    return FileResult(
        path=path,
        sha256=ledger["sha256"],
        size_bytes=ledger["size_bytes"],
        status=ledger["status"],
        report_type=ledger.get("report_type"),
        table_name=ledger.get("table_name"),
        rows_in=ledger["rows_in"],
        rows_loaded=ledger["rows_loaded"],
        rows_quarantined=ledger["rows_quarantined"],
        reason=ledger.get("reason"),
        version=ledger["version"],
        already_migrated=already_migrated,
        history=history,
    )


# --- typed rows -> table rows --------------------------------------------------------------------------------


def _json(mapping: dict[str, Any]) -> str | None:
    return json.dumps(mapping, ensure_ascii=False, default=str, sort_keys=True) if mapping else None


_encode = json.JSONEncoder(ensure_ascii=False).encode


@functools.lru_cache(maxsize=4096)  # reports repeat their lists (risk reasons, licences), like their other values
def _json_list(items: tuple[str, ...]) -> str:
    return _encode(list(items))


def _seconds(value: timedelta) -> Decimal:
    return Decimal(value.days * 86_400 + value.seconds) + Decimal(value.microseconds).scaleb(-6)


_EXPAND: dict[str, Callable[[Any], tuple[Any, ...]]] = {
    "status": lambda v: (None, None, None) if v is None else (v.text, v.symbol, v.level),
    "yen": lambda v: (None, None, None) if v is None else (v.amount, v.label, v.per),
    "date_range": lambda v: (None, None) if v is None else (v.start, v.end),
    "list": lambda v: (None if v is None else _json_list(v),),
    "duration": lambda v: (None if v is None else _seconds(v),),
}


def batch_shaper(
    report_type: ReportType, tenant_id: str, sha256: str, generation: int, report_timestamp: datetime | None
) -> Callable[[TypedBatch], Iterator[tuple[Any, ...]]]:
    """A batch's typed records -> the values of their table's columns, in the table's column order
    (schema.legacy_report_table), row by row.

    Built by column: provenance, then each column of the report type, the few whose value has parts (status, yen,
    date range) or a stored form (list, duration) expanded, all zipped into rows in C."""
    width = len(report_type.columns)
    expansions = {
        index: expand
        for index, column in enumerate(report_type.columns)
        if (expand := _EXPAND.get(column.kind.value)) is not None
    }

    def shape(batch: TypedBatch) -> Iterator[tuple[Any, ...]]:
        count = len(batch.row_numbers)
        placeholders: list[str | None] = [None] * count
        for index, flags in batch.placeholders.items():
            placeholders[index] = _json({flag.column: flag.original for flag in flags})
        columns: list[Iterable[Any]] = [
            repeat(tenant_id),
            repeat(sha256),
            batch.row_numbers,
            batch.lines,
            repeat(generation),
            repeat(report_timestamp),
            placeholders,
            _extra_columns(batch, width),
        ]
        for index, column in enumerate(batch.columns[:width]):
            expand = expansions.get(index)
            if expand is None:
                columns.append(column)
            else:
                columns.extend(zip(*map(expand, column), strict=True))
        return zip(*columns, strict=False)  # the provenance repeated for as long as the batch

    return shape


def _extra_columns(batch: TypedBatch, width: int) -> Iterable[str | None]:
    """The values of the file's repeated headers, as JSON by name (repeated: the report type has one column)."""
    if len(batch.keys) == width:
        return repeat(None)
    names = batch.keys[width:]
    return [_json(dict(zip(names, values, strict=True))) for values in zip(*batch.columns[width:], strict=True)]


def _postgres_type_name(column: sa.Column[Any]) -> str:
    """The name psycopg's type registry knows for the column's PostgreSQL type (varchar(64) -> varchar)."""
    compiled = column.type.compile(dialect=postgresql.dialect()).lower()
    return {"timestamp with time zone": "timestamptz"}.get(compiled, compiled.split("(")[0])


class _TypedWriter:
    """Appends table rows: COPY into PostgreSQL (paused to let other statements through), executemany into SQLite."""

    def __init__(self, connection: sa.Connection, table: sa.Table) -> None:
        self._connection = connection
        dialect = connection.dialect
        self._postgres = dialect.name == "postgresql"
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(column.name) for column in table.columns)
        if self._postgres:
            # binary: the values are dumped by psycopg's C dumpers for the columns' types, nothing is parsed back
            self._statement = f"COPY {quote(table.name)} ({names}) FROM STDIN (FORMAT BINARY)"
            self._types = [_postgres_type_name(column) for column in table.columns]
            self._processors: list[Any] = []
        else:
            marks = ", ".join("?" for _ in table.columns)
            self._statement = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"
            self._processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.columns]
        self._driver: Any = connection.connection.driver_connection
        self._copy_stack: ExitStack | None = None
        self._copy: Any = None
        self._batch: list[list[Any]] = []

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        if self._postgres:
            if self._copy is None:
                self._copy_stack = ExitStack()
                cursor = self._copy_stack.enter_context(self._driver.cursor())
                # a writer thread sends the data, so reading and typing go on while the socket waits for the server
                writer = QueuedLibpqWriter(cursor)
                self._copy = self._copy_stack.enter_context(cursor.copy(self._statement, writer=writer))
                self._copy.set_types(self._types)
            write_row = self._copy.write_row
            for values in rows:
                write_row(values)
            return
        processors = self._processors
        self._batch.extend(
            [value if process is None else process(value) for process, value in zip(processors, values, strict=True)]
            for values in rows
        )
        if len(self._batch) >= BATCH_ROWS:
            self.pause()

    def pause(self) -> None:
        """Write what is pending and end the COPY, so the connection can run another statement."""
        if self._copy_stack is not None:
            stack, self._copy_stack, self._copy = self._copy_stack, None, None
            stack.close()
        if self._batch:
            cursor = self._driver.cursor()
            try:
                cursor.executemany(self._statement, self._batch)
            finally:
                cursor.close()
            self._batch = []

    def __enter__(self) -> _TypedWriter:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        if exc is None:
            self.pause()
        elif self._copy_stack is not None:
            # ends the COPY with the error, so PostgreSQL aborts it; the transaction rolls back
            self._copy_stack.__exit__(type(exc), exc, exc.__traceback__)


class _QuarantineWriter:
    def __init__(self, connection: sa.Connection, tenant_id: str, sha256: str) -> None:
        self._connection = connection
        self._tenant_id = tenant_id
        self._sha256 = sha256
        self._pending: list[dict[str, Any]] = []
        self.first_reason: str | None = None

    def add(self, row: QuarantinedRow) -> bool:
        """Hold one quarantined record; True when the batch is full and should be flushed."""
        if self.first_reason is None:
            self.first_reason = f"row {row.row_number}: {row.reason}"
        self._pending.append(
            {
                "tenant_id": self._tenant_id,
                "source_sha256": self._sha256,
                "source_row": row.row_number,
                "source_line": row.line,
                "column_name": row.column,
                "reason": row.reason,
                "original": json.dumps(list(row.fields), ensure_ascii=False),
            }
        )
        return len(self._pending) >= QUARANTINE_BATCH_ROWS

    def flush(self) -> None:
        if self._pending:
            self._connection.execute(sa.insert(legacy_quarantine), self._pending)
            self._pending = []


def reconcile(connection: sa.Connection, tenant_id: str, sha256: str) -> list[str]:
    """What disagrees between the ledger and the tables for one migrated file (empty when all agree): rows in =
    loaded + quarantined, the file's rows in its table = loaded, its records in legacy_quarantine = quarantined."""
    entry = connection.execute(
        sa.select(legacy_files).where(legacy_files.c.tenant_id == tenant_id, legacy_files.c.sha256 == sha256)
    ).first()
    if entry is None:
        return [f"file {sha256} of tenant {tenant_id} is not in the ledger"]
    ledger = entry._mapping
    problems = []
    if ledger["rows_in"] != ledger["rows_loaded"] + ledger["rows_quarantined"]:
        problems.append(
            f"ledger: rows in {ledger['rows_in']} != loaded {ledger['rows_loaded']} + "
            f"quarantined {ledger['rows_quarantined']}"
        )
    table = LEGACY_TABLES[ledger["report_type"]] if ledger["report_type"] else None
    loaded = _count(connection, table, tenant_id, sha256) if table is not None else 0
    if loaded != ledger["rows_loaded"]:
        problems.append(
            f"{ledger['table_name']} holds {loaded} rows of the file, the ledger says {ledger['rows_loaded']}"
        )
    quarantined = _count(connection, legacy_quarantine, tenant_id, sha256)
    if quarantined != ledger["rows_quarantined"]:
        problems.append(
            f"legacy_quarantine holds {quarantined} records of the file, the ledger says {ledger['rows_quarantined']}"
        )
    return problems
