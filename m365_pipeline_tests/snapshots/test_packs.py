"""Packs, the index and the blob saver: round trip, dedup, half-written packs, flipped bits, flat memory."""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from m365_pipeline.snapshots.backend import LocalBackend, ObjectMissing
from m365_pipeline.snapshots.blobs import BlobSaver, load_blob, restore_stream
from m365_pipeline.snapshots.chunker import Chunker
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.index import BlobMissing, Index, IndexCorrupted
from m365_pipeline.snapshots.keys import RepositoryKeys, keyed_id
from m365_pipeline.snapshots.packs import MAX_SIZE, BlobType, PackCorrupted, pack_hash, read_header

KEYS = RepositoryKeys(bytes(range(32)))


def _blobs(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [
        rng.randbytes(rng.randrange(0, 20_000)) if i % 2 else b"row,%d\n" % i * rng.randrange(1, 3000)
        for i in range(count)
    ]


def _save(backend: LocalBackend, blobs: list[bytes], index: Index | None = None, pack_size: int = 200_000) -> Index:
    index = Index() if index is None else index
    with BlobSaver(backend, KEYS, index, pack_size=pack_size) as saver:
        for data in blobs:
            saver.save(BlobType.DATA, keyed_id(KEYS.chunk_id, data), data)
    return index


def _stored_bytes(backend: LocalBackend) -> int:
    return sum(backend.size("packs", name) for name in backend.names("packs"))


def test_many_blobs_round_trip_through_packs_and_a_reloaded_index(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    blobs = _blobs(300)
    _save(backend, blobs)
    packs = list(backend.names("packs"))
    assert len(packs) > 5
    assert all(pack_hash(backend, name) == name for name in packs)  # a pack is named by its bytes
    index = Index.load(backend, KEYS.encryption)
    assert index.packs() == set(packs)
    for data in blobs:
        assert load_blob(backend, KEYS, index, keyed_id(KEYS.chunk_id, data)) == data
    rebuilt = Index.rebuild(backend, KEYS.encryption)
    assert dict(rebuilt.blobs()) == dict(index.blobs())
    assert list((tmp_path / "tmp").iterdir()) == []  # every spool was published


def test_pack_headers_list_their_blobs_in_order(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    index = _save(backend, _blobs(50), pack_size=MAX_SIZE)
    (name,) = backend.names("packs")
    entries = read_header(backend, KEYS.encryption, name)
    assert [e.offset for e in entries] == [sum(x.length for x in entries[:i]) for i in range(len(entries))]
    assert {e.id for e in entries} == {blob_id for blob_id, _ in index.blobs()}


def test_the_same_content_is_stored_once(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    chunker = Chunker(KEYS.chunk_id)
    data = random.Random(3).randbytes(6 * 1024 * 1024)
    index = Index()
    with BlobSaver(backend, KEYS, index) as saver:
        first = saver.save_stream(io.BytesIO(data), chunker)
        again = saver.save_stream(io.BytesIO(data), chunker)  # same content, same pack still open
    assert first == again
    assert saver.stats.new_bytes == len(data) and saver.stats.bytes == 2 * len(data)
    stored = _stored_bytes(backend)
    assert stored < len(data) * 1.01

    index = Index.load(backend, KEYS.encryption)
    with BlobSaver(backend, KEYS, index) as saver:  # a later run: known from the stored index
        third = saver.save_stream(io.BytesIO(data), chunker)
        shifted = saver.save_stream(io.BytesIO(b"header\n" + data), chunker)
    assert third == first
    assert saver.stats.new_bytes <= 2 * 256 * 1024  # only the chunk(s) around the inserted bytes
    assert _stored_bytes(backend) - stored <= 2 * 256 * 1024 + 4096

    out = io.BytesIO()
    ids = [chunk_id for chunk_id, _ in shifted]
    assert restore_stream(backend, KEYS, Index.load(backend, KEYS.encryption), ids, out) == len(data) + 7
    assert out.getvalue() == b"header\n" + data


KILLED_WRITER = textwrap.dedent(
    """
    import os, random, signal, sys
    from pathlib import Path
    from m365_pipeline.snapshots.backend import LocalBackend
    from m365_pipeline.snapshots.blobs import BlobSaver
    from m365_pipeline.snapshots.index import Index
    from m365_pipeline.snapshots.keys import RepositoryKeys, keyed_id
    from m365_pipeline.snapshots.packs import BlobType

    keys = RepositoryKeys(bytes(range(32)))
    saver = BlobSaver(LocalBackend(Path(sys.argv[1])), keys, Index())
    for i in range(40):
        data = random.Random(i).randbytes(50_000)
        saver.save(BlobType.DATA, keyed_id(keys.chunk_id, data), data)
    os.kill(os.getpid(), signal.SIGKILL)  # halfway through its first pack
    """
)


def test_a_half_written_pack_is_invisible_and_cleaned(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    before = _blobs(20)
    _save(backend, before)
    packs_before = set(backend.names("packs"))
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], check=False)
    assert killed.returncode == -signal.SIGKILL
    spools = list((tmp_path / "tmp").iterdir())
    assert len(spools) == 1 and spools[0].stat().st_size >= 40 * 50_000  # the dead writer's half pack
    assert set(backend.names("packs")) == packs_before  # never published
    index = Index.load(backend, KEYS.encryption)
    assert index.packs() == packs_before
    assert backend.remove_abandoned() == spools
    assert list((tmp_path / "tmp").iterdir()) == []
    _save(backend, _blobs(20, seed=2), index)  # the next run succeeds
    assert all(pack_hash(backend, name) == name for name in backend.names("packs"))


def test_a_truncated_pack_is_named(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    index = _save(backend, _blobs(30), pack_size=MAX_SIZE)
    (name,) = backend.names("packs")
    path = next((tmp_path / "packs").glob(f"*/{name}"))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(PackCorrupted, match=f"pack {name}"):
        read_header(backend, KEYS.encryption, name)
    assert pack_hash(backend, name) != name
    last_id, _ = max(index.blobs(), key=lambda item: item[1].offset)
    with pytest.raises(IntegrityError, match=last_id.hex()):
        load_blob(backend, KEYS, index, last_id)


def test_a_flipped_bit_in_a_pack_is_found_and_the_blob_named(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    index = _save(backend, _blobs(30), pack_size=MAX_SIZE)
    (name,) = backend.names("packs")
    path = next((tmp_path / "packs").glob(f"*/{name}"))
    original = path.read_bytes()
    rng = random.Random(5)
    for _ in range(30):
        bit = rng.randrange(len(original) * 8)
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        assert pack_hash(backend, name) != name
        hit = [(i, loc) for i, loc in index.blobs() if loc.offset <= bit // 8 < loc.offset + loc.length]
        if hit:
            blob_id, _ = hit[0]
            with pytest.raises(IntegrityError) as raised:
                load_blob(backend, KEYS, index, blob_id)
            assert raised.value.blob_id == blob_id
        else:  # the header or its length
            with pytest.raises(PackCorrupted, match=name):
                read_header(backend, KEYS.encryption, name)
    path.write_bytes(original)


def test_wrong_key_missing_blob_and_missing_pack_are_named(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    blobs = _blobs(10)
    index = _save(backend, blobs)
    other = RepositoryKeys(bytes(32))
    with pytest.raises(IndexCorrupted, match="or the key is wrong"):
        Index.load(backend, other.encryption)
    with pytest.raises(BlobMissing, match="ff" * 32):
        load_blob(backend, KEYS, index, b"\xff" * 32)
    some_pack = next(iter(backend.names("packs")))
    backend.remove("packs", some_pack)
    lost = next(blob_id for blob_id, loc in index.blobs() if loc.pack == some_pack)
    with pytest.raises(ObjectMissing, match=f"packs/{some_pack} is missing"):
        load_blob(backend, KEYS, index, lost)


class _Generated(io.RawIOBase):
    """``size`` pseudo-random, half-compressible bytes produced on demand (never all in memory)."""

    def __init__(self, size: int) -> None:
        self._left, self._counter = size, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = min(self._left, 1 << 20 if size < 0 else size)
        parts, made = [], 0
        while made < size:
            self._counter += 1
            noise = hashlib.shake_128(self._counter.to_bytes(8, "little")).digest(4096)
            parts.append(noise + b"user%d,licence\n" % self._counter * 100)
            made += len(parts[-1])
        data = b"".join(parts)[:size]
        self._left -= len(data)
        return data


def _peak_while_saving(root: Path, size: int) -> int:
    backend = LocalBackend(root)
    chunker = Chunker(KEYS.chunk_id)
    tracemalloc.start()
    try:
        with BlobSaver(backend, KEYS, Index()) as saver:
            ids = saver.save_stream(_Generated(size), chunker)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert saver.stats.bytes == size and len(ids) > size // (256 * 1024)
    assert saver.stats.packs == saver.stats.stored_bytes // (16 * 1024 * 1024) + 1
    return peak


def test_memory_is_flat_while_packing_a_50_mb_stream(tmp_path: Path) -> None:
    small = _peak_while_saving(tmp_path / "20", 20 * 1024 * 1024)
    large = _peak_while_saving(tmp_path / "50", 50 * 1024 * 1024)
    print(f"peak traced memory: {small / 2**20:.1f} MiB for 20 MiB, {large / 2**20:.1f} MiB for 50 MiB")
    assert large < small + 1024 * 1024  # growth only from the index (a few hundred bytes per chunk)
    assert large < 24 * 1024 * 1024  # windows of 4 MiB and a chunk or two, not the stream
    sizes = sorted(os.path.getsize(p) for p in (tmp_path / "50" / "packs").glob("*/*"))
    assert len(sizes) >= 2 and all(16 * 1024 * 1024 <= size <= 17 * 1024 * 1024 for size in sizes[1:])


@pytest.mark.parametrize("threads", [1, 3])
def test_sealing_threads_store_the_same_blobs_once(tmp_path: Path, threads: int) -> None:
    block = random.Random(6).randbytes(3 * 1024 * 1024)
    data = block * 3 + random.Random(7).randbytes(2 * 1024 * 1024) + block  # repeats inside the sealing window
    backend = LocalBackend(tmp_path)
    index = Index()
    with BlobSaver(backend, KEYS, index, threads=threads, pack_size=1024 * 1024) as saver:
        ids = [chunk_id for chunk_id, _ in saver.save_stream(io.BytesIO(data), Chunker(KEYS.chunk_id))]
    assert saver.stats.new_blobs == len(set(ids)) == len(index) < len(ids)
    assert saver.stats.new_bytes < len(block) + 2 * 1024 * 1024 + 2 * 256 * 1024
    out = io.BytesIO()
    restore_stream(backend, KEYS, Index.load(backend, KEYS.encryption), ids, out)
    assert out.getvalue() == data
    with pytest.raises(ValueError, match="threads must be at least 1"):
        BlobSaver(backend, KEYS, index, threads=0)


class _Failing(io.RawIOBase):
    """Yields ``good`` bytes of noise, then fails like a disk or a network would."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            raise OSError("read failed")
        data = random.Random(self._left).randbytes(min(size, self._left))
        self._left -= len(data)
        return data


def test_a_failed_save_leaves_no_spool_and_no_orphan_pack(tmp_path: Path) -> None:
    from m365_pipeline.snapshots.check import check

    backend = LocalBackend(tmp_path)
    index = Index()
    with pytest.raises(OSError, match="read failed"), BlobSaver(backend, KEYS, index, pack_size=1024 * 1024) as saver:
        saver.save_stream(_Failing(5 * 1024 * 1024), Chunker(KEYS.chunk_id))
    assert list((tmp_path / "tmp").iterdir()) == []
    assert len(list(backend.names("packs"))) >= 3
    assert check(backend, KEYS).ok
    assert Index.load(backend, KEYS.encryption).packs() == set(backend.names("packs"))
