"""Where an SQLite file's rows may have changed, found from its pages: a scan counts every table's rows and owns every
page as SQLite's own ``dbstat`` does, and its page map round-trips; a malformed b-tree (a pointer past the end or to
page 0, a page reached twice, cells past a page's end, a page that is no b-tree page) is refused naming its page, and a
free page that only looks like an interior page is not walked; for every kind of change (updates in place, scattered or
clustered, appends, inserts between keys, deletes, freed pages reused, rows grown until pages split, ``VACUUM``, random
mixes, none) every row added or changed lies in its table's changed rowid ranges, or the answer is "anywhere"; rowids of
any sign and size are read from the cells; a page reused with the very same bytes under another table is still a change;
an overflow page that changed, or another page size, makes everything changed, and rows that overflow, changed only in
the bytes on their leaf, are found by cell exactly; the delta read through the changed windows is the delta of the whole
tables, its checksum that of every current row, a clustered change reads only a few of the base's row groups, and a key
at a window's edge is read in its own window; key ranges select exactly the rows a Python filter does; a WITHOUT ROWID
table (whose interior pages hold rows too) is left out, to be read whole, even when only an interior cell changed."""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import random
import shutil
import sqlite3
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import xxhash

from m365_pipeline.snapshots import row_groups, sqlite_pages, tables

USERS = tables.TableSpec(
    "users", ("tenant", "id"), ("tenant", "id", "name", "n"), ("string", "string", "string", "int64")
)
EVENTS = tables.TableSpec("events", ("id",), ("id", "user", "kind", "value"), ("int64", "string", "string", "int64"))
SPECS = {"users": USERS, "events": EVENTS}
TENANTS = ("t0", "t1", "t2", "t3")
USERS_PER_TENANT = 500  # 2000 users, rowid order = key order (rowid r is the (r-1)-th key)
EVENT_IDS = range(2, 8002, 2)  # 4000 events, even ids: odd ones fall between existing keys
GROUP_ROWS = 50
SCHEMA = """
CREATE TABLE users (tenant TEXT NOT NULL, id TEXT NOT NULL, name TEXT, n INTEGER, PRIMARY KEY (tenant, id));
CREATE INDEX users_name ON users (name);
CREATE TABLE events (id INTEGER PRIMARY KEY, user TEXT, kind TEXT, value INTEGER);
CREATE INDEX events_kind ON events (kind, value);
"""


