"""The same repository operations on a local folder and on S3 (moto server): objects, packs, check, restore."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from m365_pipeline.snapshots.archiver import archive_folder
from m365_pipeline.snapshots.backend import Backend, ObjectMissing
from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.check import check
from m365_pipeline.snapshots.chunker import Chunker
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import Manifest, load_manifest, save_manifest
from m365_pipeline.snapshots.restorer import restore_files

KEYS = RepositoryKeys(bytes(range(32)))


def test_objects(backend: Backend) -> None:
    assert list(backend.names("index")) == []
    backend.write("index", "ab12", b"0123456789")
    assert backend.read("index", "ab12") == b"0123456789"
    assert backend.read("index", "ab12", 3, 4) == b"3456"
    assert backend.read("index", "ab12", 8, 10) == b"89"
    assert backend.size("index", "ab12") == 10
    spool = backend.new_spool()
    spool.write_bytes(b"pack bytes")
    backend.publish("packs", "cd34", spool)
    assert not spool.exists()
    assert list(backend.names("packs")) == ["cd34"] and list(backend.names("index")) == ["ab12"]
    backend.remove("packs", "cd34")
    backend.remove("packs", "cd34")  # removing twice is fine
    with pytest.raises(ObjectMissing, match="packs/cd34 is missing"):
        backend.read("packs", "cd34")
    with pytest.raises(ObjectMissing):
        backend.size("packs", "cd34")
    with pytest.raises(ValueError, match="invalid object name"):
        backend.write("index", "../x", b"")
    with pytest.raises(ValueError, match="unknown object kind"):
        backend.write("secrets", "x", b"")


def test_save_check_and_restore(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    rng = random.Random(3)
    files = {f"f{i}.bin": rng.randbytes(rng.randrange(1, 900_000)) for i in range(5)}
    for name, data in files.items():
        (source / name).write_bytes(data)
    with BlobSaver(backend, KEYS, Index(), pack_size=1024 * 1024) as saver:
        entries = archive_folder(saver, Chunker(KEYS.chunk_id), source)
        saver.save_stream(io.BytesIO(files["f0.bin"]), Chunker(KEYS.chunk_id))  # stored once already
    assert saver.stats.new_bytes == sum(len(d) for d in files.values())
    snapshot_id = save_manifest(backend, KEYS, Manifest("full", "host", {"artifacts": entries}))
    report = check(backend, KEYS)
    assert report.ok, report.problems
    assert report.packs >= 2 and report.snapshots == 1
    target = tmp_path / "target"
    index = Index.load(backend, KEYS.encryption)
    restore_files(backend, KEYS, index, load_manifest(backend, KEYS, snapshot_id).components["artifacts"], target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == files
    assert backend.remove_abandoned() == []
