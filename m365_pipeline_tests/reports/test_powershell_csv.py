from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from m365_pipeline.reports.powershell_csv import report_file_name, write_new_powershell_csv, write_powershell_csv


def test_writes_what_export_csv_writes_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    count = write_powershell_csv(
        path,
        ("表示名", "Note", "Mail"),
        [("山田", 'say "hi"', None), ("", "a,b", "x@contoso.com")],
    )

    assert count == 2
    assert path.read_bytes() == (
        b"\xef\xbb\xbf"  # BOM
        b'"\xe8\xa1\xa8\xe7\xa4\xba\xe5\x90\x8d","Note","Mail"\r\n'  # "表示名"
        # "山田", doubled quotes, None as an unquoted empty field
        b'"\xe5\xb1\xb1\xe7\x94\xb0","say ""hi""",\r\n'
        b'"","a,b","x@contoso.com"\r\n'
    )


def test_none_between_values_is_two_adjacent_commas(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    write_powershell_csv(path, ("A", "B", "C"), [("1", None, "3")])

    assert path.read_bytes().split(b"\r\n")[1] == b'"1",,"3"'


def test_csv_reader_reads_back_the_values_written(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    rows = [
        ("鈴木 花子", 'quote " inside', "line\r\nbreak", "✓ アクティブ（推定）"),
        ("", None, "comma, separated", "¥2,840/月"),
    ]

    write_powershell_csv(path, ("a", "b", "c", "d"), rows)

    with path.open(encoding="utf-8-sig", newline="") as file:
        read_back = list(csv.reader(file))
    assert read_back == [
        ["a", "b", "c", "d"],
        ["鈴木 花子", 'quote " inside', "line\r\nbreak", "✓ アクティブ（推定）"],
        ["", "", "comma, separated", "¥2,840/月"],
    ]


def test_no_rows_gives_a_header_only_file(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    assert write_powershell_csv(path, ("A", "B"), []) == 0

    assert path.read_bytes() == b'\xef\xbb\xbf"A","B"\r\n'


def test_creates_parent_folders_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "Reports" / "EntraIDManagement" / "report.csv"

    write_powershell_csv(path, ("A",), [("1",)])

    assert [p.name for p in path.parent.iterdir()] == ["report.csv"]


def test_failure_while_reading_rows_leaves_no_report_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.csv"

    def rows() -> Iterator[tuple[str]]:
        yield ("1",)
        raise RuntimeError("warehouse connection lost")

    with pytest.raises(RuntimeError, match="warehouse connection lost"):
        write_powershell_csv(path, ("A",), rows())

    assert list(path.parent.iterdir()) == []


def test_failure_keeps_the_previous_report_intact(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    write_powershell_csv(path, ("A",), [("old",)])
    before = path.read_bytes()

    with pytest.raises(ValueError):
        write_powershell_csv(path, ("A",), [("new",), ("too", "many")])

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_row_with_the_wrong_number_of_fields_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    with pytest.raises(ValueError, match=r"report\.csv: row 2 has 1 fields, the header has 2"):
        write_powershell_csv(path, ("A", "B"), [("1", "2"), ("3",)])


def test_value_that_is_not_text_names_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    with pytest.raises(TypeError, match="row 1, field 2: expected text or None, got int"):
        write_powershell_csv(path, ("A", "B"), [("1", 2)])  # type: ignore[list-item]


def test_report_file_name_uses_the_time_zone_of_the_stamp() -> None:
    at = datetime(2025, 6, 24, 15, 30, 5, tzinfo=UTC)

    assert report_file_name("AllUsers", at) == "AllUsers_20250624_153005.csv"
    assert report_file_name("AllUsers", at.astimezone(ZoneInfo("Asia/Tokyo"))) == "AllUsers_20250625_003005.csv"


def test_report_file_name_with_an_empty_name_is_what_the_old_tool_wrote() -> None:
    assert report_file_name("", datetime(2025, 7, 19, 11, 30, 30, tzinfo=UTC)) == "_20250719_113030.csv"


def test_report_file_name_rejects_a_naive_time() -> None:
    with pytest.raises(ValueError, match=r"'AllUsers'.*timezone-aware"):
        report_file_name("AllUsers", datetime(2025, 6, 24, 15, 30))


def test_report_file_name_rejects_a_path_separator() -> None:
    with pytest.raises(ValueError, match="path separator"):
        report_file_name("../AllUsers", datetime(2025, 6, 24, tzinfo=UTC))


def test_two_reports_in_the_same_second_get_two_files(tmp_path: Path) -> None:
    at = datetime(2026, 12, 2, 9, 30, 15, tzinfo=ZoneInfo("Asia/Tokyo"))

    first, _ = write_new_powershell_csv(tmp_path, "AllUsers", at, ("A",), [("1",)])
    second, _ = write_new_powershell_csv(tmp_path, "AllUsers", at, ("A",), [("2",)])

    assert (first.name, second.name) == ("AllUsers_20261202_093015.csv", "AllUsers_20261202_093015_2.csv")
    assert first.read_bytes() == b'\xef\xbb\xbf"A"\r\n"1"\r\n'
    assert second.read_bytes() == b'\xef\xbb\xbf"A"\r\n"2"\r\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == [first.name, second.name]
