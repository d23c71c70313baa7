"""Taking a snapshot of the system: the warehouse database as one file, every warehouse table as Parquet, and
folders of files (configuration, raw extracts, reports), captured in parallel into one store under a shared lock.

A **full** snapshot is self-contained: the database file (``pg_dump -Fc -Z0``, or the SQLite file itself) and each
table whole, in key order. An **incremental** stores, for each table with a primary key, only the rows
added, changed or removed since the **last full** of the same source (a differential, not a chain: restoring one
needs its base full and itself, nothing in between, and losing one incremental loses no other); a table with no
such row stores no file. It holds no database file: a restore loads the base's and applies the deltas. The
base's tables are read in place from the store, and only their row groups whose rows changed are compared
(``row_groups``), the changed rows put into them (windows that lost rows are read from the database). On SQLite, a
full records its file's page map (``sqlite_pages``), and the incremental finds the rows of the pages that changed
since (comparing those pages cell by cell with the base's database file, read in place from the store). On
PostgreSQL, a snapshot records its position (``postgres_reads.Position``: the oldest transaction running when it
was taken), and the incremental finds the rows written since by their ``xmin``, in the tables whose oid and file
are the base's, when their text keys sort in code points (each key range is then an index range). Files are
stored whole in both kinds; their chunks deduplicate. An incremental is taken as a full instead when there is no
full to base it on or the warehouse's schema (its Alembic revision or any table's columns and key) differs from the
base's.

The tables and the database file are one consistent state: on PostgreSQL the tables are read in the snapshot of
the repeatable-read transaction, exported for ``pg_dump --snapshot`` and imported by each table reader's
connections (``postgres_reads``); on SQLite both are read from one file that does not change meanwhile
(``databases.frozen_sqlite``: the database in place, or a backup copy). Two threads read tables at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import sqlalchemy as sa

from m365_pipeline.snapshots import databases, oplog, postgres_reads, row_groups, sqlite_pages, tables
from m365_pipeline.snapshots.archiver import ArchiveWriter, archive_file, archive_folder, archive_stream
from m365_pipeline.snapshots.blobs import BlobSaver, SaveStats
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.locks import Lock
from m365_pipeline.snapshots.manifests import FileEntry, Manifest, save_manifest
from m365_pipeline.snapshots.read_ahead import read_ahead
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.scratch import scratch_folder
from m365_pipeline.snapshots.stored_file import StoredFile
from m365_pipeline.warehouse.migrate import VERSION_TABLE

DATABASE = "warehouse-database"
"""Component holding the database file (``warehouse.pgdump`` or ``warehouse.sqlite``); fulls only."""
TABLES = "warehouse-tables"
"""Component holding each table as ``<table>.parquet`` (whole) or ``<table>.delta.parquet`` (rows changed)."""
DATABASE_FILES = {databases.PG_DUMP_FORMAT: "warehouse.pgdump", databases.SQLITE_FORMAT: "warehouse.sqlite"}
POSTGRES_POSITION = "postgres_position"
"""In a PostgreSQL snapshot's warehouse metadata: its ``postgres_reads.Position``, from which the next incrementals
find the rows written since."""
PAGE_MAP = "warehouse.sqlite.pages"
"""Beside an SQLite full's database file: its ``sqlite_pages.PageMap``, which tells the next incrementals where rows
may have changed."""
FULL, INCREMENTAL = "full", "incremental"
WHOLE, DELTA, UNCHANGED = "full", "delta", "unchanged"
"""How a table is stored (its ``stored`` in the manifest): whole (``<table>.parquet``), as the rows changed since
the base (``<table>.delta.parquet``), or not at all in an incremental where no row changed (the base's is it)."""
LOCK_REFRESH_SECONDS = 60
TABLE_READERS = 2
"""Threads reading the warehouse's tables at once (this machine class has two cores)."""


@dataclass(frozen=True)
class Sources:
    """What to capture. ``files`` maps a component name (``config``, ``raw``, ``reports``...) to a folder, or to
    one file; ``label`` names the system captured (e.g. ``prod``): an incremental's base is the newest full with
    the same label."""

    warehouse_url: str | None = None
    files: Mapping[str, Path] = field(default_factory=dict)
    label: str = "default"


@dataclass(frozen=True)
class SnapshotResult:
    snapshot_id: str
    manifest: Manifest
    stats: SaveStats
    seconds: float
    promoted: str | None = None
    """Why an incremental was asked for and a full taken, if it was."""

    @property
    def dedup_ratio(self) -> float:
        """Plain bytes captured per byte newly stored (higher is better)."""
        return self.stats.bytes / self.stats.stored_bytes if self.stats.stored_bytes else float("inf")


@dataclass(frozen=True)
class _Base:
    snapshot_id: str
    manifest: Manifest

    @property
    def tables(self) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self.manifest.meta.get("warehouse", {}).get("tables", {})
        return result


@dataclass(frozen=True)
class _PageChanges:
    tables: dict[str, sqlite_pages.TableChanges]
    scan: sqlite_pages.Scan
    base_database: FileEntry


def estimated_bytes(sources: Sources) -> int:
    """About how many bytes a full snapshot of ``sources`` reads: the files, and the database twice (its dump or
    copy, and its tables as Parquet). An incremental reads as much; it stores far less."""
    files = sum(
        p.stat().st_size
        for path in sources.files.values()
        for p in ([path] if path.is_file() else path.rglob("*"))
        if p.is_file() and not p.is_symlink()
    )
    url = sources.warehouse_url
    if not url:
        return files
    if databases.dialect_of(url) == "sqlite":
        path = databases.sqlite_path(url)
        parts = (path, path.with_name(path.name + "-wal"))  # in WAL mode recent pages are in the log
        return files + 2 * sum(p.stat().st_size for p in parts if p.exists())
    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection:
            size = connection.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
    finally:
        engine.dispose()
    return files + 2 * int(size)


def latest_full(repository: Repository, label: str) -> tuple[str, Manifest] | None:
    """The newest full snapshot of ``label`` (the base of the next incremental)."""
    found = []
    for snapshot_id in repository.snapshot_ids():
        manifest = repository.manifest(snapshot_id)
        if manifest.kind == FULL and manifest.meta.get("label") == label:
            found.append((manifest.created_at, snapshot_id, manifest))
    if not found:
        return None
    _, snapshot_id, manifest = max(found)
    return snapshot_id, manifest


def create_snapshot(
    repository: Repository,
    sources: Sources,
    *,
    kind: str = FULL,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    threads: int = 3,
    progress: Callable[[int], None] | None = None,
) -> SnapshotResult:
    """Capture ``sources`` as a ``kind`` (``full`` or ``incremental``) snapshot; returns its id and statistics.
    ``progress`` is called with the bytes captured so far (``estimated_bytes`` gives a total to show them against)."""
    if kind not in (FULL, INCREMENTAL):
        raise ValueError(f"snapshot kind {kind!r} is not {FULL!r} or {INCREMENTAL!r}")
    for name, path in sources.files.items():
        if name in (DATABASE, TABLES):
            raise ValueError(f"component name {name!r} is reserved for the warehouse")
        if not path.exists():
            raise FileNotFoundError(f"component {name}: {path} does not exist")
    started = time.monotonic()
    backend, keys = repository.backend, repository.keys
    with (
        oplog.recorded(backend, keys, "snapshot", {"label": sources.label, "asked": kind}) as details,
        Lock(backend, keys, "snapshot", exclusive=False) as lock,
        scratch_folder("capture") as work,
    ):
        index = Index.load(backend, keys.encryption)
        base, promoted = None, None
        if kind == INCREMENTAL:
            found = latest_full(repository, sources.label)
            base = _Base(*found) if found else None
            if base is None:
                promoted = f"no full snapshot of {sources.label!r} to base an incremental on"
        on_bytes = _refreshing(lock, progress)
        with BlobSaver(backend, keys, index, pack_size=repository.config.pack_size, on_bytes=on_bytes) as saver:
            capture = _Capture(repository, saver, index, work, threads)
            components, meta, why_full = capture.run(sources, base)
        promoted = promoted or why_full
        actual = INCREMENTAL if kind == INCREMENTAL and promoted is None else FULL
        manifest = Manifest(
            kind=actual,
            host=socket.gethostname(),
            components=components,
            parent=base.snapshot_id if actual == INCREMENTAL and base is not None else None,
            created_at=clock(),
            meta={"label": sources.label, **meta},
        )
        snapshot_id = save_manifest(backend, keys, manifest)
        details.update(snapshot_id=snapshot_id, kind=actual, bytes=saver.stats.bytes, stored=saver.stats.stored_bytes)
        return SnapshotResult(snapshot_id, manifest, saver.stats, time.monotonic() - started, promoted)


def _refreshing(lock: Lock, progress: Callable[[int], None] | None) -> Callable[[int], None]:
    """``progress``, refreshing the repository lock once a minute so a long snapshot's lock never goes stale."""
    refreshed = time.monotonic()

    def on_bytes(done: int) -> None:
        nonlocal refreshed
        if time.monotonic() - refreshed > LOCK_REFRESH_SECONDS:
            lock.refresh()
            refreshed = time.monotonic()
        if progress is not None:
            progress(done)

    return on_bytes


class TableReader(Protocol):
    """What reads a table's rows in key order for a snapshot, in the capture's consistent state."""

    def read(self, connection: sa.Connection, table: sa.Table, spec: tables.TableSpec) -> Iterator[pa.RecordBatch]: ...


class _Capture:
    def __init__(self, repository: Repository, saver: BlobSaver, index: Index, work: Path, threads: int) -> None:
        self._repository, self._saver, self._index, self._work = repository, saver, index, work
        self._chunker = repository.chunker()
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="capture")
        # one per table reader: a table's archiving never waits behind other work while its writer waits for it
        self._table_archivers = ThreadPoolExecutor(TABLE_READERS, thread_name_prefix="table-archive")
        self._base_tables: dict[str, FileEntry] = {}
        self._base_files: dict[str, Future[Path]] = {}
        self._empty_now: frozenset[str] = frozenset()
        """Tables of a PostgreSQL incremental empty in its base and now."""

    def run(
        self, sources: Sources, base: _Base | None
    ) -> tuple[dict[str, tuple[FileEntry, ...]], dict[str, Any], str | None]:
        with self._pool, self._table_archivers:
            file_parts = {name: self._pool.submit(self._files, path) for name, path in sources.files.items()}
            components: dict[str, tuple[FileEntry, ...]] = {}
            meta: dict[str, Any] = {}
            promoted = None
            if sources.warehouse_url:
                components_w, meta["warehouse"], promoted = self._warehouse(sources.warehouse_url, base)
                components.update(components_w)
            components.update({name: part.result() for name, part in file_parts.items()})
        return components, meta, promoted

    def _files(self, path: Path) -> tuple[FileEntry, ...]:
        if path.is_file():
            return (archive_file(self._saver, self._chunker, path, path.name),)
        return archive_folder(self._saver, self._chunker, path)

    def _warehouse(
        self, url: str, base: _Base | None
    ) -> tuple[dict[str, tuple[FileEntry, ...]], dict[str, Any], str | None]:
        if base is not None:
            held = sorted((-int(info["rows"]), name) for name, info in base.tables.items() if int(info["rows"]))
            self._base_tables = {name: _entry(base.manifest, TABLES, f"{name}.parquet") for _, name in held}
            # read in place; those of a base written before chunk lengths were recorded are fetched whole while
            # the database is copied and read, the largest first
            self._base_files = {
                name: self._pool.submit(self._fetch_base, entry)
                for name, entry in self._base_tables.items()
                if not entry.sizes
            }
        if databases.dialect_of(url) == "sqlite":
            source = databases.sqlite_path(url)
            with databases.frozen_sqlite(source, self._work / "warehouse.sqlite") as frozen:
                engine = sa.create_engine("sqlite://", creator=frozen.connect)
                try:
                    with engine.connect() as connection:
                        return self._consistent(connection, databases.SQLITE_FORMAT, base, frozen)
                finally:
                    engine.dispose()
        engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
        try:
            with engine.connect() as connection:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
                with connection.begin():
                    return self._consistent(connection, databases.PG_DUMP_FORMAT, base, url)
        finally:
            engine.dispose()

    def _consistent(
        self,
        connection: sa.Connection,
        database_format: str,
        base: _Base | None,
        database: Any,
    ) -> tuple[dict[str, tuple[FileEntry, ...]], dict[str, Any], str | None]:
        reflected = tables.reflect_tables(connection, only=tables.WAREHOUSE_TABLES)
        specs = {name: tables.spec_of(table) for name, table in reflected.items()}
        schema_version = _schema_version(connection, reflected)
        promoted = None if base is None else _why_not_incremental(base, database_format, schema_version, specs)
        incremental = base is not None and promoted is None
        components: dict[str, tuple[FileEntry, ...]] = {}
        dump: Future[FileEntry] | None = None
        exported, position = None, None
        if database_format == databases.PG_DUMP_FORMAT:
            exported = connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
        if not incremental:
            name = DATABASE_FILES[database_format]
            if exported is not None:
                others = _foreign_relations(connection, set(reflected))
                dump = self._pool.submit(self._pg_dump, database, exported, others, name)
            else:
                dump = self._pool.submit(archive_file, self._saver, self._chunker, database.path, name)
        table_base = base if incremental else None
        if exported is None:
            page_map = None if incremental else self._pool.submit(self._page_map, database)
            changes = self._pool.submit(self._changes, database, base) if incremental and base else None
            largest_first = sorted(reflected, key=lambda name: -_last_rowid(connection, name))
            opened = functools.partial(_sqlite_thread, database)
            done = self._tables_at_once(largest_first, opened, reflected, specs, table_base, changes)
        else:  # every table read in the snapshot of this transaction, which pg_dump dumps
            page_map = None
            position = postgres_reads.position(connection, reflected)
            since = postgres_reads.changed_since(_base_position(base), position) if incremental and position else None
            if incremental and base is not None:
                held = {name for name, info in base.tables.items() if int(info["rows"])}
                with postgres_reads.PostgresSnapshotReader(database, exported) as reader:
                    self._empty_now = reader.empty_tables([name for name in reflected if name not in held])
            largest_first = sorted(reflected, key=lambda name: -_relation_pages(connection, name))
            opened = functools.partial(_postgres_thread, database, exported)
            done = self._tables_at_once(largest_first, opened, reflected, specs, table_base, since=since)
        table_meta = {name: done[name][1] for name in reflected}
        components[TABLES] = tuple(entry.result() for entry, _ in (done[name] for name in reflected) if entry)
        if dump is not None:
            mapped = page_map.result() if page_map is not None else None
            components[DATABASE] = (dump.result(), *([mapped] if mapped else []))
        meta = {
            "dialect": connection.dialect.name,
            "format": database_format,
            "schema_version": schema_version,
            "tables": table_meta,
        }
        if exported is not None and position is not None:
            meta[POSTGRES_POSITION] = position.to_dict()
        return components, meta, promoted

    def _tables_at_once(
        self,
        largest_first: list[str],
        opened: Callable[[], contextlib.AbstractContextManager[tuple[sa.Connection, TableReader]]],
        reflected: Mapping[str, sa.Table],
        specs: Mapping[str, tables.TableSpec],
        base: _Base | None,
        changes: Future[_PageChanges | None] | None = None,
        since: postgres_reads.Since | None = None,
    ) -> dict[str, tuple[Future[FileEntry] | None, dict[str, Any]]]:
        """The tables read by ``TABLE_READERS`` threads at once (reading, checksumming and writing Parquet release
        the GIL), each with the connection and reader ``opened`` gives it (the same state as every other thread's),
        taking the tables in the order given, the largest first, so that the threads finish together."""
        pending = deque(largest_first)
        taking, failed = threading.Lock(), threading.Event()
        done: dict[str, tuple[Future[FileEntry] | None, dict[str, Any]]] = {}

        def read_tables() -> None:
            try:
                with opened() as (own, reader):
                    while not failed.is_set():
                        with taking:
                            if not pending:
                                return
                            name = pending.popleft()
                        done[name] = self._table(own, reader, reflected[name], specs[name], base, changes, since)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(TABLE_READERS, thread_name_prefix="tables") as readers:
            for running in [readers.submit(read_tables) for _ in range(TABLE_READERS)]:
                running.result()
        return done

    def _pg_dump(self, url: str, exported_snapshot: str, others: list[tuple[str, str]], name: str) -> FileEntry:
        with databases.pg_dump(url, exported_snapshot=exported_snapshot, exclude_tables=others) as stream:
            return archive_stream(self._saver, self._chunker, stream, name)

    def _table(
        self,
        connection: sa.Connection,
        reader: TableReader,
        table: sa.Table,
        spec: tables.TableSpec,
        base: _Base | None,
        changes: Future[_PageChanges | None] | None,
        since: postgres_reads.Since | None = None,
    ) -> tuple[Future[FileEntry] | None, dict[str, Any]]:
        """Writes the table's Parquet file (whole, or its delta against ``base``), archived as it is written; an
        incremental's table without a changed row stores no file."""
        info: dict[str, Any] = spec.to_dict()
        writer: ArchiveWriter | None = None
        try:
            if base is not None and spec.primary_key:
                sink = None
                checksum = tables.WindowedChecksum()
                pages = changes.result() if changes is not None else None
                with (
                    self._base_file(spec.name) as before,
                    contextlib.closing(
                        self._delta(connection, reader, table, spec, before, pages, since, checksum)
                    ) as delta,
                ):
                    for batch in delta:
                        if sink is None:
                            writer = self._writer(f"{spec.name}.delta.parquet")
                            sink = tables.ParquetSink(writer, spec.delta_schema(), group_rows=tables.BATCH_ROWS)
                        sink.write(batch)
                if sink is None:
                    info["stored"], info["delta_rows"] = UNCHANGED, 0
                else:
                    sink.close()
                    info["stored"], info["delta_rows"] = DELTA, sink.rows
            else:
                writer = self._writer(f"{spec.name}.parquet")
                whole = row_groups.IndexedParquetSink(writer, spec)
                # closed here whatever happens: its thread must be done with the connection before anything else
                # uses it
                with contextlib.closing(read_ahead(reader.read(connection, table, spec))) as ahead:
                    for batch in ahead:
                        whole.write_groups(batch)
                whole.close()
                checksum = whole.checksum
                info["stored"] = WHOLE
        except BaseException as error:
            if writer is not None:
                writer.fail(error)
            raise
        info["rows"], info["checksum"], info["windows"] = checksum.rows, checksum.checksum, len(checksum.windows)
        return (None if writer is None else writer.close()), info

    def _delta(
        self,
        connection: sa.Connection,
        reader: TableReader,
        table: sa.Table,
        spec: tables.TableSpec,
        before: Any,
        changes: _PageChanges | None,
        since: postgres_reads.Since | None,
        checksum: tables.WindowedChecksum,
    ) -> Generator[pa.RecordBatch, None, None]:
        """The table's delta against its base's Parquet ``before``: of the windows its changed pages (SQLite) or
        its rows written since the base (PostgreSQL) point at when they are known, else of every row (every window
        compared at once when its pages say it changed almost everywhere). A table empty in the base and now is not
        read at all."""
        known = changes.tables.get(spec.name) if changes is not None else None
        if before is None and ((known is not None and known.rows == 0) or spec.name in self._empty_now):
            checksum.add(0, tables.TableDigest(spec.columns).digest())
            return
        written = (
            reader.changed_rows(connection, table, spec, since)
            if before is not None and since is not None and isinstance(reader, postgres_reads.PostgresSnapshotReader)
            else None
        )
        indexed = before is not None and (known is not None or written is not None)
        index = row_groups.read_index(before, spec) if indexed else None
        if index is not None and written is not None:
            yield from row_groups.delta_of_changed(index, written, spec, checksum)
            return
        if index is not None and known is not None and known.rowid_ranges is None:
            with contextlib.closing(read_ahead(reader.read(connection, table, spec))) as ahead:
                yield from row_groups.delta_of_all(index, ahead, spec, checksum)
            return
        if (
            index is not None
            and isinstance(reader, tables.SqliteFile)
            and known is not None
            and tables.comparable_by_key(spec)
            and reader.readable(table, spec)
        ):
            assert changes is not None
            current = sqlite_pages.SqliteChangedRows(reader, spec, known, self._by_cell(changes))
            yield from row_groups.delta_of_changed(index, current, spec, checksum)
            return
        with contextlib.closing(read_ahead(reader.read(connection, table, spec))) as ahead:
            if index is not None:  # read above already
                yield from row_groups.delta_through_index(index, ahead, spec, checksum)
            else:
                yield from row_groups.delta_against_base(before, ahead, spec, checksum)

    def _page_map(self, frozen: databases.FrozenSqlite) -> FileEntry | None:
        """The frozen file's page map, archived (none for a file whose b-trees cannot be walked: its incrementals
        read every row)."""
        try:
            mapped = sqlite_pages.scan(frozen.path)
        except sqlite_pages.PageMapError:
            return None
        return archive_stream(self._saver, self._chunker, io.BytesIO(mapped.pages.to_bytes()), PAGE_MAP)

    def _changes(self, frozen: databases.FrozenSqlite, base: _Base) -> _PageChanges | None:
        """Where the frozen file's rows may have changed since the base's (None: unknown, every row is read)."""
        entry = next((e for e in base.manifest.components.get(DATABASE, ()) if e.path == PAGE_MAP), None)
        if entry is None:
            return None
        recorded = io.BytesIO()
        self._repository.write_file(self._index, entry, recorded)
        try:
            current = sqlite_pages.scan(frozen.path)
            found = sqlite_pages.changed_rows(sqlite_pages.PageMap.from_bytes(recorded.getvalue()), current)
        except sqlite_pages.PageMapError:
            return None
        return None if found is None else _PageChanges(found, current, database_entry(base.manifest))

    def _by_cell(self, changes: _PageChanges) -> Callable[[sqlite_pages.TableChanges], tuple[tuple[int, int], ...]]:
        """``sqlite_pages.changed_cells`` against the base's database file, read in place from the store (the base
        of a full written before chunk lengths were recorded cannot be: every row of a changed page counts)."""

        def by_cell(table: sqlite_pages.TableChanges) -> tuple[tuple[int, int], ...]:
            if not changes.base_database.sizes:
                assert table.rowid_ranges is not None
                return table.rowid_ranges
            keys, index = self._repository.keys, self._index
            with StoredFile(self._repository.backend, keys, index, changes.base_database) as base_file:
                return sqlite_pages.changed_cells(changes.scan, base_file, table)

        return by_cell

    def _writer(self, file_name: str) -> ArchiveWriter:
        return ArchiveWriter(self._table_archivers, self._saver, self._chunker, file_name)

    def _fetch_base(self, entry: FileEntry) -> Path:
        """A table of the base full, in a Parquet file of the scratch folder."""
        path = self._work / "base" / entry.path
        path.parent.mkdir(exist_ok=True)
        with path.open("wb") as out:
            self._repository.write_file(self._index, entry, out)
        return path

    @contextlib.contextmanager
    def _base_file(self, name: str) -> Iterator[Any]:
        """Table ``name`` of the base full as a readable Parquet file (None when it had no rows): read in place
        from the store, or fetched into the scratch folder and removed afterwards."""
        entry = self._base_tables.get(name)
        if entry is None:
            yield None
            return
        if entry.sizes:
            with StoredFile(self._repository.backend, self._repository.keys, self._index, entry) as stored:
                yield stored
            return
        path = self._base_files[name].result()
        try:
            with pa.OSFile(str(path)) as handle:
                yield handle
        finally:
            path.unlink()


