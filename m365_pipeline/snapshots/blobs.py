"""Saving and loading blobs: a blob already in the index (or in the pack being written) is not stored again;
a new one is sealed and appended to the current pack, which is published when it reaches its target size.

After ``flush`` every saved blob is in a published pack and an index file; until then a kill loses only the
unpublished pack (a spool the next run removes) and the packs not yet indexed (``Index.rebuild`` finds them).
"""

from __future__ import annotations

import hmac
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.chunker import Chunker, Reader
from m365_pipeline.snapshots.crypto import DEFAULT_LEVEL, IntegrityError, open_sealed, seal
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys, keyed_id
from m365_pipeline.snapshots.packs import TARGET_SIZE, BlobType, PackWriter


@dataclass
class SaveStats:
    blobs: int = 0
    """Blobs saved, new or not."""
    new_blobs: int = 0
    bytes: int = 0
    """Plain bytes saved, new or not."""
    new_bytes: int = 0
    """Plain bytes of the new blobs."""
    stored_bytes: int = 0
    """Sealed (compressed, encrypted) bytes of the new blobs."""
    packs: int = 0


LOAD_THREADS = min(4, os.cpu_count() or 1)
RUN_BLOBS = 8
"""Blobs one read may cover: 8 chunks are at most 2 MiB once opened, so the read-ahead stays small."""
RUN_BYTES = 1024 * 1024
"""Sealed bytes one read may cover."""


