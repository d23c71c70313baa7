"""The restore job's post-check: the code location's own warehouse checks, executed by Dagster on the restored
warehouse (a warehouse loaded by the real pipeline from the emulator, snapshotted, restored through the job's run
config as the UI launches it)."""

from __future__ import annotations

import base64
import shutil
import sqlite3
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline import snapshot_system as system
from m365_pipeline.defs.directory.checks import CONSUMED_UNITS_MATCH, LICENSES_HAVE_USERS
from m365_pipeline.defs.legacy.migration import ROWS_RECONCILE
from m365_pipeline.defs.main_run import run_main_job
from m365_pipeline.defs.resources import M365Settings
from m365_pipeline.defs.snapshots import restore_checks
from m365_pipeline.defs.snapshots.build import build_snapshot_definitions
from m365_pipeline.defs.snapshots.restore import RESTORE_JOB, RestoreConfig
from m365_pipeline.legacy.inbox import partition_key
from m365_pipeline.legacy.load import migrate_file
from m365_pipeline.settings import load_settings
from m365_pipeline.snapshots.restore import MARKER_TABLE
from m365_pipeline.sources import configured_tenants
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline_tests.defs.conftest import embedded_environment
from m365_pipeline_tests.legacy.conftest import SAMPLES

KEY = base64.b64encode(bytes(range(32))).decode()


def _system_environment(monkeypatch: pytest.MonkeyPatch, data_dir: Path, cwd: Path) -> None:
    embedded_environment(monkeypatch, data_dir)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("M365_SNAPSHOT_KEY", KEY)
    for name in ("M365_SNAPSHOT_STORE", "M365_SNAPSHOT_PASSPHRASE", "M365_RAW_STORE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def _filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The pipeline run once for the module: the system's data folder (every test works on it, from a fresh copy
    of it as the run left it: the run records its absolute paths), that copy, the tenant's directory id."""
    folder = tmp_path_factory.mktemp("restore_checks")
    data_dir, pristine = folder / "data", folder / "as_filled"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _system_environment(monkeypatch, data_dir, folder)
        assert run_main_job(dg.DagsterInstance.ephemeral()).success
        (tenant,) = configured_tenants(load_settings())
    shutil.copytree(data_dir, pristine)
    return data_dir, pristine, tenant


@pytest.fixture
def loaded(_filled: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A system the pipeline filled from the emulator (this test's own copy of it); its tenant's directory id."""
    data_dir, pristine, tenant = _filled
    shutil.rmtree(data_dir)
    shutil.copytree(pristine, data_dir)
    _system_environment(monkeypatch, data_dir, tmp_path)
    return tenant


def _migrate_legacy_file(tenant_id: str) -> str:
    """One of the old tool's reports migrated into the warehouse (3 rows of legacy_entra_mfa); its partition key."""
    engine = create_warehouse_engine(load_settings().database_url)
    try:
        migrated = migrate_file(engine, SAMPLES / "EntraIdMFA_20250624_115126.csv", tenant_id)
    finally:
        engine.dispose()
    assert migrated.rows_loaded == 3
    return partition_key(tenant_id, migrated.sha256)


def _restore(target: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = dg.Definitions.merge(
        build_snapshot_definitions(), dg.Definitions(resources={"settings": M365Settings()})
    ).resolve_job_def(RESTORE_JOB)
    config = dg.RunConfig(ops={"restore": RestoreConfig(reference="latest", target=str(target))})
    return job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)


def _output_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return {name: value.value for name, value in event.event_specific_data.metadata.items()}  # type: ignore[union-attr]


def test_a_good_restore_passes_the_checks_and_carries_their_outcomes(loaded: str, tmp_path: Path) -> None:
    legacy_file = _migrate_legacy_file(loaded)
    system.create_snapshot(load_settings(), "full")
    with dg.instance_for_test() as instance:
        result = _restore(tmp_path / "regression", instance)
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert result.success
    assert any(m.startswith("restored: 100% of ") for m in messages), messages  # progress, logged to the end
    checks = {(c["check"], c["partition"]): c for c in _output_metadata(result)["asset_checks"]}  # type: ignore[union-attr]
    assert set(checks) == {
        (f"warehouse/user_licenses:{LICENSES_HAVE_USERS}", loaded),
        (f"warehouse/skus:{CONSUMED_UNITS_MATCH}", loaded),
        (f"legacy/migrated_files:{ROWS_RECONCILE}", legacy_file),
    }
    assert all(c["passed"] and c["blocking"] for c in checks.values())


def test_a_restored_warehouse_that_fails_a_blocking_check_fails_the_restore_marked_and_named(
    loaded: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(load_settings().database_url)
    with engine.begin() as connection:
        sku_id = connection.execute(sa.select(schema.skus.c.sku_id).limit(1)).scalar_one()
        connection.execute(
            sa.insert(schema.user_licenses).values(
                tenant_id=loaded, user_id="00000000-0000-0000-0000-0000000000ff", sku_id=sku_id, disabled_plans=""
            )
        )
    engine.dispose()
    system.create_snapshot(load_settings(), "full")
    target = tmp_path / "regression"

    with dg.instance_for_test() as instance:
        result = _restore(target, instance)

    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = str(failure.event_specific_data)
    assert f"warehouse/user_licenses:{LICENSES_HAVE_USERS} [{loaded}] FAILED" in message
    assert "'licenses_without_user': 1" in message
    with sqlite3.connect(target / "warehouse.sqlite") as restored:
        marker = restored.execute(f"SELECT status, step, detail FROM {MARKER_TABLE}").fetchall()
    assert [(status, step) for status, step, _ in marker] == [("failed", "post_check")]
    assert LICENSES_HAVE_USERS in marker[0][2]


def test_a_legacy_file_that_no_longer_reconciles_fails_the_restore(loaded: str, tmp_path: Path) -> None:
    legacy_file = _migrate_legacy_file(loaded)
    engine = sa.create_engine(load_settings().database_url)
    with engine.begin() as connection:
        table = schema.LEGACY_TABLES["entra_mfa"]
        connection.execute(sa.delete(table).where(table.c.source_row == 2))
    engine.dispose()
    system.create_snapshot(load_settings(), "full")

    with dg.instance_for_test() as instance:
        result = _restore(tmp_path / "regression", instance)

    assert not result.success
    message = str(result.get_step_failure_events()[0].event_specific_data)
    assert f"legacy/migrated_files:{ROWS_RECONCILE} [{legacy_file}] FAILED" in message
    assert "holds 2 rows of the file, the ledger says 3" in message
    assert LICENSES_HAVE_USERS not in message


def test_check_runs_share_an_instance_renewed_after_its_share_of_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restore_checks, "RUNS_PER_INSTANCE", 2)
    with restore_checks._Instances() as instances:
        given = [instances.next() for _ in range(5)]
    assert [id(i) for i in given[:2]] == [id(given[0])] * 2
    assert given[2] is given[3] and given[2] is not given[0]
    assert given[4] is not given[2]
    assert len({id(i) for i in given}) == 3
