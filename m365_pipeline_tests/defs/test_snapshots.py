"""The snapshot assets, schedules, release sensor and restore job on a real temporary Dagster instance, against a
local store and a real SQLite warehouse."""

from __future__ import annotations

import base64
import datetime as dt
import sqlite3
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import InstigatorState, InstigatorStatus, ScheduleInstigatorData

from m365_pipeline import snapshot_system as system
from m365_pipeline.defs.resources import M365Settings
from m365_pipeline.defs.snapshots.assets import (
    FULL_KEY,
    INCREMENTAL_KEY,
    TAGS_KEY,
    SnapshotConfig,
    build_snapshot_assets,
)
from m365_pipeline.defs.snapshots.build import build_snapshot_definitions
from m365_pipeline.defs.snapshots.maintenance import (
    DAILY_VERIFY,
    MAINTENANCE_JOB,
    VERIFY_JOB,
    WEEKLY_MAINTENANCE,
    VerifyConfig,
)
from m365_pipeline.defs.snapshots.restore import RESTORE_JOB, RestoreConfig, SystemBusy, system_stopped
from m365_pipeline.defs.snapshots.schedules import (
    DAILY_INCREMENTAL,
    FULL_OP,
    RELEASE_TAG,
    WEEKLY_FULL,
    build_release_tag_sensor,
    build_snapshot_jobs,
)
from m365_pipeline.settings import load_settings
from m365_pipeline.snapshots.tags import TagName
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import upgrade_to_head

KEY = base64.b64encode(bytes(range(32))).decode()


def _definitions() -> dg.Definitions:
    return dg.Definitions.merge(build_snapshot_definitions(), dg.Definitions(resources={"settings": M365Settings()}))


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A system: a migrated SQLite warehouse, one report, a dagster.yaml; the snapshot key in the environment."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dagster.yaml").write_text("run_queue:\n  max_concurrent_runs: 1\n")
    data = tmp_path / "data"
    for name in ("M365_DATABASE_URL", "M365_SNAPSHOT_STORE", "M365_SNAPSHOT_PASSPHRASE", "M365_RAW_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("M365_DATA_DIR", str(data))
    monkeypatch.setenv("M365_SNAPSHOT_KEY", KEY)
    engine = create_warehouse_engine(load_settings().database_url)
    upgrade_to_head(engine)
    engine.dispose()
    report = data / "reports" / "tenant" / "AllUsers_20261201_060000.csv"
    report.parent.mkdir(parents=True)
    report.write_bytes(b'"UserPrincipalName"\r\n"a@contoso.com"\r\n')
    return data


def _materialize(
    keys: list[dg.AssetKey], instance: dg.DagsterInstance, tag_type: str = ""
) -> dg.ExecuteInProcessResult:
    assets = [a for a in build_snapshot_assets() if a.key in keys]
    config = dg.RunConfig(ops={FULL_OP: SnapshotConfig(tag_type=tag_type, commit="ab" * 20)}) if tag_type else None
    return dg.materialize(assets, resources={"settings": M365Settings()}, run_config=config, instance=instance)


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, object]:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    materialization = event.materialization
    assert materialization is not None
    return {name: value.value for name, value in materialization.metadata.items()}


def test_a_full_then_an_incremental_with_their_metadata_and_the_tags(data_dir: Path) -> None:
    with dg.instance_for_test() as instance:
        full = _metadata(_materialize([FULL_KEY, TAGS_KEY], instance, tag_type="weekly"), FULL_KEY)
        assert full["kind"] == "full"
        assert full["tag"] == f"dev-weekly-{system.code_version()}-{dt.date.today():%Y%m%d}"
        assert isinstance(full["size_bytes"], int) and full["size_bytes"] > 0
        assert full["taken_as_full_because"] == ""
        assert isinstance(full["stored_bytes"], int) and 0 < full["stored_bytes"] < full["size_bytes"]
        assert full["size_bytes/reports"] == 38
        assert {"snapshot_id", "dedup_ratio", "duration_seconds", "store"} <= set(full)

        result = _materialize([INCREMENTAL_KEY, TAGS_KEY], instance)
        incremental = _metadata(result, INCREMENTAL_KEY)
        assert incremental["parent"] == full["snapshot_id"]
        assert incremental["kind"] == "incremental"
        assert isinstance(incremental["size_bytes"], int) and incremental["size_bytes"] < full["size_bytes"]  # no dump
        tags = _metadata(result, TAGS_KEY)
        assert tags["tag_count"] == 1
        assert str(full["tag"]) in str(tags["tags"])


def test_an_incremental_without_a_full_is_taken_as_a_full(data_dir: Path) -> None:
    with dg.instance_for_test() as instance:
        result = _materialize([INCREMENTAL_KEY], instance)
        metadata = _metadata(result, INCREMENTAL_KEY)
        assert metadata["kind"] == "full"
        assert "no full snapshot of 'dev'" in str(metadata["taken_as_full_because"])