def _base_position(base: _Base | None) -> postgres_reads.Position | None:
    recorded = base.manifest.meta.get("warehouse", {}).get(POSTGRES_POSITION) if base is not None else None
    return postgres_reads.Position.from_dict(recorded) if recorded else None


@contextlib.contextmanager
def _sqlite_thread(frozen: databases.FrozenSqlite) -> Iterator[tuple[sa.Connection, TableReader]]:
    """A table reader's connections to the frozen SQLite file (it does not change: every thread sees one state)."""
    engine = sa.create_engine("sqlite://", creator=frozen.connect)
    try:
        with engine.connect() as own, tables.SqliteFile(frozen.uri) as sqlite:
            yield own, sqlite
    finally:
        engine.dispose()


@contextlib.contextmanager
def _postgres_thread(url: str, exported_snapshot: str) -> Iterator[tuple[sa.Connection, TableReader]]:
    """A table reader's connections to PostgreSQL, both in the capture's exported snapshot: one for the catalog
    and the tables ADBC cannot read, one for ADBC."""
    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as own:
            own = own.execution_options(isolation_level="REPEATABLE READ")
            with own.begin():
                postgres_reads.import_snapshot(own, exported_snapshot)
                with postgres_reads.PostgresSnapshotReader(url, exported_snapshot) as reader:
                    yield own, reader
    finally:
        engine.dispose()


