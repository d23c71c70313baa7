"""Which rows of an SQLite warehouse may have changed since its last full, found from the database file's pages.

A full records a ``PageMap`` of its frozen database file: an XXH3 hash of every page and which table's rows each
page holds (a leaf of the table's b-tree), found by walking every b-tree from its root and the freelist; a page
holding no rows (interior pages, indexes, the schema, free pages) is ``IGNORED``, one reached from nowhere
(overflow pages, pointer maps) ``UNKNOWN``. An incremental maps its own frozen file the same way: a row can only
have been added or changed where a leaf page's bytes or owner differ from the full's, so the rows of such leaves
(their rowid ranges) are all that may have changed; given the full's database file, a leaf the same table owned
in both is compared cell by cell, and only its rows whose cells differ may have. A deleted row leaves no page to
find it by: the caller counts rows (``TableChanges.rows`` is the table's current count) to find deletes. When a
changed page holds row data it cannot attribute (an overflow page, a pointer map), or the file's page size
changed, everything may have changed. A table without rowid keeps rows in its interior pages too: it is left out,
to be read whole.

Bytes that are equal mean equal rows only for pages owned by the same table in both files: a page freed keeps its
old bytes, and reused it may hold them again. That is why the full records owners, not only hashes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import xxhash

from m365_pipeline.snapshots import row_groups, tables
from m365_pipeline.snapshots.read_ahead import read_ahead

IGNORED, UNKNOWN = 0, -1
"""Owners of pages holding no table's rows, and of pages reached from no b-tree or the freelist."""
_NOWHERE = -2
_TABLE_LEAF, _TABLE_INTERIOR, _INDEX_LEAF, _INDEX_INTERIOR = 13, 5, 10, 2
_INTERIOR = (_TABLE_INTERIOR, _INDEX_INTERIOR)
_BTREE = (_TABLE_LEAF, _TABLE_INTERIOR, _INDEX_LEAF, _INDEX_INTERIOR)
_READ_BYTES = 4 << 20


class SeekableReader(Protocol):
    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def read(self, size: int = ..., /) -> bytes | None: ...


class PageMapError(ValueError):
    """A database file whose b-trees or freelist cannot be walked (corrupt, or not an SQLite file)."""


