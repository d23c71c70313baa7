"""Restoring a snapshot, whole, per component or single tables, into the live system or another target (a fresh
PostgreSQL database, another SQLite file, other folders), in the order of the seed's procedure:

1. ``stop``: a shared repository lock (no prune can remove what is being read) and the ``stop`` hook (the
   Dagster layer pauses schedules and sensors and refuses while a run is in progress);
2. ``database``: the whole database (PostgreSQL: ``pg_restore`` in one transaction; SQLite: the file rebuilt
   beside the target and renamed over it), an incremental's deltas applied on its base full; or single tables,
   each replaced in one transaction;
3. ``files``: the file components other than the configuration; 4. ``configuration``: the ``config`` component;
5. ``integrity``: every restored table's row count and checksum and every restored file's SHA-256 compared
   with the manifest (every chunk is also authenticated and checked against its id as it is read);
6. ``post_check``: the hook that runs the asset checks on the restored warehouse; 7. ``release``.

Before any step writes, everything is planned and refused if unsafe: every path resolved inside its target
(a hostile manifest path is rejected), and a non-empty target refused without ``force``. A failure leaves a
target as it was (single tables, SQLite before its rename) or marked failed: the table ``m365_restore_state`` in
the database, the file ``.m365-restore.json`` in a folder, saying which snapshot, which step and why.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from m365_pipeline.liveness import temporary_sibling
from m365_pipeline.snapshots import databases, oplog, portable, postgres_writes, row_groups, tables
from m365_pipeline.snapshots.capture import DATABASE, DELTA, TABLES, UNCHANGED, WHOLE, database_entry
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.locks import Lock
from m365_pipeline.snapshots.manifests import FileEntry, Manifest
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.restorer import RestoreRefused, destination, restore_files
from m365_pipeline.snapshots.stored_tables import (
    checksum_boundaries,
    table_batches,
    table_entry,
    table_specs,
    warehouse_meta,
)
from m365_pipeline.snapshots.writeback import Writeback

WAREHOUSE = "warehouse"
"""The component name a restore uses for the database and its tables together."""
CONFIGURATION = "config"
MARKER_FILE = ".m365-restore.json"
MARKER_TABLE = "m365_restore_state"
LOCK_REFRESH_SECONDS = 60
KEYS_PER_CHECK = 500
"""Keys of a delta read back by one query (SQLite allows 32,766 parameters a statement by default)."""
STEPS = ("stop", "database", "files", "configuration", "integrity", "post_check", "release")

_marker = sa.Table(
    MARKER_TABLE,
    sa.MetaData(),
    sa.Column("snapshot_id", sa.String(64)),
    sa.Column("status", sa.String(16)),
    sa.Column("step", sa.String(32)),
    sa.Column("detail", sa.Text()),
    sa.Column("at", sa.String(40)),
)


class RestoreFailed(RuntimeError):
    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(f"restore failed at {step}: {message}")


@dataclass(frozen=True)
class RestoreTarget:
    """Where to restore: the warehouse into ``warehouse_url``, each file component into ``folders[name]``."""

    warehouse_url: str | None = None
    folders: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    step: str
    done_bytes: int
    total_bytes: int
    elapsed_seconds: float
    eta_seconds: float | None


def _nothing(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class RestoreHooks:
    stop: Callable[[], None] = _nothing
    """Pause what could change the target (schedules, sensors); raise to refuse (e.g. a run in progress)."""
    post_check: Callable[[RestoreTarget], None] = _nothing
    """Check the restored system (the asset checks); raise to mark the restore failed."""
    release: Callable[[], None] = _nothing
    """Resume what ``stop`` paused; called whatever happened once ``stop`` returned."""
    progress: Callable[[Progress], None] = _nothing


@dataclass
class RestoreReport:
    snapshot_id: str
    steps: list[tuple[str, float]] = field(default_factory=list)
    """Each step run, with its seconds."""
    tables: dict[str, int] = field(default_factory=dict)
    """Table restored -> its rows."""
    files: int = 0
    bytes: int = 0
    verified: list[str] = field(default_factory=list)
    """Tables read back and checksummed after a whole-database restore."""


class _Tracker:
    """Counts progress, reports it with an ETA, and keeps the repository lock fresh while a long restore runs."""

    def __init__(self, total: int, report: Callable[[Progress], None], clock: Callable[[], float], lock: Lock) -> None:
        self.total, self.done, self._report, self._clock, self._lock = total, 0, report, clock, lock
        self._started = self._refreshed = clock()
        self.step = ""

    def advance(self, count: int) -> None:
        self.done += count
        if self._clock() - self._refreshed > LOCK_REFRESH_SECONDS:
            self._lock.refresh()
            self._refreshed = self._clock()
        elapsed = self._clock() - self._started
        eta = elapsed / self.done * max(0, self.total - self.done) if self.done else None
        self._report(Progress(self.step, self.done, self.total, elapsed, eta))


def restore_snapshot(
    repository: Repository,
    snapshot_id: str,
    target: RestoreTarget,
    *,
    components: Collection[str] | None = None,
    only_tables: Collection[str] | None = None,
    force: bool = False,
    hooks: RestoreHooks = RestoreHooks(),
    clock: Callable[[], float] = time.monotonic,
    verify_all_tables: bool = False,
) -> RestoreReport:
    """Restore ``components`` (``warehouse`` and file component names; None: all the target has a place for) of
    snapshot ``snapshot_id`` into ``target``; ``only_tables`` restores just those warehouse tables. Recorded in
    the operations log, refused or failed ones too.

    A whole database is proven by its file's SHA-256 (checked as it is written) and the tool loading it; each
    delta of an incremental is checked as it is applied (the table's row count, and its rows read back at every
    key the delta names), and the integrity step reads back and checksums an incremental's tables stored whole
    (every table with ``verify_all_tables``). Single tables are always checked before their transaction
    commits."""
    where = {
        "warehouse": sa.make_url(target.warehouse_url).render_as_string(hide_password=True)
        if target.warehouse_url
        else None,
        "folders": {name: str(path) for name, path in sorted(target.folders.items())},
    }
    asked = {"snapshot_id": snapshot_id, "target": where, "components": components and sorted(components)}
    with oplog.recorded(repository.backend, repository.keys, "restore", asked) as details:
        report = _restore(
            repository, snapshot_id, target, components, only_tables, force, hooks, clock, verify_all_tables
        )
        details.update(tables=len(report.tables), files=report.files, bytes=report.bytes)
        return report


def _restore(
    repository: Repository,
    snapshot_id: str,
    target: RestoreTarget,
    components: Collection[str] | None,
    only_tables: Collection[str] | None,
    force: bool,
    hooks: RestoreHooks,
    clock: Callable[[], float],
    verify_all_tables: bool,
) -> RestoreReport:
    with Lock(repository.backend, repository.keys, f"restore {snapshot_id[:12]}", exclusive=False) as lock:
        manifest = repository.manifest(snapshot_id)  # a hostile path raises UnsafePath here: nothing is written
        plan = _Plan.make(repository, snapshot_id, manifest, target, components, only_tables, force)
        index = repository.index()
        report = RestoreReport(snapshot_id)
        tracker = _Tracker(plan.total_bytes(), hooks.progress, clock, lock)
        run = _Run(repository, index, manifest, plan, report, tracker, verify_all_tables)
        run.step("stop", hooks.stop)
        try:
            run.step("database", run.database)
            run.step("files", lambda: run.files(plan.file_components))
            run.step("configuration", lambda: run.files(plan.configuration))
            run.step("integrity", run.integrity)
            run.step("post_check", lambda: hooks.post_check(target))
        except Exception as error:
            try:
                run.mark_failed(error)
            except Exception as marking:
                error.add_note(f"marking the restore target failed did not succeed either: {marking}")
            raise
        finally:
            run.step("release", hooks.release)
        run.clear_markers()
    return report


@dataclass(frozen=True)
class _Plan:
    snapshot_id: str
    manifest: Manifest
    target: RestoreTarget
    warehouse_url: str | None
    tables: tuple[str, ...]
    whole_database: bool
    database_file: FileEntry | None
    """The database file a whole restore loads (an incremental's is its base's)."""
    file_components: dict[str, tuple[FileEntry, ...]]
    configuration: dict[str, tuple[FileEntry, ...]]
    force: bool

    @classmethod
    def make(
        cls,
        repository: Repository,
        snapshot_id: str,
        manifest: Manifest,
        target: RestoreTarget,
        components: Collection[str] | None,
        only_tables: Collection[str] | None,
        force: bool,
    ) -> _Plan:
        held = {name for name in manifest.components if name not in (DATABASE, TABLES)}
        if warehouse_meta(manifest):
            held.add(WAREHOUSE)
        available = {name for name in held if name != WAREHOUSE and name in target.folders}
        if WAREHOUSE in held and target.warehouse_url:
            available.add(WAREHOUSE)
        wanted = set(available if components is None else components)
        if only_tables:
            wanted.add(WAREHOUSE)
        for name in sorted(wanted):
            if name not in held:
                raise KeyError(f"snapshot {snapshot_id[:12]} holds no component {name!r} (it holds {sorted(held)})")
            if name not in available:
                raise ValueError(f"the restore target has no place for component {name!r}")
        if not wanted:
            raise ValueError("nothing to restore: the target has a place for no component of the snapshot")
        specs = table_specs(manifest)
        chosen = tuple(sorted(specs)) if not only_tables else tuple(only_tables)
        for name in chosen:
            if name not in specs:
                raise KeyError(f"snapshot {snapshot_id[:12]} holds no table {name!r}")
        file_parts = {n: manifest.components[n] for n in sorted(wanted - {WAREHOUSE})}
        whole_database = WAREHOUSE in wanted and not only_tables
        database_file = None
        if whole_database:
            holder = manifest
            if manifest.kind == "incremental":
                if manifest.parent is None:
                    raise ValueError(f"incremental snapshot {snapshot_id[:12]} names no base")
                holder = repository.manifest(manifest.parent)
            database_file = database_entry(holder)
        plan = cls(
            snapshot_id,
            manifest,
            target,
            target.warehouse_url if WAREHOUSE in wanted else None,
            chosen if WAREHOUSE in wanted else (),
            whole_database,
            database_file,
            {n: e for n, e in file_parts.items() if n != CONFIGURATION},
            {n: e for n, e in file_parts.items() if n == CONFIGURATION},
            force,
        )
        plan.refuse_unsafe()
        return plan

    def folder(self, component: str) -> Path:
        return self.target.folders[component]

    def refuse_unsafe(self) -> None:
        for component, entries in {**self.file_components, **self.configuration}.items():
            existing = [p for p in (destination(self.folder(component), e) for e in entries) if p.exists()]
            if existing and not self.force:
                raise RestoreRefused(
                    f"{component}: {len(existing)} file(s) exist already, e.g. {existing[0]}; use force to replace them"
                )
        if self.warehouse_url and not self.whole_database:
            engine = _engine(self.warehouse_url)
            try:
                portable.require_schema_version(engine, self.manifest, self.snapshot_id)
            finally:
                engine.dispose()
        if self.warehouse_url and not self.force:
            occupied = _occupied_tables(self.warehouse_url, self.tables, whole=self.whole_database)
            if occupied:
                raise RestoreRefused(
                    f"the target warehouse is not empty ({', '.join(occupied[:5])} hold rows or exist); "
                    "use force to replace it"
                )

    def total_bytes(self) -> int:
        """What the progress counts: the files written, the database file loaded, the table files applied."""
        total = sum(e.size for entries in {**self.file_components, **self.configuration}.values() for e in entries)
        if self.database_file is not None:
            total += self.database_file.size
        if not self.whole_database or self.manifest.kind == "incremental":
            entries = (table_entry(self.manifest, name) for name in self.tables)
            total += sum(entry.size for entry in entries if entry is not None)
        return total


def _occupied_tables(url: str, names: Collection[str], *, whole: bool) -> list[str]:
    """Tables of ``url`` that a restore would overwrite. A whole SQLite database: any table (the file is replaced);
    a whole PostgreSQL warehouse: any warehouse table (other tables sharing the database, such as Dagster's, are
    not the warehouse's and are left alone); single tables: those of ``names`` that hold rows. The restore marker
    does not count."""
    dialect = databases.dialect_of(url)
    if dialect == "sqlite" and not databases.sqlite_path(url).exists():
        return []
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names()) - {MARKER_TABLE}
            if whole:
                return sorted(present if dialect == "sqlite" else present & (set(names) | tables.WAREHOUSE_TABLES))
            reflected = tables.reflect_tables(connection, only=set(names) & present)
            return [n for n in names if n in reflected and connection.execute(sa.select(reflected[n]).limit(1)).first()]
    finally:
        engine.dispose()


def _engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed)


class _Run:
    def __init__(
        self,
        repository: Repository,
        index: Index,
        manifest: Manifest,
        plan: _Plan,
        report: RestoreReport,
        tracker: _Tracker,
        verify_all_tables: bool,
    ) -> None:
        self._repository, self._index, self._manifest, self._plan = repository, index, manifest, plan
        self._verify_all = verify_all_tables
        self._report, self._tracker = report, tracker
        self._current = ""
        self._touched_database = False
        self._touched_folders: list[Path] = []

    def step(self, name: str, action: Callable[[], None]) -> None:
        self._current = self._tracker.step = name
        started = time.monotonic()
        action()
        self._report.steps.append((name, time.monotonic() - started))

    # database

    def database(self) -> None:
        url = self._plan.warehouse_url
        if url is None:
            return
        if not self._plan.whole_database:
            engine = _engine(url)
            try:
                for name in self._plan.tables:
                    self._report.tables[name] = self._replace_table(engine, name)
                    self._touched_database = True  # committed: a later failure marks the target
            finally:
                engine.dispose()
            return
        dump = self._plan.database_file
        assert dump is not None
        if databases.dialect_of(url) == "sqlite":
            self._restore_sqlite(databases.sqlite_path(url), dump)
        else:
            self._restore_postgres(url, dump)

    def _restore_sqlite(self, target: Path, dump: FileEntry) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        rebuilt = temporary_sibling(target)
        try:
            rebuilt.touch()
            with Writeback(rebuilt) as writeback:  # on disk while it is written and the deltas are applied

                def written(count: int) -> None:
                    self._tracker.advance(count)
                    writeback.written()

                with rebuilt.open("wb") as out:
                    self._repository.write_file(self._index, dump, out, on_bytes=written)
                writeback.written()  # what the file's buffer held until it was closed
                engine = sa.create_engine(f"sqlite:///{rebuilt}")
                sa.event.listen(engine, "connect", _unjournaled)
                try:
                    reflected = self._apply_deltas(engine)
                    self._verify_tables(
                        engine, rebuilt, reflected
                    )  # before the rename: a bad restore never replaces the target
                finally:
                    engine.dispose()
            self._touched_database = True
            databases.replace_sqlite(rebuilt, target)
        finally:
            rebuilt.unlink(missing_ok=True)

    def _restore_postgres(self, url: str, dump: FileEntry) -> None:
        engine = _engine(url)
        try:
            with engine.begin() as connection:
                _marker.create(connection, checkfirst=True)
                connection.execute(_marker.delete())
                connection.execute(_marker.insert(), [self._marker_row("in-progress", "database", "")])
            self._touched_database = True
            with databases.pg_restore(url, clean=self._plan.force) as stream:
                self._repository.write_file(self._index, dump, stream, on_bytes=self._tracker.advance)
            self._apply_deltas(engine)
        finally:
            engine.dispose()

    def _apply_deltas(self, engine: sa.Engine) -> dict[str, sa.Table] | None:
        """Returns the tables it reflected (None if it had none to apply)."""
        if self._manifest.kind != "incremental":
            return None
        specs = table_specs(self._manifest)
        meta = warehouse_meta(self._manifest)["tables"]
        changed = [name for name in specs if meta[name]["stored"] != UNCHANGED]
        with engine.begin() as connection:
            reflected = tables.reflect_tables(connection, only=changed)
            for name in changed:
                table, spec = reflected[name], specs[name]
                entry = table_entry(self._manifest, name)
                assert entry is not None
                with self._repository.temporary_file(self._index, entry) as path:
                    if meta[name]["stored"] == DELTA:
                        _apply_checked_delta(connection, table, spec, path, int(meta[name]["rows"]))
                        self._report.verified.append(name)
                    else:
                        connection.execute(table.delete())
                        _insert(connection, table, spec, tables.parquet_batches(path))
                self._tracker.advance(entry.size)
            if connection.dialect.name == "postgresql":
                _reset_sequences(connection, reflected.values())
        return reflected

    def _replace_table(self, engine: sa.Engine, name: str) -> int:
        """Replace table ``name``'s rows in one transaction, checked before it commits."""
        spec = table_specs(self._manifest)[name]
        expected = warehouse_meta(self._manifest)["tables"][name]
        with engine.begin() as connection:
            reflected = tables.reflect_tables(connection, only={name})
            if name not in reflected:
                raise RestoreFailed("database", f"the target warehouse has no table {name} (migrate it first)")
            table = reflected[name]
            own = portable.target_spec(table, spec)  # the target's types: it may be another kind of database
            trip = portable.RoundTrip(table, spec, own, self._boundaries(name))
            connection.execute(table.delete())
            with table_batches(self._repository, self._index, self._manifest, name) as batches:
                _insert(connection, table, own, trip.conform(batches))
            problem = trip.problem(tables.read_batches(connection, table, own), expected)
            if problem is not None:
                raise RestoreFailed("database", f"table {name}: {problem}")
            entry = table_entry(self._manifest, name)
            self._tracker.advance(entry.size if entry is not None else 0)
        return trip.rows

    def _boundaries(self, name: str) -> tuple[tuple[Any, ...], ...]:
        try:
            return checksum_boundaries(self._repository, self._index, self._manifest, name)
        except row_groups.RowGroupIndexError as error:
            raise RestoreFailed("integrity", str(error)) from error

    def _verify_tables(
        self, engine: sa.Engine, sqlite_file: Path | None = None, reflected: dict[str, sa.Table] | None = None
    ) -> None:
        expected = warehouse_meta(self._manifest)["tables"]
        self._report.tables.update({name: int(info["rows"]) for name, info in expected.items()})
        specs = table_specs(self._manifest)
        names = [name for name in specs if self._verify_all or _stored_whole_since_base(self._manifest, name)]
        with engine.connect() as connection, contextlib.ExitStack() as stack:
            reflected = dict(reflected or {})
            if any(name not in reflected for name in names):
                reflected.update(tables.reflect_tables(connection, only=set(names) - set(reflected)))
            sqlite = stack.enter_context(tables.SqliteFile(sqlite_file)) if sqlite_file is not None else None
            for name in names:
                spec = specs[name]
                if name not in self._report.verified:
                    self._report.verified.append(name)
                if name not in reflected:
                    raise RestoreFailed("integrity", f"table {name} is missing from the restored warehouse")
                table = reflected[name]
                rows = (
                    tables.read_batches(connection, table, spec)
                    if sqlite is None
                    else sqlite.read(connection, table, spec)
                )
                digest = tables.windowed_digest(rows, spec, self._boundaries(name))
                if (digest.rows, digest.checksum) != (expected[name]["rows"], expected[name]["checksum"]):
                    raise RestoreFailed(
                        "integrity",
                        f"table {name}: {digest.rows} rows, checksum {digest.checksum[:12]}; the snapshot has "
                        f"{expected[name]['rows']} rows, checksum {expected[name]['checksum'][:12]}",
                    )
                self._report.tables[name] = digest.rows

    # files

    def files(self, components: Mapping[str, tuple[FileEntry, ...]]) -> None:
        for component, entries in components.items():
            folder = self._plan.folder(component)
            folder.mkdir(parents=True, exist_ok=True)
            self._write_marker(folder, "in-progress", self._current, "")
            self._touched_folders.append(folder)
            self._report.bytes += restore_files(
                self._repository.backend, self._repository.keys, self._index, entries, folder, force=True
            )
            self._report.files += len(entries)
            self._tracker.advance(sum(e.size for e in entries))

    # integrity, markers

    def integrity(self) -> None:
        url = self._plan.warehouse_url
        if url and self._plan.whole_database and databases.dialect_of(url) == "postgresql":  # SQLite: before rename
            engine = _engine(url)
            try:
                self._verify_tables(engine)
            finally:
                engine.dispose()
        for component, entries in {**self._plan.file_components, **self._plan.configuration}.items():
            folder = self._plan.folder(component)
            for entry in entries:
                path = destination(folder, entry)
                if _sha256(path) != entry.sha256:
                    raise RestoreFailed("integrity", f"{component}/{entry.path} differs from the snapshot")

    def _marker_row(self, status: str, step: str, detail: str) -> dict[str, str]:
        at = dt.datetime.now(dt.UTC).isoformat()
        return {"snapshot_id": self._plan.snapshot_id, "status": status, "step": step, "detail": detail, "at": at}

    def _write_marker(self, folder: Path, status: str, step: str, detail: str) -> None:
        (folder / MARKER_FILE).write_text(json.dumps(self._marker_row(status, step, detail), indent=1))

    def mark_failed(self, error: Exception) -> None:
        detail = str(error)[:2000]
        for folder in self._touched_folders:
            self._write_marker(folder, "failed", self._current, detail)
        if self._touched_database and self._plan.warehouse_url:
            engine = _engine(self._plan.warehouse_url)
            try:
                with engine.begin() as connection:
                    _marker.create(connection, checkfirst=True)
                    connection.execute(_marker.delete())
                    connection.execute(_marker.insert(), [self._marker_row("failed", self._current, detail)])
            finally:
                engine.dispose()

    def clear_markers(self) -> None:
        for folder in self._touched_folders:
            (folder / MARKER_FILE).unlink(missing_ok=True)
        if self._touched_database and self._plan.warehouse_url:
            engine = _engine(self._plan.warehouse_url)
            try:
                with engine.begin() as connection:
                    _marker.drop(connection, checkfirst=True)
            finally:
                engine.dispose()


def _unjournaled(dbapi_connection: Any, _: Any) -> None:
    """The rebuilt SQLite file is scratch until it is checked and renamed (a failure removes it, and the rename
    syncs it first): no journal and no fsync while the deltas are applied."""
    dbapi_connection.execute("PRAGMA synchronous=OFF")
    dbapi_connection.execute("PRAGMA journal_mode=OFF")


def _stored_whole_since_base(manifest: Manifest, name: str) -> bool:
    """Whether table ``name`` is an incremental's stored whole (a table without primary key), its rows replaced
    after the base database file was loaded."""
    return manifest.kind == "incremental" and warehouse_meta(manifest)["tables"][name]["stored"] == WHOLE


def _apply_checked_delta(
    connection: sa.Connection, table: sa.Table, spec: tables.TableSpec, path: Path, rows: int
) -> None:
    """Apply the delta stored at ``path`` and check that the table is then the snapshot's (``_check_delta``);
    PostgreSQL copies each batch in and reads it back as it goes (``postgres_writes``), when the table's types allow."""
    if connection.dialect.name == "postgresql" and tables.simply_typed(table, spec):
        if not postgres_writes.apply_delta(connection, table, spec, tables.parquet_batches(path)):
            raise RestoreFailed("database", f"table {table.name}: rows read back differ from its delta's")
        _check_count(connection, table, rows)
        return
    _apply_delta(connection, table, spec, tables.parquet_batches(path))
    _check_delta(connection, table, spec, tables.parquet_batches(path), rows)


def _check_count(connection: sa.Connection, table: sa.Table, rows: int) -> None:
    (counted,) = connection.exec_driver_sql(f"SELECT count(*) FROM {_name(connection, table)}").one()
    if counted != rows:
        raise RestoreFailed("database", f"table {table.name}: {counted} rows after its delta, the snapshot has {rows}")


def _check_delta(
    connection: sa.Connection,
    table: sa.Table,
    spec: tables.TableSpec,
    delta: Iterable[pa.RecordBatch],
    rows: int,
) -> None:
    """After a delta was applied to the base's table (whose database file was rebuilt from authenticated chunks), the
    table is the snapshot's when it has the snapshot's number of rows and, read back at every key the delta names,
    exactly the delta's upserted rows (its deleted keys absent): the statements touched no other key. Cheaper than
    reading the whole table back."""
    _check_count(connection, table, rows)
    schema = spec.schema()
    for batch in delta:
        for start in range(0, batch.num_rows, KEYS_PER_CHECK):
            part = batch.slice(start, KEYS_PER_CHECK)
            select = tables.select_sql(connection, table, spec, keys=part.num_rows)
            keys = [value for row in _driver_rows(connection, table, part, spec.key) for value in row]
            found = connection.exec_driver_sql(select, tuple(keys)).all()
            expected = part.filter(pc.equal(part.column(tables.OP_COLUMN), tables.UPSERT)).select(list(spec.columns))
            read_back = pa.Table.from_batches([tables.driver_batch(found, schema)] if found else [], schema)
            if not read_back.equals(pa.Table.from_batches([expected]).cast(schema)):
                raise RestoreFailed("database", f"table {table.name}: rows read back differ from its delta's")


def _insert(
    connection: sa.Connection, table: sa.Table, spec: tables.TableSpec, batches: Iterable[pa.RecordBatch]
) -> None:
    insert = _statement(connection, f"INSERT INTO {_name(connection, table)}", table, spec.columns, "VALUES")
    for batch in _driver_pieces(batches):
        connection.exec_driver_sql(insert, _driver_rows(connection, table, batch, spec.columns))


def _driver_pieces(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches`` cut into pieces of at most ``tables.DRIVER_ROWS`` rows (each handed to the driver as Python
    values), none empty."""
    for batch in batches:
        for start in range(0, batch.num_rows, tables.DRIVER_ROWS):
            yield batch.slice(start, tables.DRIVER_ROWS)


def _apply_delta(
    connection: sa.Connection, table: sa.Table, spec: tables.TableSpec, delta: Iterable[pa.RecordBatch]
) -> None:
    """Apply a stored delta batch by batch: every key it names deleted (one statement per key, sent as one
    batch, so each uses the primary key's index), then its upserted rows inserted. The statements go to the
    driver as they are, with the rows' values through each column's bind processor (what SQLAlchemy would do
    for each row, done a column at a time)."""
    quote = connection.dialect.identifier_preparer.quote
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    condition = " AND ".join(f"{quote(name)} = {marker}" for name in spec.key)
    delete = f"DELETE FROM {_name(connection, table)} WHERE {condition}"
    insert = _statement(connection, f"INSERT INTO {_name(connection, table)}", table, spec.columns, "VALUES")
    for batch in _driver_pieces(delta):
        connection.exec_driver_sql(delete, _driver_rows(connection, table, batch, spec.key))
        upserts = batch.filter(pc.equal(batch.column(tables.OP_COLUMN), tables.UPSERT))
        if upserts.num_rows:
            connection.exec_driver_sql(insert, _driver_rows(connection, table, upserts, spec.columns))


def _name(connection: sa.Connection, table: sa.Table) -> str:
    return connection.dialect.identifier_preparer.format_table(table)


def _statement(connection: sa.Connection, head: str, table: sa.Table, columns: Iterable[str], values: str) -> str:
    quote = connection.dialect.identifier_preparer.quote
    names = list(columns)
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    return f"{head} ({', '.join(quote(n) for n in names)}) {values} ({', '.join(marker for _ in names)})"


def _driver_rows(
    connection: sa.Connection, table: sa.Table, batch: pa.RecordBatch, columns: Iterable[str]
) -> list[tuple[Any, ...]]:
    """``batch``'s ``columns`` as driver parameters: each column's values through its type's bind processor."""
    converted = []
    for name in columns:
        values = batch.column(name).to_pylist()
        process = table.c[name].type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
        converted.append(values if process is None else [None if v is None else process(v) for v in values])
    return list(zip(*converted, strict=True))


def _reset_sequences(connection: sa.Connection, reflected: Iterable[sa.Table]) -> None:
    """Rows inserted with their ids leave a serial column's sequence behind; move it past the largest id."""
    for table in reflected:
        for column in table.primary_key.columns:
            sequence = connection.execute(
                sa.select(sa.func.pg_get_serial_sequence(table.name, column.name))
            ).scalar_one_or_none()
            if sequence:
                largest = connection.execute(sa.select(sa.func.max(column))).scalar_one_or_none()
                connection.execute(sa.select(sa.func.setval(sequence, largest or 1, largest is not None)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(4 * 1024 * 1024):
            digest.update(piece)
    return digest.hexdigest()
