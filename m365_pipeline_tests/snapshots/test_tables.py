"""Tables compared by key in Arrow, window by window: deltas, their application and row changes are exact for
any batch sizes, composite keys, nulls and text keys in code point order; out-of-order input is refused; the
checksum ignores batch boundaries; PostgreSQL returns text keys in the same order as Python and every value as
written, through psycopg's COPY and through ADBC in an exported snapshot, which reads the rows as the exporting
transaction sees them; keys in a collation that sorts in code points are read through their index, their order
checked; which catalog rows count as such collations, which positions let rows be found by xmin, and empty tables
found in one query."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from m365_pipeline.snapshots import postgres_reads, tables

SPEC = tables.TableSpec(
    "t", ("tenant", "name"), ("tenant", "name", "value", "flag"), ("string", "string", "int64", "bool")
)
NAMES = ["A", "B", "Z", "_", "a", "b", "z", "é", "ü", "日本", "本", "ｱ", "😀"]


def _rows(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    keys = sorted({(rng.choice("xy"), rng.choice(NAMES) + str(rng.randrange(50))) for _ in range(count)})
    return [
        {"tenant": t, "name": n, "value": rng.choice([None, rng.randrange(5)]), "flag": rng.choice([True, False, None])}
        for t, n in keys
    ]


def _batches(rows: list[dict[str, Any]], size: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, len(rows), size):
        yield pa.RecordBatch.from_pylist(rows[start : start + size], schema=SPEC.schema())


def _table(batches: Iterator[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.to_pylist()]


@pytest.mark.parametrize(("old_size", "new_size", "delta_size"), [(1, 7, 3), (7, 1, 100), (1000, 1000, 1), (3, 3, 2)])
def test_a_delta_applied_to_its_base_gives_the_new_table_for_any_batch_sizes(
    old_size: int, new_size: int, delta_size: int
) -> None:
    old, new = _rows(1, 300), _rows(2, 300)
    assert sorted((r["tenant"], r["name"]) for r in old) == [(r["tenant"], r["name"]) for r in old]
    delta = _table(tables.delta_batches(_batches(old, old_size), _batches(new, new_size), SPEC))
    delta_batches = (
        pa.RecordBatch.from_pylist(delta[i : i + delta_size], schema=SPEC.delta_schema())
        for i in range(0, len(delta), delta_size)
    )
    assert _table(tables.apply_delta(_batches(old, old_size), delta_batches, SPEC)) == new

    found = list(tables.changes(_batches(old, old_size), _batches(new, new_size), SPEC))
    old_by_key = {(r["tenant"], r["name"]): r for r in old}
    new_by_key = {(r["tenant"], r["name"]): r for r in new}
    expected = [
        (k, old_by_key.get(k), new_by_key.get(k))
        for k in sorted(set(old_by_key) | set(new_by_key))
        if old_by_key.get(k) != new_by_key.get(k)
    ]
    assert found == expected
    assert len(delta) == len(expected)


@pytest.mark.parametrize("new_keys", [False, True], ids=["replacing only", "with new keys"])
@pytest.mark.parametrize(("base_size", "changed_size"), [(1, 1), (7, 3), (40, 100), (1000, 5)])
def test_changed_rows_put_into_their_base_give_the_rows_now_and_the_rows_they_replaced(
    base_size: int, changed_size: int, new_keys: bool
) -> None:
    base = _rows(3, 300)
    rng = random.Random(base_size * 31 + changed_size)
    changed = [dict(row, value=rng.randrange(100, 200)) for row in base if rng.random() < 0.3]
    if new_keys:
        taken = {(r["tenant"], r["name"]) for r in base}
        added = [r for r in _rows(4, 60) if (r["tenant"], r["name"]) not in taken]
        changed = sorted(changed + added, key=lambda r: (r["tenant"], r["name"]))
    replaced: list[pa.Table] = []
    now = _table(tables.patched(_batches(base, base_size), _batches(changed, changed_size), SPEC, replaced))

    by_key = {(r["tenant"], r["name"]): r for r in base} | {(r["tenant"], r["name"]): r for r in changed}
    assert now == [by_key[key] for key in sorted(by_key)]
    changed_keys = {(r["tenant"], r["name"]) for r in changed}
    assert [row for table in replaced for row in table.to_pylist()] == [
        r for r in base if (r["tenant"], r["name"]) in changed_keys
    ]


def test_unchanged_tables_have_no_delta_and_equal_checksums_whatever_the_batches() -> None:
    rows = _rows(3, 200)
    assert list(tables.delta_batches(_batches(rows, 13), _batches(rows, 200), SPEC)) == []
    checksums = {tables.windowed_digest(_batches(rows, size), SPEC).checksum for size in (1, 13, 200)}
    assert len(checksums) == 1
    changed = [dict(r) for r in rows]
    changed[100]["flag"] = None if changed[100]["flag"] is not None else True
    assert tables.windowed_digest(_batches(changed, 13), SPEC).checksum not in checksums


def test_a_checksum_in_windows_depends_on_the_rows_and_the_windows_not_the_batches() -> None:
    rows = _rows(3, 200)
    keys = [(r["tenant"], r["name"]) for r in rows]
    quarter, half = len(rows) // 4, len(rows) // 2
    cuts = (keys[quarter], keys[half])
    windowed = {tables.windowed_digest(_batches(rows, size), SPEC, cuts).checksum for size in (1, 13, 600)}
    assert len(windowed) == 1
    single = tables.TableDigest(SPEC.columns)
    for batch in _batches(rows, 600):
        single.add_batch(batch)
    # in one window, a table's checksum is its TableDigest: that of the snapshots taken before windows
    assert tables.windowed_digest(_batches(rows, 7), SPEC).checksum == single.checksum not in windowed
    assert tables.windowed_digest(_batches(rows, 7), SPEC, (keys[quarter + 1], keys[half])).checksum not in windowed
    checksum = tables.windowed_digest(_batches(rows, 7), SPEC, cuts)
    assert [count for count, _ in checksum.windows] == [quarter + 1, half - quarter, len(rows) - half - 1]
    assert checksum.rows == len(rows)


def test_rows_out_of_key_order_are_refused() -> None:
    rows = _rows(4, 50)
    shuffled = rows[25:] + rows[:25]
    with pytest.raises(tables.KeyOrderError, match="not in key order"):
        list(tables.delta_batches(_batches(rows, 10), _batches(shuffled, 10), SPEC))
    with pytest.raises(tables.KeyOrderError, match="not in key order"):
        list(tables.apply_delta(_batches(shuffled, 25), iter([]), SPEC))
    with pytest.raises(tables.KeyOrderError):
        list(tables.changes(_batches(list(reversed(rows)), 100), _batches(rows, 100), SPEC))


def _postgres_rows(
    connection: sa.Connection, url: str, reflected: sa.Table, spec: tables.TableSpec, through: str
) -> list[dict[str, Any]]:
    """The rows of ``reflected`` through psycopg's COPY (``read_batches``), or through ADBC in the snapshot this
    connection's transaction exports (``PostgresSnapshotReader``)."""
    if through == "copy":
        batches = tables.read_batches(connection, reflected, spec, batch_rows=4)
        return [row for batch in batches for row in batch.to_pylist()]
    connection.rollback()  # the reflection's transaction
    with connection.execution_options(isolation_level="REPEATABLE READ").begin():
        exported = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        with postgres_reads.PostgresSnapshotReader(url, exported) as reader:
            return [row for batch in reader.read(connection, reflected, spec) for row in batch.to_pylist()]


