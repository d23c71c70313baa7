"""Archiving files: each regular file of a folder chunked and saved (stored once), described by a ``FileEntry``
(path relative to the folder, size, SHA-256 computed on the way, chunk ids). Symbolic links and special files are
skipped: a snapshot holds data, not links that a restore would follow.

A file being written (a table's Parquet) is archived while it is written (``ArchiveWriter``), so it never goes
to disk and its chunking overlaps its writing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future, wait
from pathlib import Path
from typing import Any

from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.chunker import Chunker, Reader
from m365_pipeline.snapshots.manifests import FileEntry


class _Hashing:
    """A reader that hashes and counts what passes through it."""

    def __init__(self, stream: Reader) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._stream.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def archive_stream(saver: BlobSaver, chunker: Chunker, stream: Reader, name: str) -> FileEntry:
    """Everything ``stream`` yields, stored as the file ``name`` (a dump piped from a tool needs no temporary copy)."""
    reader = _Hashing(stream)
    chunks = saver.save_stream(reader, chunker)
    return FileEntry(
        name, reader.size, reader.digest.hexdigest(), tuple(i for i, _ in chunks), tuple(n for _, n in chunks)
    )


def archive_file(saver: BlobSaver, chunker: Chunker, path: Path, name: str) -> FileEntry:
    with path.open("rb") as handle:
        return archive_stream(saver, chunker, handle, name)


def archive_folder(saver: BlobSaver, chunker: Chunker, root: Path) -> tuple[FileEntry, ...]:
    """Every regular file under ``root``, in path order."""
    return tuple(archive_file(saver, chunker, path, name) for path, name in _files(root))


def _files(root: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not any(p.is_symlink() for p in path.parents if p != root):
            yield path, path.relative_to(root).as_posix()


PIPE_BYTES = 8 * 1024 * 1024
"""Bytes written and not yet archived, at most: the writer waits beyond that, so memory stays flat."""


class _WriterFailed(Exception):
    """The writing of a file being archived failed: its archiving stops."""


class _Pipe:
    """Bytes handed from one writing thread to one archiving thread, at most ``capacity`` waiting."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._blocks: deque[bytes] = deque()
        self._waiting = 0
        self._changed = threading.Condition()
        self._ended = False
        self._failed: BaseException | None = None
        self._archiving_error: BaseException | None = None

    def put(self, block: bytes) -> None:
        with self._changed:
            while self._waiting >= self._capacity and self._archiving_error is None:
                self._changed.wait()
            if self._archiving_error is not None:
                raise self._archiving_error
            self._blocks.append(block)
            self._waiting += len(block)
            self._changed.notify_all()

    def end(self, failed: BaseException | None = None) -> None:
        with self._changed:
            self._ended, self._failed = True, failed
            self._changed.notify_all()

    def read(self, size: int = -1, /) -> bytes:
        """The next bytes written (at most ``size``), waiting for them; ``b""`` once the writer is done."""
        with self._changed:
            while not self._blocks and not self._ended:
                self._changed.wait()
            if self._blocks:
                block = self._blocks.popleft()
                if 0 <= size < len(block):
                    block, rest = block[:size], block[size:]
                    self._blocks.appendleft(rest)
                self._waiting -= len(block)
                self._changed.notify_all()
                return block
            if self._failed is not None:
                raise _WriterFailed("the file's writing failed") from self._failed
            return b""

    def abandon(self, error: BaseException) -> None:
        """The archiving failed: the writer's next ``put`` raises ``error``."""
        with self._changed:
            self._archiving_error = error
            self._blocks.clear()
            self._waiting = 0
            self._changed.notify_all()


class ArchiveWriter:
    """A writable file archived as ``name`` while it is written: a thread of ``executor`` chunks and saves what
    ``write`` hands it. ``close`` when done (``entry`` then gives its ``FileEntry``), or ``fail`` with the error
    that stopped the writing (nothing is kept of it). An error of the archiving is raised by the next ``write``."""

    def __init__(
        self, executor: Executor, saver: BlobSaver, chunker: Chunker, name: str, capacity: int = PIPE_BYTES
    ) -> None:
        self._pipe = _Pipe(capacity)
        self.closed = False  # pyarrow's writer asks a Python file this before writing to it
        self.entry: Future[FileEntry] = executor.submit(self._archive, saver, chunker, name)

    def _archive(self, saver: BlobSaver, chunker: Chunker, name: str) -> FileEntry:
        try:
            return archive_stream(saver, chunker, self._pipe, name)
        except BaseException as error:
            self._pipe.abandon(error)
            raise

    def write(self, data: Any) -> int:
        block = bytes(data)  # the caller may reuse its buffer once this returns
        self._pipe.put(block)
        return len(block)

    def close(self) -> Future[FileEntry]:
        self.closed = True
        self._pipe.end()
        return self.entry

    def fail(self, error: BaseException) -> None:
        """Stop the archiving after ``error`` stopped the writing, and wait until it has stopped."""
        self.closed = True
        self._pipe.end(error)
        wait([self.entry])
