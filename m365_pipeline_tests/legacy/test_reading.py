"""Reading: encodings, line ends, quoting, embedded newlines and quotes, repeated headers, empty files."""

from __future__ import annotations

import codecs
import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m365_pipeline.legacy import LegacyEncodingError, QuarantinedRow, TypedRow, read_legacy_file
from m365_pipeline.legacy.reading import CsvStream, detect_dialect, disambiguate

TOKYO = ZoneInfo("Asia/Tokyo")
HEADER = '"ライセンス種類","購入数","使用数","利用率","残り","状態"'
ROWS = ['"Microsoft 365 E3","1,000","847","84.7%","153","注意"', '"Teams Phone","100","67","67%","33","正常"']


def _write(tmp_path: Path, text: str, encoding: str = "utf-8", bom: bool = False, name: str | None = None) -> Path:
    path = tmp_path / (name or "ライセンス分析_20250624_114541.csv")
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode(encoding))
    return path


def _typed(path: Path) -> list[TypedRow]:
    rows = list(read_legacy_file(path).rows())
    assert all(isinstance(row, TypedRow) for row in rows), rows
    return [row for row in rows if isinstance(row, TypedRow)]


@pytest.mark.parametrize(
    ("encoding", "bom", "newline", "expected_encoding", "expected_newline"),
    [
        ("utf-8", True, "\r\n", "utf-8-sig", "CRLF"),
        ("utf-8", False, "\r\n", "utf-8", "CRLF"),
        ("utf-8", True, "\n", "utf-8-sig", "LF"),
        ("utf-8", False, "\n", "utf-8", "LF"),
        ("cp932", False, "\r\n", "cp932", "CRLF"),
        ("cp932", False, "\n", "cp932", "LF"),
    ],
)
def test_encodings_and_line_ends(
    tmp_path: Path, encoding: str, bom: bool, newline: str, expected_encoding: str, expected_newline: str
) -> None:
    path = _write(tmp_path, newline.join([HEADER, *ROWS]) + newline, encoding, bom)
    legacy = read_legacy_file(path)
    assert (legacy.dialect.encoding, legacy.dialect.has_bom, legacy.dialect.newline) == (
        expected_encoding,
        bom,
        expected_newline,
    )
    assert legacy.layout is not None and legacy.layout.report_type.name == "license_analysis"
    first, second = _typed(path)
    assert first.values["ライセンス種類"] == "Microsoft 365 E3"
    assert first.values["購入数"] == 1000
    assert second.values["状態"].text == "正常"


def test_cp932_with_characters_outside_shift_jis_proper(tmp_path: Path) -> None:
    # cp932 (Windows' Shift_JIS) has NEC and IBM extensions: ① and ㈱ are not in plain Shift_JIS
    path = _write(tmp_path, HEADER + "\r\n" + '"①㈱ライセンス","1","1","100%","0","正常"\r\n', "cp932")
    (row,) = _typed(path)
    assert row.values["ライセンス種類"] == "①㈱ライセンス"


def test_a_file_that_is_neither_utf8_nor_cp932_is_an_error_naming_it(tmp_path: Path) -> None:
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(codecs.BOM_UTF16_LE + HEADER.encode("utf-16-le"))
    with pytest.raises(LegacyEncodingError, match=r"utf16\.csv"):
        read_legacy_file(utf16)
    invalid = tmp_path / "invalid.csv"
    invalid.write_bytes(HEADER.encode() + b"\r\n\x81\x20\xff\xfe\r\n")
    with pytest.raises(LegacyEncodingError, match=r"invalid\.csv.*neither UTF-8"):
        read_legacy_file(invalid)
    bom_but_not_utf8 = tmp_path / "bom.csv"
    bom_but_not_utf8.write_bytes(codecs.BOM_UTF8 + HEADER.encode("cp932"))
    with pytest.raises(LegacyEncodingError, match=r"bom\.csv"):
        read_legacy_file(bom_but_not_utf8)


def test_unquoted_fields_and_nulls(tmp_path: Path) -> None:
    path = _write(tmp_path, "ライセンス種類,購入数,使用数,利用率,残り,状態\nE5,200,,97.5%,,緊急\n")
    (row,) = _typed(path)
    assert row.values == {
        "ライセンス種類": "E5",
        "購入数": 200,
        "使用数": None,  # $null: an empty unquoted field
        "利用率": row.values["利用率"],
        "残り": None,
        "状態": row.values["状態"],
    }
    assert str(row.values["利用率"]) == "97.5"
    assert row.placeholders == ()


