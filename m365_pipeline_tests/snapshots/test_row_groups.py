"""The row-group index of a full's table Parquet: the delta found through it is the delta of the whole tables (rows
updated, inserted between and past the base's keys, deleted, whole groups emptied, a group's range grown many
times), the checksum is that of every current row cut at the base's groups (the base's own when nothing changed),
only the changed groups are read, and a base without an index is still compared whole and checksummed in one
window."""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from m365_pipeline.snapshots import row_groups, tables
from m365_pipeline.snapshots.archiver import archive_file
from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.chunker import Chunker
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.stored_file import StoredFile

SPEC = tables.TableSpec(
    "t",
    ("tenant", "number"),
    ("tenant", "number", "name", "seen", "flag"),
    ("string", "int64", "string", "timestamp[us, tz=UTC]", "bool"),
)
GROUP_ROWS = 10
KEYS = RepositoryKeys(bytes(range(32)))


def _row(tenant: str, number: int, rng: random.Random) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "number": number,
        "name": rng.choice([None, "", "名前", f"n{rng.randrange(100)}"]),
        "seen": rng.choice([None, dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(10**6))]),
        "flag": rng.choice([True, False, None]),
    }


def _base_rows() -> list[dict[str, Any]]:
    rng = random.Random(1)
    return [_row(tenant, number, rng) for tenant in ("a", "b") for number in range(0, 200, 2)]


def _batches(rows: list[dict[str, Any]], size: int, spec: tables.TableSpec = SPEC) -> Iterator[pa.RecordBatch]:
    for start in range(0, len(rows), size):
        yield pa.RecordBatch.from_pylist(rows[start : start + size], schema=spec.schema())


def _write_base(path: Path, rows: list[dict[str, Any]], indexed: bool = True, batch_rows: int = GROUP_ROWS) -> str:
    """Writes the base's Parquet from batches of ``batch_rows`` (row groups and windows as ``row_groups`` cuts
    them); returns its checksum."""
    with path.open("wb") as out:
        if not indexed:
            plain = tables.ParquetSink(out, SPEC.schema())
            for batch in _batches(rows, GROUP_ROWS):
                plain.write(batch)
            plain.close()
            return tables.windowed_digest(_batches(rows, GROUP_ROWS), SPEC).checksum
        sink = row_groups.IndexedParquetSink(out, SPEC)
        for batch in _batches(rows, batch_rows):
            sink.write_groups(batch)
        sink.close()
        return sink.checksum.checksum


def _checksum(rows: list[dict[str, Any]], base: Path | None = None, spec: tables.TableSpec = SPEC) -> str:
    """The checksum of ``rows`` as its own function computes it, cut at ``base``'s groups (if it has an index)."""
    boundaries = () if base is None else row_groups.boundaries(base, spec)
    return tables.windowed_digest(_batches(rows, 1000, spec), spec, boundaries).checksum


