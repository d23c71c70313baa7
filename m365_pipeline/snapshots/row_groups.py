"""The row-group index of a full's table Parquet, and the delta of a table against its base full through it.

A full writes a table as Parquet row groups of at most ``GROUP_ROWS`` rows, each cut into windows of at most
``WINDOW_ROWS``, and records, in the file's footer (key-value metadata ``m365.row_groups``), each window's last key,
row count, ``tables.TableDigest`` and row group; the windows are those of the table's ``tables.WindowedChecksum``.
An incremental cuts the table's current rows at those keys and checksums each window, and reads and compares the
base's window only where the row count or the digest differs: rows appended past the base's last key, or changed
in a few places, cost a comparison of those places only, not of the whole table. A base written without an index
(or with one from before windowed checksums, which holds no digests) is compared whole, and the table checksummed
in one window.

A window is held only up to its base window's row count; one that grows past it has changed, and is compared
while it streams in, so memory stays flat however many rows were inserted between two keys.

When the database can say which rows may have changed (``ChangedRows``: an SQLite file's changed pages, the rows a
PostgreSQL table's ``xmin`` says were written since), only the windows holding them are compared at all
(``delta_of_changed``); every other window takes its row count and digest from the base. The changed rows, when
there are not too many, are put into the base's windows (``tables.patched``) instead of reading those windows from
the database; only windows that lost rows (counted) are read.
"""

from __future__ import annotations

import base64
import bisect
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from m365_pipeline.snapshots import tables
from m365_pipeline.snapshots.stored_file import StoredFile

INDEX_KEY = b"m365.row_groups"
_ROWS, _DIGEST, _GROUP = "_m365_rows", "_m365_digest", "_m365_group"
PREFETCH_GROUPS = 4
GROUP_ROWS = 10_000
"""Rows of a Parquet row group at most."""
WINDOW_ROWS = 2_500
"""Rows of a checksum window at most (a row group holds whole windows): an incremental reads and compares a window
whole when any of its rows changed."""


class RowGroupIndexError(ValueError):
    """A base Parquet whose row-group index does not describe its row groups."""


class IndexedParquetSink(tables.ParquetSink):
    """A ``ParquetSink`` for a table stored whole: row groups of at most ``GROUP_ROWS`` rows, each cut into windows
    of at most ``WINDOW_ROWS``, indexed in the footer; ``checksum`` is the table's, cut at those windows (and the
    empty window past the last). A table without a primary key (keyed by all its columns, NULLs among them, and
    never stored as a delta) gets no index and is checksummed in one window."""

    def __init__(self, out: Any, spec: tables.TableSpec) -> None:
        super().__init__(out, spec.schema())
        self._key, self._columns = list(spec.primary_key), spec.columns
        self._last_keys: list[pa.RecordBatch] = []
        self._groups: list[int] = []
        self._written = 0
        self._unkeyed = tables.TableDigest(spec.columns)
        self.checksum = tables.WindowedChecksum()

    def write_groups(self, batch: pa.RecordBatch) -> None:
        for start in range(0, batch.num_rows, GROUP_ROWS):
            group = batch.slice(start, GROUP_ROWS)
            self.write(group)
            if not self._key:
                self._unkeyed.add_batch(group)
                continue
            streams = tables.ColumnStreams(group, self._columns)
            for first in range(0, group.num_rows, WINDOW_ROWS):
                stop = min(first + WINDOW_ROWS, group.num_rows)
                digest = tables.TableDigest(self._columns)
                digest.add_rows(streams, first, stop)
                self._last_keys.append(group.select(self._key).slice(stop - 1, 1))
                self._groups.append(self._written)
                self.checksum.add(digest.rows, digest.digest())
            self._written += 1

    def close(self) -> None:
        if not self._key:
            self.checksum.add(self._unkeyed.rows, self._unkeyed.digest())
            super().close()
            return
        empty = tables.TableDigest(self._columns)
        self.checksum.add(0, empty.digest())
        if self._last_keys:
            rows, digests = zip(*self.checksum.windows[:-1], strict=True)
            index = pa.Table.from_batches(self._last_keys)
            index = index.append_column(_ROWS, pa.array(rows, pa.int64()))
            index = index.append_column(_DIGEST, pa.array(digests, pa.binary(32)))
            index = index.append_column(_GROUP, pa.array(self._groups, pa.int32()))
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, index.schema) as writer:
                writer.write_table(index)
            self._writer.add_key_value_metadata({INDEX_KEY: base64.b64encode(sink.getvalue().to_pybytes())})
        super().close()