def test_the_schedules_run_at_the_old_tools_hours_in_tokyo() -> None:
    defs = _definitions()
    weekly, daily = defs.resolve_schedule_def(WEEKLY_FULL), defs.resolve_schedule_def(DAILY_INCREMENTAL)
    assert (weekly.cron_schedule, weekly.execution_timezone) == ("0 2 * * 0", "Asia/Tokyo")
    assert (daily.cron_schedule, daily.execution_timezone) == ("0 3 * * 1-5", "Asia/Tokyo")
    sunday = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=sunday) as context,
    ):
        request = weekly.evaluate_tick(context).run_requests[0]
    assert request.run_config["ops"][FULL_OP]["config"]["tag_type"] == "weekly"
    assert daily.job_name == "snapshot_incremental"


def test_the_release_sensor_tags_a_new_commit_once(data_dir: Path) -> None:
    full, _ = build_snapshot_jobs()
    sensor = build_release_tag_sensor(full)
    commit = system.current_commit(load_settings())
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"settings": M365Settings()})
        (request,) = sensor(context).run_requests  # type: ignore[union-attr]
        assert request.run_key == f"release-{commit}"
        assert request.run_config["ops"][FULL_OP]["config"] == {"tag_type": "release", "commit": commit}

        snapshot = system.create_snapshot(load_settings(), "full", ("config",))
        repository = system.open_store(load_settings())
        name = system.free_tag_name(repository, "dev", "release", commit, dt.date.today())
        system.make_tag(repository, load_settings(), name, snapshot.snapshot_id, commit=commit)
        context = dg.build_sensor_context(instance=instance, resources={"settings": M365Settings()})
        skipped = sensor(context)
        assert isinstance(skipped, dg.SkipReason)
        assert f"is tagged {name} already" in str(skipped.skip_message)
        # the same version again on the same day (another commit): the commit becomes part of the name
        other = system.free_tag_name(repository, "dev", "release", "cd" * 20, dt.date.today())
        assert str(other) == f"dev-release-{system.code_version()}-gcdcdcdc-{dt.date.today():%Y%m%d}"
    assert sensor.name == RELEASE_TAG


def _running_schedule(instance: dg.DagsterInstance, name: str) -> None:
    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("m365_pipeline"), "__repository__")
    state = InstigatorState(
        RemoteInstigatorOrigin(repository, name),
        InstigatorType.SCHEDULE,
        InstigatorStatus.RUNNING,
        ScheduleInstigatorData("0 2 * * 0", 0.0),
    )
    instance.add_instigator_state(state)


def _statuses(instance: dg.DagsterInstance) -> dict[str, InstigatorStatus]:
    return {state.instigator_name: state.status for state in instance.all_instigator_state()}


def test_the_stop_step_pauses_schedules_and_refuses_beside_another_run() -> None:
    log = dg.build_op_context().log.info
    with dg.instance_for_test() as instance:
        _running_schedule(instance, WEEKLY_FULL)
        with system_stopped(instance, "own-run", log) as paused:
            assert paused == [WEEKLY_FULL]
            assert _statuses(instance) == {WEEKLY_FULL: InstigatorStatus.STOPPED}
        assert _statuses(instance) == {WEEKLY_FULL: InstigatorStatus.RUNNING}

        full = _definitions().resolve_job_def("snapshot_full")
        busy = instance.create_run_for_job(full, status=dg.DagsterRunStatus.STARTED)
        refused = pytest.raises(SystemBusy, match=f"1 other run.s. in progress .e.g. snapshot_full {busy.run_id}")
        with refused, system_stopped(instance, "own-run", log):
            pass
        assert _statuses(instance) == {WEEKLY_FULL: InstigatorStatus.RUNNING}  # released after the refusal too


def test_the_restore_job_restores_checks_and_releases(data_dir: Path, tmp_path: Path) -> None:
    tagged = system.create_snapshot(load_settings(), "full")
    repository = system.open_store(load_settings())
    name = TagName.parse("dev-manual-v0.1.0-20261201")
    system.make_tag(repository, load_settings(), name, tagged.snapshot_id, commit="ab" * 20)
    job = _definitions().resolve_job_def(RESTORE_JOB)
    target = tmp_path / "regression"
    config = dg.RunConfig(ops={"restore": RestoreConfig(reference="dev-manual-v0.1.0-20261201", target=str(target))})
    with dg.instance_for_test() as instance:
        _running_schedule(instance, DAILY_INCREMENTAL)
        result = job.execute_in_process(run_config=config, instance=instance)
        assert result.success
        assert _statuses(instance) == {DAILY_INCREMENTAL: InstigatorStatus.RUNNING}
        report = target / "reports" / "tenant" / "AllUsers_20261201_060000.csv"
        assert report.read_bytes() == (data_dir / "reports" / "tenant" / "AllUsers_20261201_060000.csv").read_bytes()
        with sqlite3.connect(target / "warehouse.sqlite") as restored:
            assert restored.execute("SELECT count(*) FROM m365_alembic_version").fetchone() == (1,)

        again = job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)
        assert not again.success  # the files exist: refused without force
        assert "use force to replace" in str(again.get_step_failure_events()[0].event_specific_data)
        assert _statuses(instance) == {DAILY_INCREMENTAL: InstigatorStatus.RUNNING}


