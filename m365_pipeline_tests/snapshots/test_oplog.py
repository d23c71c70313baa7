"""The operations log: snapshot, restore (refused ones too), tag and prune are recorded in the store with who,
what, when, from where and the outcome; records are sealed and survive restoring the warehouse."""

from __future__ import annotations

import datetime as dt
import os
import pwd
import socket
from pathlib import Path

import pytest

from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.capture import Sources, create_snapshot
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.oplog import operations, record
from m365_pipeline.snapshots.prune import prune
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.restore import RestoreTarget, restore_snapshot
from m365_pipeline.snapshots.restorer import RestoreRefused
from m365_pipeline.snapshots.retention import RetentionPolicy
from m365_pipeline.snapshots.tag_store import TagStore
from m365_pipeline.snapshots.tags import Tag, TagName
from m365_pipeline_tests.snapshots.warehouse_data import populate

KEYS = RepositoryKeys(bytes(range(32)))


def test_every_operation_is_recorded_with_who_what_when_where_and_outcome(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'live.sqlite'}"
    populate(source, users=10).dispose()
    repository = Repository.init(LocalBackend(tmp_path / "repo"), KEYS)
    started = dt.datetime.now(dt.UTC)
    snapshot = create_snapshot(repository, Sources(source))
    tags = TagStore(repository.backend, KEYS)
    name = TagName.parse("prod-release-v1.2.3-20240624")
    tags.create(Tag(name, "a" * 40, "0002", "b" * 64, snapshot.snapshot_id))
    restore_snapshot(repository, snapshot.snapshot_id, RestoreTarget(source), force=True)  # into the live system
    with pytest.raises(RestoreRefused):
        restore_snapshot(repository, snapshot.snapshot_id, RestoreTarget(source))
    tags.delete(name)
    prune(repository.backend, KEYS, RetentionPolicy(daily=1, weekly=0), pinned=())

    log = operations(repository.backend, KEYS)
    assert [(o.what, o.outcome.split(":")[0]) for o in log] == [
        ("snapshot", "ok"),
        ("tag create", "ok"),
        ("restore", "ok"),
        ("restore", "failed"),
        ("tag delete", "ok"),
        ("prune", "ok"),
    ]
    assert {o.who for o in log} == {pwd.getpwuid(os.geteuid()).pw_name}
    assert {o.host for o in log} == {socket.gethostname()}
    assert all(o.at >= started for o in log)
    assert log[0].details["snapshot_id"] == snapshot.snapshot_id and log[0].details["kind"] == "full"
    assert "RestoreRefused" in log[3].outcome and log[3].details["target"]["warehouse"] == source
    assert [o.what for o in operations(repository.backend, KEYS, what="restore")] == ["restore", "restore"]


def test_a_changed_record_is_found(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "repo")
    record(backend, KEYS, "tier move", details={"snapshot_id": "x"})
    (path,) = (tmp_path / "repo" / "log").iterdir()
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        operations(backend, KEYS)


def test_a_password_in_the_target_url_is_not_recorded(tmp_path: Path) -> None:
    repository = Repository.init(LocalBackend(tmp_path / "repo"), KEYS)
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "a.toml").write_text("a = 1\n")
    snapshot = create_snapshot(repository, Sources(files={"config": folder}))
    with pytest.raises(ValueError):
        restore_snapshot(repository, snapshot.snapshot_id, RestoreTarget("postgresql://u:s3cret-pw@h/db"))
    (restore,) = operations(repository.backend, KEYS, what="restore")
    assert "s3cret-pw" not in repr(restore)


def test_a_flipped_bit_in_a_tag_a_log_record_or_a_manifest_is_named_by_check(tmp_path: Path) -> None:
    import random

    from m365_pipeline.snapshots.check import check

    repository = Repository.init(LocalBackend(tmp_path / "repo"), KEYS)
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "a.toml").write_text("a = 1\n")
    snapshot = create_snapshot(repository, Sources(files={"config": folder}))
    TagStore(repository.backend, KEYS).create(
        Tag(TagName.parse("prod-weekly-v1.0.0-20240630"), "c" * 40, "0002", "d" * 64, snapshot.snapshot_id)
    )
    assert check(repository.backend, KEYS).ok
    rng = random.Random(3)
    for kind in ("tags", "log", "snapshots"):
        for path in sorted((tmp_path / "repo" / kind).iterdir()):
            original = path.read_bytes()
            bit = rng.randrange(len(original) * 8)
            path.write_bytes(
                original[: bit // 8] + bytes([original[bit // 8] ^ (1 << bit % 8)]) + original[bit // 8 + 1 :]
            )
            problems = check(repository.backend, KEYS).problems
            assert [p.name for p in problems] == [path.name], (kind, bit, problems)
            path.write_bytes(original)
