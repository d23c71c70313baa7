"""The legacy inbox in Dagster, on a real instance: the sensor adds one partition per new file (none for the same file
dropped again), the partition's run migrates it with its figures as metadata, and the blocking check reconciles."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from m365_pipeline.defs.legacy.migration import (
    LEGACY_FILES,
    PATH_TAG,
    ROWS_RECONCILE,
    legacy_inbox_sensor,
    migrated_files,
    rows_reconcile,
)
from m365_pipeline.defs.resources import build_resources
from m365_pipeline.emulator.tenant import tenant_id_for_seed
from m365_pipeline.legacy.inbox import parse_partition_key
from m365_pipeline.warehouse.schema import LEGACY_TABLES
from m365_pipeline_tests.legacy.conftest import SAMPLES

SEED = 7


@pytest.fixture
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"the legacy samples folder {SAMPLES} is missing")
    for name in ("M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_DATABASE_URL", "M365_EMULATOR_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("M365_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("M365_EMULATOR_SEED", str(SEED))
    folder = tmp_path / "inbox"
    folder.mkdir()
    monkeypatch.setenv("M365_LEGACY_INBOX", str(folder))
    return folder


class _Daemon:
    """Evaluates the sensor as the daemon does: keeps its cursor and applies its partition requests."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self.cursor: str | None = None

    def tick(self) -> list[dg.RunRequest]:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"settings": build_resources()["settings"]}
        )
        result = legacy_inbox_sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            assert isinstance(request, dg.AddDynamicPartitionsRequest)
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return list(result.run_requests or [])


def test_one_partition_per_new_file_and_none_for_the_same_file_dropped_again(inbox: Path) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        daemon = _Daemon(instance)
        assert daemon.tick() == []
        first = shutil.copy(SAMPLES / "AllUsers_20250716_210654.csv", inbox / "AllUsers_20250716_210654.csv")
        assert daemon.tick() == []  # seen once: it may still be being copied
        (request,) = daemon.tick()
        assert request.tags[PATH_TAG] == str(first)
        tenant_id, _ = parse_partition_key(request.partition_key or "")
        assert tenant_id == tenant_id_for_seed(SEED)
        assert instance.get_dynamic_partitions(LEGACY_FILES.name or "") == [request.partition_key]

        # the same content again: under another name, and copied over itself (a new modification time)
        shutil.copy(first, inbox / "copy of AllUsers.csv")
        shutil.copy(SAMPLES / "AllUsers_20250716_210654.csv", first)
        assert daemon.tick() == []
        assert daemon.tick() == []
        assert instance.get_dynamic_partitions(LEGACY_FILES.name or "") == [request.partition_key]

        shutil.copy(SAMPLES / "EntraIdMFA_20250624_115126.csv", inbox / "EntraIdMFA_20250624_115126.csv")
        (sub := inbox / "Reports" / "Daily").mkdir(parents=True)
        shutil.copy(SAMPLES / "ExchangeMailFlow_20250624_114706.csv", sub / "ExchangeMailFlow_20250624_114706.csv")
        assert daemon.tick() == []
        new = daemon.tick()
        assert len(new) == 2
        assert len(instance.get_dynamic_partitions(LEGACY_FILES.name or "")) == 3
        assert daemon.tick() == []


def test_a_partition_run_migrates_its_file_and_the_check_reconciles(inbox: Path) -> None:
    path = shutil.copy(SAMPLES / "EntraIdMFA_20250624_115126.csv", inbox / "EntraIdMFA_20250624_115126.csv")
    with dg.DagsterInstance.ephemeral() as instance:
        daemon = _Daemon(instance)
        daemon.tick()
        (request,) = daemon.tick()
        key = request.partition_key or ""
        result = dg.materialize(
            [migrated_files, rows_reconcile],
            partition_key=key,
            instance=instance,
            resources=build_resources(),
            tags=request.tags,
        )
        assert result.success
        (materialization,) = result.asset_materializations_for_node("legacy__migrated_files")
        figures = {name: value.value for name, value in materialization.metadata.items()}
        assert (figures["status"], figures["rows_in"], figures["rows_loaded"], figures["rows_quarantined"]) == (
            "loaded",
            3,
            3,
            0,
        )
        assert figures["report_type"] == "entra_mfa"
        assert figures["path"] == str(path)
        (evaluation,) = result.get_asset_check_evaluations()
        assert (evaluation.check_name, evaluation.passed) == (ROWS_RECONCILE, True)

        # a row removed behind the ledger's back: the re-run changes nothing and the check fails, blocking
        table = LEGACY_TABLES["entra_mfa"]
        engine = sa.create_engine(f"sqlite:///{inbox.parent / 'data' / 'warehouse.db'}")
        with engine.begin() as connection:
            connection.execute(sa.delete(table).where(table.c.source_row == 2))
        engine.dispose()
        again = dg.materialize(
            [migrated_files, rows_reconcile],
            partition_key=key,
            instance=instance,
            resources=build_resources(),
            raise_on_error=False,
        )  # no path tag: the run finds the file in the inbox by its content
        (materialization,) = again.asset_materializations_for_node("legacy__migrated_files")
        assert materialization.metadata["already_migrated"].value is True
        (evaluation,) = again.get_asset_check_evaluations()
        assert not evaluation.passed
        assert "holds 2 rows of the file, the ledger says 3" in str(evaluation.metadata["problems"].value)


def test_with_several_tenants_a_file_belongs_to_the_tenant_of_its_subfolder(
    inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("M365_EMULATOR_SEED", "7,8")
    other = tenant_id_for_seed(8)
    (inbox / other).mkdir()
    shutil.copy(SAMPLES / "EntraIdMFA_20250624_115126.csv", inbox / other / "EntraIdMFA_20250624_115126.csv")
    shutil.copy(SAMPLES / "AllUsers_20250716_210654.csv", inbox / "AllUsers_20250716_210654.csv")  # nobody's
    with dg.DagsterInstance.ephemeral() as instance:
        daemon = _Daemon(instance)
        daemon.tick()
        (request,) = daemon.tick()
        assert parse_partition_key(request.partition_key or "")[0] == other
        assert daemon.tick() == []