def test_embedded_newlines_and_quotes_with_row_numbers_and_lines(tmp_path: Path) -> None:
    text = (
        '"項目","状態","詳細"\r\n'
        '"接続","正常","一行目\r\n二行目\r\n三行目"\r\n'
        '"認証","警告","彼は""OK""と言った"\r\n'
        "\r\n"
        '"最後","正常","x"\r\n'
    )
    path = _write(tmp_path, text, name="認証接続状況_20250624_140349.csv")
    rows = _typed(path)
    assert [(row.row_number, row.line) for row in rows] == [(1, 2), (2, 5), (3, 7)]
    assert rows[0].values["詳細"] == "一行目\r\n二行目\r\n三行目"
    assert rows[1].values["詳細"] == '彼は"OK"と言った'


def test_repeated_header_names_keep_every_column(tmp_path: Path) -> None:
    text = '"項目","状態","詳細","詳細"\n"a","正常","first","second"\n'
    path = _write(tmp_path, text, name="x_20250624_140349.csv")
    legacy = read_legacy_file(path)
    assert legacy.layout is not None and legacy.layout.report_type.name == "authentication_connection_status"
    assert legacy.headers == ("項目", "状態", "詳細", "詳細")
    assert legacy.columns == ("項目", "状態", "詳細", "詳細__2")
    (row,) = _typed(path)
    assert (row.values["詳細"], row.values["詳細__2"]) == ("first", "second")


def test_disambiguation_is_deterministic_and_never_collides() -> None:
    assert disambiguate(["a", "a", "a__2", "a"]) == ("a", "a__3", "a__2", "a__4")
    assert disambiguate(["b", "c"]) == ("b", "c")