@dataclass
class RowGroupIndex:
    """The windows of a table stored whole: each one's last key, rows, digest, and row group (with its first row
    there)."""

    source: Any
    parquet: pq.ParquetFile
    last_keys: list[tuple[Any, ...]]
    rows: list[int]
    digests: list[bytes]
    groups: list[int]
    starts: list[int]
    _last_group: int = -2
    _decoded: pa.Table | None = None

    def window(self, number: int, spec: tables.TableSpec) -> list[pa.RecordBatch]:
        """The rows of window ``number``, from its row group (decoded once for all its windows). Read in place
        from the store, a group's chunks are loaded at once and the next group's meanwhile; after two groups in a
        row, the next ``PREFETCH_GROUPS`` (when every group changed, the loading keeps ahead of the comparing)."""
        group = self.groups[number]
        if group != self._last_group:
            if isinstance(self.source, StoredFile):
                self.source.load(*self._byte_range(group))
                ahead = PREFETCH_GROUPS if group == self._last_group + 1 else 1
                last = min(group + ahead, self.parquet.num_row_groups - 1)
                if last > group:
                    self.source.prefetch(self._byte_range(group + 1)[0], self._byte_range(last)[1])
            self._decoded = self.parquet.read_row_group(group, columns=list(spec.columns), use_threads=False)
            self._last_group = group
        assert self._decoded is not None
        return self._decoded.slice(self.starts[number], self.rows[number]).to_batches()

    def windows(self, first: int, last: int, spec: tables.TableSpec) -> Iterator[pa.RecordBatch]:
        """The rows of windows ``first`` to ``last`` (those past the base's last window hold none)."""
        for number in range(first, min(last + 1, len(self.rows))):
            yield from self.window(number, spec)

    def _byte_range(self, number: int) -> tuple[int, int]:
        group = self.parquet.metadata.row_group(number)
        columns = [group.column(i) for i in range(group.num_columns)]
        starts = [c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset for c in columns]
        return min(starts), max(s + c.total_compressed_size for s, c in zip(starts, columns, strict=True))


def read_index(source: Any, spec: tables.TableSpec) -> RowGroupIndex | None:
    """The row-group index of the Parquet file ``source``, or None when it was written without one (or with one
    from before windowed checksums)."""
    parquet = pq.ParquetFile(source, pre_buffer=False)
    found = (parquet.metadata.metadata or {}).get(INDEX_KEY)
    if found is None:
        return None
    index = pa.ipc.open_stream(base64.b64decode(found)).read_all()
    if _DIGEST not in index.column_names:
        return None
    rows = index.column(_ROWS).to_pylist()
    # an index written before windows were cut within groups has a window a group
    groups = index.column(_GROUP).to_pylist() if _GROUP in index.column_names else list(range(index.num_rows))
    starts: list[int] = []
    for n, group in enumerate(groups):
        starts.append(starts[-1] + rows[n - 1] if n and groups[n - 1] == group else 0)
    held = [0] * parquet.num_row_groups
    for group, count in zip(groups, rows, strict=True):
        if not 0 <= group < len(held):
            raise RowGroupIndexError(f"table {spec.name}: the base's row-group index names row group {group}")
        held[group] += count
    actual = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    if held != actual or groups != sorted(groups) or any(k not in index.column_names for k in spec.key):
        raise RowGroupIndexError(f"table {spec.name}: the base's row-group index does not match its row groups")
    last_keys = [tuple(index.column(k)[i].as_py() for k in spec.key) for i in range(index.num_rows)]
    if any(not before < after for before, after in itertools.pairwise(last_keys)):
        raise RowGroupIndexError(f"table {spec.name}: the base's row-group index is not in key order")
    return RowGroupIndex(source, parquet, last_keys, rows, index.column(_DIGEST).to_pylist(), groups, starts)


def boundaries(source: Any, spec: tables.TableSpec) -> tuple[tuple[Any, ...], ...]:
    """The keys at which the table stored whole in the Parquet file ``source`` (or taken as a delta against it)
    is cut into checksum windows: its windows' last keys, none without an index."""
    index = read_index(source, spec)
    return () if index is None else tuple(index.last_keys)


