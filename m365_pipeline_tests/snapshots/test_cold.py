"""The cold tier: old snapshots move out as self-contained archives (recompressed; an archive storage class on
S3), a base stays hot while a hot incremental needs it, prune then frees the hot store, and a thawed archive
restores exactly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import boto3
import pytest

from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.capture import INCREMENTAL, Sources, create_snapshot
from m365_pipeline.snapshots.check import check
from m365_pipeline.snapshots.cold import (
    ColdNotReadable,
    ColdStore,
    LocalColdStore,
    S3ColdStore,
    cold_snapshots,
    move_to_cold,
    thaw,
)
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.oplog import operations
from m365_pipeline.snapshots.prune import prune
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.restore import RestoreTarget, restore_snapshot
from m365_pipeline.snapshots.retention import RetentionPolicy
from m365_pipeline_tests.snapshots.test_warehouse_snapshots import _scattered_changes
from m365_pipeline_tests.snapshots.warehouse_data import checksums, populate

KEYS = RepositoryKeys(bytes(range(32)))
DAY0 = dt.datetime(2024, 6, 1, 3, tzinfo=dt.UTC)


def _at(days: int) -> dt.datetime:
    return DAY0 + dt.timedelta(days=days)


def _history(tmp_path: Path) -> tuple[Repository, str, dict[str, dict[str, str]], dict[str, str]]:
    """A full on day 0, an incremental on day 1, a full on day 40; the warehouse's checksums at each."""
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=200).dispose()
    repository = Repository.init(LocalBackend(tmp_path / "repo"), KEYS, pack_size=300_000)
    ids, states = {}, {}
    for label, day, kind, seed in (("full0", 0, "full", 1), ("inc1", 1, INCREMENTAL, 2), ("full40", 40, "full", 3)):
        ids[label] = create_snapshot(repository, Sources(source), kind=kind, clock=lambda d=day: _at(d)).snapshot_id
        states[label] = checksums(source)
        _scattered_changes(source, 0.05, seed=seed)
    return repository, source, states, ids


@pytest.mark.parametrize("tier", ["local", "s3"])
def test_old_snapshots_move_to_cold_whole_and_restore_exactly_after_a_thaw(
    tmp_path: Path, tier: str, request: pytest.FixtureRequest
) -> None:
    repository, _, states, ids = _history(tmp_path)
    manifests = {label: repository.manifest(ids[label]) for label in ("full0", "inc1")}
    cold: ColdStore
    if tier == "local":
        cold = LocalColdStore(tmp_path / "cold")
    else:
        endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("s3_bucket")
        cold = S3ColdStore(f"s3://{bucket}/cold", endpoint_url=endpoint, storage_class="GLACIER")
    steps: list[tuple[int, int]] = []
    report = move_to_cold(
        repository,
        cold,
        older_than=dt.timedelta(days=30),
        clock=lambda: _at(45),
        progress=lambda done, total: steps.append((done, total)),
    )

    assert sorted(report.moved) == sorted([ids["full0"], ids["inc1"]]) and report.kept_hot == {}
    # one step per chunk archived: each archive holds its snapshot's chunks, an incremental's with its base's
    total = len(manifests["full0"].chunk_ids()) + len(manifests["full0"].chunk_ids() | manifests["inc1"].chunk_ids())
    assert steps == [(done, total) for done in range(total + 1)]
    assert cold_snapshots(cold) == sorted([ids["full0"], ids["inc1"]])
    assert repository.snapshot_ids() == [ids["full40"]]
    hot_before = sum(p.stat().st_size for p in (tmp_path / "repo" / "packs").rglob("*") if p.is_file())
    prune(repository.backend, KEYS, RetentionPolicy(daily=1, weekly=0), pinned=())
    hot_after = sum(p.stat().st_size for p in (tmp_path / "repo" / "packs").rglob("*") if p.is_file())
    assert hot_after < hot_before and check(repository.backend, KEYS).ok
    if tier == "s3":
        head = boto3.client("s3", endpoint_url=endpoint).head_object(Bucket=bucket, Key=f"cold/{ids['inc1']}")
        assert head["StorageClass"] == "GLACIER"

    assert sorted(thaw(repository, cold, ids["inc1"])) == sorted([ids["inc1"], ids["full0"]])
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    restore_snapshot(repository, ids["inc1"], RestoreTarget(target))
    assert checksums(target) == states["inc1"]
    assert check(repository.backend, KEYS).ok
    assert [o.what for o in operations(repository.backend, KEYS) if o.what.startswith("tier")] == [
        "tier move",
        "tier thaw",
    ]


def test_a_base_stays_hot_while_a_hot_incremental_needs_it(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=30).dispose()
    repository = Repository.init(LocalBackend(tmp_path / "repo"), KEYS)
    full = create_snapshot(repository, Sources(source), clock=lambda: _at(0)).snapshot_id
    old_incremental = create_snapshot(repository, Sources(source), kind=INCREMENTAL, clock=lambda: _at(1))
    _scattered_changes(source, 0.1)
    recent = create_snapshot(repository, Sources(source), kind=INCREMENTAL, clock=lambda: _at(35))
    assert recent.manifest.parent == full

    report = move_to_cold(repository, LocalColdStore(tmp_path / "cold"), clock=lambda: _at(45))
    assert report.moved == [old_incremental.snapshot_id]
    assert report.kept_hot == {full: f"base of {recent.snapshot_id}, which stays hot"}
    assert sorted(repository.snapshot_ids()) == sorted([full, recent.snapshot_id])
    prune(repository.backend, KEYS, RetentionPolicy(daily=1, weekly=0), pinned=())
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    restore_snapshot(repository, recent.snapshot_id, RestoreTarget(target))
    assert checksums(target) == checksums(source)


def test_an_archived_object_is_restored_by_s3_before_it_is_read(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    cold = S3ColdStore(f"s3://{s3_bucket}/cold", endpoint_url=s3_endpoint, storage_class="DEEP_ARCHIVE")
    archive = tmp_path / "archive"
    archive.write_bytes(b"sealed pack bytes")
    name = "ab" * 32
    cold.upload(name, archive)
    with pytest.raises(ColdNotReadable, match="DEEP_ARCHIVE"):
        cold.download(name, tmp_path / "back")
    assert cold.request_restore(name, days=1)  # moto restores at once; S3 would take hours (False meanwhile)
    cold.download(name, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == b"sealed pack bytes"