def _relation_pages(connection: sa.Connection, table: str) -> int:
    """About how large a PostgreSQL table is, from the catalog (its pages at the last vacuum or analyze)."""
    found = connection.execute(
        sa.text("SELECT relpages FROM pg_class WHERE oid = CAST(:relation AS regclass)"),
        {"relation": connection.dialect.identifier_preparer.quote(table)},
    ).scalar()
    return int(found or 0)


def _last_rowid(connection: sa.Connection, table: str) -> int:
    """About how many rows an SQLite table has, found without counting them (0 for a table without rowid)."""
    try:
        found = connection.exec_driver_sql(f"SELECT max(rowid) FROM {tables.quoted(table)}").scalar()
    except sa.exc.OperationalError:
        return 0
    return int(found or 0)


_OWNED_SEQUENCES = sa.text(
    """
    SELECT relation.relname, owner.relname
    FROM pg_class relation
    JOIN pg_namespace namespace ON namespace.oid = relation.relnamespace
    LEFT JOIN pg_depend dependency ON dependency.objid = relation.oid
        AND dependency.classid = 'pg_class'::regclass AND dependency.refclassid = 'pg_class'::regclass
        AND dependency.deptype IN ('a', 'i')
    LEFT JOIN pg_class owner ON owner.oid = dependency.refobjid
    WHERE relation.relkind = 'S' AND namespace.nspname = current_schema()
    """
)