READERS = pytest.mark.parametrize("through", ["copy", "adbc in an exported snapshot"])


@READERS
def test_postgres_returns_text_keys_in_python_order(postgres_url: str, through: str) -> None:
    engine = sa.create_engine(postgres_url)
    metadata = sa.MetaData()
    # a linguistic collation (as production databases often have) sorts "a" before "B"; keys must not follow it
    name = sa.Column("name", sa.Text(collation="en-x-icu"), primary_key=True)
    table = sa.Table("t", metadata, name, sa.Column("value", sa.Integer))
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(table.insert(), [{"name": n, "value": i} for i, n in enumerate(reversed(NAMES))])
    with engine.connect() as connection:
        reflected = tables.reflect_tables(connection)["t"]
        spec = tables.spec_of(reflected)
        read = [row["name"] for row in _postgres_rows(connection, postgres_url, reflected, spec, through)]
        linguistic = connection.execute(sa.select(table.c.name).order_by(table.c.name)).scalars().all()
    engine.dispose()
    assert linguistic != sorted(NAMES)
    assert read == sorted(NAMES)


@READERS
def test_postgres_rows_read_keep_every_value(postgres_url: str, through: str) -> None:
    import datetime as dt

    engine = sa.create_engine(postgres_url)
    metadata = sa.MetaData()
    table = sa.Table(
        "tricky",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("note", sa.Text),
        sa.Column("flag", sa.Boolean),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("local", sa.DateTime()),
        sa.Column("day", sa.Date),
        sa.Column("count", sa.BigInteger),
    )
    tokyo = dt.timezone(dt.timedelta(hours=9))
    rows = [
        {
            "name": "a",
            "note": "",
            "flag": True,
            "at": dt.datetime(2024, 6, 24, 9, 0, 0, 123456, tokyo),
            "local": dt.datetime(2024, 6, 24, 9, 0),
            "day": dt.date(2024, 6, 24),
            "count": -(2**62),
        },
        {"name": "b", "note": None, "flag": None, "at": None, "local": None, "day": None, "count": None},
        {
            "name": "c",
            "note": 'line 1\nline "2", with commas\r\n\\N NULL 名前 😀',
            "flag": False,
            "at": dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
            "local": dt.datetime(1, 1, 1),
            "day": dt.date(9999, 12, 31),
            "count": 0,
        },
        {
            "name": "d",
            "note": '"',
            "flag": True,
            "at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            "local": dt.datetime(2024, 1, 1),
            "day": dt.date(2024, 1, 1),
            "count": 7,
        },
    ]
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(table.insert(), rows)
    with engine.connect() as connection:
        reflected = tables.reflect_tables(connection, only={"tricky"})["tricky"]
        spec = tables.spec_of(reflected)
        read = _postgres_rows(connection, postgres_url, reflected, spec, through)
    engine.dispose()
    expected = [{**row, "at": row["at"] and row["at"].astimezone(dt.UTC)} for row in rows]
    assert read == expected