@dataclass(frozen=True)
class PageMap:
    """Each page's XXH3-64 hash and owner (``IGNORED``, ``UNKNOWN``, or ``1 + i``: a leaf of ``tables[i]``)."""

    page_size: int
    usable: int
    """Bytes of a page that hold data (the page size less the space reserved at the end of each page)."""
    hashes: npt.NDArray[np.uint64]
    owners: npt.NDArray[np.int32]
    tables: tuple[str, ...]

    def to_bytes(self) -> bytes:
        table = pa.table({"hash": pa.array(self.hashes, pa.uint64()), "owner": pa.array(self.owners, pa.int32())})
        described = {
            b"page_size": str(self.page_size).encode(),
            b"usable": str(self.usable).encode(),
            b"tables": json.dumps(self.tables).encode(),
        }
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema.with_metadata(described)) as writer:
            writer.write_table(table)
        return bytes(sink.getvalue().to_pybytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> PageMap:
        """The map ``to_bytes`` wrote; ``PageMapError`` for anything else (a map of another version)."""
        try:
            table = pa.ipc.open_stream(io.BytesIO(data)).read_all()
            described = table.schema.metadata or {}
            return cls(
                int(described[b"page_size"]),
                int(described[b"usable"]),
                table.column("hash").to_numpy().astype(np.uint64),
                table.column("owner").to_numpy().astype(np.int32),
                tuple(json.loads(described[b"tables"])),
            )
        except (pa.ArrowException, KeyError, ValueError) as error:
            raise PageMapError(f"not a page map this version reads: {error!r}") from error

    def owners_as(self, tables: tuple[str, ...]) -> npt.NDArray[np.int32]:
        """The owners renumbered for ``tables`` (a table missing there owns its pages as no code does)."""
        if tables == self.tables:
            return self.owners
        renumbered = np.array([_NOWHERE] + [tables.index(t) + 1 if t in tables else _NOWHERE for t in self.tables])
        return np.where(self.owners > 0, renumbered[np.maximum(self.owners, 0)], self.owners).astype(np.int32)


@dataclass(frozen=True)
class TableChanges:
    rows: int
    """The table's rows now."""
    rowid_ranges: tuple[tuple[int, int], ...] | None
    """The rowid ranges (inclusive) of its leaves that changed, merged; None when it may have changed anywhere."""
    leaves: int = 0
    """How many of its leaves changed."""
    comparable: tuple[int, ...] = ()
    """The changed leaves that held this table's rows in the base too: ``changed_cells`` compares them."""
    fresh: tuple[tuple[int, int], ...] = ()
    """The rowid ranges of its other changed leaves (new to the table)."""


@dataclass(frozen=True)
class Scan:
    """A frozen database file mapped: its ``PageMap``, each rowid table's rows and leaves, and the tables without
    rowid (their rows are in interior pages too; their pages are ``IGNORED``)."""

    path: Path
    pages: PageMap
    rows: dict[str, int]
    leaves: dict[str, int]
    without_rowid: frozenset[str]


def scan(path: Path) -> Scan:
    """Map the SQLite file ``path`` (which must not change meanwhile: a frozen warehouse)."""
    with path.open("rb") as handle:
        header = handle.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
            raise PageMapError(f"{path} is not an SQLite database file")
        size_field = _u16(header, 16)
        page_size = 65536 if size_field == 1 else size_field
        read = _read_pages(handle, page_size)
        kinds = read.kinds
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
        try:
            roots = connection.execute("SELECT type, name, rootpage FROM sqlite_master WHERE rootpage > 0").fetchall()
        finally:
            connection.close()
        table_names = tuple(sorted(name for kind, name, _ in roots if kind == "table"))
        trees = [("schema", "sqlite_master", 1), *roots]
        tree_of = read.trees([root for _, _, root in trees])
        without_rowid = {
            name for kind, name, root in trees if kind == "table" and kinds[root - 1] in (_INDEX_LEAF, _INDEX_INTERIOR)
        }  # their rows are in interior pages too: read whole, their pages ignored here
        owner_of_tree = np.array(
            [
                1 + table_names.index(name) if kind == "table" and name not in without_rowid else IGNORED
                for kind, name, _ in trees
            ],
            np.int32,
        )
        owners = np.full(len(kinds), UNKNOWN, np.int32)
        reached = np.flatnonzero(tree_of >= 0)
        owners[reached] = np.where(kinds[reached] == _TABLE_LEAF, owner_of_tree[tree_of[reached]], IGNORED)
        leaves = np.flatnonzero(owners > 0)
        leaf_rows = np.bincount(owners[leaves], weights=read.cells[leaves], minlength=len(table_names) + 1)
        leaf_count = np.bincount(owners[leaves], minlength=len(table_names) + 1)
        rows = {
            name: int(leaf_rows[1 + number]) for number, name in enumerate(table_names) if name not in without_rowid
        }
        leaves_of = {name: int(leaf_count[1 + table_names.index(name)]) for name in rows}
        reader = _PageReader(handle.fileno(), page_size, kinds)
        owners[reader.freelist(_u32(header, 32), _u32(header, 36)) - 1] = IGNORED
    mapped = PageMap(page_size, page_size - header[20], read.hashes, owners, table_names)
    return Scan(path, mapped, rows, leaves_of, frozenset(without_rowid))


def changed_rows(base: PageMap, current: Scan) -> dict[str, TableChanges] | None:
    """For each table of ``current`` with rowids, its rows and where they may have changed since the file ``base``
    maps; None when anything may have changed. A table without rowid is left out (it may have changed anywhere)."""
    now = current.pages
    if base.page_size != now.page_size or base.usable != now.usable:
        return None
    common = min(len(base.hashes), len(now.hashes))
    base_owners = base.owners_as(now.tables)
    changed = np.ones(len(now.hashes), bool)
    changed[:common] = (base.hashes[:common] != now.hashes[:common]) | (base_owners[:common] != now.owners[:common])
    changed &= now.owners != IGNORED
    if (now.owners[changed] == UNKNOWN).any():
        return None
    dirty_pages = np.flatnonzero(changed)
    dirty_owners = now.owners[dirty_pages]
    found = {}
    with current.path.open("rb") as handle:
        reader = _PageReader(handle.fileno(), now.page_size)
        for name, rows in current.rows.items():
            leaves = (dirty_pages[dirty_owners == now.tables.index(name) + 1] + 1).tolist()
            if 4 * len(leaves) > current.leaves[name]:
                found[name] = TableChanges(rows, None)  # reading it whole costs less than a quarter of it by rowid
                continue
            ranges = {leaf: _rowid_range(reader.page(leaf), leaf) for leaf in leaves}
            held = {leaf for leaf in leaves if leaf <= common and base_owners[leaf - 1] == now.owners[leaf - 1]}
            fresh = _merged(iter([span for leaf, span in ranges.items() if span and leaf not in held]))
            every = _merged(iter([span for span in ranges.values() if span]))
            found[name] = TableChanges(rows, every, len(leaves), tuple(sorted(held)), fresh)
    return found


def changed_cells(current: Scan, base_file: SeekableReader, changes: TableChanges) -> tuple[tuple[int, int], ...]:
    """``changes`` narrowed: the rowids of the rows whose cells differ from the base's (``base_file``, the base's
    database file, seekable) in the leaves the table held in both, and the ranges of its leaves new to it. Rows are
    rarely inserted in key order, so one changed leaf's rows may belong to many row groups; this costs a read of
    each such leaf in the base file."""
    page_size, usable = current.pages.page_size, current.pages.usable
    changed: list[tuple[int, int]] = list(changes.fresh)
    with current.path.open("rb") as handle:
        reader = _PageReader(handle.fileno(), page_size)
        for leaf in sorted(changes.comparable):  # in file order: the base file is read forward
            base_file.seek((leaf - 1) * page_size)
            before = base_file.read(page_size) or b""
            changed += [(rowid, rowid) for rowid in _cells_not_in(before, reader.page(leaf), leaf, usable)]
    return _merged(iter(changed))


def _merged(ranges: Iterator[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)


@dataclass(frozen=True)
class _PagesRead:
    """What one pass over a database file finds: every page's hash, b-tree page type byte and cell count (the last
    two meaningful for b-tree pages only), and the child pointers of every page that looks like an interior page
    (``parents`` ascending, with each one's ``children``; 32 bits, 8 bytes a page while the scan runs);
    ``malformed`` lists those whose cells run off the page."""

    hashes: npt.NDArray[np.uint64]
    kinds: npt.NDArray[np.uint8]
    cells: npt.NDArray[np.int64]
    parents: npt.NDArray[np.uint32]
    children: npt.NDArray[np.uint32]
    malformed: npt.NDArray[np.int64]

    def trees(self, roots: list[int]) -> npt.NDArray[np.int32]:
        """For every page, the index in ``roots`` of the b-tree that reaches it (-1: none): all trees walked at once,
        a level at a time. A tree that reaches a page past the file's end, a page that is no b-tree page, a page
        another tree (or itself) reaches too, or an interior page whose cells run off the page is an error."""
        count = len(self.kinds)
        tree_of = np.full(count, -1, np.int32)
        pages = np.array(roots, np.int64)
        labels = np.arange(len(roots), dtype=np.int32)
        if ((pages < 1) | (pages > count)).any():
            raise PageMapError(
                f"a b-tree's root page {int(pages[(pages < 1) | (pages > count)][0])} is past the file's end"
            )
        while pages.size:
            _, where, times = np.unique(pages, return_inverse=True, return_counts=True)
            again = (tree_of[pages - 1] >= 0) | (times[where] > 1)
            if again.any():
                raise PageMapError(
                    f"the b-tree at page {roots[int(labels[again][0])]} reaches page {int(pages[again][0])} twice, "
                    "or one another b-tree reaches"
                )
            tree_of[pages - 1] = labels
            kinds = self.kinds[pages - 1]
            if not np.isin(kinds, _BTREE).all():
                raise PageMapError(
                    f"the b-tree at page {roots[int(labels[~np.isin(kinds, _BTREE)][0])]} reaches a "
                    "page that is not a b-tree page"
                )
            interior = np.isin(kinds, _INTERIOR)
            pages, labels = pages[interior], labels[interior]
            bad = np.isin(pages, self.malformed)
            if bad.any():
                raise PageMapError(
                    f"page {int(pages[bad][0])} of the b-tree at page {roots[int(labels[bad][0])]} "
                    "has cells past its end"
                )
            parents = pages.astype(np.uint32)  # page numbers fit: SQLite's largest is 2^32 - 2
            first = np.searchsorted(self.parents, parents, "left")
            counts = np.searchsorted(self.parents, parents, "right") - first
            pointers = np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
            children, child_labels = self.children[pointers].astype(np.int64), np.repeat(labels, counts)
            past = (children < 1) | (children > count)
            if past.any():
                parent = int(np.repeat(pages, counts)[past][0])
                raise PageMapError(
                    f"page {parent} of the b-tree at page {roots[int(child_labels[past][0])]} points "
                    "past the file's end"
                )
            pages, labels = children, child_labels
        return tree_of


def _read_pages(handle: io.BufferedReader, page_size: int) -> _PagesRead:
    hashes: list[int] = []
    kinds: list[npt.NDArray[np.uint8]] = []
    cells: list[npt.NDArray[np.int64]] = []
    edges: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.int64]]] = []
    handle.seek(0)
    block = bytearray(_READ_BYTES - _READ_BYTES % page_size or page_size)
    view = memoryview(block)
    hash_page = xxhash.xxh3_64_intdigest
    first_page = 1
    while filled := handle.readinto(block) // page_size * page_size:
        hashes.extend(hash_page(view[offset : offset + page_size]) for offset in range(0, filled, page_size))
        pages = np.frombuffer(block, np.uint8, filled).reshape(-1, page_size)
        header_at = np.zeros(len(pages), np.int64)
        if first_page == 1:  # page 1's b-tree header follows the file header
            header_at[0] = 100
        headers = pages[np.arange(len(pages))[:, None], header_at[:, None] + np.arange(12)].astype(np.int64)
        kinds.append(headers[:, 0].astype(np.uint8))
        cells.append(headers[:, 3] << 8 | headers[:, 4])
        edges.append(_child_pointers(pages, first_page, header_at, headers))
        first_page += len(pages)
    if not kinds:
        raise PageMapError("the database file holds no page")
    parents, children, malformed = (np.concatenate(found) for found in zip(*edges, strict=True))
    return _PagesRead(
        np.array(hashes, np.uint64), np.concatenate(kinds), np.concatenate(cells), parents, children, malformed
    )


