"""Row-level diff of two snapshots' warehouses by primary key: what changed in which table, and which users gained
or lost a licence, checked against the databases the snapshots were taken of."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.capture import INCREMENTAL, Sources, create_snapshot
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.table_diff import (
    LicenseChange,
    RowChange,
    artifact_changes,
    license_changes,
    warehouse_diff,
)
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline_tests.snapshots.test_warehouse_snapshots import _scattered_changes
from m365_pipeline_tests.snapshots.warehouse_data import populate


def _licenses(url: str) -> set[tuple[str, str, str]]:
    engine = create_warehouse_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(schema.user_licenses.c.tenant_id, schema.user_licenses.c.user_id, schema.user_licenses.c.sku_id)
        )
        found = {tuple(row) for row in rows}
    engine.dispose()
    return found


def _users(url: str) -> dict[str, str | None]:
    engine = create_warehouse_engine(url)
    with engine.connect() as connection:
        found = dict(connection.execute(sa.select(schema.users.c.id, schema.users.c.job_title)).all())
    engine.dispose()
    return found


def test_which_users_gained_or_lost_a_licence_between_two_snapshots(tmp_path: Path, migrated_postgres_url: str) -> None:
    populate(migrated_postgres_url, users=500).dispose()
    repository = Repository.init(LocalBackend(tmp_path / "repo"), RepositoryKeys(bytes(range(32))))
    config = tmp_path / "config"
    config.mkdir()
    (config / "m365.toml").write_text("schedule = 1\n")
    before_licenses, before_users = _licenses(migrated_postgres_url), _users(migrated_postgres_url)
    old = create_snapshot(repository, Sources(migrated_postgres_url, {"config": config}))
    _scattered_changes(migrated_postgres_url, 0.04)
    (config / "m365.toml").write_text("schedule = 2\n")
    new = create_snapshot(repository, Sources(migrated_postgres_url, {"config": config}), kind=INCREMENTAL)
    after_licenses, after_users = _licenses(migrated_postgres_url), _users(migrated_postgres_url)

    expected = {LicenseChange(*k, "gained") for k in after_licenses - before_licenses} | {
        LicenseChange(*k, "lost") for k in before_licenses - after_licenses
    }
    assert expected and set(license_changes(repository, old.snapshot_id, new.snapshot_id)) == expected

    changes: list[RowChange] = []
    steps: list[tuple[int, int]] = []
    diff = warehouse_diff(
        repository,
        old.snapshot_id,
        new.snapshot_id,
        on_change=changes.append,
        progress=lambda done, total: steps.append((done, total)),
    )
    assert diff.old_schema_version == diff.new_schema_version is not None
    by_table = {t.table: t for t in diff.tables}
    users = by_table["users"]
    assert (users.old_rows, users.new_rows) == (len(before_users), len(after_users))
    assert users.added == len(set(after_users) - set(before_users))
    assert users.removed == len(set(before_users) - set(after_users))
    retitled = {i for i in set(before_users) & set(after_users) if before_users[i] != after_users[i]}
    changed = [c for c in changes if c.table == "users" and c.change == "changed"]
    assert retitled and {c.key["id"] for c in changed} == retitled
    assert users.changed == len(changed) and all(c.changed_columns == ("job_title",) for c in changed)
    assert by_table["skus"].added == by_table["skus"].removed == by_table["skus"].changed == 0
    # progress counts both snapshots' rows of each table compared row by row (those whose checksum changed)
    compared = [t for t in diff.tables if t.added or t.removed or t.changed]
    total = sum((t.old_rows or 0) + (t.new_rows or 0) for t in compared)
    assert steps[0] == (0, total) and steps[-1] == (total, total)
    assert len(steps) >= len(compared) + 1
    assert [(c.component, c.path, c.change) for c in artifact_changes(old.manifest, new.manifest)] == [
        ("config", "m365.toml", "changed")
    ]


def test_two_incrementals_of_one_base_compare_row_by_row(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=200).dispose()
    repository = Repository.init(LocalBackend(tmp_path / "repo"), RepositoryKeys(bytes(range(32))))
    create_snapshot(repository, Sources(source))
    _scattered_changes(source, 0.05, seed=1)
    first = create_snapshot(repository, Sources(source), kind=INCREMENTAL)
    middle = _users(source)
    engine = create_warehouse_engine(source)
    with engine.begin() as connection:
        some = sorted(middle)[:4]
        connection.execute(schema.users.update().where(schema.users.c.id.in_(some)).values(department="法務"))
    engine.dispose()
    second = create_snapshot(repository, Sources(source), kind=INCREMENTAL)
    assert first.manifest.parent == second.manifest.parent
    changes: list[RowChange] = []
    diff = warehouse_diff(repository, first.snapshot_id, second.snapshot_id, on_change=changes.append)
    assert {(c.table, c.change, c.key["id"], c.changed_columns) for c in changes} == {
        ("users", "changed", i, ("department",)) for i in some
    }
    assert [t.table for t in diff.tables if t.changed] == ["users"]