@pytest.mark.parametrize(("collation", "in_code_points"), [("C", True), ("POSIX", True), ("en-x-icu", False)])
def test_text_keys_in_a_code_point_collation_are_read_through_their_index_and_still_in_order(
    postgres_url: str, collation: str, in_code_points: bool
) -> None:
    engine = sa.create_engine(postgres_url)
    metadata = sa.MetaData()
    table = sa.Table(
        "t",
        metadata,
        sa.Column("tenant", sa.Text(collation=collation), primary_key=True),
        sa.Column("name", sa.Text(collation=collation), primary_key=True),
        sa.Column("value", sa.Integer),
    )
    keys = [(tenant, name) for tenant in ("b", "B", "a") for name in reversed(NAMES)]
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(table.insert(), [{"tenant": t, "name": n, "value": i} for i, (t, n) in enumerate(keys)])
    with engine.connect() as connection:
        reflected = tables.reflect_tables(connection)["t"]
        spec = tables.spec_of(reflected)
        ordered = postgres_reads.code_point_ordered(connection, reflected, spec.key)
        sql = tables.select_sql(connection, reflected, spec, code_point_ordered=ordered)
        read = [
            (row["tenant"], row["name"]) for row in _postgres_rows(connection, postgres_url, reflected, spec, "adbc")
        ]
    engine.dispose()
    assert ordered == ({"tenant", "name"} if in_code_points else set())
    assert ('COLLATE "C"' in sql) is not in_code_points
    assert read == sorted(keys)


