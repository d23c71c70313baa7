"""Warehouse snapshots on real databases: restored into a fresh PostgreSQL database or SQLite file row for row
equal, files byte-identical, single tables alone; incrementals store the changed rows and restore exactly, reading
only the windows of changed rows (SQLite: of the pages that changed; PostgreSQL: of the rows written since the full,
by xmin, a table renamed into place read whole); a hostile manifest, a corrupted chunk and a non-empty target are
refused or leave the target marked."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from m365_pipeline.snapshots import databases, postgres_reads, row_groups
from m365_pipeline.snapshots import tables as tables_module
from m365_pipeline.snapshots.backend import Backend, LocalBackend
from m365_pipeline.snapshots.capture import (
    DATABASE,
    INCREMENTAL,
    TABLES,
    Sources,
    create_snapshot,
    estimated_bytes,
)
from m365_pipeline.snapshots.chunker import compiled_fastcdc
from m365_pipeline.snapshots.crypto import IntegrityError, seal
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import FileEntry, UnsafePath
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.restore import (
    MARKER_FILE,
    MARKER_TABLE,
    STEPS,
    Progress,
    RestoreHooks,
    RestoreTarget,
    restore_snapshot,
)
from m365_pipeline.snapshots.restorer import RestoreRefused
from m365_pipeline.snapshots.tables import ParquetSink
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import current_revision, upgrade_to_head
from m365_pipeline_tests.snapshots.warehouse_data import TENANT, checksums, contents, populate

KEYS = RepositoryKeys(bytes(range(32)))


def _repository(backend: Backend) -> Repository:
    return Repository.init(backend, KEYS, pack_size=1_000_000)


def _files(root: Path) -> dict[str, Path]:
    rng = random.Random(5)
    config, raw = root / "config", root / "raw"
    (config / "m365.toml").parent.mkdir(parents=True)
    (config / "m365.toml").write_text('tenant = "contoso"\nschedule = "0 6 * * *"\n')
    for n in range(3):
        path = raw / f"users/tenant=t1/e{n}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(200_000))
    return {"config": config, "raw": raw}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_postgres_warehouse_and_files_restore_into_a_fresh_database_row_for_row(
    tmp_path: Path, migrated_postgres_url: str, second_postgres_url: str
) -> None:
    compiled_fastcdc()  # the compiled chunker is what runs
    engine = populate(migrated_postgres_url)
    revision = current_revision(engine)
    engine.dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    files = _files(tmp_path / "source")
    result = create_snapshot(repository, Sources(migrated_postgres_url, files, label="prod"))
    manifest = result.manifest
    assert manifest.kind == "full"
    assert [e.path for e in manifest.components[DATABASE]] == ["warehouse.pgdump"]
    assert {e.path for e in manifest.components[TABLES]} >= {"users.parquet", "user_licenses.parquet"}
    assert manifest.meta["warehouse"]["schema_version"] == revision
    assert manifest.meta["warehouse"]["tables"]["users"]["rows"] == 300

    progress: list[Progress] = []
    calls: list[str] = []
    hooks = RestoreHooks(
        stop=lambda: calls.append("stop"),
        post_check=lambda target: calls.append(f"post_check {target.warehouse_url == second_postgres_url}"),
        release=lambda: calls.append("release"),
        progress=progress.append,
    )
    target = RestoreTarget(second_postgres_url, {"config": tmp_path / "out/config", "raw": tmp_path / "out/raw"})
    report = restore_snapshot(repository, result.snapshot_id, target, hooks=hooks)

    assert checksums(second_postgres_url) == checksums(migrated_postgres_url)
    assert contents(second_postgres_url)["users"] == contents(migrated_postgres_url)["users"]
    assert report.tables["user_licenses"] == len(contents(migrated_postgres_url)["user_licenses"])
    for name, folder in files.items():
        assert _tree(tmp_path / "out" / name) == _tree(folder)
    assert [step for step, _ in report.steps] == list(STEPS)
    assert calls == ["stop", "post_check True", "release"]
    assert progress[-1].done_bytes == progress[-1].total_bytes > 0 and progress[-1].eta_seconds == 0
    with sa.create_engine(sa.make_url(second_postgres_url).set(drivername="postgresql+psycopg")).connect() as c:
        assert MARKER_TABLE not in sa.inspect(c).get_table_names()

    assert report.verified == []  # a full's database is proven by its authenticated chunks and pg_restore
    with pytest.raises(RestoreRefused, match="not empty"):
        restore_snapshot(repository, result.snapshot_id, RestoreTarget(second_postgres_url))
    again = restore_snapshot(
        repository, result.snapshot_id, RestoreTarget(second_postgres_url), force=True, verify_all_tables=True
    )
    assert sorted(again.verified) == sorted(manifest.meta["warehouse"]["tables"])
    assert checksums(second_postgres_url) == checksums(migrated_postgres_url)


def test_every_postgres_table_reader_sees_the_captures_snapshot_and_not_rows_committed_meanwhile(
    tmp_path: Path, migrated_postgres_url: str, second_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = populate(migrated_postgres_url)
    calls = schema.metadata.tables["call_records"]  # a float column: read through the thread's own connection
    with engine.begin() as connection:
        connection.execute(calls.insert(), [_call_record(n) for n in range(4)])
    before = contents(migrated_postgres_url)
    before_calls = _rows(migrated_postgres_url, calls)
    imported = postgres_reads.import_snapshot
    readers: list[str] = []

    def import_after_a_commit(connection: sa.Connection, exported_snapshot: str) -> None:
        with engine.begin() as writer:  # committed after the export, before this reader imports the snapshot
            n = len(readers)
            writer.execute(schema.users.update().values(department=f"moved {n}"))
            writer.execute(calls.update().values(duration_seconds=n + 0.5))
            writer.execute(
                schema.user_licenses.delete().where(
                    schema.user_licenses.c.user_id.in_(
                        sa.select(schema.user_licenses.c.user_id).limit(5).scalar_subquery()
                    )
                )
            )
        readers.append(exported_snapshot)
        imported(connection, exported_snapshot)

    monkeypatch.setattr(postgres_reads, "import_snapshot", import_after_a_commit)
    repository = _repository(LocalBackend(tmp_path / "repo"))
    result = create_snapshot(repository, Sources(migrated_postgres_url))
    engine.dispose()

    assert len(readers) == 2 and len(set(readers)) == 1  # two threads, one snapshot
    assert contents(migrated_postgres_url) != before
    table_meta = result.manifest.meta["warehouse"]["tables"]
    assert table_meta["user_licenses"]["rows"] == len(before["user_licenses"])
    report = restore_snapshot(
        repository, result.snapshot_id, RestoreTarget(second_postgres_url), verify_all_tables=True
    )
    assert sorted(report.verified) == sorted(table_meta)  # the tables read are the dump's rows
    assert contents(second_postgres_url) == before
    assert _rows(second_postgres_url, calls) == before_calls != _rows(migrated_postgres_url, calls)


def _call_record(n: int) -> dict[str, Any]:
    start = dt.datetime(2024, 6, 24, 9, n, tzinfo=dt.UTC)
    return {
        "tenant_id": TENANT,
        "day": start.date(),
        "id": f"call-{n}",
        "modalities": "audio",
        "start_at": start,
        "start_date_time": f"2024-06-24T09:0{n}:00Z",
        "duration_seconds": 60.25 * n,
        "sessions": 1,
    }


def _rows(url: str, table: sa.Table) -> list[tuple[Any, ...]]:
    engine = create_warehouse_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key))]
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["local", "s3"], indirect=True)
def test_sqlite_warehouse_restores_into_another_file_through_the_backup_api(tmp_path: Path, backend: Backend) -> None:
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    engine = populate(source, users=120)
    repository = _repository(backend)
    progress: list[int] = []
    result = create_snapshot(repository, Sources(source), progress=progress.append)
    assert [e.path for e in result.manifest.components[DATABASE]] == ["warehouse.sqlite", "warehouse.sqlite.pages"]
    assert progress == sorted(progress) and progress[-1] == result.stats.bytes
    assert result.stats.bytes / 2 < estimated_bytes(Sources(source)) < result.stats.bytes * 3  # an estimate
    with engine.begin() as connection:  # the live database moves on; the snapshot does not
        connection.execute(schema.users.delete())
    engine.dispose()

    target = f"sqlite:///{tmp_path / 'elsewhere' / 'restored.sqlite'}"
    restore_snapshot(repository, result.snapshot_id, RestoreTarget(target))
    restored = contents(target)
    assert len(restored["users"]) == 120
    assert restored["user_licenses"] == contents(source)["user_licenses"]


def test_a_single_table_restores_alone_into_a_migrated_warehouse(tmp_path: Path, postgres_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    snapshot_id = create_snapshot(repository, Sources(source)).snapshot_id
    before = contents(source)

    target = create_warehouse_engine(postgres_url)
    upgrade_to_head(target)
    with target.begin() as connection:
        connection.execute(
            schema.skus.insert(),
            [{"tenant_id": TENANT, "sku_id": "x", "sku_part_number": "X", "service_plan_names": ""}],
        )
    target.dispose()
    report = restore_snapshot(repository, snapshot_id, RestoreTarget(postgres_url), only_tables=["user_licenses"])
    after = contents(postgres_url)
    assert report.tables == {"user_licenses": len(before["user_licenses"])}
    assert sorted(after["user_licenses"]) == sorted(before["user_licenses"])
    assert after["users"] == [] and len(after["skus"]) == 1  # nothing else touched
    with pytest.raises(RestoreRefused, match="user_licenses"):
        restore_snapshot(repository, snapshot_id, RestoreTarget(postgres_url), only_tables=["user_licenses"])


def _scattered_changes(url: str, fraction: float, seed: int = 9) -> int:
    """Change, remove and add about ``fraction`` of the users (scattered) and licences; returns the bytes of the
    changed rows (as JSON), the size a row-level incremental is measured against."""
    rng = random.Random(seed)
    engine = create_warehouse_engine(url)
    changed = 0
    with engine.begin() as connection:
        users = [row._asdict() for row in connection.execute(sa.select(schema.users))]
        picked = rng.sample(users, max(3, int(len(users) * fraction)))
        for row in picked[::3]:
            connection.execute(schema.users.update().where(schema.users.c.id == row["id"]).values(job_title="Director"))
        for row in picked[1::3]:
            connection.execute(schema.user_licenses.delete().where(schema.user_licenses.c.user_id == row["id"]))
            connection.execute(schema.users.delete().where(schema.users.c.id == row["id"]))
        for n, row in enumerate(picked[2::3]):
            fresh = {**row, "id": f"00000000-0000-0000-{seed:04d}-{n:012d}", "user_principal_name": f"new{seed}.{n}@x"}
            connection.execute(schema.users.insert(), [fresh])
            connection.execute(
                schema.user_licenses.insert(),
                [{"tenant_id": TENANT, "user_id": fresh["id"], "sku_id": "sku-new", "disabled_plans": ""}],
            )
        changed = sum(len(json.dumps(row, default=str)) for row in picked)
    engine.dispose()
    return changed


def test_a_primary_key_incremental_stores_the_changed_rows_and_restores_exactly(
    tmp_path: Path, migrated_postgres_url: str, second_postgres_url: str
) -> None:
    populate(migrated_postgres_url, users=2000).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    files = _files(tmp_path / "source")
    full = create_snapshot(repository, Sources(migrated_postgres_url, files))
    changed_bytes = _scattered_changes(migrated_postgres_url, 0.02)
    incremental = create_snapshot(repository, Sources(migrated_postgres_url, files), kind=INCREMENTAL)

    assert incremental.manifest.kind == "incremental" and incremental.promoted is None
    assert incremental.manifest.parent == full.snapshot_id
    assert DATABASE not in incremental.manifest.components
    tables = incremental.manifest.meta["warehouse"]["tables"]
    assert tables["users"]["stored"] == "delta" and tables["users"]["delta_rows"] == 40
    assert {name for name, info in tables.items() if info["stored"] != "unchanged"} == {"users", "user_licenses"}
    assert {e.path for e in incremental.manifest.components[TABLES]} == {
        "users.delta.parquet",
        "user_licenses.delta.parquet",
    }
    # the changed rows and two Parquet footers (~1-2 KB each); far below a full
    assert incremental.stats.stored_bytes < 2 * changed_bytes + 2 * 4096

    report = restore_snapshot(repository, incremental.snapshot_id, RestoreTarget(second_postgres_url))
    assert checksums(second_postgres_url) == checksums(migrated_postgres_url)
    assert sorted(report.verified) == ["user_licenses", "users"]  # the tables the delta changed


def test_an_incremental_is_taken_as_a_full_when_there_is_no_base_or_the_schema_changed(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    engine = populate(source, users=20)
    repository = _repository(LocalBackend(tmp_path / "repo"))
    first = create_snapshot(repository, Sources(source), kind=INCREMENTAL)
    assert first.manifest.kind == "full" and "no full snapshot" in str(first.promoted)
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE users ADD COLUMN nickname VARCHAR"))
    engine.dispose()
    second = create_snapshot(repository, Sources(source), kind=INCREMENTAL)
    assert second.manifest.kind == "full" and "differ" in str(second.promoted)
    third = create_snapshot(repository, Sources(source), kind=INCREMENTAL)
    assert third.manifest.kind == "incremental" and third.manifest.parent == second.snapshot_id


@pytest.mark.parametrize("old_base", [False, True], ids=["base read in place", "base from before row-group indexes"])
def test_an_incremental_of_sqlite_restores_exactly(
    tmp_path: Path, old_base: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=400).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    with monkeypatch.context() as patched:
        if old_base:  # a full as written before chunk lengths and row-group indexes were recorded
            described = FileEntry.to_dict
            patched.setattr(
                FileEntry, "to_dict", lambda self: {k: v for k, v in described(self).items() if k != "sizes"}
            )
            patched.setattr(row_groups.IndexedParquetSink, "close", ParquetSink.close)  # no index
        full = create_snapshot(repository, Sources(source))
    stored_tables = repository.manifest(full.snapshot_id).components[TABLES]
    assert all(bool(entry.sizes) != old_base for entry in stored_tables)
    _scattered_changes(source, 0.05)
    incremental = create_snapshot(repository, Sources(source), kind=INCREMENTAL)
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    restore_snapshot(repository, incremental.snapshot_id, RestoreTarget(target))
    assert checksums(target) == checksums(source)
    single = f"sqlite:///{tmp_path / 'single.sqlite'}"
    upgrade_to_head(engine := create_warehouse_engine(single))
    engine.dispose()
    restore_snapshot(repository, incremental.snapshot_id, RestoreTarget(single), only_tables=["users", "skus"])
    assert incremental.manifest.meta["warehouse"]["tables"]["skus"]["stored"] == "unchanged"  # its base's rows
    assert contents(single)["users"] == contents(source)["users"]
    assert contents(single)["skus"] == contents(source)["skus"] != []


def test_an_incremental_of_sqlite_reads_only_the_row_groups_of_the_pages_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, groups_read: list[tuple[str, int]]
) -> None:
    """Row groups of 40 rows: a few users and licences changed, added and removed touch a few of them. The
    incremental reads those through the page map (no row group of another table, no other group of theirs), and
    restores row for row (its deltas applied 3 rows at a time), every table's checksum verified."""
    monkeypatch.setattr(tables_module, "BATCH_ROWS", 40)
    monkeypatch.setattr(tables_module, "DRIVER_ROWS", 3)
    monkeypatch.setattr(row_groups, "GROUP_ROWS", 40)
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=1000).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    full = create_snapshot(repository, Sources(source))
    _scattered_changes(source, 0.006)
    through_pages: list[str] = []
    real_delta = row_groups.delta_of_changed

    def recording_delta(index: Any, current: Any, spec: Any, checksum: Any) -> Iterator[Any]:
        through_pages.append(spec.name)
        yield from real_delta(index, current, spec, checksum)

    monkeypatch.setattr(row_groups, "delta_of_changed", recording_delta)
    incremental = create_snapshot(repository, Sources(source), kind=INCREMENTAL)
    read = collections.Counter(name for name, _ in groups_read)

    described = incremental.manifest.meta["warehouse"]["tables"]
    assert {"users", "user_licenses", "tenants", "skus"} <= set(through_pages)
    assert set(read) == {"users", "user_licenses"}  # no row group of the unchanged tables is read
    for name, count in read.items():
        groups = full.manifest.meta["warehouse"]["tables"][name]["windows"] - 1
        assert groups >= 20 and 0 < count < groups / 2
        assert described[name]["stored"] == "delta"
    assert described["users"]["delta_rows"] == 6  # 2 updated, 2 removed, 2 added (of 1000)
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    report = restore_snapshot(repository, incremental.snapshot_id, RestoreTarget(target), verify_all_tables=True)
    assert set(report.verified) >= {"users", "user_licenses", "skus"}
    assert checksums(target) == checksums(source)