def delta_against_base(
    base: Any,
    current: Iterable[pa.RecordBatch],
    spec: tables.TableSpec,
    checksum: tables.WindowedChecksum,
) -> Iterator[pa.RecordBatch]:
    """The delta turning the base full's table (``base``, its Parquet as a readable, seekable file; None when it
    had no rows) into the ``current`` rows, in key order, as ``tables.delta_batches`` gives it; the current rows'
    windows go into ``checksum``."""
    index = None if base is None else read_index(base, spec)
    if index is None:
        before: Iterable[pa.RecordBatch] = ()
        if base is not None:
            before = pq.ParquetFile(base, pre_buffer=False).iter_batches(
                batch_size=tables.BATCH_ROWS, use_threads=False
            )
        digest = tables.TableDigest(spec.columns)
        yield from tables.delta_batches(before, _digested(current, digest), spec)
        checksum.add(digest.rows, digest.digest())
        return
    yield from delta_through_index(index, current, spec, checksum)


def delta_through_index(
    index: RowGroupIndex, current: Iterable[pa.RecordBatch], spec: tables.TableSpec, checksum: tables.WindowedChecksum
) -> Iterator[pa.RecordBatch]:
    """``delta_against_base`` through the base's index already read: every current row read, only the windows
    whose rows differ compared."""
    groups = len(index.rows)
    for number, window in enumerate(tables.cut_at(current, spec, index.last_keys)):
        held: list[pa.RecordBatch] = []
        digest = tables.TableDigest(spec.columns)
        limit = index.rows[number] if number < groups else 0
        for batch in window:
            digest.add_batch(batch)
            held.append(batch)
            if digest.rows > limit:
                break
        else:  # the whole window is held: unchanged when it is the base group's rows (or an empty tail)
            found = digest.digest()
            if number == groups or (digest.rows == limit and found == index.digests[number]):
                checksum.add(digest.rows, found)
                continue
        before = index.window(number, spec) if number < groups else []
        yield from tables.delta_batches(before, itertools.chain(held, _digested(window, digest)), spec)
        checksum.add(digest.rows, digest.digest())


class ChangedRows(Protocol):
    """A table's current rows as a database answers for them: how many there are (None: not known without
    counting them), the keys of every row that may have been added or changed since the base (a superset is fine:
    the rows of ``changed_leaves`` pages, or a narrower superset at some cost, None when there is none; None
    pages: the keys are exact), and the rows or their number within a key range (above ``low``, at most ``high``;
    None: unbounded), in key order."""

    @property
    def rows(self) -> int | None: ...

    @property
    def changed_leaves(self) -> int | None: ...

    def changed_keys(self) -> Iterable[pa.RecordBatch]: ...

    def changed_rows(self) -> Iterable[pa.RecordBatch] | None:
        """The whole rows at the keys ``changed_keys`` gives, in key order, read instead of those keys (None: not
        offered)."""
        ...

    def narrower_keys(self) -> Iterable[pa.RecordBatch] | None: ...

    def count(self, low: tuple[Any, ...] | None, high: tuple[Any, ...] | None) -> int: ...

    def between(self, low: tuple[Any, ...] | None, high: tuple[Any, ...] | None) -> Iterable[pa.RecordBatch]: ...


def delta_of_changed(
    index: RowGroupIndex, current: ChangedRows, spec: tables.TableSpec, checksum: tables.WindowedChecksum
) -> Iterator[pa.RecordBatch]:
    """``delta_against_base`` reading only the windows that hold a changed key, or whose row count differs from
    the base group's: a deleted row changes no row left, so the rows outside the changed windows are counted (the
    table's count less those of the changed windows, when the table's count is known; else each run of unchanged
    windows), and where they are fewer than the base's, those windows one by one to find where rows went. When the
    changed keys fall in more windows than there are changed pages (rows not in key order), the narrower keys are
    asked for. Consecutive changed windows are read, counted and compared as one run."""
    groups = len(index.rows)
    bounds: list[tuple[Any, ...] | None] = [None, *index.last_keys, None]
    expected = [*index.rows, 0]  # the window past the last key was empty in the base
    rows = current.changed_rows()
    held = _HeldRows(spec)
    dirty = _windows_of(current.changed_keys() if rows is None else held.keys_of(rows), index, spec)
    changed = None if rows is None else held.table()
    if current.changed_leaves is not None and len(dirty) > current.changed_leaves:
        narrower = current.narrower_keys()  # a page's rows are in many windows: narrow them if that can be done
        dirty = dirty if narrower is None else _windows_of(narrower, index, spec)
    unchanged = list(_runs(set(range(groups + 1)) - dirty))
    run_counts: dict[tuple[int, int], int] = {}
    if current.rows is None:
        suspects = [
            range(first, last + 1)
            for first, last in unchanged
            if current.count(bounds[first], bounds[last + 1]) != sum(expected[first : last + 1])
        ]
    else:
        run_counts = {(first, last): current.count(bounds[first], bounds[last + 1]) for first, last in _runs(dirty)}
        counted = sum(run_counts.values())
        rows_unchanged = sum(sum(expected[first : last + 1]) for first, last in unchanged)
        suspects = (
            [range(first, last + 1) for first, last in unchanged] if current.rows - counted != rows_unchanged else []
        )
    dirty.update(
        w for run in suspects for w in run if len(run) == 1 or current.count(bounds[w], bounds[w + 1]) != expected[w]
    )
    runs = dict(_runs(dirty))
    empty = tables.TableDigest(spec.columns).digest()
    number = 0
    while number <= groups:
        if number not in runs:
            checksum.add(expected[number], index.digests[number] if number < groups else empty)
            number += 1
            continue
        last = runs[number]
        if changed is None:
            yield from _read_run(index, current, spec, number, last, bounds, checksum)
        else:
            known = run_counts.get((number, last))  # a run's count, unless windows joined it since
            yield from _patched_run(index, current, changed, spec, number, last, bounds, checksum, known)
        number = last + 1