class BlobSaver:
    """Stores blobs once each into packs of ``pack_size``; use as a context manager, or call ``flush``.

    Several threads may save through one saver (components captured in parallel): deciding whether a blob is new
    and appending it to the pack happen under one lock, so a blob is stored once and packs are shared."""

    def __init__(
        self,
        backend: Backend,
        keys: RepositoryKeys,
        index: Index,
        *,
        pack_size: int = TARGET_SIZE,
        level: int = DEFAULT_LEVEL,
        threads: int = min(4, os.cpu_count() or 1),
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """``on_bytes`` is called with the plain bytes saved so far, new or not, after each blob (progress)."""
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self._backend, self._keys, self._index = backend, keys, index
        self._pack_size, self._level, self._threads = pack_size, level, threads
        self._on_bytes = on_bytes
        self._writer: PackWriter | None = None
        self._pending: set[bytes] = set()
        self._lock = threading.RLock()
        self._sealers: ThreadPoolExecutor | None = None
        self.stats = SaveStats()

    def __repr__(self) -> str:
        return f"BlobSaver({self._backend!r}, {self.stats})"

    def save(self, blob_type: BlobType, blob_id: bytes, data: bytes) -> bool:
        """Store ``data`` under ``blob_id`` (its keyed id) unless it is stored already; True if it was new."""
        if not self._reserve(blob_id, len(data)):
            return False
        self._append(blob_type, blob_id, len(data), seal(self._keys.encryption, blob_id, data, self._level))
        return True

    def save_stream(self, stream: Reader, chunker: Chunker) -> list[tuple[bytes, int]]:
        """Chunk ``stream`` and save its chunks; returns their ids and lengths in order (what restores it).

        New chunks are compressed and encrypted by the saver's ``threads`` threads (zstd and AES-GCM release the
        GIL; the streams saved at once share them), at most ``2 x threads`` ahead of the pack writer, which appends
        them in stream order: memory stays flat."""
        chunks: list[tuple[bytes, int]] = []
        in_flight: deque[tuple[bytes, int, Future[bytes]]] = deque()
        pool = self._sealing_pool()
        try:
            for chunk in chunker.chunks(stream):
                chunks.append((chunk.id, chunk.length))
                if not self._reserve(chunk.id, chunk.length):
                    continue
                future = pool.submit(seal, self._keys.encryption, chunk.id, chunk.data, self._level)
                in_flight.append((chunk.id, chunk.length, future))
                while len(in_flight) > 2 * self._threads:
                    blob_id, length, done = in_flight.popleft()
                    self._append(BlobType.DATA, blob_id, length, done.result())
            while in_flight:
                blob_id, length, done = in_flight.popleft()
                self._append(BlobType.DATA, blob_id, length, done.result())
        finally:
            for _, _, future in in_flight:
                future.cancel()
        return chunks

    def _sealing_pool(self) -> ThreadPoolExecutor:
        """The threads sealing chunks: started with the first stream and shared by every stream after it (a
        snapshot saves a hundred tables), stopped when the saver is done."""
        with self._lock:
            if self._sealers is None:
                self._sealers = ThreadPoolExecutor(self._threads, thread_name_prefix="seal")
            return self._sealers

    def _reserve(self, blob_id: bytes, length: int) -> bool:
        """Count a blob; True (and it is pending from now on) if it is new."""
        with self._lock:
            self.stats.blobs += 1
            self.stats.bytes += length
            if self._on_bytes is not None:
                self._on_bytes(self.stats.bytes)
            if blob_id in self._index or blob_id in self._pending:
                return False
            self._pending.add(blob_id)
            return True

    def _append(self, blob_type: BlobType, blob_id: bytes, length: int, sealed: bytes) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = PackWriter(self._backend, self._keys.encryption, self._pack_size)
            self._writer.add(blob_type, blob_id, sealed)
            self.stats.new_blobs += 1
            self.stats.new_bytes += length
            self.stats.stored_bytes += len(sealed)
            if self._writer.full:
                self._finish_pack()

    def flush(self) -> str | None:
        """Publish the current pack and save the index; returns the new index file's name, if any."""
        with self._lock:
            if self._writer is not None:
                self._finish_pack()
            return self._index.save(self._backend, self._keys.encryption)

    def abort(self) -> None:
        """Drop the pack being written (its blobs are not stored)."""
        with self._lock:
            if self._writer is not None:
                self._writer.abort()
                self._writer = None
            self._pending.clear()

    def _finish_pack(self) -> None:
        assert self._writer is not None
        pack = self._writer.finish()
        self._writer = None
        self._index.add_pack(pack)
        self._pending.difference_update(entry.id for entry in pack.entries)
        self.stats.packs += 1

    def __enter__(self) -> BlobSaver:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._sealers is not None:
            self._sealers.shutdown(cancel_futures=True)
            self._sealers = None
        if kind is None:
            self.flush()
        else:  # drop the unfinished pack; index the packs already published so none is left orphaned
            self.abort()
            self._index.save(self._backend, self._keys.encryption)


def load_blob(backend: Backend, keys: RepositoryKeys, index: Index, blob_id: bytes) -> bytes:
    """The content of blob ``blob_id``, checked against its id; ``IntegrityError`` names a changed blob."""
    location = index.lookup(blob_id)
    sealed = backend.read("packs", location.pack, location.offset, location.length)
    return open_checked(keys, blob_id, location.pack, location.length, sealed)


def open_checked(keys: RepositoryKeys, blob_id: bytes, pack: str, length: int, sealed: bytes | memoryview) -> bytes:
    """The content of ``sealed``, the ``length`` bytes of blob ``blob_id`` read from ``pack``: authenticated
    (AES-GCM) and checked against its keyed id."""
    if len(sealed) != length:
        raise IntegrityError(blob_id, f"pack {pack} ends before the blob does (truncated pack)")
    data = open_sealed(keys.encryption, blob_id, sealed)
    if not hmac.compare_digest(keyed_id(keys.chunk_id, data), blob_id):
        raise IntegrityError(blob_id, "its content does not match its id")
    return data


@dataclass
class _Run:
    """Blobs stored back to back in one pack, wanted one after another: read at once."""

    pack: str
    offset: int
    length: int
    blobs: list[tuple[bytes, int]]
    """Each blob's id and sealed length, in order."""


def _runs(index: Index, ids: Iterable[bytes]) -> Iterator[_Run]:
    """``ids`` in order, grouped into runs of at most ``RUN_BLOBS`` blobs and ``RUN_BYTES`` sealed bytes."""
    run: _Run | None = None
    for blob_id in ids:
        location = index.lookup(blob_id)
        if (
            run is not None
            and location.pack == run.pack
            and location.offset == run.offset + run.length
            and len(run.blobs) < RUN_BLOBS
            and run.length + location.length <= RUN_BYTES
        ):
            run.length += location.length
            run.blobs.append((blob_id, location.length))
            continue
        if run is not None:
            yield run
        run = _Run(location.pack, location.offset, location.length, [(blob_id, location.length)])
    if run is not None:
        yield run


def _load_run(backend: Backend, keys: RepositoryKeys, run: _Run) -> list[bytes]:
    sealed = memoryview(backend.read("packs", run.pack, run.offset, run.length))
    contents, start = [], 0
    for blob_id, length in run.blobs:
        contents.append(open_checked(keys, blob_id, run.pack, length, sealed[start : start + length]))
        start += length
    return contents


def load_blobs(
    backend: Backend, keys: RepositoryKeys, index: Index, ids: Iterable[bytes], threads: int = LOAD_THREADS
) -> Iterator[bytes]:
    """The contents of the blobs ``ids``, in order, each checked as ``load_blob`` does. Blobs stored back to back
    are read together (``_runs``); runs are loaded in ``threads`` threads (reading, AES-GCM, zstd and the HMAC
    release the GIL), at most ``2 x threads`` runs ahead of the consumer: memory stays flat."""
    ahead: deque[Future[list[bytes]]] = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="load") as pool:
        try:
            for run in _runs(index, ids):
                ahead.append(pool.submit(_load_run, backend, keys, run))
                if len(ahead) > 2 * threads:
                    yield from ahead.popleft().result()
            while ahead:
                yield from ahead.popleft().result()
        finally:
            for future in ahead:
                future.cancel()


def restore_stream(backend: Backend, keys: RepositoryKeys, index: Index, ids: Iterable[bytes], out: BinaryIO) -> int:
    """Write the blobs ``ids`` in order to ``out``; returns the bytes written."""
    written = 0
    for data in load_blobs(backend, keys, index, ids):
        written += out.write(data)
    return written