@pytest.mark.parametrize("content", [b"", codecs.BOM_UTF8, b"\r\n\r\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty_20250101_000000.csv"
    path.write_bytes(content)
    legacy = read_legacy_file(path)
    assert legacy.status == "empty"
    assert legacy.layout is None and legacy.unknown is None
    assert list(legacy.rows()) == []


def test_header_only_file_is_recognized_with_no_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + "\r\n", bom=True)
    legacy = read_legacy_file(path)
    assert legacy.status == "recognized"
    assert legacy.layout is not None and legacy.layout.report_type.name == "license_analysis"
    assert list(legacy.rows()) == []


def test_a_record_with_the_wrong_number_of_fields_is_quarantined(tmp_path: Path) -> None:
    path = _write(tmp_path, "\n".join([HEADER, '"E3","1","1","1%","0"', *ROWS]) + "\n")
    rows = list(read_legacy_file(path).rows())
    assert [type(row).__name__ for row in rows] == ["QuarantinedRow", "TypedRow", "TypedRow"]
    bad = rows[0]
    assert isinstance(bad, QuarantinedRow)
    assert (bad.row_number, bad.line, bad.column) == (1, 2, None)
    assert bad.reason == "5 fields where the header has 6"
    assert bad.fields == ("E3", "1", "1", "1%", "0")


def test_report_timestamp_from_the_file_name_or_the_content(tmp_path: Path) -> None:
    twelve = _write(tmp_path, HEADER + "\n", name="拡張_202507162125.csv")
    assert read_legacy_file(twelve).report_timestamp == datetime(2025, 7, 16, 21, 25, tzinfo=TOKYO)
    second = _write(tmp_path, HEADER + "\n", name="AllUsers_20250716_210654_2.csv")
    assert read_legacy_file(second).report_timestamp == datetime(2025, 7, 16, 21, 6, 54, tzinfo=TOKYO)
    assert read_legacy_file(second).report_name == "AllUsers"
    unstamped = _write(
        tmp_path,
        "No,ユーザー名,部署コード,ライセンス種別,月額コスト（円）,利用状況,最適化状況,メールアドレス,作成日時,分析日時\r\n"
        "1,山田,D01,E3,2180,利用中,最適,a@example.com,2025/06/01 9:05:00,2025/06/13 16:22:17\r\n",
        name="Clean_User_License_Details.csv",
        bom=True,
    )
    legacy = read_legacy_file(unstamped)
    assert legacy.report_timestamp == datetime(2025, 6, 13, 16, 22, 17, tzinfo=TOKYO)
    assert legacy.report_timestamp_source == "content: 分析日時"
    (row,) = _typed(unstamped)
    assert row.values["no"] == 1
    assert row.values["月額コスト"].amount == 2180
    assert row.values["作成日時"] == datetime(2025, 6, 1, 9, 5, tzinfo=TOKYO)


def test_an_unclosed_quote_quarantines_the_rest_of_the_file_as_one_record_without_crashing(tmp_path: Path) -> None:
    text = HEADER + "\r\n" + ROWS[0] + "\r\n" + '"broken,1,1,1%,0,正常\r\nTeams Phone,100,67,67%,33,正常\r\n'
    path = _write(tmp_path, text)
    rows = list(read_legacy_file(path).rows())
    assert [type(row).__name__ for row in rows] == ["TypedRow", "QuarantinedRow"]
    broken = rows[1]
    assert isinstance(broken, QuarantinedRow)
    assert (broken.row_number, broken.line, broken.reason) == (2, 3, "1 fields where the header has 6")
    assert "Teams Phone" in broken.fields[0]  # the swallowed line is kept in the quarantined record


def test_mixed_line_ends(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + "\r\n" + ROWS[0] + "\n" + ROWS[1] + "\r\n")
    legacy = read_legacy_file(path)
    assert legacy.dialect.newline == "mixed"
    assert [row.values["残り"] for row in _typed(path)] == [153, 33]


def test_a_doubled_byte_order_mark_does_not_hide_the_first_header(tmp_path: Path) -> None:
    path = tmp_path / "x_20250624_114541.csv"
    path.write_bytes(codecs.BOM_UTF8 * 2 + (HEADER + "\r\n" + ROWS[0] + "\r\n").encode())
    legacy = read_legacy_file(path)
    assert legacy.headers[0] == "ライセンス種類"
    assert legacy.status == "recognized"


def _records_by_csv_reader_alone(path: Path) -> list[tuple[int, int, tuple[str, ...]]]:
    """(row number, line, fields) of every data record as csv.reader reads the file, line by line."""
    with path.open("r", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, strict=False)
        found, last_line = [], 0
        for fields in reader:
            start, last_line = last_line + 1, reader.line_num
            if fields and not (len(fields) == 1 and not fields[0].strip()):
                found.append((start, tuple(fields)))
    return [(number, line, fields) for number, (line, fields) in enumerate(found[1:], start=1)]


_FIELD = st.text(alphabet='ab あ,"\r\n', max_size=6)


def _with_one_more(line_position_character: tuple[str, int, str]) -> str:
    """A line of quoted fields with one character more somewhere: a near miss of Export-Csv's form."""
    line, position, character = line_position_character
    position %= len(line) + 1
    return line[:position] + character + line[position:]


def _line_of(fields: list[str], quote_all: bool) -> str:
    return ",".join(
        '"' + field.replace('"', '""') + '"' if quote_all or set(field) & set(',"\r\n') else field for field in fields
    )


_QUOTED_LINE = st.lists(_FIELD, min_size=1, max_size=4).map(lambda fields: _line_of(fields, quote_all=True))


@given(
    lines=st.lists(
        st.one_of(
            st.tuples(st.lists(_FIELD, min_size=1, max_size=4), st.booleans()).map(lambda pair: _line_of(*pair)),
            st.text(alphabet='ab ,"\r\n', max_size=12),  # anything: broken quotes, stray quotes, blank lines
            st.tuples(_QUOTED_LINE, st.integers(min_value=0), st.sampled_from('a,"')).map(_with_one_more),
        ),
        max_size=8,
    ),
    ends=st.lists(st.sampled_from(["\r\n", "\n", "\r", ""]), min_size=8, max_size=8),
)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_records_and_their_lines_are_what_csv_reader_reads(tmp_path: Path, lines: list[str], ends: list[str]) -> None:
    path = tmp_path / "any.csv"
    path.write_text(
        "".join(["h1,h2", "\r\n", *(line + end for line, end in zip(lines, ends, strict=False))]),
        encoding="utf-8",
        newline="",
    )
    with CsvStream(path, detect_dialect(path)) as stream:
        records = [(record.row_number, record.line, record.fields) for record in stream.records()]
    assert records == _records_by_csv_reader_alone(path)