HELD_CHANGED_ROWS = 100_000
"""Changed rows an incremental holds, at most, to put into its base's windows instead of reading those windows
from the database (more, and the windows are read): 100,000 users are about 40 MB as Arrow, and their keys as much
again as Python tuples; two tables are read at once."""


WINDOWS_A_LOST_ROW = 4
"""Windows, at least, for each row deleted in them, for those windows to be counted by halves to find where."""


class _HeldRows:
    """The changed rows of a table, held while their keys pass on, unless there are more than
    ``HELD_CHANGED_ROWS``."""

    def __init__(self, spec: tables.TableSpec) -> None:
        self._spec = spec
        self._batches: list[pa.RecordBatch] = []
        self._rows = 0

    def keys_of(self, rows: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in tables.checked_key_order(rows, self._spec, "changed rows"):
            self._rows += batch.num_rows
            if self._rows <= HELD_CHANGED_ROWS:
                self._batches.append(batch)
            else:
                self._batches.clear()
            yield batch.select(list(self._spec.key))

    def table(self) -> _ChangedTable | None:
        if self._rows > HELD_CHANGED_ROWS:
            return None
        return _ChangedTable(pa.Table.from_batches(self._batches, self._spec.schema()), self._spec)


class _ChangedTable:
    """Key-ordered changed rows, taken by key range."""

    def __init__(self, rows: pa.Table, spec: tables.TableSpec) -> None:
        self._rows = rows
        self._keys = list(zip(*(rows.column(k).to_pylist() for k in spec.key), strict=True))

    def between(self, low: tuple[Any, ...] | None, high: tuple[Any, ...] | None) -> pa.Table:
        start = 0 if low is None else bisect.bisect_right(self._keys, low)
        stop = len(self._keys) if high is None else bisect.bisect_right(self._keys, high)
        return self._rows.slice(start, stop - start)


def _read_run(
    index: RowGroupIndex,
    current: ChangedRows,
    spec: tables.TableSpec,
    first: int,
    last: int,
    bounds: list[tuple[Any, ...] | None],
    checksum: tables.WindowedChecksum,
) -> Iterator[pa.RecordBatch]:
    """The delta of windows ``first`` to ``last``, their rows read from the database and compared with the base's."""
    rows = current.between(bounds[first], bounds[last + 1])
    windows = tables.digested_windows(rows, spec, index.last_keys[first:last], checksum)
    before = index.windows(first, last, spec)
    yield from tables.delta_batches(_rebatched(before), _rebatched(windows), spec)


def _patched_run(
    index: RowGroupIndex,
    current: ChangedRows,
    changed: _ChangedTable,
    spec: tables.TableSpec,
    first: int,
    last: int,
    bounds: list[tuple[Any, ...] | None],
    checksum: tables.WindowedChecksum,
    counted: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """The delta of windows ``first`` to ``last`` without reading them from the database: the base's rows with
    the changed rows put in are the rows now, unless rows were deleted (no row is left to tell), so the windows
    are counted (by halves, only where the count differs); those that lost rows are read instead (their base
    windows read again), and all of them when fewer rows than one in ``WINDOWS_A_LOST_ROW`` windows are left than
    the base had. The delta of the others is the changed rows that differ from the base's rows they replaced.
    ``counted``: the run's rows now, when they were counted already."""
    if counted is None:
        counted = current.count(bounds[first], bounds[last + 1])
    if (sum(index.rows[first : last + 1]) - counted) * WINDOWS_A_LOST_ROW > last - first + 1:
        yield from _read_run(index, current, spec, first, last, bounds, checksum)  # rows deleted all over
        return
    in_run = changed.between(bounds[first], bounds[last + 1])
    base = index.windows(first, last, spec)
    pieces: list[pa.Table] = []
    windows = tables.WindowedChecksum()
    merged = tables.patched(_rebatched(base), in_run.to_batches(), spec, pieces)
    for _ in tables.digested_windows(merged, spec, index.last_keys[first:last], windows):
        pass
    lost = _lost_rows(current, bounds, [rows for rows, _ in windows.windows], first, counted)
    replaced = _ChangedTable(pa.concat_tables(pieces) if pieces else spec.schema().empty_table(), spec)
    for (start, stop), lost_here in _spans(first, last, lost):
        if lost_here:
            yield from _read_run(index, current, spec, start, stop, bounds, checksum)
            continue
        checksum.windows.extend(windows.windows[start - first : stop - first + 1])
        low, high = bounds[start], bounds[stop + 1]
        now, before = changed.between(low, high), replaced.between(low, high)
        yield from tables.delta_batches(before.to_batches(), now.to_batches(), spec)


def _lost_rows(
    current: ChangedRows,
    bounds: list[tuple[Any, ...] | None],
    merged: list[int],
    first: int,
    counted: int | None = None,
) -> set[int]:
    """Of the windows from ``first`` whose rows, with the changed rows put in, number ``merged`` (and now
    ``counted`` in all, when known), those that now hold fewer (rows deleted there): none where a range of them
    counts as many; all where more than one in ``WINDOWS_A_LOST_ROW`` lost a row (reading them costs less than
    counting on); else each half is counted."""
    last = first + len(merged) - 1
    lost = sum(merged) - (current.count(bounds[first], bounds[last + 1]) if counted is None else counted)
    if lost == 0:
        return set()
    if lost * WINDOWS_A_LOST_ROW > len(merged):
        return set(range(first, last + 1))
    half = len(merged) // 2
    return _lost_rows(current, bounds, merged[:half], first) | _lost_rows(current, bounds, merged[half:], first + half)


def _spans(first: int, last: int, marked: set[int]) -> Iterator[tuple[tuple[int, int], bool]]:
    """The runs of windows ``first`` to ``last`` alike in being ``marked`` or not, in order."""
    for is_marked, run in itertools.groupby(range(first, last + 1), lambda n: n in marked):
        numbers = list(run)
        yield (numbers[0], numbers[-1]), is_marked


def delta_of_all(
    index: RowGroupIndex, current: Iterable[pa.RecordBatch], spec: tables.TableSpec, checksum: tables.WindowedChecksum
) -> Iterator[pa.RecordBatch]:
    """``delta_against_base`` for a table known to have changed almost everywhere: every window compared, as one
    run (no window's digest is worth checking first)."""
    windows = tables.digested_windows(current, spec, index.last_keys, checksum)
    before = index.windows(0, len(index.rows) - 1, spec)
    yield from tables.delta_batches(_rebatched(before), _rebatched(windows), spec)


def _windows_of(keys: Iterable[pa.RecordBatch], index: RowGroupIndex, spec: tables.TableSpec) -> set[int]:
    """The numbers of the windows holding ``keys``."""
    found: set[int] = set()
    for batch in keys:
        found.update(
            bisect.bisect_left(index.last_keys, key)
            for key in zip(*(batch.column(k).to_pylist() for k in spec.key), strict=True)
        )
    return found


def _rebatched(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches`` joined into batches of about ``tables.BATCH_ROWS`` rows: the comparison costs a few Arrow calls
    a column for each batch, whatever its size, and the base's rows arrive a window at a time."""
    held: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        held.append(batch)
        rows += batch.num_rows
        if rows >= tables.BATCH_ROWS:
            yield held[0] if len(held) == 1 else pa.concat_batches(held)
            held, rows = [], 0
    if held:
        yield held[0] if len(held) == 1 else pa.concat_batches(held)


def _runs(numbers: set[int]) -> Iterator[tuple[int, int]]:
    """The first and last of each run of consecutive ``numbers``."""
    for _, run in itertools.groupby(enumerate(sorted(numbers)), lambda pair: pair[1] - pair[0]):
        found = [n for _, n in run]
        yield found[0], found[-1]


def _digested(batches: Iterable[pa.RecordBatch], digest: tables.TableDigest) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        digest.add_batch(batch)
        yield batch
