"""Which rows of an SQLite warehouse may have changed since its last full, found from the database file's pages.

A full records a ``PageMap`` of its frozen database file: an XXH3 hash of every page and which table's rows each
page holds (a leaf of the table's b-tree), found by walking every b-tree from its root and the freelist; a page
holding no rows (interior pages, indexes, the schema, free pages) is ``IGNORED``, one reached from nowhere
(overflow pages, pointer maps) ``UNKNOWN``. An incremental maps its own frozen file the same way: a row can only
have been added or changed where a leaf page's bytes or owner differ from the full's, so the rows of such leaves
(their rowid ranges) are all that may have changed. A deleted row leaves no page to find it by: the caller counts
rows (``TableChanges.rows`` is the table's current count) to find deletes. When a changed page holds row data it
cannot attribute (an overflow page, a pointer map), or the file's page size changed, everything may have changed.

Bytes that are equal mean equal rows only for pages owned by the same table in both files: a page freed keeps its
old bytes, and reused it may hold them again. That is why the full records owners, not only hashes.
"""

from __future__ import annotations

import array
import io
import json
import os
import sqlite3
import struct
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import xxhash

from m365_pipeline.snapshots import tables

IGNORED, UNKNOWN = 0, -1
"""Owners of pages holding no table's rows, and of pages reached from no b-tree or the freelist."""
_TABLE_LEAF, _TABLE_INTERIOR, _INDEX_LEAF, _INDEX_INTERIOR = 13, 5, 10, 2
_READ_BYTES = 4 << 20


class PageMapError(ValueError):
    """A database file whose b-trees or freelist cannot be walked (corrupt, or not an SQLite file)."""