@pytest.mark.parametrize(
    ("collation", "database", "in_code_points"),
    [
        ({"collname": "default"}, {"datcollate": "C.UTF-8"}, True),  # before PostgreSQL 15: libc only
        ({"collname": "default"}, {"datcollate": "en_US.UTF-8"}, False),
        ({"collname": "default"}, {"datlocprovider": "c", "datcollate": "POSIX"}, True),
        ({"collname": "default"}, {"datlocprovider": "i", "datcollate": "C", "datlocale": "und"}, False),
        ({"collname": "default"}, {"datlocprovider": "b", "datcollate": "C", "datlocale": "C.UTF-8"}, True),
        ({"collname": "default"}, {"datlocprovider": "b", "datlocale": "PG_UNICODE_FAST"}, False),
        ({"collname": "C", "collprovider": "c", "collcollate": "C"}, {"datcollate": "de_DE.UTF-8"}, True),
        ({"collname": "ucs_basic", "collprovider": "b", "colllocale": "C"}, {"datcollate": "de_DE"}, True),
        ({"collname": "de-x-icu", "collprovider": "i", "collcollate": None}, {"datcollate": "C"}, False),
    ],
)
def test_which_collations_sort_in_code_points(
    collation: dict[str, Any], database: dict[str, Any], in_code_points: bool
) -> None:
    assert postgres_reads.in_code_points(collation, database) is in_code_points


def test_batches_out_of_key_order_are_refused_as_they_pass() -> None:
    rows = _rows(3, 300)
    assert _table(tables.checked_key_order(_batches(rows, 7), SPEC, "test")) == rows
    swapped = [rows[1], rows[0], *rows[2:]]
    with pytest.raises(tables.KeyOrderError, match=r"table t \(test\): rows are not in key order"):
        list(tables.checked_key_order(_batches(swapped, 50), SPEC, "test"))
    with pytest.raises(tables.KeyOrderError):  # each batch in order, the second starting before the first ended
        list(tables.checked_key_order(iter([*_batches(rows[100:], 300), *_batches(rows[:100], 300)]), SPEC, "test"))
    with pytest.raises(tables.KeyOrderError):  # a key twice
        list(tables.checked_key_order(_batches([rows[0], *rows], 1), SPEC, "test"))


def test_postgres_rows_are_read_as_the_exporting_transaction_sees_them(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    metadata = sa.MetaData()
    table = sa.Table("t", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.Text))
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(table.insert(), [{"id": i, "v": f"before {i}"} for i in range(5)])
    with engine.connect() as capturing, engine.connect() as writer:
        capturing.execution_options(isolation_level="REPEATABLE READ").begin()
        exported = capturing.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        with writer.begin():  # committed after the export: the reader must not see it
            writer.execute(table.update().where(table.c.id == 1).values(v="after"))
            writer.execute(table.delete().where(table.c.id == 2))
            writer.execute(table.insert().values(id=9, v="new"))
        reflected = tables.reflect_tables(capturing, only={"t"})["t"]
        with postgres_reads.PostgresSnapshotReader(postgres_url, exported) as reader:
            read = [
                row
                for batch in reader.read(capturing, reflected, tables.spec_of(reflected))
                for row in batch.to_pylist()
            ]
        capturing.rollback()
        now = writer.execute(sa.select(table.c.id, table.c.v).order_by(table.c.id)).all()
    engine.dispose()
    assert read == [{"id": i, "v": f"before {i}"} for i in range(5)]
    assert [tuple(row) for row in now] == [(0, "before 0"), (1, "after"), (3, "before 3"), (4, "before 4"), (9, "new")]


