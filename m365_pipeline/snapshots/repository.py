"""An opened repository: its store, configuration and keys together, and what reading it back needs (the index,
manifests, a file's content streamed to a writer or a temporary file)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.blobs import load_blobs
from m365_pipeline.snapshots.chunker import Chunker
from m365_pipeline.snapshots.config import RepositoryConfig, init_repository, open_repository
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys, ScryptParams
from m365_pipeline.snapshots.manifests import FileEntry, Manifest, load_manifest, snapshot_ids
from m365_pipeline.snapshots.scratch import scratch_folder


@dataclass(frozen=True)
class Repository:
    backend: Backend
    config: RepositoryConfig
    keys: RepositoryKeys

    @classmethod
    def open(cls, backend: Backend, environ: Mapping[str, str]) -> Repository:
        """Open the repository of ``backend`` with the key from ``environ`` (see ``config.open_repository``)."""
        config, keys = open_repository(backend, environ)
        return cls(backend, config, keys)

    @classmethod
    def init(
        cls, backend: Backend, keys: RepositoryKeys, scrypt: ScryptParams | None = None, **settings: int
    ) -> Repository:
        return cls(backend, init_repository(backend, keys, scrypt, **settings), keys)

    def index(self) -> Index:
        return Index.load(self.backend, self.keys.encryption)

    def chunker(self) -> Chunker:
        return self.config.new_chunker(self.keys)

    def manifest(self, snapshot_id: str) -> Manifest:
        return load_manifest(self.backend, self.keys, snapshot_id)

    def snapshot_ids(self) -> list[str]:
        return snapshot_ids(self.backend)

    def write_file(
        self, index: Index, entry: FileEntry, out: IO[bytes], *, on_bytes: Callable[[int], None] | None = None
    ) -> int:
        """Write ``entry``'s content to ``out``, every chunk authenticated and the whole checked against the
        manifest's size; returns the bytes written. The file's SHA-256 is not computed again (it cost a third of an
        SQLite warehouse's restore): the manifest is authenticated, each chunk is checked against its keyed id in
        the manifest's order, and at capture the chunker checked that each chunk starts where the one before ended;
        so the content is the captured one, chunk for chunk, as restic restores. Restored artifacts
        (``restorer``) are still hashed whole: a tag records their SHA-256."""
        size = 0
        for data in load_blobs(self.backend, self.keys, index, entry.chunks):
            out.write(data)
            size += len(data)
            if on_bytes is not None:
                on_bytes(len(data))
        if size != entry.size:
            raise IntegrityError(bytes.fromhex(entry.sha256), f"{entry.path}: {size} bytes do not match the manifest")
        return size

    @contextlib.contextmanager
    def temporary_file(self, index: Index, entry: FileEntry) -> Iterator[Path]:
        """``entry``'s content in a temporary file (for readers that need to seek, such as Parquet), removed after."""
        with scratch_folder("content") as folder:
            path = folder / "content"
            with path.open("wb") as out:
                self.write_file(index, entry, out)
            yield path
