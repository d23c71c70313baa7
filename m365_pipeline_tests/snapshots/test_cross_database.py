"""Single tables restored into a warehouse of the other database kind (SQLite <-> PostgreSQL, the real server):
every value exact, timestamps (UTC, microseconds), booleans, JSON lists and NULLs included; and refused, naming
both revisions, when the target's schema revision is not the snapshot's."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from m365_pipeline.legacy.load import migrate_file
from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.capture import Sources, create_snapshot
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.portable import SchemaVersionMismatch
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.restore import MARKER_TABLE, RestoreHooks, RestoreTarget, restore_snapshot
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import VERSION_TABLE, upgrade_to_head
from m365_pipeline_tests.legacy.conftest import SAMPLES
from m365_pipeline_tests.snapshots.warehouse_data import TENANT, contents, populate


def _filled(url: str) -> None:
    """The realistic warehouse, plus every sample of the old tool's reports migrated (typed legacy tables with
    timestamps, numbers, JSON lists, NULLs)."""
    populate(url, users=120).dispose()
    engine = create_warehouse_engine(url)
    try:
        migrated = [migrate_file(engine, path, TENANT) for path in sorted(SAMPLES.glob("*.csv"))]
        with engine.begin() as connection:  # a record the old tool wrote wrongly, kept as its fields' JSON list
            connection.execute(
                schema.legacy_quarantine.insert().values(
                    tenant_id=TENANT,
                    source_sha256=migrated[0].sha256,
                    source_row=99,
                    source_line=101,
                    column_name=None,
                    reason="too many fields",
                    original=json.dumps(["山田 太郎", 'say "hi"', "", "2024-06-24 15:00"], ensure_ascii=False),
                )
            )
    finally:
        engine.dispose()


def _values(rows: list[tuple[object, ...]]) -> list[object]:
    return [value for row in rows for value in row]


@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_single_tables_restore_exactly_into_the_other_kind_of_database(
    direction: str, tmp_path: Path, postgres_url: str
) -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"the legacy samples folder {SAMPLES} is missing")
    sqlite_url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    source, target = (sqlite_url, postgres_url) if direction.startswith("sqlite") else (postgres_url, sqlite_url)
    _filled(source)
    repository = Repository.init(LocalBackend(tmp_path / "repo"), RepositoryKeys(bytes(range(32))))
    snapshot_id = create_snapshot(repository, Sources(source)).snapshot_id
    engine = create_warehouse_engine(target)
    upgrade_to_head(engine)
    engine.dispose()
    expected = contents(source)
    chosen = sorted(name for name, rows in expected.items() if rows and name != VERSION_TABLE)

    report = restore_snapshot(repository, snapshot_id, RestoreTarget(target), only_tables=chosen)

    restored = contents(target)
    assert report.tables == {name: len(expected[name]) for name in chosen}
    for name in chosen:
        assert restored[name] == expected[name], name
    # what differs between the two kinds was there to get wrong
    values = _values([row for name in chosen for row in expected[name]])
    stamps = [v for v in values if isinstance(v, str) and v.endswith("+00:00") and "T" in v]
    assert any(dt.datetime.fromisoformat(v).microsecond for v in stamps)
    assert {True, False, None} <= {v for v in values if v is None or isinstance(v, bool)}
    assert any(isinstance(v, str) and v.startswith("[") and isinstance(json.loads(v), list) for v in values)


def test_a_target_at_another_schema_revision_is_refused_before_anything_is_written(
    tmp_path: Path, postgres_url: str
) -> None:
    source = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    populate(source, users=20).dispose()
    repository = Repository.init(LocalBackend(tmp_path / "repo"), RepositoryKeys(bytes(range(32))))
    snapshot_id = create_snapshot(repository, Sources(source)).snapshot_id
    engine = create_warehouse_engine(postgres_url)
    upgrade_to_head(engine)
    with engine.begin() as connection:
        head = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one()
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0004_directory'"))
    engine.dispose()

    refused = pytest.raises(SchemaVersionMismatch, match=f"revision 0004_directory, .* of revision {head}")
    with refused:
        restore_snapshot(repository, snapshot_id, RestoreTarget(postgres_url), only_tables=["users"], force=True)
    assert contents(postgres_url)["users"] == []


def test_single_tables_failing_after_they_were_written_leave_the_target_marked_failed(
    tmp_path: Path, postgres_url: str
) -> None:
    source = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    populate(source, users=20).dispose()
    repository = Repository.init(LocalBackend(tmp_path / "repo"), RepositoryKeys(bytes(range(32))))
    snapshot_id = create_snapshot(repository, Sources(source)).snapshot_id
    engine = create_warehouse_engine(postgres_url)
    upgrade_to_head(engine)
    engine.dispose()

    def failing_check(_target: RestoreTarget) -> None:
        raise RuntimeError("licenses_have_users failed")

    with pytest.raises(RuntimeError, match="licenses_have_users"):
        restore_snapshot(
            repository,
            snapshot_id,
            RestoreTarget(postgres_url),
            only_tables=["users"],
            hooks=RestoreHooks(post_check=failing_check),
        )
    assert len(contents(postgres_url)["users"]) == 20  # committed before the check failed: so it is marked
    engine = create_warehouse_engine(postgres_url)
    with engine.connect() as connection:
        marker = connection.execute(sa.text(f"SELECT snapshot_id, status, step FROM {MARKER_TABLE}")).all()
    engine.dispose()
    assert [tuple(row) for row in marker] == [(snapshot_id, "failed", "post_check")]