def _child_pointers(
    pages: npt.NDArray[np.uint8], first_page: int, header_at: npt.NDArray[np.int64], headers: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
    """The child pointers of the ``pages`` (numbered from ``first_page``) whose type byte is an interior page's:
    parents in page order, each one's children (its cells' left pointers, then its right-most pointer), and the
    pages whose cell pointers run off the page (any page may start with such a byte: only a tree's pages count)."""
    page_size = pages.shape[1]
    rows = np.flatnonzero(np.isin(headers[:, 0], _INTERIOR))
    counts = headers[rows, 3] << 8 | headers[rows, 4]
    fits = header_at[rows] + 12 + 2 * counts <= page_size
    malformed, rows, counts = rows[~fits], rows[fits], counts[fits]
    cell_rows = np.repeat(rows, counts)
    slots = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    at = header_at[cell_rows] + 12 + 2 * slots
    cell_at = pages[cell_rows, at].astype(np.int64) << 8 | pages[cell_rows, at + 1]
    outside = cell_at + 4 > page_size
    malformed = np.concatenate([malformed, np.unique(cell_rows[outside])])
    kept = ~np.isin(cell_rows, malformed)
    cell_rows, cell_at = cell_rows[kept], cell_at[kept]
    rights = rows[~np.isin(rows, malformed)]
    left = _u32s(pages, cell_rows, cell_at)
    right = _u32s(pages, rights, header_at[rights] + 8)
    parents = np.concatenate([cell_rows, rights])
    order = np.argsort(parents, kind="stable")  # each page's cells in order, then its right-most pointer
    return (
        (parents[order] + first_page).astype(np.uint32),
        np.concatenate([left, right])[order].astype(np.uint32),
        np.sort(malformed) + first_page,
    )


def _u32s(
    pages: npt.NDArray[np.uint8], rows: npt.NDArray[np.int64], at: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """The big-endian 32-bit integers at ``at`` in the pages ``rows``."""
    value = np.zeros(len(rows), np.int64)
    for byte in range(4):
        value = value << 8 | pages[rows, at + byte]
    return value


class _PageReader:
    def __init__(self, descriptor: int, page_size: int, kinds: npt.NDArray[np.uint8] | None = None) -> None:
        """``kinds``, every page's b-tree type byte, is what walking the freelist needs."""
        self._descriptor, self._page_size = descriptor, page_size
        self._kinds = np.zeros(0, np.uint8) if kinds is None else kinds

    def page(self, number: int) -> bytes:
        return os.pread(self._descriptor, self._page_size, (number - 1) * self._page_size)

    def freelist(self, trunk: int, total: int) -> npt.NDArray[np.int64]:
        found: list[int] = []
        while trunk:
            if not 1 <= trunk <= len(self._kinds) or len(found) > total:
                raise PageMapError(f"the freelist reaches page {trunk}, or more than the {total} pages it holds")
            data = self.page(trunk)
            following, count = _u32(data, 0), _u32(data, 4)
            if count > self._page_size // 4 - 2:
                raise PageMapError(f"freelist trunk page {trunk} lists {count} pages")
            found += [trunk, *struct.unpack_from(f">{count}I", data, 8)]
            trunk = following
        pages = np.array(found, np.int64)
        if ((pages < 1) | (pages > len(self._kinds))).any():
            raise PageMapError("the freelist lists a page past the file's end")
        return pages


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2])


