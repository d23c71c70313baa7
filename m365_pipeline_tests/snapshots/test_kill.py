"""Killed with SIGKILL at random points during snapshots, the store still checks clean (data read), holds no tag
without its snapshot, and the next snapshot succeeds."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.check import check
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import load_manifest, snapshot_ids
from m365_pipeline.snapshots.tag_store import TagStore

KEYS = RepositoryKeys(bytes(range(32)))

SNAPSHOT_LOOP = textwrap.dedent(
    """
    import datetime as dt, random, sys
    from pathlib import Path
    from m365_pipeline.snapshots.archiver import archive_folder
    from m365_pipeline.snapshots.backend import LocalBackend
    from m365_pipeline.snapshots.blobs import BlobSaver
    from m365_pipeline.snapshots.chunker import Chunker
    from m365_pipeline.snapshots.index import Index
    from m365_pipeline.snapshots.keys import RepositoryKeys
    from m365_pipeline.snapshots.locks import Lock
    from m365_pipeline.snapshots.manifests import Manifest, save_manifest
    from m365_pipeline.snapshots.tag_store import TagStore
    from m365_pipeline.snapshots.tags import Tag, TagName

    repo, source, counter = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    backend, keys = LocalBackend(repo), RepositoryKeys(bytes(range(32)))
    backend.remove_abandoned()
    while True:
        counter += 1
        (source / "daily.bin").write_bytes(random.Random(counter).randbytes(2_000_000))
        with Lock(backend, keys, "snapshot", exclusive=False):
            with BlobSaver(backend, keys, Index.load(backend, keys.encryption), pack_size=256 * 1024) as saver:
                entries = archive_folder(saver, Chunker(keys.chunk_id), source)
            snapshot_id = save_manifest(backend, keys, Manifest("full", "h", {"artifacts": entries}))
            name = TagName.of("test", "manual", f"v0.0.{counter}", dt.date(2024, 6, 24))
            TagStore(backend, keys).create(Tag(name, "a" * 40, "0007", "b" * 64, snapshot_id))
        print(counter, flush=True)
    """
)


def _run(repo: Path, source: Path, counter: int, kill_after: float | None) -> int:
    process = subprocess.Popen(
        [sys.executable, "-c", SNAPSHOT_LOOP, str(repo), str(source), str(counter)], stdout=subprocess.PIPE, text=True
    )
    if kill_after is None:  # let one snapshot finish, then stop
        line = process.stdout.readline()  # type: ignore[union-attr]
        process.kill()
        process.wait()
        return int(line)
    time.sleep(kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process.returncode


def test_sigkill_at_random_points_leaves_a_clean_store(tmp_path: Path) -> None:
    repo, source = tmp_path / "repo", tmp_path / "source"
    source.mkdir()
    (source / "shared.bin").write_bytes(random.Random(0).randbytes(1_000_000))
    backend = LocalBackend(repo)
    rng = random.Random(21)
    for round_ in range(8):
        assert _run(repo, source, round_ * 1000, kill_after=rng.uniform(0.3, 2.0)) == -signal.SIGKILL
        spools = len(list((repo / "tmp").iterdir())) if (repo / "tmp").exists() else 0
        report = check(backend, KEYS)
        assert report.ok, (round_, report.problems)
        tags = len(TagStore(backend, KEYS).names())
        print(f"round {round_}: {tags} tags, {len(report.unindexed)} unindexed packs, {spools} spool(s) left")
        for tag in TagStore(backend, KEYS).tags():  # no tag without its whole snapshot
            assert tag.snapshot_id in snapshot_ids(backend)
            load_manifest(backend, KEYS, tag.snapshot_id)
    finished = _run(repo, source, 9000, kill_after=None)  # the next snapshot succeeds
    assert finished == 9001
    assert check(backend, KEYS).ok
    assert len(list(TagStore(backend, KEYS).names())) >= 1
    backend.remove_abandoned()
    assert list((repo / "tmp").iterdir()) == []


WAREHOUSE_LOOP = textwrap.dedent(
    """
    import random, sys
    import sqlalchemy as sa
    from pathlib import Path
    from m365_pipeline.snapshots.backend import LocalBackend
    from m365_pipeline.snapshots.capture import Sources, create_snapshot
    from m365_pipeline.snapshots.repository import Repository

    repo, source, counter = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    backend = LocalBackend(repo)
    backend.remove_abandoned()
    repository = Repository.open(backend, {"M365_SNAPSHOT_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="})
    engine = sa.create_engine(source)
    while True:
        counter += 1
        with engine.begin() as connection:
            scattered = sa.text("UPDATE users SET job_title = :t WHERE abs(random()) % 20 = 0")
            connection.execute(scattered, {"t": str(counter)})
        kind = "full" if counter % 3 == 0 else "incremental"
        create_snapshot(repository, Sources(source, label="kill"), kind=kind)
        print(counter, flush=True)
    """
)


def _wait_for_scratch(scratch: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not any(f"-{process.pid}-" in path.name for path in scratch.iterdir()):
        assert process.poll() is None, "the snapshot loop ended before making its scratch"
        assert time.monotonic() < deadline, "no scratch after 120 s"
        time.sleep(0.005)


def test_sigkill_during_warehouse_snapshots_leaves_a_clean_store_and_no_scratch(tmp_path: Path) -> None:
    import os

    from m365_pipeline.snapshots.repository import Repository
    from m365_pipeline_tests.snapshots.warehouse_data import populate

    repo, scratch = tmp_path / "repo", tmp_path / "scratch"
    scratch.mkdir()
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=1500).dispose()
    Repository.init(LocalBackend(repo), KEYS, pack_size=300_000)
    environment = {**os.environ, "TMPDIR": str(scratch)}
    rng = random.Random(5)
    abandoned = 0
    for round_ in range(4):
        process = subprocess.Popen(
            [sys.executable, "-c", WAREHOUSE_LOOP, str(repo), source, str(round_ * 1000)], env=environment
        )
        # killed at a random point after a snapshot has made its scratch (not by the clock alone: on a loaded
        # machine the child's imports can outlast any fixed delay); round 0 is killed the moment it appears
        _wait_for_scratch(scratch, process)
        time.sleep(0 if round_ == 0 else rng.uniform(0, 0.5))
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
        abandoned += len(list(scratch.iterdir()))
        report = check(LocalBackend(repo), KEYS)
        assert report.ok, (round_, report.problems)
        for snapshot_id in snapshot_ids(LocalBackend(repo)):
            load_manifest(LocalBackend(repo), KEYS, snapshot_id)
    process = subprocess.Popen(
        [sys.executable, "-c", WAREHOUSE_LOOP, str(repo), source, "9000"],
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "9001"  # the next snapshot succeeds
    left = sorted(p.name for p in scratch.iterdir())
    process.kill()
    process.wait()
    assert abandoned > 0
    assert all(f"-{process.pid}-" in name for name in left), left  # every killed run's scratch was removed
    assert check(LocalBackend(repo), KEYS).ok
