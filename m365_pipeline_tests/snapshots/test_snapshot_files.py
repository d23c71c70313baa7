"""Manifests, archiving a folder and restoring it: byte-identical, stored once, never outside the target."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

import pytest

from m365_pipeline.snapshots.archiver import archive_folder
from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.chunker import Chunker
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import (
    FileEntry,
    Manifest,
    UnsafePath,
    load_manifest,
    safe_relative_path,
    save_manifest,
    snapshot_ids,
)
from m365_pipeline.snapshots.restorer import RestoreRefused, restore_files

KEYS = RepositoryKeys(bytes(range(32)))


def _tree(root: Path) -> dict[str, bytes]:
    rng = random.Random(2)
    files = {
        "raw/users/tenant=t1/e1.parquet": rng.randbytes(700_000),
        "raw/users/tenant=t1/e2.parquet": rng.randbytes(300_000),
        "reports/t1/AllUsers_20240624_060000.csv": '\ufeff"名前","ライセンス"\r\n'.encode() * 20_000,
        "empty.txt": b"",
    }
    files["reports/t1/AllUsers_20240625_060000.csv"] = files["reports/t1/AllUsers_20240624_060000.csv"] + b"x"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _read(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _snapshot(tmp_path: Path) -> tuple[LocalBackend, Index, str, dict[str, bytes]]:
    source = tmp_path / "source"
    files = _tree(source)
    (source / "link").symlink_to(source / "empty.txt")
    backend = LocalBackend(tmp_path / "repo")
    index = Index()
    with BlobSaver(backend, KEYS, index) as saver:
        entries = archive_folder(saver, Chunker(KEYS.chunk_id), source)
    snapshot_id = save_manifest(backend, KEYS, Manifest("full", "host1", {"artifacts": entries}))
    return backend, index, snapshot_id, files


def test_a_folder_restores_byte_identical_and_is_stored_once(tmp_path: Path) -> None:
    backend, _, snapshot_id, files = _snapshot(tmp_path)
    stored = sum(backend.size("packs", n) for n in backend.names("packs"))
    assert stored < sum(len(d) for d in files.values()) * 0.8  # the two reports share their chunks, text compresses
    manifest = load_manifest(backend, KEYS, snapshot_id)
    assert snapshot_ids(backend) == [snapshot_id]
    assert sorted(e.path for e in manifest.components["artifacts"]) == sorted(files)  # no symlink
    target = tmp_path / "target"
    written = restore_files(
        backend, KEYS, Index.load(backend, KEYS.encryption), manifest.components["artifacts"], target
    )
    assert written == sum(len(d) for d in files.values())
    assert _read(target) == files


def test_restore_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    backend, index, snapshot_id, files = _snapshot(tmp_path)
    entries = load_manifest(backend, KEYS, snapshot_id).components["artifacts"]
    target = tmp_path / "target"
    (target / "raw/users/tenant=t1").mkdir(parents=True)
    (target / "raw/users/tenant=t1/e1.parquet").write_bytes(b"live")
    with pytest.raises(RestoreRefused, match="1 file\\(s\\) exist already"):
        restore_files(backend, KEYS, index, entries, target)
    assert _read(target) == {"raw/users/tenant=t1/e1.parquet": b"live"}
    restore_files(backend, KEYS, index, entries, target, force=True)
    assert _read(target) == files


@pytest.mark.parametrize(
    "path",
    ["../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "a/./b", "", "C:/x", "a\\..\\b", "a\x00b", "a/"],
)
def test_hostile_paths_are_rejected(path: str) -> None:
    with pytest.raises(UnsafePath):
        safe_relative_path(path)
    with pytest.raises(UnsafePath):
        FileEntry(path, 0, "0" * 64, ())


def test_a_symlink_in_the_target_cannot_redirect_a_restore(tmp_path: Path) -> None:
    backend, index, snapshot_id, _ = _snapshot(tmp_path)
    entries = load_manifest(backend, KEYS, snapshot_id).components["artifacts"]
    target, outside = tmp_path / "target", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (target / "raw").symlink_to(outside)
    with pytest.raises(UnsafePath, match="outside the restore target"):
        restore_files(backend, KEYS, index, entries, target)
    assert list(outside.iterdir()) == []


def test_a_changed_manifest_or_a_wrong_content_is_named(tmp_path: Path) -> None:
    backend, index, snapshot_id, _ = _snapshot(tmp_path)
    path = tmp_path / "repo" / "snapshots" / snapshot_id
    original = path.read_bytes()
    flipped = bytearray(original)
    flipped[40] ^= 4
    path.write_bytes(bytes(flipped))
    with pytest.raises(IntegrityError, match=snapshot_id):
        load_manifest(backend, KEYS, snapshot_id)
    path.write_bytes(original)
    entry = load_manifest(backend, KEYS, snapshot_id).components["artifacts"][0]
    lying = dataclasses.replace(entry, sha256="0" * 64)
    target = tmp_path / "target"
    with pytest.raises(IntegrityError, match="do not match the manifest"):
        restore_files(backend, KEYS, index, [lying], target)
    assert [p for p in target.rglob("*") if p.is_file()] == []  # no half file left


def test_manifest_round_trip_and_needed_chunks() -> None:
    entry = FileEntry("a/b.csv", 3, "1" * 64, (b"\x01" * 32, b"\x02" * 32))
    manifest = Manifest("incremental", "h", {"config": (entry,)}, parent="f" * 64, created_at=dt.datetime.now(dt.UTC))
    assert Manifest.from_plaintext(manifest.plaintext()) == manifest
    assert manifest.chunk_ids() == {b"\x01" * 32, b"\x02" * 32}
    with pytest.raises(ValueError, match="kind 'daily'"):
        Manifest("daily", "h", {})


def test_check_names_a_missing_chunk_and_a_changed_manifest(tmp_path: Path) -> None:
    from m365_pipeline.snapshots.check import check

    backend, _, snapshot_id, _ = _snapshot(tmp_path)
    assert check(backend, KEYS).ok and check(backend, KEYS).snapshots == 1
    entry = load_manifest(backend, KEYS, snapshot_id).components["artifacts"][0]
    ghost = FileEntry("ghost.bin", 1, "0" * 64, (b"\xee" * 32,))
    other = save_manifest(backend, KEYS, Manifest("full", "h", {"artifacts": (entry, ghost)}))
    report = check(backend, KEYS, read_data=False)
    assert [str(p) for p in report.problems] == [f"blob {'ee' * 32}: in no pack, needed by {other} artifacts/ghost.bin"]
    path = tmp_path / "repo" / "snapshots" / other
    path.write_bytes(path.read_bytes()[:-1])
    problems = check(backend, KEYS, read_data=False).problems
    assert [(p.kind, p.name) for p in problems] == [("snapshot", other)]
    assert "failed authentication" in problems[0].message