@pytest.fixture
def through_xmin(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables whose changed rows a PostgreSQL incremental found by ``xmin``, in the order asked: the real
    ``PostgresSnapshotReader.changed_rows``, recorded."""
    found_for: list[str] = []
    real_changed_rows = postgres_reads.PostgresSnapshotReader.changed_rows

    def recording(self: Any, connection: Any, table: Any, spec: Any, since: Any) -> Any:
        found = real_changed_rows(self, connection, table, spec, since)
        if found is not None:
            found_for.append(spec.name)
        return found

    monkeypatch.setattr(postgres_reads.PostgresSnapshotReader, "changed_rows", recording)
    return found_for


def _older_transactions_ended(engine: sa.Engine) -> None:
    """Waits until every transaction of the server that began before now has ended: a snapshot's oldest running
    transaction is the server's, and the test databases copied in the background for later tests are
    transactions too (one running while the full is taken would make every row count as written since)."""
    with engine.connect() as connection:
        now = connection.execute(sa.text("SELECT txid_current()")).scalar_one()
        connection.commit()
        deadline = time.monotonic() + 60
        while connection.execute(sa.text("SELECT txid_snapshot_xmin(txid_current_snapshot())")).scalar_one() <= now:
            connection.commit()
            assert time.monotonic() < deadline, "a transaction of the server stayed open for a minute"
            time.sleep(0.05)
        connection.commit()


def _postgres_changes(url: str) -> None:
    """Scattered changes, removals and additions, a key changed within its window and one moved to another
    window."""
    _scattered_changes(url, 0.006)
    engine = create_warehouse_engine(url)
    with engine.begin() as connection:
        ids = sorted(connection.execute(sa.select(schema.users.c.id)).scalars())
        users = schema.users.c
        # ids are hexadecimal: one ending in "g" follows the id it was made from, before the next
        connection.execute(schema.users.update().where(users.id == ids[500]).values(id=ids[500][:-1] + "g"))
        connection.execute(schema.users.update().where(users.id == ids[100]).values(id=ids[900][:-1] + "g"))
    engine.dispose()


def test_an_incremental_of_postgres_reads_only_the_windows_of_rows_written_since_its_full(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    groups_read: list[tuple[str, int]],
    through_xmin: list[str],
    migrated_postgres_url: str,
    second_postgres_url: str,
) -> None:
    """Windows of 40 rows: the incremental finds the rows written since the full by their ``xmin`` and reads the
    windows that hold them (and those whose count changed), not the others; a transaction running while the
    full was taken and committed after is seen; the restore is row for row (its deltas applied 7 rows at a time),
    every table's checksum verified."""
    monkeypatch.setattr(tables_module, "BATCH_ROWS", 40)
    monkeypatch.setattr(tables_module, "DRIVER_ROWS", 7)
    monkeypatch.setattr(row_groups, "GROUP_ROWS", 40)
    populate(migrated_postgres_url, users=1000).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    engine = create_warehouse_engine(migrated_postgres_url)
    _older_transactions_ended(engine)
    with engine.connect() as running:  # writes before the full starts, commits after it ends
        running.execute(
            schema.skus.update().where(schema.skus.c.sku_part_number == "ENTERPRISEPREMIUM").values(consumed_units=77)
        )
        with engine.begin() as later:  # a later transaction done before the full: the running one is listed
            later.execute(schema.tenants.update().values(display_name="Contoso Ltd"))  # in the snapshot as running
        full = create_snapshot(repository, Sources(migrated_postgres_url))
        running.commit()
    engine.dispose()
    _postgres_changes(migrated_postgres_url)
    incremental = create_snapshot(repository, Sources(migrated_postgres_url), kind=INCREMENTAL)
    read = collections.Counter(name for name, _ in set(groups_read))  # each window once, however often read

    described = incremental.manifest.meta["warehouse"]["tables"]
    assert {"users", "user_licenses", "skus"} <= set(through_xmin)
    # tenants: written after the running transaction began, before the full (read, found unchanged); no window
    # of another table is read
    assert set(read) == {"users", "user_licenses", "skus", "tenants"}
    assert described["skus"]["delta_rows"] == 1 and described["tenants"]["stored"] == "unchanged"
    for name, count in (item for item in read.items() if item[0] in ("users", "user_licenses")):
        windows = full.manifest.meta["warehouse"]["tables"][name]["windows"] - 1
        assert windows >= 20 and 0 < count < windows / 2, (name, count, windows)
        assert described[name]["stored"] == "delta"
    # 2 updated, 2 removed, 2 added, and two keys changed (each removed and added)
    assert described["users"]["delta_rows"] == 6 + 2 * 2
    report = restore_snapshot(
        repository, incremental.snapshot_id, RestoreTarget(second_postgres_url), verify_all_tables=True
    )
    assert set(report.verified) >= {"users", "user_licenses", "skus"}
    assert checksums(second_postgres_url) == checksums(migrated_postgres_url)


def _changes_of_users(url: str, case: str) -> None:
    engine = create_warehouse_engine(url)
    with engine.begin() as connection:
        ids = sorted(connection.execute(sa.select(schema.users.c.id)).scalars())
        users = schema.users.c
        if case in ("updated", "updated, more than held"):
            connection.execute(schema.users.update().where(users.id.in_(ids[5::37])).values(job_title="Director"))
        elif case == "a few removed":
            connection.execute(schema.users.update().where(users.id.in_(ids[5::37])).values(job_title="Director"))
            connection.execute(schema.user_licenses.delete().where(schema.user_licenses.c.user_id == ids[302]))
            connection.execute(schema.users.delete().where(users.id == ids[302]))
        else:  # removed all over: a row in every window
            connection.execute(schema.user_licenses.delete().where(schema.user_licenses.c.user_id.in_(ids[::40])))
            connection.execute(schema.users.delete().where(users.id.in_(ids[::40])))
    engine.dispose()


@pytest.mark.parametrize("case", ["updated", "a few removed", "removed all over", "updated, more than held"])
def test_a_postgres_incremental_puts_the_rows_written_since_into_its_bases_windows(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    through_xmin: list[str],
    migrated_postgres_url: str,
    second_postgres_url: str,
    case: str,
) -> None:
    """Windows of 40 rows, 1000 users: the rows written since the full are put into the base's windows, which are
    read from the database only where rows were deleted (a window that lost one, or the whole run when rows were
    deleted all over), or when more rows were written than an incremental holds; the restore is row for row."""
    monkeypatch.setattr(tables_module, "BATCH_ROWS", 40)
    monkeypatch.setattr(row_groups, "GROUP_ROWS", 40)
    if case == "updated, more than held":
        monkeypatch.setattr(row_groups, "HELD_CHANGED_ROWS", 10)
    populate(migrated_postgres_url, users=1000).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    _older_transactions_ended(create_warehouse_engine(migrated_postgres_url))
    create_snapshot(repository, Sources(migrated_postgres_url))
    _changes_of_users(migrated_postgres_url, case)
    ranges: list[tuple[str, int]] = []
    real_between = postgres_reads.ChangedSince.between

    def recording(self: Any, low: Any, high: Any) -> Any:
        rows = list(real_between(self, low, high))
        ranges.append((self._spec.name, sum(batch.num_rows for batch in rows)))
        return iter(rows)

    monkeypatch.setattr(postgres_reads.ChangedSince, "between", recording)
    incremental = create_snapshot(repository, Sources(migrated_postgres_url), kind=INCREMENTAL)

    assert "users" in through_xmin
    users_read = [rows for name, rows in ranges if name == "users"]
    expected_reads = {
        "updated": 0,
        "a few removed": 1,  # the window that lost the row, with its neighbours (fewer than WINDOWS_A_LOST_ROW)
        "removed all over": 1,  # every changed window, in one run
        "updated, more than held": 1,
    }
    assert len(users_read) == expected_reads[case], ranges
    if case == "a few removed":
        assert users_read[0] < row_groups.WINDOWS_A_LOST_ROW * 40
    if case == "removed all over":
        assert sum(users_read) >= 950
    described = incremental.manifest.meta["warehouse"]["tables"]["users"]
    assert (
        described["stored"] == "delta"
        and described["delta_rows"]
        == {
            "updated": 27,
            "a few removed": 28,
            "removed all over": 25,
            "updated, more than held": 27,
        }[case]
    )
    report = restore_snapshot(
        repository, incremental.snapshot_id, RestoreTarget(second_postgres_url), verify_all_tables=True
    )
    assert "users" in report.verified
    assert checksums(second_postgres_url) == checksums(migrated_postgres_url)


def test_a_postgres_table_swapped_in_since_its_full_is_read_whole(
    tmp_path: Path, through_xmin: list[str], migrated_postgres_url: str, second_postgres_url: str
) -> None:
    """A table filled before the full and renamed into place after it holds rows whose ``xmin`` is older than the
    full's: its new oid tells, and it is compared whole."""
    populate(migrated_postgres_url, users=300).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    engine = create_warehouse_engine(migrated_postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE skus_next (LIKE skus INCLUDING ALL)"))
        connection.execute(sa.text("INSERT INTO skus_next SELECT * FROM skus"))
        connection.execute(sa.text("UPDATE skus_next SET consumed_units = 99"))
    create_snapshot(repository, Sources(migrated_postgres_url))
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE skus RENAME TO skus_before"))
        connection.execute(sa.text("ALTER TABLE skus_next RENAME TO skus"))
        connection.execute(sa.text("DROP TABLE skus_before"))
        skus = connection.execute(sa.text("SELECT count(*) FROM skus")).scalar_one()
    engine.dispose()
    incremental = create_snapshot(repository, Sources(migrated_postgres_url), kind=INCREMENTAL)
    assert "skus" not in through_xmin and "users" in through_xmin
    assert incremental.manifest.meta["warehouse"]["tables"]["skus"]["delta_rows"] == skus == 3
    restore_snapshot(repository, incremental.snapshot_id, RestoreTarget(second_postgres_url), verify_all_tables=True)
    assert checksums(second_postgres_url) == checksums(migrated_postgres_url)


def test_a_hostile_manifest_path_is_rejected_before_anything_is_written(tmp_path: Path) -> None:
    repository = _repository(LocalBackend(tmp_path / "repo"))
    files = _files(tmp_path / "source")
    honest = create_snapshot(repository, Sources(files=files)).manifest
    body = json.loads(honest.plaintext())
    body["components"]["raw"][0]["path"] = "../../escaped.txt"
    plaintext = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    hostile_id = hashlib.sha256(plaintext).digest()
    repository.backend.write("snapshots", hostile_id.hex(), seal(KEYS.encryption, hostile_id, plaintext))
    target = tmp_path / "target" / "raw"
    with pytest.raises(UnsafePath, match="escaped"):
        restore_snapshot(repository, hostile_id.hex(), RestoreTarget(folders={"raw": target}))
    assert not (tmp_path / "escaped.txt").exists() and not target.exists()


def _corrupt_every_pack(root: Path) -> None:
    for pack in (root / "packs").rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            for position in range(40, len(data), 97):  # a flipped bit in every blob
                data[position] ^= 1
            pack.write_bytes(bytes(data))


def test_a_corrupted_chunk_leaves_a_sqlite_target_as_it_was_and_a_folder_marked_failed(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=50).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    snapshot_id = create_snapshot(repository, Sources(source, _files(tmp_path / "source"))).snapshot_id
    _corrupt_every_pack(tmp_path / "repo")

    target_db = tmp_path / "target.sqlite"
    populate(f"sqlite:///{target_db}", users=5, seed=3).dispose()
    before = contents(f"sqlite:///{target_db}")
    released: list[bool] = []
    hooks = RestoreHooks(release=lambda: released.append(True))
    with pytest.raises(IntegrityError):
        restore_snapshot(repository, snapshot_id, RestoreTarget(f"sqlite:///{target_db}"), force=True, hooks=hooks)
    assert contents(f"sqlite:///{target_db}") == before
    assert released == [True]

    folder = tmp_path / "target-raw"
    with pytest.raises(IntegrityError):
        restore_snapshot(repository, snapshot_id, RestoreTarget(folders={"raw": folder}))
    marker = json.loads((folder / MARKER_FILE).read_text())
    assert marker["status"] == "failed" and marker["step"] == "files" and marker["snapshot_id"] == snapshot_id


def test_a_failed_post_check_marks_the_restored_database_failed(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=10).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    snapshot_id = create_snapshot(repository, Sources(source)).snapshot_id

    def failing_checks(target: RestoreTarget) -> None:
        raise RuntimeError("asset check users_unique failed")

    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    with pytest.raises(RuntimeError, match="users_unique"):
        restore_snapshot(repository, snapshot_id, RestoreTarget(target), hooks=RestoreHooks(post_check=failing_checks))
    engine = sa.create_engine(target)
    with engine.connect() as connection:
        (row,) = connection.execute(sa.text(f"SELECT status, step, detail FROM {MARKER_TABLE}")).all()
    engine.dispose()
    assert tuple(row) == ("failed", "post_check", "asset check users_unique failed")


def test_a_postgres_warehouse_sharing_its_database_with_dagster_restores_without_touching_dagster(
    tmp_path: Path, migrated_postgres_url: str, second_postgres_url: str
) -> None:
    engine = populate(migrated_postgres_url, users=50)
    with engine.begin() as connection:  # Dagster's run storage in the same database, with a serial sequence
        connection.execute(sa.text("CREATE TABLE runs (id SERIAL PRIMARY KEY, run_id TEXT NOT NULL)"))
        connection.execute(sa.text("INSERT INTO runs (run_id) VALUES ('before-snapshot')"))
    repository = _repository(LocalBackend(tmp_path / "repo"))
    snapshot = create_snapshot(repository, Sources(migrated_postgres_url))
    assert "runs" not in snapshot.manifest.meta["warehouse"]["tables"]
    expected = checksums(migrated_postgres_url)
    with engine.begin() as connection:
        connection.execute(schema.user_licenses.delete())
        connection.execute(sa.text("INSERT INTO runs (run_id) VALUES ('after-snapshot')"))
    engine.dispose()

    restore_snapshot(
        repository, snapshot.snapshot_id, RestoreTarget(migrated_postgres_url), force=True
    )  # the live system
    after = contents(migrated_postgres_url)
    assert after["runs"] == [(1, "before-snapshot"), (2, "after-snapshot")]
    assert {name: value for name, value in checksums(migrated_postgres_url).items() if name != "runs"} == {
        name: value for name, value in expected.items() if name != "runs"
    }
    restore_snapshot(repository, snapshot.snapshot_id, RestoreTarget(second_postgres_url))
    assert "runs" not in contents(second_postgres_url)
    engine = create_warehouse_engine(migrated_postgres_url)
    with engine.begin() as connection:  # Dagster's sequence was left alone
        assert connection.execute(sa.text("INSERT INTO runs (run_id) VALUES ('later') RETURNING id")).scalar_one() == 3
    engine.dispose()


def test_a_corrupted_chunk_leaves_a_postgres_target_unchanged_and_marked_failed(
    tmp_path: Path, migrated_postgres_url: str, second_postgres_url: str
) -> None:
    populate(migrated_postgres_url, users=200).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    snapshot_id = create_snapshot(repository, Sources(migrated_postgres_url)).snapshot_id
    _corrupt_every_pack(tmp_path / "repo")
    populate(second_postgres_url, users=7, seed=4).dispose()
    before = contents(second_postgres_url)

    with pytest.raises(IntegrityError):
        restore_snapshot(repository, snapshot_id, RestoreTarget(second_postgres_url), force=True)
    assert contents(second_postgres_url) == before  # pg_restore's single transaction never committed
    engine = create_warehouse_engine(second_postgres_url)
    with engine.connect() as connection:
        (marker,) = connection.execute(sa.text(f"SELECT snapshot_id, status, step FROM {MARKER_TABLE}")).all()
    engine.dispose()
    assert tuple(marker) == (snapshot_id, "failed", "database")


def test_a_failing_pg_dump_saves_no_snapshot_and_is_logged(tmp_path: Path, migrated_postgres_url: str) -> None:
    from m365_pipeline.snapshots.check import check
    from m365_pipeline.snapshots.oplog import operations

    populate(migrated_postgres_url, users=5).dispose()
    repository = _repository(LocalBackend(tmp_path / "repo"))
    missing = migrated_postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(sa.exc.OperationalError):
        create_snapshot(repository, Sources(missing))
    with pytest.raises(databases.DatabaseToolFailed, match="pg_dump exited"), databases.pg_dump(missing) as stream:
        stream.read()
    assert repository.snapshot_ids() == [] and check(repository.backend, KEYS).ok
    (logged,) = operations(repository.backend, KEYS)
    assert logged.what == "snapshot" and logged.outcome.startswith("failed: OperationalError")


def test_a_long_restore_keeps_its_lock_fresh(tmp_path: Path) -> None:
    import itertools

    from m365_pipeline.snapshots.locks import list_locks

    repository = _repository(LocalBackend(tmp_path / "repo"))
    snapshot_id = create_snapshot(repository, Sources(files=_files(tmp_path / "source"))).snapshot_id
    seen = []
    minutes = itertools.count(step=61.0)  # each reading of the clock a minute later
    hooks = RestoreHooks(progress=lambda _: seen.append(list_locks(repository.backend, KEYS)[0].refreshed_at))
    target = RestoreTarget(folders={"raw": tmp_path / "out/raw", "config": tmp_path / "out/config"})
    restore_snapshot(repository, snapshot_id, target, hooks=hooks, clock=lambda: next(minutes))
    assert len(seen) >= 2 and seen == sorted(seen) and len(set(seen)) == len(seen)
