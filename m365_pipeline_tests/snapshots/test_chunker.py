"""Content-defined chunking: compiled FastCDC, bounded sizes, stable boundaries, keyed ids, streaming."""

from __future__ import annotations

import hashlib
import io
import random
import sys

import pytest

from m365_pipeline.snapshots import chunker as chunker_module
from m365_pipeline.snapshots.chunker import (
    MAX_SIZE,
    MIN_SIZE,
    Chunker,
    ChunkingError,
    CompiledChunkerMissing,
    compiled_fastcdc,
)

KEY = bytes(range(32))


def _data(size: int, seed: int = 4) -> bytes:
    return random.Random(seed).randbytes(size)


def test_the_compiled_fastcdc_is_in_use() -> None:
    function = compiled_fastcdc()
    assert type(function).__name__ == "cython_function_or_method"  # not a Python function
    assert sys.modules["fastcdc.fastcdc_cy"].__file__.endswith(".so")  # type: ignore[union-attr]
    assert Chunker(KEY)._fastcdc is function


def test_a_missing_compiled_fastcdc_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunker_module, "COMPILED_MODULE", "fastcdc.fastcdc_py")  # the pure-Python fallback
    with pytest.raises(CompiledChunkerMissing, match="not a compiled extension"):
        Chunker(KEY)
    monkeypatch.setattr(chunker_module, "COMPILED_MODULE", "fastcdc.no_such_module")
    with pytest.raises(CompiledChunkerMissing, match="cannot be imported"):
        Chunker(KEY)


def test_chunks_cover_the_stream_within_bounds() -> None:
    data = _data(12 * 1024 * 1024)
    chunks = list(Chunker(KEY).chunks(io.BytesIO(data)))
    assert b"".join(c.data for c in chunks) == data
    assert [c.offset for c in chunks] == [sum(c.length for c in chunks[:i]) for i in range(len(chunks))]
    assert all(MIN_SIZE <= c.length <= MAX_SIZE for c in chunks[:-1])
    assert 0 < chunks[-1].length <= MAX_SIZE
    mean = len(data) / len(chunks)
    assert 64 * 1024 <= mean <= 256 * 1024, mean


class _Trickle(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read, like a pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._position = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        piece = self._data[self._position : self._position + min(self._step, size if size >= 0 else self._step)]
        self._position += len(piece)
        return piece


@pytest.mark.parametrize("read_size", [MAX_SIZE, MAX_SIZE + 1, 1024 * 1024 + 7])
def test_windows_and_short_reads_cut_where_the_whole_stream_would(read_size: int) -> None:
    data = _data(5 * 1024 * 1024)
    whole = [c.offset for c in Chunker(KEY, read_size=len(data)).chunks(io.BytesIO(data))]
    windowed = Chunker(KEY, read_size=read_size)
    assert [c.offset for c in windowed.chunks(io.BytesIO(data))] == whole
    assert [c.offset for c in windowed.chunks(_Trickle(data, 100_000))] == whole  # type: ignore[arg-type]


def test_short_reads_are_gathered_into_whole_windows() -> None:
    data = _data(3 * 1024 * 1024 + 5)
    chunker = Chunker(KEY, read_size=1024 * 1024)
    windows: list[int] = []
    cut = chunker._fastcdc

    def recording(window: bytes, *sizes: int) -> object:
        windows.append(len(window))
        return cut(window, *sizes)

    chunker._fastcdc = recording
    chunks = list(chunker.chunks(_Trickle(data, 4096)))  # type: ignore[arg-type]

    assert b"".join(c.data for c in chunks) == data
    assert windows[:-1] == [1024 * 1024] * (len(windows) - 1)  # each window cut once, never a short read's
    assert len(windows) < 12


def _shared_share(before: bytes, after: bytes) -> float:
    chunker = Chunker(KEY)
    old = {c.id for c in chunker.chunks(io.BytesIO(before))}
    new = list(chunker.chunks(io.BytesIO(after)))
    return sum(c.length for c in new if c.id in old) / len(after)


@pytest.mark.parametrize("inserted", [1, 100, 5000])
def test_bytes_inserted_at_the_front_leave_most_chunks_reused(inserted: int) -> None:
    data = _data(16 * 1024 * 1024)
    share = _shared_share(data, _data(inserted, seed=8) + data)
    print(f"{inserted} bytes inserted at the front of 16 MiB: {share:.1%} of the new stream in reused chunks")
    assert share >= 0.97


def test_a_change_in_the_middle_touches_only_nearby_chunks() -> None:
    data = bytearray(_data(16 * 1024 * 1024))
    original = bytes(data)
    data[8 * 1024 * 1024] ^= 0xFF
    assert _shared_share(original, bytes(data)) >= 0.97


def test_ids_are_keyed() -> None:
    data = _data(300 * 1024)
    first = [c.id for c in Chunker(KEY).chunks(io.BytesIO(data))]
    again = [c.id for c in Chunker(KEY).chunks(io.BytesIO(data))]
    other_key = [c.id for c in Chunker(bytes(32)).chunks(io.BytesIO(data))]
    assert first == again
    assert not set(first) & set(other_key)
    plain = {hashlib.sha256(c.data).digest() for c in Chunker(KEY).chunks(io.BytesIO(data))}
    assert not set(first) & plain


def test_empty_stream_has_no_chunks() -> None:
    assert list(Chunker(KEY).chunks(io.BytesIO(b""))) == []


class _Cut:
    def __init__(self, offset: int, length: int) -> None:
        self.offset, self.length = offset, length


@pytest.mark.parametrize(
    ("cuts", "message"),
    [
        ([(0, 100), (90, 100)], "starts at byte 90, the previous ended at 100"),  # overlapping
        ([(0, 100), (110, 100)], "starts at byte 110, the previous ended at 100"),  # a gap
    ],
)
def test_chunks_that_overlap_or_leave_a_gap_are_refused(
    cuts: list[tuple[int, int]], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunker = Chunker(KEY)
    monkeypatch.setattr(chunker, "_fastcdc", lambda window, *sizes: [_Cut(*cut) for cut in cuts])
    with pytest.raises(ChunkingError, match=message):
        list(chunker.chunks(io.BytesIO(bytes(250))))