def _foreign_relations(connection: sa.Connection, warehouse: set[str]) -> list[tuple[str, str]]:
    """The tables of the database that are not the warehouse's (Dagster's storage may share it) and the sequences
    they own (pg_dump would dump those, and a restore with --clean would drop them from under their tables)."""
    schema = connection.execute(sa.text("SELECT current_schema()")).scalar_one()
    others = [t for t in sa.inspect(connection).get_table_names() if t not in warehouse]
    sequences = [s for s, owner in connection.execute(_OWNED_SEQUENCES) if owner is not None and owner not in warehouse]
    return [(schema, name) for name in sorted(others) + sorted(sequences)]


def database_entry(manifest: Manifest) -> FileEntry:
    """A full's database file (its dump, or its SQLite file without the page map beside it)."""
    return _entry(manifest, DATABASE, DATABASE_FILES[manifest.meta["warehouse"]["format"]])


def _entry(manifest: Manifest, component: str, path: str) -> FileEntry:
    for entry in manifest.components.get(component, ()):
        if entry.path == path:
            return entry
    raise KeyError(f"the snapshot holds no {component}/{path}")


def _schema_version(connection: sa.Connection, reflected: Mapping[str, sa.Table]) -> str | None:
    if VERSION_TABLE not in reflected:
        return None
    with contextlib.suppress(sa.exc.NoResultFound):
        return str(connection.execute(sa.select(reflected[VERSION_TABLE].c.version_num)).scalar_one())
    return None


def _why_not_incremental(
    base: _Base, database_format: str, schema_version: str | None, specs: Mapping[str, tables.TableSpec]
) -> str | None:
    warehouse = base.manifest.meta.get("warehouse")
    if not warehouse:
        return f"base {base.snapshot_id[:12]} holds no warehouse"
    if warehouse["format"] != database_format:
        return f"base {base.snapshot_id[:12]} is a {warehouse['format']} warehouse, this one {database_format}"
    if warehouse["schema_version"] != schema_version:
        return f"schema version {schema_version} differs from the base's {warehouse['schema_version']}"
    base_specs = {n: tables.TableSpec.from_dict(n, info) for n, info in warehouse["tables"].items()}
    if base_specs != dict(specs):
        return "the tables or their columns differ from the base's"
    return None
