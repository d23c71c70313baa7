"""Retention decides what to keep (daily, weekly, tagged, bases of kept incrementals); prune removes the rest and
never anything a kept snapshot needs."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from m365_pipeline.snapshots.archiver import archive_folder
from m365_pipeline.snapshots.backend import Backend, LocalBackend
from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.check import check
from m365_pipeline.snapshots.chunker import Chunker
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import Manifest, load_manifest, save_manifest, snapshot_ids
from m365_pipeline.snapshots.prune import PruneRefused, prune
from m365_pipeline.snapshots.restorer import restore_files
from m365_pipeline.snapshots.retention import RetentionPolicy, SnapshotSummary, decide

KEYS = RepositoryKeys(bytes(range(32)))
MONDAY = dt.datetime(2024, 6, 24, 3, tzinfo=dt.UTC)


def _s(name: str, days: float, parent: str | None = None) -> SnapshotSummary:
    return SnapshotSummary(name, MONDAY + dt.timedelta(days=days), parent)


SNAPSHOTS = [
    _s("w1-full", -7),
    _s("w1-inc", -6, "w1-full"),
    _s("mon-full", 0),
    _s("tue-inc", 1, "mon-full"),
    _s("wed-inc-early", 2, "mon-full"),
    _s("wed-inc", 2.5, "mon-full"),
    _s("thu-inc", 3, "wed-inc"),
]


@pytest.mark.parametrize(
    ("policy", "pinned", "keep"),
    [
        (
            RetentionPolicy(daily=1, weekly=0),
            (),
            {"thu-inc": "daily", "wed-inc": "base of thu-inc", "mon-full": "base of thu-inc"},
        ),
        (RetentionPolicy(daily=2, weekly=0), (), {"thu-inc", "wed-inc", "mon-full"}),
        (RetentionPolicy(daily=3, weekly=0), (), {"thu-inc", "wed-inc", "tue-inc", "mon-full"}),
        (RetentionPolicy(daily=0, weekly=2), (), {"thu-inc", "wed-inc", "mon-full", "w1-inc", "w1-full"}),
        (
            RetentionPolicy(daily=0, weekly=0),
            ("wed-inc-early",),
            {"wed-inc-early": "tagged", "mon-full": "base of wed-inc-early"},
        ),
        (RetentionPolicy(daily=0, weekly=0), (), set()),
    ],
)
def test_decide(policy: RetentionPolicy, pinned: tuple[str, ...], keep: set[str] | dict[str, str]) -> None:
    decision = decide(policy, SNAPSHOTS, pinned)
    if isinstance(keep, dict):
        assert decision.keep == keep
    assert set(decision.keep) == set(keep)
    assert set(decision.forget) == {s.id for s in SNAPSHOTS} - set(keep)


def _snapshot_day(backend: Backend, root: Path, day: int, files: dict[str, bytes], parent: str | None) -> str:
    for name, data in files.items():
        (root / name).write_bytes(data)
    with BlobSaver(backend, KEYS, Index.load(backend, KEYS.encryption), pack_size=512 * 1024) as saver:
        entries = archive_folder(saver, Chunker(KEYS.chunk_id), root)
    manifest = Manifest(
        "full" if parent is None else "incremental",
        "h",
        {"artifacts": entries},
        parent=parent,
        created_at=MONDAY + dt.timedelta(days=day),
    )
    return save_manifest(backend, KEYS, manifest)


def test_prune_removes_only_what_no_kept_snapshot_needs(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "repo")
    source = tmp_path / "source"
    source.mkdir()
    rng = random.Random(1)
    shared = rng.randbytes(2_000_000)
    contents = []
    ids: list[str] = []
    for day in range(4):
        files = {"shared.bin": shared, "daily.bin": rng.randbytes(1_500_000)}
        for old in source.iterdir():
            old.unlink()
        ids.append(_snapshot_day(backend, source, day, files, None))
        contents.append(files)
    before = sum(backend.size("packs", n) for n in backend.names("packs"))

    dry = prune(backend, KEYS, RetentionPolicy(daily=1, weekly=0), pinned={ids[1]}, pack_size=512 * 1024, dry_run=True)
    assert set(snapshot_ids(backend)) == set(ids) and dry.packs_removed > 0
    steps: list[tuple[int, int]] = []
    report = prune(
        backend,
        KEYS,
        RetentionPolicy(daily=1, weekly=0),
        pinned={ids[1]},
        pack_size=512 * 1024,
        progress=lambda done, total: steps.append((done, total)),
    )
    assert report.decision.keep == {ids[3]: "daily", ids[1]: "tagged"}
    # every snapshot forgotten, blob copied and pack removed is a step, from none to all
    total = steps[0][1]
    assert total >= len(report.decision.forget) + report.packs_removed > 0
    assert steps == [(done, total) for done in range(total + 1)]
    assert set(snapshot_ids(backend)) == {ids[1], ids[3]}
    after = sum(backend.size("packs", n) for n in backend.names("packs"))
    assert after < before * 0.75 and report.bytes_removed > 0
    result = check(backend, KEYS)
    assert result.ok, result.problems
    index = Index.load(backend, KEYS.encryption)
    for day in (1, 3):
        target = tmp_path / f"restored-{day}"
        restore_files(backend, KEYS, index, load_manifest(backend, KEYS, ids[day]).components["artifacts"], target)
        assert {p.name: p.read_bytes() for p in target.iterdir()} == contents[day]
    assert len(list(backend.names("index"))) == 1
    assert list(backend.names("locks")) == []


def test_prune_refuses_when_a_kept_snapshot_misses_a_chunk(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "repo")
    source = tmp_path / "source"
    source.mkdir()
    snapshot_id = _snapshot_day(backend, source, 0, {"a.bin": random.Random(2).randbytes(1_000_000)}, None)
    packs = list(backend.names("packs"))
    backend.remove("packs", packs[0])
    with pytest.raises(PruneRefused, match="missing"):
        prune(backend, KEYS, RetentionPolicy(daily=1), pinned=())
    assert snapshot_ids(backend) == [snapshot_id] and set(backend.names("packs")) == set(packs[1:])


def test_prune_keeps_the_base_full_a_kept_warehouse_incremental_restores_from(tmp_path: Path) -> None:
    from m365_pipeline.snapshots.capture import INCREMENTAL, Sources, create_snapshot
    from m365_pipeline.snapshots.repository import Repository
    from m365_pipeline.snapshots.restore import RestoreTarget, restore_snapshot
    from m365_pipeline_tests.snapshots.test_warehouse_snapshots import _scattered_changes
    from m365_pipeline_tests.snapshots.warehouse_data import checksums, populate

    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=150).dispose()
    repository = Repository.init(LocalBackend(tmp_path / "repo"), KEYS, pack_size=200_000)
    days = iter(MONDAY + dt.timedelta(days=n) for n in range(10))
    old_full = create_snapshot(repository, Sources(source), clock=lambda: next(days))
    _scattered_changes(source, 0.05, seed=1)
    base = create_snapshot(repository, Sources(source), clock=lambda: next(days))
    _scattered_changes(source, 0.05, seed=2)
    create_snapshot(repository, Sources(source), kind=INCREMENTAL, clock=lambda: next(days))
    _scattered_changes(source, 0.05, seed=3)
    newest = create_snapshot(repository, Sources(source), kind=INCREMENTAL, clock=lambda: next(days))
    assert newest.manifest.parent == base.snapshot_id

    report = prune(repository.backend, KEYS, RetentionPolicy(daily=1, weekly=0), pinned=())
    assert report.decision.keep == {newest.snapshot_id: "daily", base.snapshot_id: f"base of {newest.snapshot_id}"}
    assert old_full.snapshot_id in report.decision.forget and report.packs_removed > 0
    assert check(repository.backend, KEYS).ok
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    restore_snapshot(repository, newest.snapshot_id, RestoreTarget(target))
    assert checksums(target) == checksums(source)
