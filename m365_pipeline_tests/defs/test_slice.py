"""The whole slice, Graph emulator → raw Parquet → warehouse → user list report, as Dagster runs it."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from m365_pipeline.defs.main_run import run_main_job
from m365_pipeline.directory.extract import DIRECTORY_ENTITIES
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.reports.user_list import USER_LIST_HEADER
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.schema import TABLES
from m365_pipeline_tests.defs.conftest import SLICE_SEED, SLICE_USERS


def _report_rows(data_dir: Path) -> list[dict[str, str]]:
    (report,) = sorted((data_dir / "reports").glob("*/EntraIDManagement/AllUsers_*.csv"))
    with report.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _warehouse_content(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'warehouse.db'}")
    content = {}
    with engine.connect() as connection:
        for table in schema.metadata.sorted_tables:
            columns = [column for column in table.columns if column.name not in ("last_seen_at", "quarantined_at")]
            content[table.name] = sorted(connection.execute(sa.select(*columns)).all(), key=repr)
    engine.dispose()
    return content


def test_main_job_materializes_every_asset_and_the_report_has_every_user(embedded_default: Path) -> None:
    tenant = generate_tenant(SLICE_SEED, SLICE_USERS)

    outcome = run_main_job(dg.DagsterInstance.ephemeral())

    assert outcome.success, outcome.failure_reason
    assert outcome.failed_checks == []
    materialized = {key for key, _, _ in outcome.outputs}
    assert materialized == {
        *(f"raw/{name}" for name in DIRECTORY_ENTITIES),
        "warehouse/tenants",
        *(f"warehouse/{name}" for name in TABLES),
        "reports/entra_id/user_list",
    }
    (raw_users,) = (embedded_default / "raw" / "users" / f"tenant={tenant.tenant_id}").glob("*.parquet")
    assert sorted(pq.read_table(raw_users).column("id").to_pylist()) == sorted(user["id"] for user in tenant.users)

    rows = _report_rows(embedded_default)
    assert list(rows[0]) == list(USER_LIST_HEADER)
    assert sorted(row["Id"] for row in rows) == sorted(user["id"] for user in tenant.users)
    by_id = {user["id"]: user for user in tenant.users}
    for row in rows:
        user = by_id[row["Id"]]
        assert row["UserPrincipalName"] == user["userPrincipalName"]
        assert row["DisplayName"] == user["displayName"]
        assert row["AccountStatus"] == ("有効" if user["accountEnabled"] else "無効")
        assert (row["LicenseStatus"] == "ライセンスなし") == (not user["assignedLicenses"])


def test_running_the_slice_twice_leaves_the_same_warehouse(embedded_default: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert run_main_job(instance).success
    first = _warehouse_content(embedded_default)

    second_outcome = run_main_job(instance)

    assert second_outcome.success, second_outcome.failure_reason
    assert _warehouse_content(embedded_default) == first
    assert len(first["users"]) == SLICE_USERS
    users_event = instance.get_latest_materialization_event(dg.AssetKey(["warehouse", "users"]))
    assert users_event is not None and users_event.asset_materialization is not None
    metadata = users_event.asset_materialization.metadata
    assert metadata["inserted"].value == 0
    assert metadata["updated"].value == 0
    assert metadata["deleted"].value == 0
    assert metadata["unchanged"].value == SLICE_USERS
    # nothing changed, so nothing new was kept: one extract in the raw store, one report
    assert len(list((embedded_default / "raw" / "_extracts").rglob("*.json"))) == 1
    assert len(list((embedded_default / "reports").rglob("AllUsers_*.csv"))) == 1


def test_two_tenants_share_the_warehouse_without_touching_each_others_rows(
    embedded_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    first = generate_tenant(SLICE_SEED, SLICE_USERS)
    assert run_main_job(instance).success
    monkeypatch.setenv("M365_EMULATOR_SEED", "8")
    monkeypatch.setenv("M365_EMULATOR_USERS", "90")
    second = generate_tenant(8, 90)

    outcome = run_main_job(instance)

    assert outcome.success, outcome.failure_reason
    engine = sa.create_engine(f"sqlite:///{embedded_default / 'warehouse.db'}")
    with engine.connect() as connection:
        users = schema.users
        per_tenant = dict(
            connection.execute(sa.select(users.c.tenant_id, sa.func.count()).group_by(users.c.tenant_id)).all()
        )
    engine.dispose()
    assert per_tenant == {first.tenant_id: SLICE_USERS, second.tenant_id: 90}
    assert {path.parent.name for path in (embedded_default / "raw" / "users").rglob("*.parquet")} == {
        f"tenant={first.tenant_id}",
        f"tenant={second.tenant_id}",
    }
    newest_report = max((embedded_default / "reports" / second.tenant_id / "EntraIDManagement").glob("AllUsers_*.csv"))
    with newest_report.open(encoding="utf-8-sig", newline="") as handle:
        assert sorted(row["Id"] for row in csv.DictReader(handle)) == sorted(user["id"] for user in second.users)