@dataclass(frozen=True)
class PageMap:
    """Each page's XXH3-64 hash and owner (``IGNORED``, ``UNKNOWN``, or ``1 + i``: a leaf of ``tables[i]``)."""

    page_size: int
    hashes: array.array[int]
    owners: array.array[int]
    tables: tuple[str, ...]

    def owner_name(self, page: int) -> str | int:
        owner = self.owners[page]
        return self.tables[owner - 1] if owner > 0 else owner

    def to_bytes(self) -> bytes:
        table = pa.table({"hash": pa.array(self.hashes, pa.uint64()), "owner": pa.array(self.owners, pa.int32())})
        described = {b"page_size": str(self.page_size).encode(), b"tables": json.dumps(self.tables).encode()}
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema.with_metadata(described)) as writer:
            writer.write_table(table)
        return bytes(sink.getvalue().to_pybytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> PageMap:
        table = pa.ipc.open_stream(io.BytesIO(data)).read_all()
        described = table.schema.metadata or {}
        return cls(
            int(described[b"page_size"]),
            array.array("Q", table.column("hash").to_pylist()),
            array.array("i", table.column("owner").to_pylist()),
            tuple(json.loads(described[b"tables"])),
        )


@dataclass(frozen=True)
class TableChanges:
    rows: int
    """The table's rows now."""
    rowid_ranges: tuple[tuple[int, int], ...] | None
    """The rowid ranges (inclusive) of its leaves that changed, merged; None when it may have changed anywhere."""


@dataclass(frozen=True)
class Scan:
    """A frozen database file mapped: its ``PageMap``, each table's rows and leaves, and which tables have rowids."""

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
        (size_field,) = struct.unpack_from(">H", header, 16)
        page_size = 65536 if size_field == 1 else size_field
        first_trunk, free_pages = struct.unpack_from(">II", header, 32)
        hashes, kinds, cells = _hash_pages(handle, page_size)
        reader = _PageReader(handle.fileno(), page_size, len(hashes))
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
        try:
            roots = connection.execute(
                "SELECT type, name, rootpage FROM sqlite_master WHERE rootpage > 0 ORDER BY rootpage"
            ).fetchall()
        finally:
            connection.close()
        table_names = tuple(sorted(name for kind, name, _ in roots if kind == "table"))
        owners = array.array("i", [UNKNOWN]) * len(hashes)
        rows: dict[str, int] = defaultdict(int)
        leaves: dict[str, int] = defaultdict(int)
        without_rowid: set[str] = set()
        for kind, name, root in [("schema", "sqlite_master", 1), *roots]:
            owner = 1 + table_names.index(name) if kind == "table" else IGNORED
            for page in reader.tree(root, kinds):
                holds_rows = kinds[page - 1] == _TABLE_LEAF or (kind == "table" and kinds[page - 1] == _INDEX_LEAF)
                owners[page - 1] = owner if holds_rows else IGNORED
                if holds_rows and owner != IGNORED:
                    rows[name] += cells[page - 1]
                    leaves[name] += 1
                    if kinds[page - 1] == _INDEX_LEAF:
                        without_rowid.add(name)
        for page in reader.freelist(first_trunk, free_pages):
            owners[page - 1] = IGNORED
    pages = PageMap(page_size, hashes, owners, table_names)
    return Scan(path, pages, dict(rows), dict(leaves), frozenset(without_rowid))


def changed_rows(base: PageMap, current: Scan) -> dict[str, TableChanges] | None:
    """For each table of ``current``, its rows and where they may have changed since the file ``base`` maps; None
    when anything may have changed."""
    now = current.pages
    if base.page_size != now.page_size:
        return None
    dirty: dict[str, list[int]] = defaultdict(list)
    for page, (hashed, owner) in enumerate(zip(now.hashes, now.owners, strict=True)):
        if owner == IGNORED:
            continue
        if page < len(base.hashes) and base.hashes[page] == hashed and base.owner_name(page) == now.owner_name(page):
            continue
        if owner == UNKNOWN:
            return None
        dirty[now.tables[owner - 1]].append(page + 1)
    found = {}
    with current.path.open("rb") as handle:
        reader = _PageReader(handle.fileno(), now.page_size, len(now.hashes))
        for name, rows in current.rows.items():
            leaves = dirty.get(name, [])
            ranges: tuple[tuple[int, int], ...] | None = ()
            if leaves and (name in current.without_rowid or 4 * len(leaves) > current.leaves[name]):
                ranges = None  # reading the table whole costs less than reading a quarter of it by rowid
            elif leaves:
                ranges = _merged(filter(None, (reader.rowid_range(leaf) for leaf in leaves)))
            found[name] = TableChanges(rows, ranges)
    return found


def _merged(ranges: Iterator[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)


def _hash_pages(handle: io.BufferedReader, page_size: int) -> tuple[array.array[int], bytes, array.array[int]]:
    """Every page's hash, b-tree page type byte and cell count (the last two meaningful for b-tree pages only)."""
    hashes, kinds, cells = array.array("Q"), bytearray(), array.array("H")
    handle.seek(0)
    block = bytearray(_READ_BYTES - _READ_BYTES % page_size or page_size)
    view = memoryview(block)
    hash_page = xxhash.xxh3_64_intdigest
    page = 1
    while filled := handle.readinto(block):
        for offset in range(0, filled - page_size + 1, page_size):
            header = offset + (100 if page == 1 else 0)
            hashes.append(hash_page(view[offset : offset + page_size]))
            kinds.append(block[header])
            cells.append(block[header + 3] << 8 | block[header + 4])
            page += 1
    return hashes, bytes(kinds), cells


class _PageReader:
    def __init__(self, descriptor: int, page_size: int, pages: int) -> None:
        self._descriptor, self._page_size, self._pages = descriptor, page_size, pages

    def page(self, number: int) -> bytes:
        if not 1 <= number <= self._pages:
            raise PageMapError(f"page {number} is past the end of the file ({self._pages} pages)")
        return os.pread(self._descriptor, self._page_size, (number - 1) * self._page_size)

    def tree(self, root: int, kinds: bytes) -> Iterator[int]:
        """Every page of the b-tree at ``root``, interior pages read for their children."""
        pending, seen = [root], set()
        while pending:
            number = pending.pop()
            if number in seen or not 1 <= number <= self._pages:
                raise PageMapError(f"the b-tree at page {root} reaches page {number} twice or past the file's end")
            seen.add(number)
            kind = kinds[number - 1]
            if kind not in (_TABLE_LEAF, _TABLE_INTERIOR, _INDEX_LEAF, _INDEX_INTERIOR):
                raise PageMapError(f"page {number} of the b-tree at page {root} is not a b-tree page")
            yield number
            if kind in (_TABLE_INTERIOR, _INDEX_INTERIOR):
                data = self.page(number)
                header = 100 if number == 1 else 0
                pointers = struct.unpack_from(f">{_u16(data, header + 3)}H", data, header + 12)
                pending.extend(_u32(data, pointer) for pointer in pointers)
                pending.append(_u32(data, header + 8))

    def freelist(self, trunk: int, total: int) -> Iterator[int]:
        found = 0
        while trunk:
            data = self.page(trunk)
            following, count = struct.unpack_from(">II", data, 0)
            if count > self._page_size // 4 - 2:
                raise PageMapError(f"freelist trunk page {trunk} lists {count} pages")
            yield trunk
            yield from struct.unpack_from(f">{count}I", data, 8)
            found += 1 + count
            if found > total:
                raise PageMapError(f"the freelist holds more than the {total} pages the header says")
            trunk = following

    def rowid_range(self, leaf: int) -> tuple[int, int] | None:
        """The first and last rowid of a table leaf page (None when it holds no cell)."""
        data = self.page(leaf)
        header = 100 if leaf == 1 else 0
        count = _u16(data, header + 3)
        if not count:
            return None
        return _cell_rowid(data, _u16(data, header + 8)), _cell_rowid(data, _u16(data, header + 6 + 2 * count))


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2])


