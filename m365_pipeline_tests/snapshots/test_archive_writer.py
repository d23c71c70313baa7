"""A file archived while it is written (a table's Parquet): the same chunks and entry as the file archived from
disk, memory bounded by the pipe, and a failure on either side stops the other instead of leaving it waiting."""

from __future__ import annotations

import hashlib
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from m365_pipeline.snapshots.archiver import ArchiveWriter, archive_file
from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.chunker import Chunker
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys

KEYS = RepositoryKeys(bytes(range(32)))
DATA = random.Random(5).randbytes(3_000_000)


def _pieces(data: bytes) -> list[bytes]:
    """``data`` cut as a Parquet writer cuts its writes: small headers and large pages."""
    rng, pieces, start = random.Random(6), [], 0
    while start < len(data):
        size = rng.choice([9, 41, 700, 65_536, 300_000])
        pieces.append(data[start : start + size])
        start += size
    return pieces


def test_a_file_archived_while_written_is_the_file_archived_from_disk(tmp_path: Path) -> None:
    (tmp_path / "table.parquet").write_bytes(DATA)
    with BlobSaver(LocalBackend(tmp_path / "repo"), KEYS, Index()) as saver:
        from_disk = archive_file(saver, Chunker(KEYS.chunk_id), tmp_path / "table.parquet", "table.parquet")
        with ThreadPoolExecutor(1) as executor:
            writer = ArchiveWriter(executor, saver, Chunker(KEYS.chunk_id), "table.parquet", capacity=100_000)
            for piece in _pieces(DATA):
                assert writer.write(memoryview(piece)) == len(piece)
            streamed = writer.close().result()

    assert streamed == from_disk
    assert (streamed.size, streamed.sha256) == (len(DATA), hashlib.sha256(DATA).hexdigest())
    assert len(streamed.chunks) > 5


def test_a_failed_writing_stops_the_archiving(tmp_path: Path) -> None:
    with BlobSaver(LocalBackend(tmp_path / "repo"), KEYS, Index()) as saver, ThreadPoolExecutor(1) as executor:
        writer = ArchiveWriter(executor, saver, Chunker(KEYS.chunk_id), "table.parquet", capacity=100_000)
        writer.write(DATA[:50_000])
        writer.fail(OSError("the database went away"))

        assert writer.entry.done() and writer.closed
        with pytest.raises(Exception, match="writing failed") as raised:
            writer.entry.result()
        assert isinstance(raised.value.__cause__, OSError)


class _FullDisk(LocalBackend):
    def new_spool(self) -> Path:
        raise OSError(28, "No space left on device")


def test_a_failed_archiving_fails_the_writer_instead_of_leaving_it_waiting(tmp_path: Path) -> None:
    saver = BlobSaver(_FullDisk(tmp_path / "repo"), KEYS, Index())
    with ThreadPoolExecutor(1) as executor:
        writer = ArchiveWriter(executor, saver, Chunker(KEYS.chunk_id), "table.parquet", capacity=100_000)
        with pytest.raises(OSError, match="No space left"):  # the pipe holds 100 kB: without the fix, waits forever
            for piece in _pieces(DATA * 4):
                writer.write(piece)
        with pytest.raises(OSError, match="No space left"):
            writer.entry.result()
