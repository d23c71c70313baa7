"""Repository configuration (opening with the right key only) and check (every flipped bit and missing pack named)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import random
from pathlib import Path

import pytest

from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.check import check, in_subset, todays_slice
from m365_pipeline.snapshots.config import RepositoryError, init_repository, open_repository
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys, ScryptParams, WrongKeyError

MASTER = bytes(range(32))
ENV = {"M365_SNAPSHOT_KEY": base64.b64encode(MASTER).decode()}


def _repository(root: Path, streams: int = 4, size: int = 1_500_000) -> LocalBackend:
    backend = LocalBackend(root)
    keys = RepositoryKeys(MASTER)
    config = init_repository(backend, keys, pack_size=1_000_000)
    with BlobSaver(backend, keys, Index(), pack_size=config.pack_size) as saver:
        for seed in range(streams):
            saver.save_stream(io.BytesIO(random.Random(seed).randbytes(size)), config.new_chunker(keys))
    return backend


def test_open_with_the_key_from_the_environment(tmp_path: Path) -> None:
    backend = _repository(tmp_path, streams=1)
    config, keys = open_repository(backend, ENV)
    assert keys.encryption == RepositoryKeys(MASTER).encryption
    assert config.pack_size == 1_000_000
    with pytest.raises(RepositoryError, match="already holds a repository"):
        init_repository(backend, keys)


def test_a_passphrase_repository_opens_with_its_passphrase_only(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    params = ScryptParams.new(n=2**10)
    init_repository(backend, RepositoryKeys.from_passphrase("s3cret", params), params)
    config, _ = open_repository(backend, {"M365_SNAPSHOT_PASSPHRASE": "s3cret"})
    assert config.scrypt == params
    with pytest.raises(WrongKeyError, match="wrong repository key"):
        open_repository(backend, {"M365_SNAPSHOT_PASSPHRASE": "secret"})


def test_wrong_key_missing_and_changed_configuration_are_named(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="holds no repository"):
        open_repository(LocalBackend(tmp_path / "empty"), ENV)
    backend = _repository(tmp_path, streams=1)
    with pytest.raises(WrongKeyError):
        open_repository(backend, {"M365_SNAPSHOT_KEY": base64.b64encode(bytes(32)).decode()})
    path = tmp_path / "config" / "config"
    body = json.loads(path.read_text())
    body["chunker"]["max"] = 1024 * 1024
    path.write_text(json.dumps(body))
    with pytest.raises(RepositoryError, match="configuration was changed"):
        open_repository(backend, ENV)


def test_a_clean_repository_checks_clean(tmp_path: Path) -> None:
    backend = _repository(tmp_path)
    _, keys = open_repository(backend, ENV)
    steps: list[tuple[int, int]] = []
    report = check(backend, keys, progress=lambda done, total: steps.append((done, total)))
    assert report.ok, report.problems
    # progress from nothing to everything, one step per snapshot and per pack read
    total = report.snapshots + report.packs_read
    assert steps == [(done, total) for done in range(total + 1)]
    assert report.packs == report.packs_read >= 5
    assert report.blobs_read == len(Index.load(backend, keys.encryption))
    assert check(backend, keys, read_data=False).blobs_read == 0


def test_the_rotating_subsets_read_every_pack_once(tmp_path: Path) -> None:
    backend = _repository(tmp_path)
    _, keys = open_repository(backend, ENV)
    reads = [check(backend, keys, subset=(i, 3)).packs_read for i in range(3)]
    assert sum(reads) == check(backend, keys).packs_read
    days = [dt.date(2026, 12, 1) + dt.timedelta(days=n) for n in range(3)]
    assert sorted(check(backend, keys, subset=todays_slice(3, day)).packs_read for day in days) == sorted(reads)
    names = list(backend.names("packs"))
    assert all(sum(in_subset(n, (i, 3)) for i in range(3)) == 1 for n in names)


def test_every_sampled_flipped_bit_in_the_store_is_found_and_named(tmp_path: Path) -> None:
    backend = _repository(tmp_path, streams=2)
    _, keys = open_repository(backend, ENV)
    files = sorted(p for kind in ("packs", "index") for p in (tmp_path / kind).rglob("*") if p.is_file())
    rng = random.Random(11)
    for _ in range(40):
        path = rng.choice(files)
        original = path.read_bytes()
        bit = rng.randrange(len(original) * 8)
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        try:
            report = check(backend, keys)
            assert not report.ok, f"bit {bit} of {path} not detected"
            assert any(path.name in str(p) for p in report.problems), report.problems
        finally:
            path.write_bytes(original)
    assert check(backend, keys).ok


def test_a_missing_pack_is_named_and_unindexed_packs_listed(tmp_path: Path) -> None:
    backend = _repository(tmp_path, streams=2)
    _, keys = open_repository(backend, ENV)
    gone = next(iter(backend.names("packs")))
    data = backend.read("packs", gone)
    backend.remove("packs", gone)
    report = check(backend, keys)
    assert [str(p) for p in report.problems] == [
        f"pack {gone}: missing: {_count(backend, keys, gone)} indexed blob(s) are lost"
    ]
    for index_name in list(backend.names("index")):
        backend.remove("index", index_name)
    backend.write("packs", gone, data)
    report = check(backend, keys)
    assert report.ok and report.unindexed == sorted(backend.names("packs"))
    Index.rebuild(backend, keys.encryption).save(backend, keys.encryption)
    assert check(backend, keys).ok


def _count(backend: LocalBackend, keys: RepositoryKeys, pack: str) -> int:
    return sum(1 for _, loc in Index.load(backend, keys.encryption).blobs() if loc.pack == pack)
