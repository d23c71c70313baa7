"""A stored file read in place: a seekable, read-only file over the chunks of a ``FileEntry``, loading (and checking,
as every load is) only the chunks that reads touch.

Parquet reads a base table's footer and the row groups it needs this way, instead of the whole file being fetched
first: an incremental after a few appended or changed rows loads a few chunks of the base, not all of them. A
reader that knows which byte range it reads next says so (``load``, then ``prefetch`` for the range after it): the
range's chunks are loaded at once in the loading threads, and the next range is loaded in the background while
the current one is used. Memory holds the current range, the one prefetched and a short run of chunks.
"""

from __future__ import annotations

import bisect
import io
import itertools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.blobs import load_blobs
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import FileEntry

RUN_CHUNKS = 8
"""Chunks loaded together when a read reaches one not loaded yet and no range was announced (those after it are
usually read next)."""


class StoredFile(io.RawIOBase):
    def __init__(self, backend: Backend, keys: RepositoryKeys, index: Index, entry: FileEntry) -> None:
        if entry.chunks and not entry.sizes:
            raise ValueError(f"{entry.path}: its manifest records no chunk lengths, so it cannot be read in place")
        self._backend, self._keys, self._index, self._entry = backend, keys, index, entry
        self._starts = list(itertools.accumulate(entry.sizes, initial=0))
        self._loaded: dict[int, memoryview] = {}
        self._prefetched: tuple[list[int], Future[list[bytes]]] | None = None
        self._prefetcher: ThreadPoolExecutor | None = None
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._entry.size}[whence]
        if origin + offset < 0:
            raise ValueError(f"{self._entry.path}: seek before the start of the file")
        self._position = origin + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._position < self._entry.size:
            number = bisect.bisect_right(self._starts, self._position) - 1
            if number not in self._loaded:
                self._load_chunks(range(number, min(number + RUN_CHUNKS, len(self._entry.chunks))), keep=True)
            data = self._loaded[number]
            start = self._position - self._starts[number]
            count = min(len(view) - filled, len(data) - start)
            view[filled : filled + count] = data[start : start + count]
            filled += count
            self._position += count
        return filled

    def load(self, start: int, end: int) -> None:
        """Load the chunks holding bytes ``start`` to ``end`` (exclusive), the range read next; the chunks before
        it are dropped."""
        self._load_chunks(self._covering(start, end), keep=False)

    def prefetch(self, start: int, end: int) -> None:
        """Start loading the chunks holding bytes ``start`` to ``end`` in the background (the range after the one
        being read): a ``load`` of it later finds them loaded or loading."""
        wanted = [n for n in self._covering(start, end) if n not in self._loaded]
        if self._prefetched is not None or not wanted:
            return
        if self._prefetcher is None:
            self._prefetcher = ThreadPoolExecutor(1, thread_name_prefix="prefetch")
        ids = [self._entry.chunks[n] for n in wanted]
        self._prefetched = (wanted, self._prefetcher.submit(lambda: list(self._loading(ids))))

    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.shutdown(cancel_futures=True)
        self._loaded.clear()
        super().close()

    def _covering(self, start: int, end: int) -> range:
        if end <= start or start >= self._entry.size:
            return range(0)
        first = bisect.bisect_right(self._starts, start) - 1
        last = bisect.bisect_left(self._starts, min(end, self._entry.size))
        return range(first, last)

    def _load_chunks(self, wanted: range, keep: bool) -> None:
        """Load ``wanted`` into the chunks kept: added to them (``keep``, bounded to a few runs), or replacing
        those before the first wanted."""
        found: dict[int, memoryview] = {n: self._loaded[n] for n in wanted if n in self._loaded}
        if self._prefetched is not None:
            prefetched, loading = self._prefetched
            if set(wanted) & set(prefetched):
                self._prefetched = None
                found.update((n, memoryview(data)) for n, data in zip(prefetched, loading.result(), strict=True))
            elif not keep and prefetched[-1] < wanted.start:  # the reader has moved past what was prefetched
                self._prefetched = None
                loading.cancel()
        missing = [n for n in wanted if n not in found]
        loaded = self._loading([self._entry.chunks[n] for n in missing])
        found.update((n, memoryview(data)) for n, data in zip(missing, loaded, strict=True))
        for n, data in found.items():
            if len(data) != self._entry.sizes[n]:
                raise IntegrityError(
                    self._entry.chunks[n], f"{self._entry.path}: chunk {n} is not of its recorded length"
                )
        kept = self._loaded if keep else {n: d for n, d in self._loaded.items() if n >= wanted.start}
        self._loaded = kept | found
        if len(self._loaded) > 4 * RUN_CHUNKS and keep:  # reads without announced ranges: keep the latest runs
            for n in sorted(self._loaded, key=lambda n: n in found)[: len(self._loaded) - 2 * RUN_CHUNKS]:
                del self._loaded[n]

    def _loading(self, ids: list[bytes]) -> Any:
        return load_blobs(self._backend, self._keys, self._index, ids)