def _u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4])


def _rowid_range(data: bytes, leaf: int) -> tuple[int, int] | None:
    """The first and last rowid of a table leaf page (None when it holds no cell)."""
    header = 100 if leaf == 1 else 0
    count = _u16(data, header + 3)
    if not count:
        return None
    return _cell_rowid(data, _u16(data, header + 8)), _cell_rowid(data, _u16(data, header + 6 + 2 * count))


def _cell_rowid(data: bytes, offset: int) -> int:
    """The rowid of the table leaf cell at ``offset``: its second varint, after the payload's size."""
    _, offset = _varint(data, offset)
    rowid, _ = _varint(data, offset)
    return _signed(rowid)


def _signed(rowid: int) -> int:
    return rowid - (1 << 64) if rowid >= 1 << 63 else rowid


def _cells_not_in(before: bytes, now: bytes, leaf: int, usable: int) -> list[int]:
    """The rowids of the cells of the table leaf page ``now`` that differ from the cell of the same rowid in
    ``before`` (the same leaf in the base; a page read short, from a base file cut off, holds none). The pages are
    first compared as runs of bytes from one cell to the next (sets of bytes, compared in C); only the cells of
    runs that differ are decoded (their rowid and exact bytes, as the file format lays them out: the payload held
    on the page and, for one that overflows, the first overflow page's number)."""
    held = set(_runs_of_cells(before, leaf)) if len(before) >= usable else set()
    found = set(_runs_of_cells(now, leaf))
    was = dict(_cell(run, usable) for run in held - found)
    cells_now = (_cell(run, usable) for run in found - held)
    return sorted(rowid for rowid, cell in cells_now if was.get(rowid) != cell)