def _connect(path: Path) -> sqlite3.Connection:
    """Autocommit (``BEGIN``/``COMMIT`` written out), freed pages left as they were (stale bytes the scan must not
    trust; some builds default to ``secure_delete``, which zeroes them)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA secure_delete=OFF")
    return connection


def _user(tenant: str, user_id: str, rng: random.Random) -> tuple[Any, ...]:
    return (
        tenant,
        user_id,
        rng.choice([None, f"{tenant}/{user_id} {rng.choice(['ann', 'bob', 'cy'])}"]),
        rng.choice([None, rng.randrange(10**6)]),
    )


def _event(event_id: int, rng: random.Random) -> tuple[Any, ...]:
    return event_id, f"u{rng.randrange(500):04d}", rng.choice(["login", "mail", "file", None]), rng.randrange(1000)


def _build(path: Path, auto_vacuum: str = "NONE") -> None:
    rng = random.Random(1)
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("PRAGMA page_size=1024")
        connection.execute(f"PRAGMA auto_vacuum={auto_vacuum}")
        connection.executescript(SCHEMA)
        connection.execute("BEGIN")
        users = [_user(t, f"u{i:04d}", rng) for t in TENANTS for i in range(USERS_PER_TENANT)]
        connection.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", users)
        connection.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [_event(i, rng) for i in EVENT_IDS])
        connection.execute("COMMIT")


def _change(path: Path, change: Callable[[sqlite3.Connection], None]) -> None:
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("BEGIN")
        change(connection)
        connection.execute("COMMIT")


def _scattered_updates(connection: sqlite3.Connection) -> None:
    connection.executemany("UPDATE users SET n = 7 WHERE rowid = ?", [(r,) for r in (17, 401, 1234, 1999)])
    connection.executemany("UPDATE events SET value = -1 WHERE id = ?", [(i,) for i in (10, 2002, 3998)])


def _clustered_updates(connection: sqlite3.Connection) -> None:
    connection.execute("UPDATE users SET n = -1 WHERE rowid BETWEEN 600 AND 640")
    connection.execute("UPDATE events SET value = -1 WHERE id BETWEEN 1000 AND 1060")


def _appends(connection: sqlite3.Connection) -> None:
    rng = random.Random(3)
    connection.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", [_user("t9", f"u{i}", rng) for i in range(80)])
    connection.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [_event(i, rng) for i in range(8002, 8102)])


def _inserts_between(connection: sqlite3.Connection) -> None:
    """New users get the largest rowids but keys in the middle; new events odd ids between the even ones."""
    rng = random.Random(4)
    users = [_user("t1", f"u{i:04d}x", rng) for i in (0, 3, 250, 251, 499)] + [_user("t0a", "u", rng)]
    connection.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", users)
    connection.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [_event(i, rng) for i in (1, 501, 2001, 2003)])


def _few_deletes(connection: sqlite3.Connection) -> None:
    connection.executemany("DELETE FROM users WHERE rowid = ?", [(r,) for r in (5, 900, 901, 1600)])
    connection.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in (2, 1500, 4000)])


def _deletes_then_reuse(connection: sqlite3.Connection) -> None:
    """A run of rows deleted (their pages go to the freelist), then rows inserted into the freed pages."""
    rng = random.Random(5)
    connection.execute("DELETE FROM users WHERE rowid BETWEEN 300 AND 700")
    connection.execute("DELETE FROM events WHERE id BETWEEN 400 AND 1600")
    connection.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", [_user("t4", f"u{i}", rng) for i in range(150)])
    connection.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [_event(i, rng) for i in range(401, 801, 2)])


def _deletes_here_inserts_there(connection: sqlite3.Connection) -> None:
    """Whole base row groups deleted (rows 1001-1100 are groups 20 and 21) and as many rows inserted in another
    window: the row count stays the same."""
    rng = random.Random(6)
    connection.execute("DELETE FROM users WHERE rowid BETWEEN 1001 AND 1100")
    connection.executemany(
        "INSERT INTO users VALUES (?, ?, ?, ?)", [_user("t0", f"u0010{i:03d}", rng) for i in range(100)]
    )
    connection.execute("DELETE FROM events WHERE id BETWEEN 2002 AND 2200")
    connection.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [_event(i, rng) for i in range(3001, 3201, 2)])


def _grown_rows(connection: sqlite3.Connection) -> None:
    connection.execute("UPDATE users SET name = coalesce(name, '') || ? WHERE rowid BETWEEN 100 AND 130", ("x" * 80,))
    connection.execute("UPDATE events SET kind = ? WHERE id BETWEEN 100 AND 160", ("y" * 60,))


def _vacuumed(connection: sqlite3.Connection) -> None:
    _scattered_updates(connection)
    connection.execute("COMMIT")
    connection.execute("VACUUM")
    connection.execute("BEGIN")


def _random_mix(seed: int) -> Callable[[sqlite3.Connection], None]:
    """A few runs of rows updated, inserted, deleted, grown, or re-keyed (the same rowid, another key: the row
    leaves one window for another; an event's id, its rowid, moved to a free odd one)."""

    def change(connection: sqlite3.Connection) -> None:
        rng = random.Random(seed)
        for step in range(4):
            first = rng.randrange(1, 2000)
            last = first + rng.randrange(0, 6)
            events = (2 * first, 2 * last)
            match rng.choice(["update", "insert", "delete", "grow", "rekey"]):
                case "update":
                    connection.execute("UPDATE users SET n = n + 1 WHERE rowid BETWEEN ? AND ?", (first, last))
                    connection.execute("UPDATE events SET user = 'someone' WHERE id BETWEEN ? AND ?", events)
                case "insert":
                    tenant = rng.choice(TENANTS)
                    users = [_user(tenant, f"u{first:04d}+{step}.{i}", rng) for i in range(last - first + 1)]
                    connection.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", users)
                    odd = [_event(i, rng) for i in range(events[0] + 1, events[1] + 2, 2)]
                    connection.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?)", odd)
                case "delete":
                    connection.execute("DELETE FROM users WHERE rowid BETWEEN ? AND ?", (first, last))
                    connection.execute("DELETE FROM events WHERE id BETWEEN ? AND ?", events)
                case "grow":
                    grown = ("z" * rng.randrange(20, 100), first, last)
                    connection.execute(
                        "UPDATE users SET name = coalesce(name, '') || ? WHERE rowid BETWEEN ? AND ?", grown
                    )
                    connection.execute("UPDATE events SET kind = ? WHERE id BETWEEN ? AND ?", (grown[0], *events))
                case "rekey":
                    connection.execute("UPDATE users SET id = id || '~' WHERE rowid BETWEEN ? AND ?", (first, last))
                    connection.execute("UPDATE OR IGNORE events SET id = id + 1 WHERE id = ?", (events[0],))

    return change


CHANGES: dict[str, Callable[[sqlite3.Connection], None]] = {
    "no change": lambda connection: None,
    "scattered updates": _scattered_updates,
    "clustered updates": _clustered_updates,
    "appends": _appends,
    "inserts between keys": _inserts_between,
    "few deletes": _few_deletes,
    "deletes then freed pages reused": _deletes_then_reuse,
    "deletes here, inserts there": _deletes_here_inserts_there,
    "rows grown, pages split": _grown_rows,
    "vacuum": _vacuumed,
    **{f"random mix {seed}": _random_mix(seed) for seed in range(6)},
}
NARROW = {
    "no change",
    "scattered updates",
    "clustered updates",
    "appends",
    "inserts between keys",
    "few deletes",
    "deletes here, inserts there",
}
"""Changes small enough that the page map must narrow them down (not answer "anywhere")."""


@dataclass(frozen=True)
class Base:
    path: Path
    pages: sqlite_pages.PageMap
    parquets: dict[str, Path]
    checksums: dict[str, str]


def _read(path: Path, spec: tables.TableSpec) -> list[pa.RecordBatch]:
    with tables.SqliteFile(path) as sqlite:
        return list(sqlite.read_where(spec, "1"))