def test_empty_postgres_tables_are_found_in_one_query_of_the_exported_snapshot(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        for name in ("full", "empty", "emptied later", 'quoted "name"'):
            connection.exec_driver_sql(f"CREATE TABLE {tables.quoted(name)} (id integer PRIMARY KEY)")
        connection.exec_driver_sql('INSERT INTO "full" VALUES (1)')
        connection.exec_driver_sql('INSERT INTO "emptied later" VALUES (1)')
    with engine.connect() as capturing, engine.begin() as writer:
        capturing.execution_options(isolation_level="REPEATABLE READ").begin()
        exported = capturing.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        writer.exec_driver_sql('DELETE FROM "emptied later"')
        writer.commit()
        with postgres_reads.PostgresSnapshotReader(postgres_url, exported) as reader:
            empty = reader.empty_tables(["full", "empty", "emptied later", 'quoted "name"'])
            assert reader.empty_tables([]) == frozenset()
        capturing.rollback()
    engine.dispose()
    assert empty == {"empty", 'quoted "name"'}


def test_sqlite_file_read_through_adbc_equals_the_driver_path_even_when_a_batch_is_all_null(tmp_path: Any) -> None:
    import datetime as dt

    path = tmp_path / "w.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata = sa.MetaData()
    table = sa.Table(
        "mixed",
        metadata,
        sa.Column("tenant", sa.String(36), primary_key=True),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note", sa.Text),
        sa.Column("flag", sa.Boolean),
        sa.Column("at", sa.DateTime()),
        sa.Column("day", sa.Date),
        sa.Column("count", sa.BigInteger),
    )
    nulls = [
        {"tenant": "0", "id": i, "note": None, "flag": None, "at": None, "day": None, "count": None}
        for i in range(3000)
    ]
    values = [
        {
            "tenant": "b" if i % 2 else "B",
            "id": i,
            "note": f"名前 {i}\n'\"",
            "flag": i % 3 == 0,
            "at": dt.datetime(2024, 6, 24, 9, 0, 0, i),
            "day": dt.date(2024, 6, 24),
            "count": -(2**62) + i,
        }
        for i in range(500)
    ]
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(table.insert(), nulls + values)
    with engine.connect() as connection:
        reflected = tables.reflect_tables(connection, only={"mixed"})["mixed"]
        spec = tables.spec_of(reflected)
        through_driver = pa.Table.from_batches(tables.read_batches(connection, reflected, spec), spec.schema())
        with tables.SqliteFile(path) as sqlite:
            through_adbc = pa.Table.from_batches(sqlite.read(connection, reflected, spec), spec.schema())
    engine.dispose()
    assert through_adbc.num_rows == 3500
    assert through_adbc.equals(through_driver)
    assert through_adbc.column("tenant").to_pylist() == ["0"] * 3000 + ["B"] * 250 + ["b"] * 250  # BINARY order


def test_a_sink_with_group_rows_writes_small_batches_as_few_row_groups(tmp_path: Path) -> None:
    rows = _rows(5, 300)
    path = tmp_path / "delta.parquet"
    with path.open("wb") as out:
        sink = tables.ParquetSink(out, SPEC.schema(), group_rows=50)
        for batch in _batches(rows, 3):
            sink.write(batch)
        sink.close()
    with pq.ParquetFile(path) as written:
        groups = [written.metadata.row_group(i).num_rows for i in range(written.num_row_groups)]
        assert all(50 <= rows_ < 53 for rows_ in groups[:-1]) and 0 < groups[-1] < 53  # batches of 3 held to 50
        assert written.read().to_pylist() == rows and sink.rows == len(rows)


def _position(lineage: str = "7/1/16384", xmin: int = 5_000, **files: tuple[int, int]) -> postgres_reads.Position:
    return postgres_reads.Position(lineage, xmin, files or {"users": (1, 10), "skus": (2, 20)})


@pytest.mark.parametrize(
    ("now", "since"),
    [
        (_position(xmin=9_000), postgres_reads.Since(5_000, frozenset({"users", "skus"}))),
        (_position(xmin=5_000 + 2**31 - 1), postgres_reads.Since(5_000, frozenset({"users", "skus"}))),
        (_position(xmin=5_000 + 2**31), None),  # 32-bit ids no longer order
        (_position(xmin=4_999), None),  # counted back: a recovery to an earlier point
        (_position("8/1/16384"), None),  # another cluster
        (_position("7/2/16384"), None),  # another timeline
        (_position("7/1/16385"), None),  # another database (a copy made from it)
        (_position(users=(1, 11), skus=(2, 20)), postgres_reads.Since(5_000, frozenset({"skus"}))),  # rewritten
        (_position(users=(3, 10), skus=(2, 20)), postgres_reads.Since(5_000, frozenset({"skus"}))),  # made again
    ],
)
def test_rows_are_found_by_xmin_only_in_the_same_database_lineage_and_table_files(
    now: postgres_reads.Position, since: postgres_reads.Since | None
) -> None:
    base = _position()
    assert postgres_reads.changed_since(base, now) == since
    assert postgres_reads.Position.from_dict(now.to_dict()) == now
    assert postgres_reads.changed_since(None, now) is None