def test_the_weekly_maintenance_tiers_and_prunes(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M365_SNAPSHOT_KEEP_DAILY", "1")
    monkeypatch.setenv("M365_SNAPSHOT_KEEP_WEEKLY", "0")
    for _ in range(2):
        system.create_snapshot(load_settings(), "full", ("config",))
    definitions = _definitions()
    schedule = definitions.resolve_schedule_def(WEEKLY_MAINTENANCE)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 4 * * 0", "Asia/Tokyo")
    with dg.instance_for_test() as instance:
        result = definitions.resolve_job_def(MAINTENANCE_JOB).execute_in_process(instance=instance)
        messages = _messages(instance, result.run_id)
    assert result.success
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {name: value.value for name, value in event.event_specific_data.metadata.items()}  # type: ignore[union-attr]
    assert metadata["moved_to_cold"] == 0  # younger than M365_COLD_AFTER_DAYS
    assert (metadata["forgotten"], metadata["kept"]) == (1, 1)
    assert len(system.list_snapshots(system.open_store(load_settings()))) == 1
    assert any(m.startswith("prune: 100% of ") for m in messages), messages


def _messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id)]


def test_the_daily_verify_reads_todays_slice_then_everything_and_names_a_flipped_bit(data_dir: Path) -> None:
    system.create_snapshot(load_settings(), "full")
    definitions = _definitions()
    schedule = definitions.resolve_schedule_def(DAILY_VERIFY)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 5 * * *", "Asia/Tokyo")
    job = definitions.resolve_job_def(VERIFY_JOB)
    packs = sorted(p for p in (data_dir / "snapshots" / "packs").rglob("*") if p.is_file())
    with dg.instance_for_test() as instance:
        whole = job.execute_in_process(
            instance=instance, run_config=dg.RunConfig(ops={"verify": VerifyConfig(slices=1)})
        )
        assert whole.success
        (event,) = [e for e in whole.all_events if e.event_type_value == "STEP_OUTPUT"]
        metadata = {n: v.value for n, v in event.event_specific_data.metadata.items()}  # type: ignore[union-attr]
        assert (metadata["slice"], metadata["packs_read"], metadata["snapshots"]) == ("all", len(packs), 1)
        total = len(packs) + 1
        assert f"verify: 100% of {total} snapshots and packs, about 0 s left" in _messages(instance, whole.run_id)

        data = bytearray(packs[0].read_bytes())
        data[len(data) // 2] ^= 0x01
        packs[0].write_bytes(bytes(data))
        broken = job.execute_in_process(
            instance=instance, run_config=dg.RunConfig(ops={"verify": VerifyConfig(slices=1)}), raise_on_error=False
        )
        assert not broken.success
        assert f"pack {packs[0].name}" in str(broken.get_step_failure_events()[0].event_specific_data)


def test_the_deployed_commit_can_be_given(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M365_CODE_COMMIT", "cd" * 20)
    full, _ = build_snapshot_jobs()
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"settings": M365Settings()})
        (request,) = build_release_tag_sensor(full)(context).run_requests  # type: ignore[union-attr]
    assert request.run_key == f"release-{'cd' * 20}"


def test_the_restore_job_refuses_a_password_in_its_config(data_dir: Path, tmp_path: Path) -> None:
    system.create_snapshot(load_settings(), "full", ("config",))
    job = _definitions().resolve_job_def(RESTORE_JOB)
    url = "postgresql://restorer:s3cret@127.0.0.1:5432/regression"
    config = dg.RunConfig(ops={"restore": RestoreConfig(target=str(tmp_path / "out"), warehouse_url=url)})
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(run_config=config, instance=instance, raise_on_error=False)
    assert not result.success
    message = str(result.get_step_failure_events()[0].event_specific_data)
    assert "warehouse_url holds a password" in message and "s3cret" not in message
    assert not (tmp_path / "out").exists()


def test_a_restore_without_the_warehouse_checks_nothing_and_creates_no_database(data_dir: Path, tmp_path: Path) -> None:
    system.create_snapshot(load_settings(), "full")
    job = _definitions().resolve_job_def(RESTORE_JOB)
    target = tmp_path / "reports-only"
    config = dg.RunConfig(ops={"restore": RestoreConfig(target=str(target), components=["reports"])})
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(run_config=config, instance=instance)
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {name: value.value for name, value in event.event_specific_data.metadata.items()}  # type: ignore[union-attr]
    assert metadata["asset_checks"] == [] and metadata["files"] == 1
    assert sorted(p.name for p in target.iterdir()) == ["reports"]