def _u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4])


def _cell_rowid(data: bytes, offset: int) -> int:
    """The rowid of the table leaf cell at ``offset``: its second varint, after the payload's size."""
    _, offset = _varint(data, offset)
    rowid, _ = _varint(data, offset)
    return rowid - (1 << 64) if rowid >= 1 << 63 else rowid


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = data[offset + i]
        value = value << 7 | byte & 0x7F
        if byte < 0x80:
            return value, offset + i + 1
    return value << 8 | data[offset + 8], offset + 9


_BINDABLE_KEYS = {str(pa.string()), str(pa.int64())}
_RANGES_A_QUERY = 1000


def comparable_by_key(spec: tables.TableSpec) -> bool:
    """Whether the table's key values, as Arrow gives them, compare in SQL as SQLite stores them (text and integers
    do; timestamps and dates are stored as text whose form this cannot know)."""
    return bool(spec.primary_key) and all(spec.types[spec.columns.index(k)] in _BINDABLE_KEYS for k in spec.key)


class SqliteChangedRows:
    """``row_groups.ChangedRows`` of a table of a frozen SQLite file, from its ``TableChanges``."""

    def __init__(self, sqlite: tables.SqliteFile, spec: tables.TableSpec, changes: TableChanges) -> None:
        if changes.rowid_ranges is None:
            raise ValueError(f"table {spec.name} may have changed anywhere: read it whole")
        self._sqlite, self._spec, self._ranges = sqlite, spec, changes.rowid_ranges
        self.rows = changes.rows

    def changed_keys(self) -> Iterator[pa.RecordBatch]:
        key_types = tuple(self._spec.types[self._spec.columns.index(k)] for k in self._spec.key)
        keys = tables.TableSpec(self._spec.name, self._spec.key, self._spec.key, key_types)
        for first in range(0, len(self._ranges), _RANGES_A_QUERY):
            ranges = self._ranges[first : first + _RANGES_A_QUERY]
            listed = ", ".join(f"({low}, {high})" for low, high in ranges)
            joined = f"(VALUES {listed}) AS changed JOIN"  # a rowid search per range (OR-ed, SQLite scans)
            on = f"{tables.quoted(self._spec.name)}.rowid BETWEEN changed.column1 AND changed.column2"
            yield from self._sqlite.read_where(keys, on, joined=joined)

    def count(self, low: tuple[Any, ...] | None, high: tuple[Any, ...] | None) -> int:
        return self._sqlite.count_where(self._spec.name, *tables.key_range(self._spec, low, high))

    def between(self, low: tuple[Any, ...] | None, high: tuple[Any, ...] | None) -> Iterator[pa.RecordBatch]:
        yield from self._sqlite.read_where(self._spec, *tables.key_range(self._spec, low, high))