def _rows_of(batches: Iterator[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.to_pylist()]


def _updated(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    changed = [dict(r) for r in rows]
    for index in rng.sample(range(len(changed)), 5):
        changed[index]["name"] = "changed"
    return changed


def _appended(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    return rows + [_row("c", number, rng) for number in range(25)]


def _inserted_between(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    added = [_row("a", number, rng) for number in (1, 33, 77)] + [_row("0", 5, rng)]
    return sorted(rows + added, key=lambda r: (r["tenant"], r["number"]))


def _deleted(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    gone = set(rng.sample(range(len(rows)), 7)) | set(range(40, 50))  # a whole group too
    return [r for i, r in enumerate(rows) if i not in gone]


def _grown(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Many rows inside one group's key range (the window outgrows its base group and streams)."""
    return [_row("a", number, rng) for number in range(-300, 0)] + rows


def _mixed(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    return _appended(_inserted_between(_deleted(_updated(rows, rng), rng), rng), rng)


CHANGES: dict[str, Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]] = {
    "unchanged": lambda rows, rng: rows,
    "updated": _updated,
    "appended": _appended,
    "inserted between keys": _inserted_between,
    "deleted": _deleted,
    "grown": _grown,
    "mixed": _mixed,
    "emptied": lambda rows, rng: [],
}


@pytest.mark.parametrize(
    "layout", ["indexed base", "four windows a row group", "base without index"], ids=lambda layout: layout
)
@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("batch_rows", [1, 7, 1000])
def test_the_delta_through_the_index_is_the_delta_of_the_whole_tables(
    tmp_path: Path, change: str, batch_rows: int, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _base_rows()
    current = CHANGES[change](base, random.Random(2))
    path = tmp_path / "base.parquet"
    indexed, batch_rows_written = layout != "base without index", GROUP_ROWS
    if layout == "four windows a row group":  # groups of 40 rows, windows of 10 as in the other layouts
        monkeypatch.setattr(row_groups, "WINDOW_ROWS", GROUP_ROWS)
        monkeypatch.setattr(row_groups, "GROUP_ROWS", 4 * GROUP_ROWS)
        batch_rows_written = 4 * GROUP_ROWS
    base_checksum = _write_base(path, base, indexed=indexed, batch_rows=batch_rows_written)
    if layout == "four windows a row group":
        with pq.ParquetFile(path) as parquet:
            assert parquet.num_row_groups == len(base) // (4 * GROUP_ROWS)

    checksum = tables.WindowedChecksum()
    found = _rows_of(row_groups.delta_against_base(path, _batches(current, batch_rows), SPEC, checksum))

    expected = _rows_of(tables.delta_batches(_batches(base, 1000), _batches(current, 1000), SPEC))
    assert found == expected
    assert (change == "unchanged") == (found == [])
    assert (checksum.rows, checksum.checksum) == (len(current), _checksum(current, path))
    assert len(checksum.windows) == (len(base) // GROUP_ROWS + 1 if indexed else 1)
    assert (checksum.checksum == base_checksum) == (change == "unchanged")


@pytest.mark.parametrize("change", ["updated", "mixed", "deleted"])
def test_a_base_read_in_place_from_the_store_gives_the_same_delta(tmp_path: Path, change: str) -> None:
    base = _base_rows()
    path = tmp_path / "base.parquet"
    _write_base(path, base)
    backend, index = LocalBackend(tmp_path / "store"), Index()
    with BlobSaver(backend, KEYS, index) as saver:
        entry = archive_file(saver, Chunker(KEYS.chunk_id, min_size=64, avg_size=256, max_size=1024), path, "t.parquet")
    assert len(entry.chunks) > 20
    current = CHANGES[change](base, random.Random(4))

    with StoredFile(backend, KEYS, index, entry) as stored:
        checksum = tables.WindowedChecksum()
        found = _rows_of(row_groups.delta_against_base(stored, _batches(current, 16), SPEC, checksum))
    assert found == _rows_of(tables.delta_batches(_batches(base, 1000), _batches(current, 1000), SPEC))
    assert found and checksum.checksum == _checksum(current, path)


def test_a_table_without_base_rows_is_all_upserts_and_checksummed(tmp_path: Path) -> None:
    rows = _base_rows()
    checksum = tables.WindowedChecksum()
    found = _rows_of(row_groups.delta_against_base(None, _batches(rows, 9), SPEC, checksum))
    assert [r[tables.OP_COLUMN] for r in found] == [tables.UPSERT] * len(rows)
    assert [{k: v for k, v in r.items() if k != tables.OP_COLUMN} for r in found] == rows
    assert len(checksum.windows) == 1 and checksum.checksum == _checksum(rows)


def test_only_the_groups_whose_rows_changed_are_read(tmp_path: Path, groups_read: list[tuple[str, int]]) -> None:
    base = _base_rows()
    path = tmp_path / "base.parquet"
    _write_base(path, base)
    current = [dict(r) for r in base]
    current[15]["flag"] = not current[15]["flag"]  # group 1
    current[137]["name"] = "changed"  # group 13
    current.append(_row("c", 1, random.Random(3)))  # past the last key

    delta = _rows_of(row_groups.delta_against_base(path, _batches(current, 64), SPEC, tables.WindowedChecksum()))
    assert groups_read == [("t", 1), ("t", 13)]
    assert [(r["tenant"], r["number"]) for r in delta] == [("a", 30), ("b", 74), ("c", 1)]


def test_the_index_records_each_group_last_key_rows_and_digest(tmp_path: Path) -> None:
    base = _base_rows()
    path = tmp_path / "base.parquet"
    checksum = _write_base(path, base)
    index = row_groups.read_index(path, SPEC)
    assert index is not None
    with index.parquet as parquet:
        assert parquet.num_row_groups == len(base) // GROUP_ROWS
        assert index.rows == [GROUP_ROWS] * parquet.num_row_groups
        assert index.last_keys == [(r["tenant"], r["number"]) for r in base[GROUP_ROWS - 1 :: GROUP_ROWS]]
        groups = [(r, tables.windowed_digest(_batches(base[r : r + GROUP_ROWS], 3), SPEC)) for r in range(0, 200, 10)]
        assert index.digests == [bytes.fromhex(digest.checksum) for _, digest in groups]
        assert pq.read_table(path).to_pylist() == base
    assert checksum == _checksum(base, path) != _checksum(base)


def test_an_index_that_does_not_match_the_row_groups_is_refused(tmp_path: Path) -> None:
    good, other = tmp_path / "good.parquet", tmp_path / "other.parquet"
    _write_base(good, _base_rows())
    _write_base(other, _base_rows()[:-3])
    with pq.ParquetFile(good) as parquet, pq.ParquetFile(other) as shorter:
        metadata = {**parquet.metadata.metadata}
        table = shorter.read()
        forged = tmp_path / "forged.parquet"
        pq.write_table(table.replace_schema_metadata(metadata), forged, row_group_size=GROUP_ROWS)
    with pytest.raises(row_groups.RowGroupIndexError, match="table t"):
        row_groups.read_index(forged, SPEC)


def test_keys_with_timestamps_and_dates_cut_and_compare_like_any_other(tmp_path: Path) -> None:
    """History tables are keyed by a user and a UTC timestamp; activity tables by a day."""
    spec = tables.TableSpec(
        "history",
        ("user", "valid_from", "day"),
        ("user", "valid_from", "day", "value"),
        ("string", "timestamp[us, tz=UTC]", "date32[day]", "int64"),
    )
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    base: list[dict[str, Any]] = [
        {"user": u, "valid_from": start + dt.timedelta(hours=h), "day": dt.date(2026, 1, 1 + h % 28), "value": h}
        for u in ("u1", "u2", "u3")
        for h in range(0, 60, 2)
    ]
    current = [dict(r, value=-1) if r["valid_from"].hour == 4 else r for r in base]  # 3 a user
    current += [{"user": "u4", "valid_from": start, "day": dt.date(2026, 2, 1), "value": 0}]

    def batches(rows: list[dict[str, Any]], size: int) -> Iterator[pa.RecordBatch]:
        for first in range(0, len(rows), size):
            yield pa.RecordBatch.from_pylist(rows[first : first + size], schema=spec.schema())

    path = tmp_path / "history.parquet"
    with path.open("wb") as out:
        sink = row_groups.IndexedParquetSink(out, spec)
        for batch in batches(base, 7):
            sink.write_groups(batch)
        sink.close()
    index = row_groups.read_index(path, spec)
    assert index is not None and index.last_keys[0] == ("u1", start + dt.timedelta(hours=12), dt.date(2026, 1, 13))

    checksum = tables.WindowedChecksum()
    found = _rows_of(row_groups.delta_against_base(path, batches(current, 5), spec, checksum))
    assert found == _rows_of(tables.delta_batches(batches(base, 100), batches(current, 100), spec))
    assert len(found) == 3 * 3 + 1 and checksum.checksum == _checksum(current, path, spec)


def test_an_index_from_before_windowed_checksums_is_taken_as_none(tmp_path: Path) -> None:
    """Such an index holds fingerprints, no digests: its base is compared whole and checksummed in one window."""
    base = _base_rows()
    path, old = tmp_path / "base.parquet", tmp_path / "old.parquet"
    _write_base(path, base)
    index = row_groups.read_index(path, SPEC)
    assert index is not None
    keys = pa.table({"tenant": [k[0] for k in index.last_keys], "number": [k[1] for k in index.last_keys]})
    keys = keys.append_column("_m365_rows", pa.array(index.rows, pa.int64()))
    keys = keys.append_column("_m365_fingerprint", pa.array([d[:16] for d in index.digests], pa.binary(16)))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, keys.schema) as writer:
        writer.write_table(keys)
    encoded = base64.b64encode(sink.getvalue().to_pybytes())
    pq.write_table(pq.read_table(path).replace_schema_metadata({row_groups.INDEX_KEY: encoded}), old, row_group_size=10)

    assert row_groups.read_index(old, SPEC) is None and row_groups.boundaries(old, SPEC) == ()
    current = _updated(base, random.Random(5))
    checksum = tables.WindowedChecksum()
    found = _rows_of(row_groups.delta_against_base(old, _batches(current, 13), SPEC, checksum))
    assert found == _rows_of(tables.delta_batches(_batches(base, 1000), _batches(current, 1000), SPEC))
    assert len(checksum.windows) == 1 and checksum.checksum == _checksum(current)


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_window_compared_at_once_gives_the_delta_of_the_whole_tables(
    tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``delta_of_all`` (a table whose pages changed almost everywhere), with four windows a row group."""
    monkeypatch.setattr(row_groups, "WINDOW_ROWS", GROUP_ROWS)
    monkeypatch.setattr(row_groups, "GROUP_ROWS", 4 * GROUP_ROWS)
    base = _base_rows()
    current = CHANGES[change](base, random.Random(6))
    path = tmp_path / "base.parquet"
    base_checksum = _write_base(path, base, batch_rows=4 * GROUP_ROWS)
    index = row_groups.read_index(path, SPEC)
    assert index is not None and len(index.rows) == 4 * index.parquet.num_row_groups

    checksum = tables.WindowedChecksum()
    found = _rows_of(row_groups.delta_of_all(index, _batches(current, 7), SPEC, checksum))
    assert found == _rows_of(tables.delta_batches(_batches(base, 1000), _batches(current, 1000), SPEC))
    assert (checksum.rows, checksum.checksum) == (len(current), _checksum(current, path))
    assert (checksum.checksum == base_checksum) == (change == "unchanged")


def test_a_table_without_primary_key_is_written_without_index_and_checksummed_in_one_window(tmp_path: Path) -> None:
    """Keyed by all its columns, NULLs among them: its rows are never compared window by window."""
    keyless = tables.TableSpec("k", (), SPEC.columns, SPEC.types)
    rows = sorted(
        (dict(r, tenant=None) if i % 7 == 0 else r for i, r in enumerate(_base_rows())),
        key=lambda r: (r["tenant"] is not None, r["tenant"] or "", r["number"]),
    )
    path = tmp_path / "k.parquet"
    with path.open("wb") as out:
        sink = row_groups.IndexedParquetSink(out, keyless)
        for batch in _batches(rows, GROUP_ROWS, keyless):
            sink.write_groups(batch)
        sink.close()
    assert row_groups.read_index(path, keyless) is None and row_groups.boundaries(path, keyless) == ()
    whole = tables.TableDigest(keyless.columns)
    for batch in _batches(rows, 1000, keyless):
        whole.add_batch(batch)
    assert len(sink.checksum.windows) == 1 and sink.checksum.checksum == whole.checksum
    assert pq.read_table(path).to_pylist() == rows