def _runs_of_cells(data: bytes, leaf: int) -> list[bytes]:
    """A table leaf page's cells, each with the bytes after it up to the next cell (free space, if any)."""
    header = 100 if leaf == 1 else 0
    starts = sorted(struct.unpack_from(f">{_u16(data, header + 3)}H", data, header + 8))
    return [data[start:end] for start, end in zip(starts, [*starts[1:], len(data)], strict=True)]


def _cell(run: bytes, usable: int) -> tuple[int, bytes]:
    """The rowid and the bytes of the cell a run of bytes starts with."""
    payload, offset = _varint(run, 0)
    rowid, offset = _varint(run, offset)
    most = usable - 35  # the largest payload held on the page whole
    if payload <= most:
        return _signed(rowid), run[: offset + payload]
    least = (usable - 12) * 32 // 255 - 23
    local = least + (payload - least) % (usable - 4)
    return _signed(rowid), run[: offset + (local if local <= most else least) + 4]


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = data[offset + i]
        value = value << 7 | byte & 0x7F
        if byte < 0x80:
            return value, offset + i + 1
    return value << 8 | data[offset + 8], offset + 9


_RANGES_A_QUERY = 1000


def _rowids(ranges: tuple[tuple[int, int], ...]) -> int:
    """How many rows the rowid ranges can hold, at most."""
    return sum(high - low + 1 for low, high in ranges)


