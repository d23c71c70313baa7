"""A stored file read in place: any seek and read gives the file's bytes, only the chunks a read touches (and a
short run after them) are loaded, Parquet reads a row group through it, a changed chunk is named, and a manifest
without chunk lengths is refused with the file's name."""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from m365_pipeline.snapshots import blobs, stored_file
from m365_pipeline.snapshots.archiver import archive_stream
from m365_pipeline.snapshots.backend import Backend, LocalBackend
from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.chunker import Chunker
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import FileEntry
from m365_pipeline.snapshots.stored_file import StoredFile

KEYS = RepositoryKeys(bytes(range(32)))
DATA = random.Random(8).randbytes(5_000_000)


def _stored(root: Path, data: bytes) -> tuple[LocalBackend, Index, FileEntry]:
    backend = LocalBackend(root)
    index = Index()
    with BlobSaver(backend, KEYS, index) as saver:
        entry = archive_stream(saver, Chunker(KEYS.chunk_id), io.BytesIO(data), "data.bin")
    return backend, index, entry


def _flip_a_bit(root: Path, index: Index, chunk_id: bytes) -> None:
    """Flip one bit of the sealed chunk ``chunk_id`` in its pack under ``root``."""
    location = index.lookup(chunk_id)
    pack = next((root / "packs").rglob(location.pack + "*"))
    content = bytearray(pack.read_bytes())
    content[location.offset + 40] ^= 1
    pack.write_bytes(bytes(content))


def _recorded_loads(monkeypatch: pytest.MonkeyPatch) -> list[list[bytes]]:
    """The chunk ids of each load a StoredFile asks for, from now on (the loads still happen)."""
    calls: list[list[bytes]] = []
    real = blobs.load_blobs

    def recording(backend: Backend, keys: RepositoryKeys, index: Index, ids: Iterable[bytes]) -> Iterator[bytes]:
        wanted = list(ids)
        calls.append(wanted)
        return real(backend, keys, index, wanted)

    monkeypatch.setattr(stored_file, "load_blobs", recording)
    return calls


def test_any_seek_and_read_gives_the_file_bytes(tmp_path: Path) -> None:
    backend, index, entry = _stored(tmp_path, DATA)
    assert len(entry.sizes) == len(entry.chunks) > 10 and sum(entry.sizes) == len(DATA)
    rng = random.Random(9)
    with StoredFile(backend, KEYS, index, entry) as stored:
        for _ in range(200):
            start = rng.randrange(len(DATA) + 10)
            size = rng.choice([0, 1, 100, 70_000, 600_000])
            assert stored.seek(start) == start
            assert stored.read(size) == DATA[start : start + size]
            assert stored.tell() == min(start + size, len(DATA)) if start < len(DATA) else start
        assert stored.seek(-7, io.SEEK_END) == len(DATA) - 7
        assert stored.read() == DATA[-7:]


def test_only_the_chunks_read_and_a_short_run_after_them_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, index, entry = _stored(tmp_path, DATA)
    calls = _recorded_loads(monkeypatch)
    with StoredFile(backend, KEYS, index, entry) as stored:
        stored.seek(len(DATA) - 8)
        assert stored.read(8) == DATA[-8:]
        stored.seek(sum(entry.sizes[:3]) + 5)
        assert stored.read(10) == DATA[sum(entry.sizes[:3]) + 5 :][:10]
        stored.seek(0)
        assert stored.read(10) == DATA[:10]
        stored.seek(sum(entry.sizes[:3]))
        assert stored.read(10) == DATA[sum(entry.sizes[:3]) :][:10]  # its chunk was loaded already
    assert calls == [
        [entry.chunks[-1]],
        list(entry.chunks[3 : 3 + stored_file.RUN_CHUNKS]),
        list(entry.chunks[:3]),  # the run stops at the chunks loaded
    ]


def test_parquet_reads_a_row_group_in_place(tmp_path: Path) -> None:
    table = pa.table({"n": pa.array(range(200_000)), "text": pa.array([f"row {i}" for i in range(200_000)])})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=20_000, compression="none")
    backend, index, entry = _stored(tmp_path, buffer.getvalue())
    with StoredFile(backend, KEYS, index, entry) as stored:
        parquet = pq.ParquetFile(stored)
        assert parquet.num_row_groups == 10
        assert parquet.read_row_group(7) == table.slice(140_000, 20_000)


def test_a_changed_chunk_is_named_and_a_manifest_without_lengths_is_refused(tmp_path: Path) -> None:
    backend, index, entry = _stored(tmp_path, DATA)
    changed = stored_file.RUN_CHUNKS + 2
    _flip_a_bit(tmp_path, index, entry.chunks[changed])
    with StoredFile(backend, KEYS, index, entry) as stored:
        stored.seek(0)
        assert stored.read(100) == DATA[:100]
        stored.seek(sum(entry.sizes[:changed]) + 1)
        with pytest.raises(IntegrityError) as raised:
            stored.read(10)
        assert raised.value.blob_id == entry.chunks[changed]

    without = FileEntry(entry.path, entry.size, entry.sha256, entry.chunks)
    with pytest.raises(ValueError, match=r"data\.bin: its manifest records no chunk lengths"):
        StoredFile(backend, KEYS, index, without)


def test_an_announced_range_is_loaded_at_once_and_the_next_one_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, index, entry = _stored(tmp_path, DATA)
    calls = _recorded_loads(monkeypatch)
    starts = [sum(entry.sizes[:n]) for n in range(len(entry.sizes) + 1)]
    with StoredFile(backend, KEYS, index, entry) as stored:
        stored.load(starts[4] + 10, starts[15] - 10)  # chunks 4 to 14
        stored.prefetch(starts[15], starts[20] + 1)  # chunks 15 to 20
        stored.seek(starts[4] + 10)
        assert stored.read(starts[15] - starts[4] - 20) == DATA[starts[4] + 10 : starts[15] - 10]
        stored.load(starts[15], starts[20] + 1)
        stored.seek(starts[15])
        assert stored.read(starts[21] - starts[15]) == DATA[starts[15] : starts[21]]
        stored.prefetch(starts[30], starts[31])  # not wanted after all: the next announced range is elsewhere
        stored.load(starts[25], starts[26])
        stored.seek(starts[25])
        assert stored.read(5) == DATA[starts[25] : starts[25] + 5]
    assert calls[:2] == [list(entry.chunks[4:15]), list(entry.chunks[15:21])]
    assert list(entry.chunks[25:26]) in calls[2:]
    assert all(chunk not in entry.chunks[4:21] for ids in calls[2:] for chunk in ids)  # none loaded twice


def test_a_changed_chunk_in_a_prefetched_range_is_named_when_that_range_is_read(tmp_path: Path) -> None:
    backend, index, entry = _stored(tmp_path, DATA)
    changed = 20
    _flip_a_bit(tmp_path, index, entry.chunks[changed])
    starts = [sum(entry.sizes[:n]) for n in range(len(entry.sizes) + 1)]
    with StoredFile(backend, KEYS, index, entry) as stored:
        stored.load(starts[10], starts[15])
        stored.prefetch(starts[15], starts[25])  # fails in the background
        stored.seek(starts[10])
        assert stored.read(starts[15] - starts[10]) == DATA[starts[10] : starts[15]]
        with pytest.raises(IntegrityError) as raised:
            stored.load(starts[15], starts[25])
        assert raised.value.blob_id == entry.chunks[changed]