def _rows_of(batches: Iterator[pa.RecordBatch] | list[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.to_pylist()]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    """The base database (closed, never written again), its page map and each table's base Parquet in groups of
    ``GROUP_ROWS`` rows with its row-group index."""
    folder = tmp_path_factory.mktemp("base")
    path = folder / "base.db"
    _build(path)
    parquets, checksums = {}, {}
    for name, spec in SPECS.items():
        rows = pa.Table.from_batches(_read(path, spec), spec.schema()).combine_chunks()
        parquets[name] = folder / f"{name}.parquet"
        with parquets[name].open("wb") as out:
            sink = row_groups.IndexedParquetSink(out, spec)
            for start in range(0, rows.num_rows, GROUP_ROWS):
                sink.write_groups(rows.slice(start, GROUP_ROWS).to_batches()[0])
            sink.close()
        checksums[name] = sink.checksum.checksum
    return Base(path, sqlite_pages.scan(path).pages, parquets, checksums)


def _current(base: Base, tmp_path: Path, change: str) -> Path:
    path = tmp_path / "current.db"
    shutil.copy(base.path, path)
    _change(path, CHANGES[change])
    return path


def _by_rowid(path: Path, table: str) -> dict[int, tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return {row[0]: row[1:] for row in connection.execute(f"SELECT rowid, * FROM {table}")}


def _owner(pages: sqlite_pages.PageMap, index: int) -> str | int:
    """The owner of page ``index + 1``: its table's name, or ``IGNORED``/``UNKNOWN``."""
    owner = int(pages.owners[index])
    return pages.tables[owner - 1] if owner > 0 else owner


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def _with_owners(pages: sqlite_pages.PageMap, owners: dict[int, int], tables_: tuple[str, ...]) -> sqlite_pages.PageMap:
    """``pages`` with the owners of some pages (by index) replaced, in a container of the same kind as the scan's."""
    altered = copy.copy(pages.owners)
    for index, owner in owners.items():
        altered[index] = owner
    return sqlite_pages.PageMap(pages.page_size, pages.usable, pages.hashes, altered, tables_)


def _covered(rowid: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= rowid <= high for low, high in ranges)


# 1. the scan


def _dbstat(path: Path) -> list[tuple[str, int, str]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        try:
            return connection.execute("SELECT name, pageno, pagetype FROM dbstat").fetchall()
        except sqlite3.OperationalError as error:
            pytest.skip(f"this SQLite has no dbstat table: {error}")


@pytest.mark.parametrize("block_pages", [None, 3], ids=["blocks of 4 MB", "blocks of 3 pages"])
@pytest.mark.parametrize("auto_vacuum", ["NONE", "FULL"])
def test_a_scan_counts_every_table_s_rows_and_owns_every_page_as_dbstat_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auto_vacuum: str, block_pages: int | None
) -> None:
    """Read in one block, or in many (the last one short): each page numbered where it is in the file."""
    if block_pages is not None:
        monkeypatch.setattr(sqlite_pages, "_READ_BYTES", block_pages * 1024)
    path = tmp_path / "db.sqlite"
    _build(path, auto_vacuum)
    with contextlib.closing(_connect(path)) as connection:  # a freelist, overflow pages, an empty table
        connection.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT)")
        connection.executemany(
            "INSERT INTO docs VALUES (?, ?)", [(i, str(i) * (3000 // len(str(i)))) for i in range(9)]
        )
        connection.execute("CREATE TABLE empty (a TEXT)")
        connection.execute("DELETE FROM users WHERE rowid BETWEEN 300 AND 700")
        counts = {n: connection.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in ("users", "events", "docs")}
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
    assert (free > 0) == (auto_vacuum == "NONE")

    mapped = sqlite_pages.scan(path)
    pages = mapped.pages
    assert pages.page_size == 1024 and pages.tables == ("docs", "empty", "events", "users")
    assert mapped.rows == {**counts, "empty": 0} and mapped.without_rowid == frozenset()
    data = path.read_bytes()
    assert len(pages.hashes) == len(pages.owners) == len(data) // 1024
    assert _ints(pages.hashes) == [xxhash.xxh3_64_intdigest(data[i : i + 1024]) for i in range(0, len(data), 1024)]

    stat = _dbstat(path)
    listed = {pageno for _, pageno, _ in stat}
    for name, pageno, pagetype in stat:
        expected = {"leaf": name if name in pages.tables else 0, "internal": 0, "overflow": -1}[pagetype]
        assert _owner(pages, pageno - 1) == expected, (name, pageno, pagetype)
    leaves = {n: sum(1 for name, _, kind in stat if (name, kind) == (n, "leaf")) for n in pages.tables}
    assert mapped.leaves == leaves and leaves["users"] > 20
    unlisted = [int(pages.owners[p - 1]) for p in range(1, len(pages.owners) + 1) if p not in listed]
    assert unlisted.count(sqlite_pages.IGNORED) == free  # the freelist
    assert unlisted.count(sqlite_pages.UNKNOWN) == len(unlisted) - free  # pointer maps (auto_vacuum) only
    assert (len(unlisted) > free) == (auto_vacuum == "FULL")

    again = sqlite_pages.PageMap.from_bytes(pages.to_bytes())
    assert (again.page_size, _ints(again.hashes), _ints(again.owners), again.tables) == (
        pages.page_size,
        _ints(pages.hashes),
        _ints(pages.owners),
        pages.tables,
    )
    for kept, container in ((again.hashes, pages.hashes), (again.owners, pages.owners)):
        assert type(kept) is type(container)
        assert getattr(kept, "typecode", None) == getattr(container, "typecode", None)
        assert getattr(kept, "dtype", None) == getattr(container, "dtype", None)


# 2. soundness of changed_rows


def _changed_rows(base: Base, path: Path, cells: bool) -> dict[str, sqlite_pages.TableChanges] | None:
    """``changed_rows`` of the file at ``path`` against the base; with ``cells``, each table's ranges narrowed by
    ``changed_cells`` against the base file."""
    scan = sqlite_pages.scan(path)
    found = sqlite_pages.changed_rows(base.pages, scan)
    if not cells or found is None:
        return found
    with base.path.open("rb") as base_file:
        return {
            name: changes
            if changes.rowid_ranges is None
            else dataclasses.replace(changes, rowid_ranges=sqlite_pages.changed_cells(scan, base_file, changes))
            for name, changes in found.items()
        }


@pytest.mark.parametrize("cells", [False, True], ids=["by leaf", "by cell"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_every_row_added_or_changed_is_in_its_table_s_changed_ranges(
    base: Base, tmp_path: Path, change: str, cells: bool
) -> None:
    path = _current(base, tmp_path, change)
    found = _changed_rows(base, path, cells)
    if change in NARROW:
        assert found is not None
        assert all(found[name].rowid_ranges is not None for name in SPECS)
    if found is None:
        return
    assert set(found) == set(SPECS)
    for name in SPECS:
        before, now = _by_rowid(base.path, name), _by_rowid(path, name)
        changes = found[name]
        assert changes.rows == len(now)
        if changes.rowid_ranges is None:
            continue
        missed = [
            rowid
            for rowid, row in now.items()
            if before.get(rowid) != row and not _covered(rowid, changes.rowid_ranges)
        ]
        assert missed == [], (name, changes.rowid_ranges)
        assert list(changes.rowid_ranges) == sorted(changes.rowid_ranges)
        covered = sum(1 for rowid in now if _covered(rowid, changes.rowid_ranges))
        if change == "no change":
            assert changes.rowid_ranges == ()
        if change == "scattered updates":
            assert 0 < covered < len(now) // 4  # found something, and much less than everything
            if cells:  # exactly the rows updated
                assert covered == sum(1 for rowid, row in now.items() if before.get(rowid) != row) > 0


def test_rowids_of_any_sign_and_size_are_read_from_the_leaves(tmp_path: Path) -> None:
    """Rowids from -2**63 to 2**63-1 (nine-byte varints, negative ones stored as two's complement): each changed
    row's leaf range holds it, and the ranges come out sorted as signed numbers."""
    path = tmp_path / "db.sqlite"
    extremes = [-(2**63), -(2**62) - 3, -1, 0, 1, 2**31, 2**56 + 1, 2**63 - 1]
    rowids = sorted({*extremes, *range(-3000, 3000, 4)})
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("PRAGMA page_size=1024")
        connection.execute("CREATE TABLE signed (id INTEGER PRIMARY KEY, body TEXT)")
        connection.execute("BEGIN")
        connection.executemany("INSERT INTO signed VALUES (?, ?)", [(r, f"body {r}") for r in rowids])
        connection.execute("COMMIT")
    before = sqlite_pages.scan(path)
    assert before.leaves["signed"] > 20 and before.rows["signed"] == len(rowids)
    for changed in ([-(2**63)], [2**63 - 1], [-1, 0], [-(2**62) - 3, 2**56 + 1]):
        copied = tmp_path / "current.db"
        shutil.copy(path, copied)
        with contextlib.closing(_connect(copied)) as connection:
            connection.executemany("UPDATE signed SET body = 'changed' WHERE id = ?", [(r,) for r in changed])
        found = sqlite_pages.changed_rows(before.pages, sqlite_pages.scan(copied))
        assert found is not None
        ranges = found["signed"].rowid_ranges
        assert ranges is not None and all(_covered(r, ranges) for r in changed), (changed, ranges)
        assert list(ranges) == sorted(ranges) and all(low in rowids and high in rowids for low, high in ranges)
        assert sum(1 for r in rowids if _covered(r, ranges)) < len(rowids) // 4


# 3. a page reused with the same bytes under another table


def test_a_page_reused_with_the_same_bytes_by_another_table_is_a_change(tmp_path: Path) -> None:
    """Table ``a`` (one leaf page, rows 2001-2010) is dropped; the same rows appended to ``b``, whose last leaf is
    full, go to a new leaf: ``a``'s freed page, now holding the very same bytes."""
    path = tmp_path / "db.sqlite"

    def row(rowid: int) -> tuple[int, str]:
        return rowid, f"row {rowid:06d} " + "x" * 80  # ten to a 1024-byte page

    with contextlib.closing(_connect(path)) as connection:
        connection.execute("PRAGMA page_size=1024")
        connection.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, body TEXT)")
        connection.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, body TEXT)")
        connection.execute("BEGIN")
        connection.executemany("INSERT INTO b VALUES (?, ?)", [row(i) for i in range(1, 2001)])
        connection.executemany("INSERT INTO a VALUES (?, ?)", [row(i) for i in range(2001, 2011)])
        connection.execute("COMMIT")
        (page,) = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'a'").fetchone()
    before = sqlite_pages.scan(path)
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("DROP TABLE a")
        connection.execute("BEGIN")
        connection.executemany("INSERT INTO b VALUES (?, ?)", [row(i) for i in range(2001, 2011)])
        connection.execute("COMMIT")
    now = sqlite_pages.scan(path)

    # what the test is about: the page's bytes are the same, its owner is not
    assert now.pages.hashes[page - 1] == before.pages.hashes[page - 1]
    assert (_owner(before.pages, page - 1), _owner(now.pages, page - 1)) == ("a", "b")
    found = sqlite_pages.changed_rows(before.pages, now)
    assert found is not None and found["b"].rows == 2010
    ranges = found["b"].rowid_ranges
    assert ranges is not None and all(_covered(rowid, ranges) for rowid in range(2001, 2011))
    assert not _covered(1000, ranges)

    # and only the owner tells: with the current owners recorded against the same hashes, nothing changed in b
    assert len(now.pages.owners) >= len(before.pages.owners)
    owners = {p: int(now.pages.owners[p]) for p in range(len(before.pages.owners))}
    blind = _with_owners(before.pages, owners, now.pages.tables)
    fooled = sqlite_pages.changed_rows(blind, now)
    assert fooled is not None and fooled["b"].rowid_ranges == ()


def test_an_owner_changed_by_hand_is_a_change(base: Base) -> None:
    """The same file against a map of its own hashes, one users leaf's owner altered: that leaf's rows changed."""
    now = sqlite_pages.scan(base.path)
    leaf = next(p for p in range(len(now.pages.owners)) if _owner(now.pages, p) == "users")
    for other in (sqlite_pages.IGNORED, sqlite_pages.UNKNOWN, 1 + now.pages.tables.index("events")):
        altered = _with_owners(now.pages, {leaf: other}, now.pages.tables)
        found = sqlite_pages.changed_rows(altered, now)
        assert found is not None and found["events"].rowid_ranges == ()
        ranges = found["users"].rowid_ranges
        assert ranges is not None and len(ranges) == 1
        with contextlib.closing(sqlite3.connect(base.path)) as connection:
            (first,) = connection.execute("SELECT min(rowid) FROM users").fetchone()
        assert ranges[0][0] == first  # the first leaf holds the first rows
    assert sqlite_pages.changed_rows(now.pages, now) == {
        name: sqlite_pages.TableChanges(now.rows[name], ()) for name in SPECS
    }


# 4. an overflow page changed


def test_an_overflow_page_changed_makes_everything_changed(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("PRAGMA page_size=1024")
        connection.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT)")
        bodies = [(i, (f"doc {i} " * 1000)[:5000] if i % 7 == 3 else f"short {i}") for i in range(1, 200)]
        connection.executemany("INSERT INTO docs VALUES (?, ?)", bodies)
    before = sqlite_pages.scan(path)
    with contextlib.closing(_connect(path)) as connection:  # the same length, only the tail (on overflow pages)
        connection.execute("UPDATE docs SET body = substr(body, 1, 4990) || 'ZZZZZZZZZZ' WHERE id = 10")
    now = sqlite_pages.scan(path)

    changed = [
        _owner(now.pages, p)
        for p in range(len(now.pages.hashes))
        if p >= len(before.pages.hashes) or now.pages.hashes[p] != before.pages.hashes[p]
    ]
    assert sqlite_pages.UNKNOWN in changed  # an overflow page changed
    found = sqlite_pages.changed_rows(before.pages, now)
    if "docs" not in changed:  # the row's leaf is the same: only the overflow page says the row changed
        assert found is None
    assert found is None or found["docs"].rowid_ranges is None or _covered(10, found["docs"].rowid_ranges)


def _last_byte_on_the_leaf(body_length: int, usable: int) -> int:
    """The index in a ``docs`` row's ASCII body of the last byte its leaf cell holds, from the file format's rule
    for the payload kept on a table leaf page (the rest goes to overflow pages)."""
    serial_type = 2 * body_length + 13
    header = 2 + (1 if serial_type < 128 else 2)  # header size, NULL for the rowid alias, the text's serial type
    payload = header + body_length
    most, least = usable - 35, (usable - 12) * 32 // 255 - 23
    local = payload if payload <= most else least + (payload - least) % (usable - 4)
    return (local if local <= most else least) - 1 - header


def _leaf_of_each_rowid(path: Path, table: str) -> dict[int, int]:
    data = path.read_bytes()
    found = {}
    for name, pageno, pagetype in _dbstat(path):
        if (name, pagetype) == (table, "leaf"):
            page = data[(pageno - 1) * 1024 : pageno * 1024]
            (cells,) = struct.unpack_from(">H", page, 3)
            for pointer in struct.unpack_from(f">{cells}H", page, 8):
                _, offset = _varint(page, pointer)  # the payload's size, then the rowid
                found[_varint(page, offset)[0]] = pageno
    return found


def test_cells_that_overflow_are_compared_by_cell_exactly(tmp_path: Path) -> None:
    """Rows longer than a page, changed only in the bytes their leaf holds (their overflow pages unchanged), are
    found by cell, each exactly: the last byte on the leaf is part of the cell, and an unchanged cell whose
    neighbour was deleted (the free space after it rewritten) is not; rows moved to another leaf count as changed.
    Only rows on the page are deleted: a row's overflow pages, freed, would make everything changed."""
    path = tmp_path / "db.sqlite"
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("PRAGMA page_size=1024")
        connection.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        # odd rows held on their leaf, even ones overflowing, and payloads about the largest a leaf holds whole
        lengths = {i: 100 + i if i % 2 else 1200 + (i * 37) % 2000 for i in range(1, 400)} | {
            400 + n: 980 + n for n in range(10)
        }
        bodies = [(i, (f"{i:05d}-" * 700)[:length]) for i, length in lengths.items()]
        connection.executemany("INSERT INTO docs VALUES (?, ?)", bodies)
    base_path = tmp_path / "base.sqlite"
    shutil.copy(path, base_path)
    before = sqlite_pages.scan(base_path)
    usable = before.pages.usable
    overflowing = {i for i, body in bodies if _last_byte_on_the_leaf(len(body), usable) < len(body) - 1}
    deleted = set(range(3, 400, 20))  # few enough that the table is not read whole (a quarter of its leaves)
    changed = set(range(10, 400, 30)) | set(range(25, 400, 30)) | set(range(400, 410))
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("BEGIN")
        for row_id in changed:
            (length,) = connection.execute("SELECT length(body) FROM docs WHERE id = ?", (row_id,)).fetchone()
            at = _last_byte_on_the_leaf(length, usable) + 1  # SQL strings count from 1
            connection.execute(
                "UPDATE docs SET body = substr(body, 1, ?) || 'Q' || substr(body, ?) WHERE id = ?",
                (at - 1, at + 1, row_id),
            )
        connection.executemany("DELETE FROM docs WHERE id = ?", [(i,) for i in deleted])
        connection.execute("COMMIT")
    now = sqlite_pages.scan(path)
    assert changed & overflowing and changed - overflowing and not deleted & overflowing

    found = sqlite_pages.changed_rows(before.pages, now)
    assert found is not None and found["docs"].rowid_ranges is not None  # no overflow page changed
    with base_path.open("rb") as base_file:
        by_cell = sqlite_pages.changed_cells(now, base_file, found["docs"])
    was, now_on = _leaf_of_each_rowid(base_path, "docs"), _leaf_of_each_rowid(path, "docs")
    moved = {rowid for rowid, leaf in now_on.items() if was[rowid] != leaf}
    assert len(moved) < len(changed)  # most rows stayed on their leaf
    assert [rowid for low, high in by_cell for rowid in range(low, high + 1)] == sorted(changed | moved)


def test_another_page_size_makes_everything_changed(base: Base, tmp_path: Path) -> None:
    path = tmp_path / "current.db"
    shutil.copy(base.path, path)
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("PRAGMA page_size=2048")
        connection.execute("VACUUM")
    now = sqlite_pages.scan(path)
    assert now.pages.page_size == 2048 and sqlite_pages.changed_rows(base.pages, now) is None


def _pages_of(path: Path, table: str, kind: str) -> list[int]:
    return sorted(page for name, page, pagetype in _dbstat(path) if name == table and pagetype == kind)


def _patched(base: Base, tmp_path: Path, page: int, offset: int, data: bytes) -> Path:
    """A copy of the base file with ``data`` written at ``offset`` of page ``page``."""
    path = tmp_path / "patched.db"
    shutil.copy(base.path, path)
    with path.open("r+b") as handle:
        handle.seek((page - 1) * base.pages.page_size + offset)
        handle.write(data)
    return path


def _malformations(base: Base) -> dict[str, tuple[int, int, bytes, str]]:
    """Each way to break a b-tree: the page patched, where, with what, and the error expected (a regular
    expression)."""
    pages = len(base.pages.hashes)
    interior = _pages_of(base.path, "users", "internal")[0]
    other_leaf = _pages_of(base.path, "events", "leaf")[0]
    own_leaf = _pages_of(base.path, "users", "leaf")[0]
    return {
        "a pointer past the end": (interior, 8, struct.pack(">I", pages + 7), f"page {interior} .* past the file"),
        "a pointer to page 0": (interior, 8, struct.pack(">I", 0), f"page {interior} .* past the file"),
        "a page of another tree": (
            interior,
            8,
            struct.pack(">I", other_leaf),
            f"reaches page {other_leaf} twice, or one another",
        ),
        "a pointer to itself": (interior, 8, struct.pack(">I", interior), f"reaches page {interior} twice"),
        "cells past the page's end": (interior, 3, struct.pack(">H", 60_000), f"page {interior} .* cells past"),
        "a cell pointer past the page's end": (
            interior,
            12,
            struct.pack(">H", base.pages.page_size - 2),
            f"page {interior} .* cells past",
        ),
        "a page that is not a b-tree page": (own_leaf, 0, b"\x00", "not a b-tree page"),
    }


@pytest.mark.parametrize(
    "malformation",
    [
        "a pointer past the end",
        "a pointer to page 0",
        "a page of another tree",
        "a pointer to itself",
        "cells past the page's end",
        "a cell pointer past the page's end",
        "a page that is not a b-tree page",
    ],
)
def test_a_malformed_b_tree_is_refused_naming_its_page(base: Base, tmp_path: Path, malformation: str) -> None:
    page, offset, data, expected = _malformations(base)[malformation]
    path = _patched(base, tmp_path, page, offset, data)
    with pytest.raises(sqlite_pages.PageMapError, match=expected):
        sqlite_pages.scan(path)


def test_pages_that_only_look_like_interior_pages_are_not_walked(base: Base, tmp_path: Path) -> None:
    """A free page is no tree's: bytes that would make it a malformed interior page change nothing."""
    path = tmp_path / "freed.db"
    shutil.copy(base.path, path)
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("DELETE FROM events WHERE id > 4000")  # frees leaves at the end of its tree
    before = sqlite_pages.scan(path)
    in_trees = {page for _, page, _ in _dbstat(path)}
    free_page = max(set(range(2, len(before.pages.hashes) + 1)) - in_trees)
    with path.open("r+b") as handle:
        handle.seek((free_page - 1) * before.pages.page_size)
        handle.write(bytes([5, 0, 0, 0xFF, 0xFF]))
    after = sqlite_pages.scan(path)
    assert after.rows == before.rows and _ints(after.pages.owners) == _ints(before.pages.owners)


# 5. the delta read through the changed windows


@pytest.mark.parametrize("held", [True, False], ids=["changed rows held", "windows read"])
@pytest.mark.parametrize("cells", [False, True], ids=["by leaf", "by cell"])
@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("change", list(CHANGES))
def test_the_delta_of_the_changed_windows_is_the_delta_of_the_whole_tables(
    base: Base,
    tmp_path: Path,
    groups_read: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
    change: str,
    name: str,
    cells: bool,
    held: bool,
) -> None:
    """Changed rows held are put into the base's windows; not held (more than an incremental holds), the
    windows that hold them are read."""
    if not held:
        monkeypatch.setattr(row_groups, "HELD_CHANGED_ROWS", 0)
    spec = SPECS[name]
    path = _current(base, tmp_path, change)
    found = _changed_rows(base, path, cells)
    if change in NARROW:
        assert found is not None and found[name].rowid_ranges is not None
    if found is None or found[name].rowid_ranges is None:
        return  # the caller reads the table whole
    before, now = _read(base.path, spec), _read(path, spec)
    expected = _rows_of(tables.delta_batches(before, now, spec))

    index = row_groups.read_index(base.parquets[name], spec)
    assert index is not None
    checksum = tables.WindowedChecksum()
    with index.parquet, tables.SqliteFile(path) as sqlite:
        changed = sqlite_pages.SqliteChangedRows(sqlite, spec, found[name])
        delta = _rows_of(row_groups.delta_of_changed(index, changed, spec, checksum))

    assert delta == expected
    assert (change == "no change") == (delta == [])
    whole = tables.windowed_digest(now, spec, row_groups.boundaries(base.parquets[name], spec))
    assert (checksum.checksum, checksum.rows) == (whole.checksum, sum(b.num_rows for b in now))
    assert checksum.rows == found[name].rows
    assert (checksum.checksum == base.checksums[name]) == (change == "no change")
    groups = len(index.rows)
    assert groups == len(EVENT_IDS if name == "events" else range(len(TENANTS) * USERS_PER_TENANT)) // GROUP_ROWS
    read = [number for _, number in groups_read]
    # in order, each group once, and once more where rows were deleted (put into, then compared with the rows now)
    assert list(dict.fromkeys(read)) == sorted(set(read))
    assert max(collections.Counter(read).values(), default=0) <= (2 if held else 1)
    if change == "no change":
        assert read == []
    if change == "clustered updates":
        assert 0 < len(read) <= 4  # of 40 or 80
    if change == "scattered updates":
        assert 0 < len(read) <= 8  # two for each of the 3 or 4 rows updated at most
    if change == "deletes here, inserts there":
        assert 0 < len(read) < groups // 2


@pytest.mark.parametrize(("name", "rowids"), [("users", (50, 51, 2000)), ("events", (100, 102, 8000))])
def test_a_changed_key_at_a_window_s_edge_is_read_in_that_window(
    base: Base, tmp_path: Path, name: str, rowids: tuple[int, ...]
) -> None:
    """The rows changed are a base group's last key, the next group's first and the table's last key, and the
    changed ranges say exactly those rows (narrower than any leaf): each is compared in its own window."""
    spec = SPECS[name]
    path = tmp_path / "current.db"
    shutil.copy(base.path, path)
    with contextlib.closing(_connect(path)) as connection:
        column = "n" if name == "users" else "value"
        connection.executemany(f"UPDATE {name} SET {column} = -7 WHERE rowid = ?", [(r,) for r in rowids])
    before, now = _read(base.path, spec), _read(path, spec)
    expected = _rows_of(tables.delta_batches(before, now, spec))
    assert len(expected) == 3
    index = row_groups.read_index(base.parquets[name], spec)
    assert index is not None
    last_keys = [tuple(r[k] for k in spec.key) for r in _rows_of(before)[GROUP_ROWS - 1 :: GROUP_ROWS]]
    assert index.last_keys == last_keys and tuple(expected[0][k] for k in spec.key) == last_keys[0]
    exact = sqlite_pages.TableChanges(sum(b.num_rows for b in now), tuple((r, r) for r in rowids))
    checksum = tables.WindowedChecksum()
    with index.parquet, tables.SqliteFile(path) as sqlite:
        changed = sqlite_pages.SqliteChangedRows(sqlite, spec, exact)
        delta = _rows_of(row_groups.delta_of_changed(index, changed, spec, checksum))
    assert delta == expected
    assert checksum.checksum == tables.windowed_digest(now, spec, index.last_keys).checksum


# 6. key ranges


KEYED = tables.TableSpec("keyed", ("a", "b"), ("a", "b", "v"), ("string", "string", "int64"))
NUMBERED = tables.TableSpec("numbered", ("k",), ("k", "v"), ("int64", "string"))
TEXTS = ["", "A", "a", "ab", "b", "é", "日本", "本", "😀"]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    path = tmp_path_factory.mktemp("keyed") / "keyed.db"
    rng = random.Random(7)
    rows = {
        "keyed": [{"a": a, "b": b, "v": rng.randrange(100)} for a in TEXTS[1:] for b in TEXTS if rng.random() < 0.7],
        "numbered": [{"k": k, "v": str(k)} for k in sorted(rng.sample(range(-1000, 1000), 300))],
    }
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("CREATE TABLE keyed (a TEXT NOT NULL, b TEXT NOT NULL, v INTEGER, PRIMARY KEY (a, b))")
        connection.execute("CREATE TABLE numbered (k INTEGER PRIMARY KEY, v TEXT)")
        shuffled = list(rows["keyed"])
        rng.shuffle(shuffled)  # rowid order is not key order
        connection.executemany("INSERT INTO keyed VALUES (:a, :b, :v)", shuffled)
        connection.executemany("INSERT INTO numbered VALUES (:k, :v)", rows["numbered"])
    rows["keyed"].sort(key=lambda r: (r["a"], r["b"]))
    return path, rows


TEXT_BOUNDS = [
    None,
    ("", ""),
    ("a", ""),
    ("a", "ab"),
    ("a", "abc"),
    ("é", "😀"),
    ("日本", "本"),
    ("😀", "😀"),
    ("😀😀", ""),
]
NUMBER_BOUNDS = [None, (-1001,), (-5,), (0,), (17,), (999,), (5000,)]


@pytest.mark.parametrize(("spec", "bounds"), [(KEYED, TEXT_BOUNDS), (NUMBERED, NUMBER_BOUNDS)], ids=["text", "integer"])
def test_a_key_range_selects_the_rows_a_python_filter_does(
    keyed: tuple[Path, dict[str, list[dict[str, Any]]]], spec: tables.TableSpec, bounds: list[Any]
) -> None:
    path, rows = keyed
    every = rows[spec.name]
    assert len(every) > 40
    with tables.SqliteFile(path) as sqlite:
        for low in bounds:
            for high in bounds:
                where, parameters = tables.key_range(spec, low, high)
                expected = [
                    r
                    for r in every
                    if (low is None or tuple(r[k] for k in spec.key) > low)
                    and (high is None or tuple(r[k] for k in spec.key) <= high)
                ]
                assert _rows_of(list(sqlite.read_where(spec, where, parameters))) == expected, (low, high)
                assert sqlite.count_where(spec.name, where, parameters) == len(expected), (low, high)


def test_changed_keys_are_those_of_every_rowid_range_however_many(base: Base) -> None:
    """More ranges than one query takes: the keys of the rows in any of them, each once."""
    ranges = tuple((r, r + 1) for r in range(1, 8000, 3))  # 2667 ranges: three queries
    assert len(ranges) > 2000
    with tables.SqliteFile(base.path) as sqlite:
        changed = sqlite_pages.SqliteChangedRows(sqlite, EVENTS, sqlite_pages.TableChanges(len(EVENT_IDS), ranges))
        keys = sorted(k for batch in changed.changed_keys() for k in batch.column("id").to_pylist())
        assert changed.rows == changed.count(None, None) == len(EVENT_IDS)
        assert changed.count((10,), (14,)) == 2
        assert _rows_of(list(changed.between((10,), (14,)))) == [
            r for r in _rows_of(_read(base.path, EVENTS)) if 10 < r["id"] <= 14
        ]
    assert keys == [i for i in EVENT_IDS if _covered(i, ranges)]
    with pytest.raises(ValueError, match="users"):
        sqlite_pages.SqliteChangedRows(sqlite, USERS, sqlite_pages.TableChanges(1, None))


def test_only_text_and_integer_keys_are_compared_by_key() -> None:
    assert tables.comparable_by_key(USERS) and tables.comparable_by_key(EVENTS)
    stamped = tables.TableSpec("h", ("user", "at"), ("user", "at"), ("string", "timestamp[us, tz=UTC]"))
    keyless = tables.TableSpec("k", (), ("a", "b"), ("string", "int64"))
    assert not tables.comparable_by_key(stamped) and not tables.comparable_by_key(keyless)


# WITHOUT ROWID tables (index b-trees) hold rows in their interior pages too


def _without_rowid(path: Path) -> None:
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("PRAGMA page_size=1024")
        connection.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
        connection.execute("BEGIN")
        connection.executemany("INSERT INTO kv VALUES (?, ?)", [(f"k{i:05d}", f"value{i:05d}") for i in range(3000)])
        connection.execute("COMMIT")


def _interior_keys(path: Path, table: str) -> list[str]:
    """The first column of every cell of ``table``'s interior index b-tree pages (its rows held there)."""
    data = path.read_bytes()
    keys = []
    for name, pageno, pagetype in _dbstat(path):
        if (name, pagetype) != (table, "internal"):
            continue
        page = data[(pageno - 1) * 1024 : pageno * 1024]
        assert page[0] == 2  # an index interior page
        (cells,) = struct.unpack_from(">H", page, 3)
        for pointer in struct.unpack_from(f">{cells}H", page, 12):
            offset = pointer + 4  # the left child's page number
            _, offset = _varint(page, offset)  # the payload's size
            header, body = _varint(page, offset)
            serial, _ = _varint(page, body)  # the first column's type: text of (serial - 13) // 2 bytes
            assert serial >= 13 and serial % 2 == 1
            start = offset + header
            keys.append(page[start : start + (serial - 13) // 2].decode())
    return keys


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = data[offset + i]
        if i == 8:
            return value << 8 | byte, offset + 9
        value = value << 7 | byte & 0x7F
        if byte < 0x80:
            return value, offset + i + 1
    raise AssertionError("unreachable")


def test_a_without_rowid_table_is_left_out_to_be_read_whole(tmp_path: Path) -> None:
    """Its interior cells are rows too (2929 of these 3000 are in leaves): the scan neither counts nor owns them."""
    path = tmp_path / "kv.db"
    _without_rowid(path)
    mapped = sqlite_pages.scan(path)
    assert mapped.without_rowid == frozenset({"kv"})
    assert _interior_keys(path, "kv")  # rows held in interior pages
    assert "kv" not in mapped.rows and "kv" not in mapped.leaves
    kv_pages = [pageno for name, pageno, _ in _dbstat(path) if name == "kv"]
    assert kv_pages and all(mapped.pages.owners[page - 1] == sqlite_pages.IGNORED for page in kv_pages)


def test_a_without_rowid_row_changed_in_an_interior_cell_leaves_its_table_to_be_read_whole(tmp_path: Path) -> None:
    """A row held in an interior cell, updated in place (same size), changes that interior page alone: no leaf of
    the table changed, so only leaving the table out of the answer ("it may have changed anywhere") is right."""
    path = tmp_path / "kv.db"
    _without_rowid(path)
    before = sqlite_pages.scan(path).pages
    key = _interior_keys(path, "kv")[0]
    spec = tables.TableSpec("kv", ("k",), ("k", "v"), ("string", "string"))
    base_rows = _read(path, spec)
    with contextlib.closing(_connect(path)) as connection:
        connection.execute("UPDATE kv SET v = 'VALUE' || substr(v, 6) WHERE k = ?", (key,))
    found = sqlite_pages.changed_rows(before, sqlite_pages.scan(path))

    assert [r["k"] for r in _rows_of(tables.delta_batches(base_rows, _read(path, spec), spec))] == [key]
    assert found is not None and "kv" not in found
