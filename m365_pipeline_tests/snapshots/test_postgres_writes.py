"""A delta copied into a PostgreSQL table (the real server): every value arrives exact, NULLs and empty strings
apart, text with quotes, commas, newlines, backslashes and other scripts, timestamps with and without a zone at
the ends of their range, booleans, dates and large integers; the keys it deletes are gone, the rows it upserts
replace theirs, and rows it does not name are left as they were, whatever batches it comes in. Deltas applied one
after another in one transaction each clean up after themselves. Rows that do not read back as the delta's (a
trigger changed them) are reported."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from m365_pipeline.snapshots import postgres_writes, tables

UTC = dt.UTC
COLUMNS = ("tenant", "n", "note", "flag", "at", "local", "day")
TYPES = ("string", "int64", "string", "bool", "timestamp[us, tz=UTC]", "timestamp[us]", "date32[day]")
SPEC = tables.TableSpec("things", ("tenant", "n"), COLUMNS, TYPES)
DDL = """
CREATE TABLE things (
    tenant text NOT NULL, n bigint NOT NULL, note text, flag boolean, at timestamptz, local timestamp, day date,
    PRIMARY KEY (tenant, n)
)
"""
AWKWARD_NOTES = ["", None, 'say "hi", then', "two\nlines", "back\\slash \\N", "日本語 ümlaut", " padded ", ","]


def _row(tenant: str, n: int, note: str | None, seed: int) -> tuple[Any, ...]:
    return (
        tenant,
        n,
        note,
        None if seed % 5 == 0 else seed % 2 == 0,
        None if seed % 7 == 0 else dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=seed * 987_654_321),
        None if seed % 6 == 0 else dt.datetime(2020, 2, 29, 23, 59, 59, seed % 1_000_000),
        None if seed % 4 == 0 else dt.date(2000, 1, 1) + dt.timedelta(days=seed),
    )


def _delta(upserts: list[tuple[Any, ...]], deleted: list[tuple[str, int]]) -> pa.RecordBatch:
    rows = [(*row, tables.UPSERT) for row in upserts] + [(*key, *[None] * 5, tables.DELETE) for key in deleted]
    rows.sort(key=lambda row: (row[0], row[1]))
    columns = list(zip(*rows, strict=True))
    schema = SPEC.delta_schema()
    return pa.RecordBatch.from_arrays(
        [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


def test_a_copied_delta_leaves_the_table_as_the_rows_it_describes(postgres_url: str) -> None:
    engine = sa.create_engine(sa.make_url(postgres_url).set(drivername="postgresql+psycopg"))
    base = {(t, n): _row(t, n, f"base {t} {n}", n) for t in ("a", "b", "c") for n in range(40)}
    first_upserts = [_row("a", n, AWKWARD_NOTES[n % len(AWKWARD_NOTES)], n + 100) for n in range(0, 40, 3)]
    first_upserts += [_row("a", 1000 + n, AWKWARD_NOTES[n % len(AWKWARD_NOTES)], n) for n in range(8)]  # new keys
    first_upserts += [_row("b", 2**62, "largest", 3), _row("b", -(2**62), None, 12)]
    first_upserts += [
        ("c", 5, "ends", True, dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(9999, 12, 31, 23, 59, 59, 999_999), None)
    ]
    first_deleted = [("b", n) for n in range(0, 40, 4)] + [("z", 1)]  # the last names no row
    second_upserts = [_row("c", n, f"second {n}", n + 7) for n in range(10, 20)]
    second_deleted = [("a", 1003), ("c", 39)]
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(DDL)
        table = sa.Table("things", sa.MetaData(), autoload_with=engine)
        with engine.begin() as connection:
            connection.execute(table.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in base.values()])
        with engine.begin() as connection:
            first = _delta(first_upserts, first_deleted)
            assert postgres_writes.apply_delta(connection, table, SPEC, [first.slice(0, 15), first.slice(15)])
            nothing = pa.RecordBatch.from_pylist([], SPEC.delta_schema())
            assert postgres_writes.apply_delta(connection, table, SPEC, [nothing])
            assert postgres_writes.apply_delta(connection, table, SPEC, [_delta(second_upserts, second_deleted)])
        with engine.connect() as connection:
            found = {(row[0], row[1]): tuple(row) for row in connection.execute(sa.text("SELECT * FROM things"))}
            temporary = connection.execute(sa.text("SELECT count(*) FROM pg_tables WHERE tablename LIKE '_m365%'"))
            assert temporary.scalar_one() == 0
    finally:
        engine.dispose()

    expected = dict(base)
    for upserts, deleted in ((first_upserts, first_deleted), (second_upserts, second_deleted)):
        for key in deleted:
            expected.pop(key, None)
        expected.update({(row[0], row[1]): row for row in upserts})
    assert found == expected
    assert found[("a", 1001)][2] is None and found[("a", 1000)][2] == ""  # NULL and the empty string kept apart


def test_rows_that_do_not_read_back_as_the_delta_s_are_reported(postgres_url: str) -> None:
    engine = sa.create_engine(sa.make_url(postgres_url).set(drivername="postgresql+psycopg"))
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(DDL)
            connection.exec_driver_sql(
                "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN NEW.note := upper(NEW.note); RETURN NEW; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER shouting BEFORE INSERT ON things FOR EACH ROW EXECUTE FUNCTION shout()"
            )
        table = sa.Table("things", sa.MetaData(), autoload_with=engine)
        with engine.begin() as connection:
            quiet = _delta([_row("a", 1, "QUIET", 1), _row("a", 2, None, 2)], [])
            assert postgres_writes.apply_delta(connection, table, SPEC, [quiet])
            loud = _delta([_row("a", 3, "QUIET", 3), _row("a", 4, "whisper", 4)], [])
            assert not postgres_writes.apply_delta(connection, table, SPEC, [loud])
    finally:
        engine.dispose()
