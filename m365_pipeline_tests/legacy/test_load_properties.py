"""Property-based: generated files of every catalogued layout with random damage (bad values, short and long records,
an unknown header) migrate with rows in = loaded + quarantined, counted in the database, and a second run changes
nothing. Against SQLite to stay fast; a few examples against PostgreSQL."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install hypothesis)")

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m365_pipeline.legacy.load import migrate_file
from m365_pipeline.warehouse.schema import LEGACY_TABLES, legacy_files, legacy_quarantine
from m365_pipeline_tests.legacy.test_properties import VARIANTS, write_generated_file

TENANT = "tenant-properties"

FILES = st.tuples(
    st.sampled_from(VARIANTS),
    st.sampled_from(["utf-8-sig", "utf-8", "cp932"]),
    st.sampled_from(["\r\n", "\n"]),
    st.booleans(),
    st.integers(0, 2**32 - 1),
    st.integers(0, 20),
    st.booleans(),  # an unknown header added: the whole file is quarantined
)


def _counts(engine: sa.Engine, table: sa.Table | None, sha256: str) -> tuple[int, int, int]:
    with engine.connect() as connection:

        def count(of: sa.Table) -> int:
            return connection.execute(
                sa.select(sa.func.count()).select_from(of).where(of.c.source_sha256 == sha256)
            ).scalar_one()

        ledger = connection.execute(sa.select(sa.func.count()).select_from(legacy_files)).scalar_one()
        return (count(table) if table is not None else 0), count(legacy_quarantine), ledger


def _check_file(engine: sa.Engine, folder: Path, spec: tuple[tuple[str, int], str, str, bool, int, int, bool]) -> None:
    variant, encoding, newline, quote_all, seed, rows, unknown_header = spec
    path, report_type, expected = write_generated_file(folder, variant, encoding, newline, quote_all, seed, rows)
    if unknown_header:
        content = path.read_bytes()
        end = content.index(b"\n")
        end = end - 1 if content[end - 1 : end] == b"\r" else end
        path.write_bytes(content[:end] + b',"NotACataloguedColumn"' + content[end:])
    result = migrate_file(engine, path, TENANT)
    assert result.rows_in == rows
    assert result.rows_in == result.rows_loaded + result.rows_quarantined
    expected_quarantined = rows if unknown_header else sum(outcome == "quarantined" for outcome, _ in expected)
    assert result.rows_quarantined == expected_quarantined
    assert result.status == (
        "unknown_layout" if unknown_header else "quarantined" if expected_quarantined else "loaded"
    )
    table = LEGACY_TABLES[report_type.name]
    loaded, quarantined, ledger = _counts(engine, table, result.sha256)
    assert (loaded, quarantined) == (result.rows_loaded, result.rows_quarantined)

    again = migrate_file(engine, path, TENANT)
    assert again.already_migrated
    assert (again.rows_in, again.rows_loaded, again.rows_quarantined) == (
        result.rows_in,
        result.rows_loaded,
        result.rows_quarantined,
    )
    assert _counts(engine, table, result.sha256) == (loaded, quarantined, ledger)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=FILES)
def test_generated_files_reconcile_and_migrate_once_sqlite(
    sqlite_warehouse: sa.Engine, tmp_path: Path, spec: tuple[tuple[str, int], str, str, bool, int, int, bool]
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    _check_file(sqlite_warehouse, folder, spec)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=FILES)
def test_generated_files_reconcile_and_migrate_once_postgresql(
    postgres_engine: sa.Engine, tmp_path: Path, spec: tuple[tuple[str, int], str, str, bool, int, int, bool]
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    _check_file(postgres_engine, folder, spec)
