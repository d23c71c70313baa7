"""The read path: packs read whole in pieces (verify), blobs read in runs (restore), and the background writeback
of a restored file; each still authenticates every blob and names the one that fails."""

from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

import pytest

from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.blobs import RUN_BLOBS, BlobSaver, load_blobs, restore_stream
from m365_pipeline.snapshots.check import check
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys, keyed_id
from m365_pipeline.snapshots.packs import (
    MAX_SIZE,
    PIECE_SIZE,
    BlobType,
    Pack,
    PackEntry,
    pack_hash,
    pack_pieces,
    read_header,
)
from m365_pipeline.snapshots.writeback import Writeback

KEYS = RepositoryKeys(bytes(range(32)))


def _store(root: Path, count: int, size: int, pack_size: int = MAX_SIZE) -> tuple[LocalBackend, list[bytes], Index]:
    """``count`` incompressible blobs of about ``size`` bytes (so their packs are as large as their content)."""
    backend, rng, index = LocalBackend(root), random.Random(count), Index()
    blobs = [rng.randbytes(rng.randrange(size // 2, size)) for _ in range(count)]
    with BlobSaver(backend, KEYS, index, pack_size=pack_size) as saver:
        for data in blobs:
            saver.save(BlobType.DATA, keyed_id(KEYS.chunk_id, data), data)
    return backend, blobs, index


def _pack_path(root: Path, name: str) -> Path:
    return next((root / "packs").glob(f"*/{name}"))


def test_pack_pieces_cover_the_pack_in_order_and_split_no_blob(tmp_path: Path) -> None:
    backend, _, _ = _store(tmp_path, 40, 120_000)
    (name,) = backend.names("packs")
    size = backend.size("packs", name)
    assert size > 3 * PIECE_SIZE
    entries = read_header(backend, KEYS.encryption, name)
    cuts = [cut for e in entries for cut in (e.offset, e.offset + e.length)]
    pieces = list(pack_pieces(backend, name, size, cuts))
    assert b"".join(piece for _, piece in pieces) == _pack_path(tmp_path, name).read_bytes()
    assert [offset for offset, _ in pieces] == [0] + [sum(len(p) for _, p in pieces[:i]) for i in range(1, len(pieces))]
    assert len(pieces) > 3 and all(len(piece) <= PIECE_SIZE for _, piece in pieces)
    ends = {offset + len(piece) for offset, piece in pieces}
    assert ends <= set(cuts) | {size}  # every piece ends at a blob boundary (or the pack's end)
    small = list(pack_pieces(backend, name, size, cuts, piece_size=1000))  # smaller than any blob: one blob a piece
    assert [len(piece) for _, piece in small[: len(entries)]] == [e.length for e in entries]
    assert pack_hash(backend, name) == name


def test_pack_pieces_stop_at_the_end_of_a_truncated_pack(tmp_path: Path) -> None:
    backend, _, _ = _store(tmp_path, 30, 120_000)
    (name,) = backend.names("packs")
    size = backend.size("packs", name)
    path = _pack_path(tmp_path, name)
    path.write_bytes(path.read_bytes()[: size // 2])
    pieces = list(pack_pieces(backend, name, size))
    assert sum(len(piece) for _, piece in pieces) == size // 2
    assert pack_hash(backend, name) != name


def test_verify_reads_large_packs_in_pieces_and_names_a_changed_blob_in_any_piece(tmp_path: Path) -> None:
    backend, blobs, index = _store(tmp_path, 60, 120_000)
    clean = check(backend, KEYS)
    assert clean.ok, clean.problems
    assert clean.blobs_read == len(blobs) and clean.bytes_read == sum(backend.size("packs", n) for n in index.packs())
    (name,) = index.packs()
    path = _pack_path(tmp_path, name)
    original = path.read_bytes()
    for blob_id, location in sorted(index.blobs(), key=lambda item: item[1].offset)[5::20]:  # early, middle, late
        flipped = bytearray(original)
        flipped[location.offset + location.length // 2] ^= 0x10
        path.write_bytes(bytes(flipped))
        report = check(backend, KEYS)
        assert [(p.kind, p.name) for p in report.problems] == [("pack", name), ("blob", blob_id.hex())]
        assert "failed authentication" in report.problems[1].message
    path.write_bytes(original[: len(original) // 2])  # truncated: every blob after the cut is named
    report = check(backend, KEYS)
    cut = [i for i, loc in index.blobs() if loc.offset + loc.length > len(original) // 2]
    assert {p.name for p in report.problems if p.kind == "blob"} == {i.hex() for i in cut}
    assert any(p.kind == "pack" and "truncated" in p.message for p in report.problems)
    path.write_bytes(original)
    assert check(backend, KEYS).ok


def test_verify_checks_blobs_the_index_places_across_others_or_past_the_end(tmp_path: Path) -> None:
    backend, blobs, index = _store(tmp_path, 30, 120_000)
    (name,) = index.packs()
    size = backend.size("packs", name)
    entries = read_header(backend, KEYS.encryption, name)
    shifted, beyond = entries[10], entries[20]
    places = {shifted.id: shifted.offset - 1000, beyond.id: size + 10}
    lying = tuple(PackEntry(e.type, e.id, places.get(e.id, e.offset), e.length) for e in entries)
    for old in list(backend.names("index")):
        backend.remove("index", old)
    lying_index = Index()
    lying_index.add_pack(Pack(name, lying, size))
    lying_index.save(backend, KEYS.encryption)
    report = check(backend, KEYS)
    assert report.blobs_read == len(blobs)
    named = sorted((p.name, "not where the index says" in p.message) for p in report.problems)
    assert named == sorted((i.hex(), misplaced) for i in (shifted.id, beyond.id) for misplaced in (True, False))
    (past_the_end,) = [p for p in report.problems if p.name == beyond.id.hex() and "index says" not in p.message]
    assert "truncated pack" in past_the_end.message
    assert pack_hash(backend, name) == name  # the pack itself is intact


def test_blobs_load_in_runs_whatever_their_order(tmp_path: Path) -> None:
    backend, blobs, _ = _store(tmp_path, 50, 20_000, pack_size=150_000)
    index = Index.load(backend, KEYS.encryption)
    assert len(index.packs()) > 3
    ids = [keyed_id(KEYS.chunk_id, data) for data in blobs]
    rng = random.Random(3)
    orders = [ids, ids[::-1], ids[: RUN_BLOBS * 2] * 3, rng.sample(ids, len(ids)), ids[5:9] + ids[:3] + ids[5:20]]
    content = dict(zip(ids, blobs, strict=True))
    for order in orders:
        assert list(load_blobs(backend, KEYS, index, order, threads=2)) == [content[i] for i in order]


def test_restoring_from_a_truncated_pack_names_the_first_blob_cut(tmp_path: Path) -> None:
    backend, blobs, index = _store(tmp_path, 30, 20_000)
    (name,) = index.packs()
    path = _pack_path(tmp_path, name)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    ids = [keyed_id(KEYS.chunk_id, data) for data in blobs]
    first_cut = next(i for i in ids if index.lookup(i).offset + index.lookup(i).length > path.stat().st_size)
    with pytest.raises(IntegrityError, match="truncated pack") as raised:
        restore_stream(backend, KEYS, index, ids, io.BytesIO())
    assert raised.value.blob_id == first_cut


def test_writeback_leaves_the_file_whole_and_no_descriptor_open(tmp_path: Path) -> None:
    path = tmp_path / "restored"
    path.touch()
    descriptors = len(os.listdir("/proc/self/fd"))
    data = random.Random(4).randbytes(1 << 20)
    with path.open("wb") as out, Writeback(path) as writeback:
        for _ in range(8):
            out.write(data)
            out.flush()
            writeback.written(len(data))
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data * 8).digest()