class SqliteChangedRows:
    """``row_groups.ChangedRows`` of a table of a frozen SQLite file, from its ``TableChanges``; ``by_cell``, when
    given, narrows them (``changed_cells`` with the base's file)."""

    def __init__(
        self,
        sqlite: tables.SqliteFile,
        spec: tables.TableSpec,
        changes: TableChanges,
        by_cell: Callable[[TableChanges], tuple[tuple[int, int], ...]] | None = None,
    ) -> None:
        if changes.rowid_ranges is None:
            raise ValueError(f"table {spec.name} may have changed anywhere: read it whole")
        self._sqlite, self._spec, self._changes, self._by_cell = sqlite, spec, changes, by_cell
        self._changed_cells: tuple[tuple[int, int], ...] | None = None
        self.rows = changes.rows
        self.changed_leaves = changes.leaves

    def changed_keys(self) -> Iterator[pa.RecordBatch]:
        assert self._changes.rowid_ranges is not None
        return self._rows(self._changes.rowid_ranges, self._spec.keys_only())

    def changed_rows(self) -> list[pa.RecordBatch] | None:
        """The rows of the changed pages or, when those could be more than ``row_groups.HELD_CHANGED_ROWS``, of
        their changed cells; None when even those could be (their windows are read instead). Sorted by key here:
        rowid order is not key order."""
        ranges = self._changes.rowid_ranges
        assert ranges is not None
        if _rowids(ranges) > row_groups.HELD_CHANGED_ROWS:
            ranges = self._cells()
            if ranges is None or _rowids(ranges) > row_groups.HELD_CHANGED_ROWS:
                return None
        rows = pa.Table.from_batches(list(self._rows(ranges, self._spec)), self._spec.schema())
        return rows.sort_by([(k, "ascending") for k in self._spec.key]).to_batches()

    def narrower_keys(self) -> Iterator[pa.RecordBatch] | None:
        ranges = self._cells()
        return None if ranges is None else self._rows(ranges, self._spec.keys_only())

    def _cells(self) -> tuple[tuple[int, int], ...] | None:
        """The rowid ranges of the changed cells (compared once), None when they cannot be told."""
        if self._by_cell is None or not self._changes.comparable:
            return None
        if self._changed_cells is None:
            self._changed_cells = self._by_cell(self._changes)
        return self._changed_cells

    def _rows(self, ranges: tuple[tuple[int, int], ...], spec: tables.TableSpec) -> Iterator[pa.RecordBatch]:
        for first in range(0, len(ranges), _RANGES_A_QUERY):
            listed = ", ".join(f"({low}, {high})" for low, high in ranges[first : first + _RANGES_A_QUERY])
            joined = f"(VALUES {listed}) AS changed JOIN"  # a rowid search per range (OR-ed, SQLite scans)
            on = f"{tables.quoted(self._spec.name)}.rowid BETWEEN changed.column1 AND changed.column2"
            yield from self._sqlite.read_where(spec, on, joined=joined)

    def count(self, low: tuple[Any, ...] | None, high: tuple[Any, ...] | None) -> int:
        return self._sqlite.count_where(self._spec.name, *tables.key_range(self._spec, low, high))

    def between(self, low: tuple[Any, ...] | None, high: tuple[Any, ...] | None) -> Iterator[pa.RecordBatch]:
        """Read in a thread of its own while the caller compares (``read_ahead``)."""
        rows = self._sqlite.read_where(self._spec, *tables.key_range(self._spec, low, high))
        with contextlib.closing(read_ahead(rows)) as ahead:
            yield from ahead
