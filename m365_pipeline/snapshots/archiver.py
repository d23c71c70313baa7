"""Archiving files: each regular file of a folder chunked and saved (stored once), described by a ``FileEntry``
(path relative to the folder, size, SHA-256 computed on the way, chunk ids). Symbolic links and special files are
skipped: a snapshot holds data, not links that a restore would follow."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

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
    return FileEntry(name, reader.size, reader.digest.hexdigest(), tuple(chunks))


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
