"""Loading legacy files into the warehouse (SQLite and PostgreSQL): typed values as a person reads them, the
ledger by content, quarantine, rows in = loaded + quarantined, and a failure mid-file leaves nothing."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from m365_pipeline.legacy.load import FileResult, LegacyLoadError, file_digest, legacy_csv_files, migrate_file
from m365_pipeline.legacy.values import DateRange, Status, Yen
from m365_pipeline.warehouse.schema import LEGACY_PROVENANCE_COLUMNS, LEGACY_TABLES, legacy_files, legacy_quarantine
from m365_pipeline_tests.legacy.test_samples import EXPECTED

TENANT = "11111111-2222-3333-4444-555555555555"
CLOCK = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
USER_LIST_HEADER = (
    '"DisplayName","UserPrincipalName","Email","Department","JobTitle","AccountStatus","LicenseStatus",'
    '"CreationDate","LastSignIn","UsageLocation","Id"'
)


def _migrate(engine: sa.Engine, path: Path, tenant: str = TENANT) -> FileResult:
    return migrate_file(engine, path, tenant, clock=lambda: CLOCK)


def _stored(column: str, value: Any) -> dict[str, Any]:
    """The warehouse columns a typed value lands in, with what they hold."""
    if column in LEGACY_PROVENANCE_COLUMNS:
        column = f"report_{column}"
    if isinstance(value, Status):
        return {column: value.text, f"{column}_symbol": value.symbol, f"{column}_level": value.level}
    if isinstance(value, Yen):
        return {column: value.amount, f"{column}_label": value.label, f"{column}_per": value.per}
    if isinstance(value, DateRange):
        return {f"{column}_start": value.start, f"{column}_end": value.end}
    if isinstance(value, timedelta):
        return {column: Decimal(str(value.total_seconds()))}
    if isinstance(value, tuple):
        return {column: json.dumps(list(value), ensure_ascii=False)}
    return {column: value}


def _table_rows(engine: sa.Engine, table: sa.Table, tenant: str = TENANT) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table).where(table.c.tenant_id == tenant).order_by(table.c.source_sha256, table.c.source_row)
        )
        return [dict(row._mapping) for row in rows]


def _ledger(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(sa.select(legacy_files).order_by(legacy_files.c.path))]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\r\n" for line in lines), encoding="utf-8-sig")
    return path


def test_every_sample_lands_typed_with_nothing_quarantined(warehouse: sa.Engine, samples: Path) -> None:
    paths = list(legacy_csv_files([samples]))
    assert {path.name for path in paths} == set(EXPECTED)
    results = [_migrate(warehouse, path) for path in paths]
    for result in results:
        report_type, generation, timestamp, count, values = EXPECTED[result.path.name]
        assert (result.status, result.report_type, result.rows_in, result.rows_loaded, result.rows_quarantined) == (
            "loaded",
            report_type,
            count,
            count,
            0,
        )
        rows = {row["source_row"]: row for row in _table_rows(warehouse, LEGACY_TABLES[report_type])}
        assert sorted(rows) == list(range(1, count + 1))
        for (row_number, column), value in values.items():
            for name, expected in _stored(column, value).items():
                assert rows[row_number][name] == expected, (result.path.name, row_number, name)
        assert {row["layout_generation"] for row in rows.values()} == {generation}
        assert {row["report_timestamp"] for row in rows.values()} == {timestamp}
        assert {row["source_sha256"] for row in rows.values()} == {file_digest(result.path)[0]}
    ledger = _ledger(warehouse)
    assert len(ledger) == len(paths)
    assert all(entry["rows_in"] == entry["rows_loaded"] and entry["rows_quarantined"] == 0 for entry in ledger)
    assert _table_rows(warehouse, legacy_quarantine) == []


def test_directory_history_reports_land_in_history_tables_dated_by_the_report(
    warehouse: sa.Engine, samples: Path
) -> None:
    result = _migrate(warehouse, samples / "AllUsers_20250716_210654.csv")
    assert result.table_name == "legacy_history_users_user_list"
    (row,) = _table_rows(warehouse, LEGACY_TABLES["user_list"])
    assert row["report_timestamp"] == datetime(2025, 7, 16, 12, 6, 54, tzinfo=UTC)  # 21:06:54 in Tokyo
    assert row["user_principal_name"] == "user1@miraiconst.onmicrosoft.com"
    assert row["last_sign_in"] is None
    assert json.loads(row["placeholders"]) == {"last_sign_in": "E3ライセンス制限"}


def test_the_same_content_migrates_once_and_a_changed_file_is_a_new_version(
    warehouse: sa.Engine, samples: Path, tmp_path: Path
) -> None:
    path = shutil.copy(samples / "AllUsers_20250716_210654.csv", tmp_path / "AllUsers_20250716_210654.csv")
    first = _migrate(warehouse, Path(path))
    again = _migrate(warehouse, Path(path))
    assert (first.already_migrated, again.already_migrated) == (False, True)
    assert again.rows_loaded == first.rows_loaded == 1
    assert len(_table_rows(warehouse, LEGACY_TABLES["user_list"])) == 1

    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write('"二人目","user2@example.com","","","","True","","2025/01/02","","JP","u2"\r\n')
    changed = _migrate(warehouse, Path(path))
    assert (changed.already_migrated, changed.version, changed.rows_loaded) == (False, 2, 2)
    assert [entry["version"] for entry in _ledger(warehouse)] in ([1, 2], [2, 1])
    assert len(_table_rows(warehouse, LEGACY_TABLES["user_list"])) == 3  # each version keeps its rows
    assert _migrate(warehouse, Path(path)).already_migrated


def test_the_same_file_for_two_tenants_is_two_histories(warehouse: sa.Engine, samples: Path) -> None:
    path = samples / "AllUsers_20250716_210654.csv"
    assert not _migrate(warehouse, path, "tenant-a").already_migrated
    assert not _migrate(warehouse, path, "tenant-b").already_migrated
    assert len(_table_rows(warehouse, LEGACY_TABLES["user_list"], "tenant-b")) == 1


def test_bad_rows_are_quarantined_with_file_row_column_reason_and_original(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    path = _write(
        tmp_path / "AllUsers_20250801_090000.csv",
        [
            USER_LIST_HEADER,
            '"A","a@example.com","","営業","","True","E3","2025/01/01","","JP","id-a"',
            '"B","b@example.com","","営業","","たぶん","E3","2025/01/01","","JP","id-b"',
            '"C","c@example.com","","営業","","True","E3","2025/01/01","","JP"',
            '"D","d@example.com","","営業","","False","E3","2025/13/45","N/A","JP","id-d"',
        ],
    )
    result = _migrate(warehouse, path)
    assert (result.status, result.rows_in, result.rows_loaded, result.rows_quarantined) == ("quarantined", 4, 1, 3)
    quarantined = _table_rows(warehouse, legacy_quarantine)
    assert [(row["source_row"], row["column_name"]) for row in quarantined] == [
        (2, "account_status"),
        (3, None),
        (4, "creation_date"),
    ]
    assert "たぶん" in quarantined[0]["reason"]
    assert "10 fields where the header has 11" in quarantined[1]["reason"]
    assert json.loads(quarantined[2]["original"])[7] == "2025/13/45"
    assert all(row["source_sha256"] == result.sha256 for row in quarantined)
    (loaded,) = _table_rows(warehouse, LEGACY_TABLES["user_list"])
    assert (loaded["source_row"], loaded["display_name"], loaded["account_status"]) == (1, "A", True)
    (entry,) = _ledger(warehouse)
    assert entry["reason"].startswith("3 of 4 rows quarantined; first: row 2: account_status")


def test_unknown_layout_empty_and_unreadable_files_are_recorded(warehouse: sa.Engine, tmp_path: Path) -> None:
    unknown = _write(tmp_path / "Mystery_20250801_090000.csv", ['"Foo","Bar"', '"1","2"', '"3","4"'])
    empty = _write(tmp_path / "Empty_20250801_090000.csv", [])
    header_only = _write(tmp_path / "AllUsers_20250801_090000.csv", [USER_LIST_HEADER])
    unreadable = tmp_path / "Utf16_20250801_090000.csv"
    unreadable.write_bytes("A,B\r\n1,2\r\n".encode("utf-16"))
    results = {path.name: _migrate(warehouse, path) for path in (unknown, empty, header_only, unreadable)}
    summary = {name: (r.status, r.rows_in, r.rows_loaded, r.rows_quarantined) for name, r in results.items()}
    assert summary == {
        unknown.name: ("unknown_layout", 2, 0, 2),
        empty.name: ("empty", 0, 0, 0),
        header_only.name: ("loaded", 0, 0, 0),
        unreadable.name: ("unreadable", 0, 0, 0),
    }
    assert "unknown layout" in (results[unknown.name].reason or "")
    assert "UTF-16" in (results[unreadable.name].reason or "")
    assert all(_migrate(warehouse, path).already_migrated for path in (unknown, empty, header_only, unreadable))
    assert len(_table_rows(warehouse, legacy_quarantine)) == 2


def test_a_failure_mid_file_leaves_nothing_and_the_next_run_loads_it_whole(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    lines = [USER_LIST_HEADER] + [
        f'"U{n}","u{n}@example.com","","","","True","E3","2025/01/01","","JP","id-{n}"' for n in range(1, 2001)
    ]
    path = _write(tmp_path / "AllUsers_20250801_090000.csv", lines)
    sha256 = file_digest(path)[0]
    table = LEGACY_TABLES["user_list"]
    # a row already holding the key of record 1500: the database refuses the file's own row 1500 mid-file
    squatter = {"tenant_id": TENANT, "source_sha256": sha256, "source_row": 1500, "source_line": 0}
    with warehouse.begin() as connection:
        connection.execute(sa.insert(table), squatter | {"layout_generation": 3})
    with pytest.raises(sa.exc.IntegrityError):
        _migrate(warehouse, path)
    assert [row["source_line"] for row in _table_rows(warehouse, table)] == [0]  # only the squatter
    assert _ledger(warehouse) == []
    with warehouse.begin() as connection:
        connection.execute(sa.delete(table))
    result = _migrate(warehouse, path)
    assert (result.status, result.rows_loaded) == ("loaded", 2000)
    assert [row["source_row"] for row in _table_rows(warehouse, table)] == list(range(1, 2001))


def test_a_file_changed_during_its_migration_is_rolled_back(
    warehouse: sa.Engine, samples: Path, tmp_path: Path
) -> None:
    path = Path(shutil.copy(samples / "AllUsers_20250716_210654.csv", tmp_path / "AllUsers_20250716_210654.csv"))
    calls = 0

    def clock_that_edits_the_file() -> datetime:
        nonlocal calls
        calls += 1
        if calls == 1:  # the start: the file is hashed, then changed before its rows are read
            with path.open("a", encoding="utf-8") as handle:
                handle.write('"X","x@example.com","","","","True","","2025/01/02","","JP","x"\r\n')
        return CLOCK

    with pytest.raises(LegacyLoadError, match="changed while it was being migrated"):
        migrate_file(warehouse, path, TENANT, clock=clock_that_edits_the_file)
    assert _ledger(warehouse) == []
    assert _table_rows(warehouse, LEGACY_TABLES["user_list"]) == []


def test_concurrent_migrations_of_one_file_load_it_once(warehouse: sa.Engine, samples: Path) -> None:
    from m365_pipeline.warehouse.engine import create_warehouse_engine

    url = warehouse.url.render_as_string(hide_password=False)
    engines = [create_warehouse_engine(url) for _ in range(4)]
    path = samples / "ライセンス分析_20250624_114541.csv"
    results: list[FileResult] = []
    barrier = threading.Barrier(len(engines))

    def run(engine: sa.Engine) -> None:
        barrier.wait()
        results.append(_migrate(engine, path))

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(result.already_migrated for result in results) == [False, True, True, True]
        report_type = EXPECTED[path.name][0]
        assert len(_table_rows(engines[0], LEGACY_TABLES[report_type])) == 8
        assert len(_ledger(engines[0])) == 1
    finally:
        for engine in engines:
            engine.dispose()


KILL_APP = "m365-legacy-kill-test"
CHILD = """
import sys
from pathlib import Path
from m365_pipeline.legacy.load import migrate_file
from m365_pipeline.warehouse.engine import create_warehouse_engine
migrate_file(create_warehouse_engine(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
"""


def _copying(admin: sa.Engine) -> int:
    with admin.connect() as connection:
        return connection.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app AND query LIKE 'COPY%'"),
            {"app": KILL_APP},
        ).scalar_one()


def _connected(admin: sa.Engine) -> int:
    with admin.connect() as connection:
        return connection.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app"), {"app": KILL_APP}
        ).scalar_one()


def test_a_migration_killed_during_its_copy_leaves_nothing_and_the_next_run_loads_the_file(
    postgres_engine: sa.Engine, tmp_path: Path
) -> None:
    rows = 100_000
    path = tmp_path / "AllUsers_20250801_090000.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        handle.write(USER_LIST_HEADER + "\r\n")
        for n in range(1, rows + 1):
            handle.write(
                f'"U{n}","u{n}@example.com","","営業","","True","E3","2025/01/01 9:{n % 60:02d}:00","","JP","{n}"\r\n'
            )
    url = postgres_engine.url.set(query={"application_name": KILL_APP}).render_as_string(hide_password=False)
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, str(path), TENANT])
    try:
        while _copying(postgres_engine) == 0:  # wait until the child streams its rows into the table
            assert child.poll() is None, "the child finished before its COPY was seen"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
        while _connected(postgres_engine):  # the server ends the dead client's session and rolls it back
            time.sleep(0.01)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert _ledger(postgres_engine) == []
    with postgres_engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(LEGACY_TABLES["user_list"])).scalar_one() == 0
    result = _migrate(postgres_engine, path)
    assert (result.status, result.rows_in, result.rows_loaded) == ("loaded", rows, rows)


def test_a_count_beyond_64_bits_quarantines_its_row_not_the_file(warehouse: sa.Engine, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "Daily_Threat_Stats_20250612_203206.csv",
        [
            '"Date","SpamCount","PhishingCount","MalwareCount","TotalThreats"',
            '"2025/06/11","12","3","0","15"',
            '"2025/06/12","99999999999999999999","3","0","15"',
        ],
    )
    result = _migrate(warehouse, path)
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("quarantined", 1, 1)
    (quarantined,) = _table_rows(warehouse, legacy_quarantine)
    assert quarantined["column_name"] == "spam_count"
    assert "64-bit" in quarantined["reason"]


def test_powershell_min_value_dates_are_never_flagged(warehouse: sa.Engine, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "AllUsers_20250801_090000.csv",
        [USER_LIST_HEADER, '"A","a@example.com","","","","True","E3","2025/01/01","0001/01/01 0:00:00","JP","id-a"'],
    )
    assert _migrate(warehouse, path).status == "loaded"
    (row,) = _table_rows(warehouse, LEGACY_TABLES["user_list"])
    assert row["last_sign_in"] is None
    assert json.loads(row["placeholders"]) == {"last_sign_in": "0001/01/01 0:00:00"}
