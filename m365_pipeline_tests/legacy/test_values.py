"""Value parsers: every form of the catalogue, placeholders, and values that fit no form."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from m365_pipeline.legacy import QuarantinedRow, TypedRow, read_legacy_file
from m365_pipeline.legacy.rows import BATCH_RECORDS
from m365_pipeline.legacy.values import DateRange, Kind, Parsed, Status, UnparsableValue, Yen, parse_value

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        # dates and times, every listed form
        (Kind.DATETIME, "2025-06-24 10:51:08", datetime(2025, 6, 24, 10, 51, 8, tzinfo=TOKYO)),
        (Kind.DATETIME, "2025-07-16 21:25", datetime(2025, 7, 16, 21, 25, tzinfo=TOKYO)),
        (Kind.DATETIME, "2025-01-01", datetime(2025, 1, 1, tzinfo=TOKYO)),
        (Kind.DATETIME, "2025/07/19 11:30", datetime(2025, 7, 19, 11, 30, tzinfo=TOKYO)),
        (Kind.DATETIME, "2025/06/19", datetime(2025, 6, 19, tzinfo=TOKYO)),
        (Kind.DATETIME, "2025/06/12 4:41:37", datetime(2025, 6, 12, 4, 41, 37, tzinfo=TOKYO)),
        (Kind.DATETIME, "06/12/2025 14:41:37", datetime(2025, 6, 12, 14, 41, 37, tzinfo=TOKYO)),
        (Kind.DATETIME, "6/12/2025 2:41:37 PM", datetime(2025, 6, 12, 14, 41, 37, tzinfo=TOKYO)),
        (Kind.DATETIME, "6/12/2025 12:05:00 AM", datetime(2025, 6, 12, 0, 5, tzinfo=TOKYO)),
        (Kind.DATETIME, "2025年07月16日 21:25:30", datetime(2025, 7, 16, 21, 25, 30, tzinfo=TOKYO)),
        (Kind.DATETIME, "2025年7月6日", datetime(2025, 7, 6, tzinfo=TOKYO)),
        (Kind.DATETIME, "2025-06-11T10:00:00Z", datetime(2025, 6, 11, 10, tzinfo=UTC)),
        (Kind.DATETIME, "2025-06-11T10:00:00.1234567+09:00", datetime(2025, 6, 11, 10, 0, 0, 123456, tzinfo=TOKYO)),
        (Kind.DATE, "2025-06-23", date(2025, 6, 23)),
        (Kind.DATE, "2025/06/23 0:00:00", date(2025, 6, 23)),
        (Kind.YEAR_MONTH, "2024-07", date(2024, 7, 1)),
        (Kind.YEAR_MONTH, "2024年07月", date(2024, 7, 1)),
        (Kind.YEAR_MONTH, "2024/7", date(2024, 7, 1)),
        (
            Kind.DATE_RANGE,
            "2025/06/19 - 2025/07/19",
            DateRange(datetime(2025, 6, 19, tzinfo=TOKYO), datetime(2025, 7, 19, tzinfo=TOKYO)),
        ),
        (
            Kind.DATE_RANGE,
            "2025-06-01～2025-06-30",
            DateRange(datetime(2025, 6, 1, tzinfo=TOKYO), datetime(2025, 6, 30, tzinfo=TOKYO)),
        ),
        # numbers
        (Kind.INTEGER, "1,456", 1456),
        (Kind.INTEGER, "12件", 12),
        (Kind.INTEGER, "87名", 87),
        (Kind.INTEGER, "+45名", 45),
        (Kind.INTEGER, "-3", -3),
        (Kind.INTEGER, "1,234,567", 1234567),
        (Kind.DECIMAL, "85.6", Decimal("85.6")),
        (Kind.DECIMAL, "1.2k req/sec", Decimal("1200.0")),
        (Kind.DECIMAL, "0.5", Decimal("0.5")),
        (Kind.PERCENT, "95.7%", Decimal("95.7")),
        (Kind.PERCENT, "0.02%", Decimal("0.02")),
        (Kind.PERCENT, "100%", Decimal("100")),
        (Kind.PERCENT, "84.7", Decimal("84.7")),
        # booleans
        (Kind.BOOLEAN, "True", True),
        (Kind.BOOLEAN, "False", False),
        (Kind.BOOLEAN, "true", True),
        (Kind.BOOLEAN, "はい", True),
        (Kind.BOOLEAN, "いいえ", False),
        (Kind.BOOLEAN, "有効", True),
        (Kind.BOOLEAN, "無効", False),
        (Kind.BOOLEAN, "可能", True),
        (Kind.BOOLEAN, "不可", False),
        (Kind.BOOLEAN, "TRUE", True),
        # units
        (Kind.DURATION, "2.3秒", timedelta(seconds=2.3)),
        (Kind.DURATION, "125ms", timedelta(milliseconds=125)),
        (Kind.DURATION, "45分", timedelta(minutes=45)),
        (Kind.BYTES, "156.7 MB", round(Decimal("156.7") * 1024**2)),
        (Kind.BYTES, "4.2 GB", round(Decimal("4.2") * 1024**3)),
        (Kind.BYTES, "45.95 MB (48,184,949 bytes)", 48184949),
        (Kind.BYTES, "1024", 1024),
        # money
        (Kind.YEN, "¥2,840", Yen(Decimal(2840))),
        (Kind.YEN, "¥2180", Yen(Decimal(2180))),
        (Kind.YEN, "¥2,840/月", Yen(Decimal(2840), per="月")),
        (Kind.YEN, "Microsoft 365 E3 (¥2180)", Yen(Decimal(2180), label="Microsoft 365 E3")),
        (Kind.YEN, "2180", Yen(Decimal(2180))),
        (Kind.YEN, "2,180円", Yen(Decimal(2180))),
        # statuses with emoji, lists
        (Kind.STATUS, "✗ 長期未更新", Status("長期未更新", "✗", "error")),
        (Kind.STATUS, "⚠️ 高リスク", Status("高リスク", "⚠️", "warning")),
        (Kind.STATUS, "✓ アクティブ（推定）", Status("アクティブ（推定）", "✓", "ok")),
        (Kind.STATUS, "❌ 未接続", Status("未接続", "❌", "error")),
        (Kind.STATUS, "正常", Status("正常")),
        (Kind.LIST, "Microsoft 365 E3, Power BI Pro", ("Microsoft 365 E3", "Power BI Pro")),
        (Kind.LIST, "SMS; Authenticator", ("SMS", "Authenticator")),
        (Kind.LIST, "a | b, c | d", ("a", "b, c", "d")),
        (Kind.LIST, "single", ("single",)),
        (Kind.TEXT, "東京, 日本", "東京, 日本"),
        # empty ($null)
        (Kind.DATETIME, "", None),
        (Kind.INTEGER, "  ", None),
        (Kind.TEXT, "", None),
    ],
)
def test_forms(kind: Kind, text: str, expected: Any) -> None:
    assert parse_value(kind, text) == Parsed(expected)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (Kind.DATETIME, "E3ライセンス制限"),
        (Kind.DATETIME, "サインイン履歴なし"),
        (Kind.DATETIME, "不明"),
        (Kind.DATETIME, "N/A"),
        (Kind.DATETIME, "取得失敗"),
        (Kind.DATETIME, "データ取得中"),
        (Kind.DATETIME, "3-6ヶ月前"),
        (Kind.DATETIME, "30日前"),
        (Kind.DURATION, "N/A"),
        (Kind.INTEGER, "データ取得中"),
        (Kind.PERCENT, "不明"),
        (Kind.YEN, "N/A"),
        (Kind.BOOLEAN, "不明"),
        (Kind.BYTES, "Unlimited"),
        (Kind.DATE, "無期限"),
        (Kind.DATETIME, " N/A "),
        (Kind.DATETIME, "5分前"),
        (Kind.LIST, "System.Object[]"),
        (Kind.LIST, "N/A"),
    ],
)
def test_placeholders_become_null_with_the_original_kept(kind: Kind, text: str) -> None:
    assert parse_value(kind, text) == Parsed(None, text)


def test_placeholders_in_text_columns_stay_text() -> None:
    assert parse_value(Kind.TEXT, "データ取得中") == Parsed("データ取得中")


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        (Kind.DATETIME, "2025-13-01", "not a valid date"),
        (Kind.DATETIME, "2025/02/30 10:00", "not a valid date"),
        (Kind.DATETIME, "yesterday", "not a date form"),
        (Kind.DATETIME, "2025.06.24", "not a date form"),
        (Kind.DATE, "2025-06-24 10:00", "not a time of day"),
        (Kind.YEAR_MONTH, "2024-13", "not a valid year-month"),
        (Kind.DATE_RANGE, "2025/07/19 - 2025/06/19", "ends before it starts"),
        (Kind.INTEGER, "12.5", "not a whole number"),
        (Kind.INTEGER, "abc", "not a number"),
        (Kind.INTEGER, "1,23", "unknown unit"),
        (Kind.DECIMAL, "12 apples", "unknown unit"),
        (Kind.PERCENT, "high", "not a number"),
        (Kind.BOOLEAN, "maybe", "not a boolean"),
        (Kind.BYTES, "12 parsecs", "unknown size unit"),
        (Kind.YEN, "$20", "not a number"),
        (Kind.DURATION, "3 fortnights", "unknown unit"),
    ],
)
def test_values_that_fit_no_form(kind: Kind, text: str, reason: str) -> None:
    with pytest.raises(UnparsableValue, match=reason):
        parse_value(kind, text)


def test_a_bad_value_quarantines_its_row_with_file_row_column_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "EntraIdSignInLogs_20250624_115108.csv"
    path.write_text(
        '"日時","ユーザー","アプリケーション","IPアドレス","場所","デバイス","結果","MFA実行","リスクレベル","条件付きアクセス"\r\n'
        '"2025-06-24 10:51:08","a@contoso.com","M365","203.0.113.45","東京","Win","成功","はい","低","適用済み"\r\n'
        '"昨日の朝","b@contoso.com","M365","203.0.113.46","東京","Win","成功","たぶん","低","適用済み"\r\n'
        '"N/A","c@contoso.com","M365","203.0.113.47","東京","Win","成功","いいえ","低","適用済み"\r\n',
        encoding="utf-8",
    )
    rows = list(read_legacy_file(path).rows())
    assert [type(row) for row in rows] == [TypedRow, QuarantinedRow, TypedRow]
    bad = rows[1]
    assert isinstance(bad, QuarantinedRow)
    assert bad.file == str(path)
    assert (bad.row_number, bad.line, bad.column) == (2, 3, "日時")
    problems = [(problem.column, problem.value) for problem in bad.problems]
    assert problems == [("日時", "昨日の朝"), ("MFA実行", "たぶん")]
    assert "not a date form" in bad.reason and "not a boolean" in bad.reason
    assert bad.fields[1] == "b@contoso.com"  # the record is kept whole
    flagged = rows[2]
    assert isinstance(flagged, TypedRow)
    assert flagged.values["日時"] is None
    assert [(flag.column, flag.original) for flag in flagged.placeholders] == [("日時", "N/A")]


def test_repeated_values_type_the_same_on_every_row(tmp_path: Path) -> None:
    # each column remembers what it parsed: a repeated bad value quarantines every row, a repeated placeholder
    # is flagged on every row
    path = tmp_path / "ライセンス分析_20250624_114541.csv"
    row = '"E3","{}","847","{}","153","注意"\n'
    path.write_text(
        '"ライセンス種類","購入数","使用数","利用率","残り","状態"\n'
        + row.format("1,000", "84.7%") * 2
        + row.format("many", "N/A") * 2,
        encoding="utf-8",
    )
    rows = list(read_legacy_file(path).rows())
    assert [type(r).__name__ for r in rows] == ["TypedRow", "TypedRow", "QuarantinedRow", "QuarantinedRow"]
    assert [r.values["購入数"] for r in rows[:2] if isinstance(r, TypedRow)] == [1000, 1000]
    assert [r.column for r in rows[2:] if isinstance(r, QuarantinedRow)] == ["購入数", "購入数"]
    path.write_text(
        '"ライセンス種類","購入数","使用数","利用率","残り","状態"\n' + row.format("1", "N/A") * 3, encoding="utf-8"
    )
    flags = [[(f.column, f.original) for f in r.placeholders] for r in read_legacy_file(path).rows()]  # type: ignore[union-attr]
    assert flags == [[("利用率", "N/A")]] * 3


def test_remembered_texts_type_the_same_in_later_batches(tmp_path: Path) -> None:
    # records are typed in batches; a bad value or placeholder remembered from the first is seen again in the next
    path = tmp_path / "ライセンス分析_20250624_114541.csv"
    row = '"E3","{}","847","{}","153","注意"\n'
    odd = {3: row.format("many", "84.7%"), 4: row.format("1", "N/A"), 5: '"E3","1"\n'}
    lines = [odd.get(number % BATCH_RECORDS, row.format("1,000", "84.7%")) for number in range(1, BATCH_RECORDS + 8)]
    path.write_text('"ライセンス種類","購入数","使用数","利用率","残り","状態"\n' + "".join(lines), encoding="utf-8")
    rows = list(read_legacy_file(path).rows())
    assert [r.row_number for r in rows] == list(range(1, BATCH_RECORDS + 8))
    for batch_start in (0, BATCH_RECORDS):
        bad, flagged, misfit = rows[batch_start + 2], rows[batch_start + 3], rows[batch_start + 4]
        assert isinstance(bad, QuarantinedRow) and bad.column == "購入数"
        assert isinstance(flagged, TypedRow) and flagged.values["利用率"] is None
        assert [(f.column, f.original) for f in flagged.placeholders] == [("利用率", "N/A")]
        assert isinstance(misfit, QuarantinedRow) and misfit.column is None
    assert sum(isinstance(r, TypedRow) for r in rows) == BATCH_RECORDS + 7 - 4


def test_dates_of_a_day_seen_before_take_the_same_forms_and_checks() -> None:
    # a day already parsed is remembered: its other times are two additions, which must accept exactly the forms
    # (and refuse the values) the full parser does
    assert parse_value(Kind.DATETIME, "2019/03/05 7:05:09").value == datetime(2019, 3, 5, 7, 5, 9, tzinfo=TOKYO)
    assert parse_value(Kind.DATETIME, "2019/03/05 23:59:59").value == datetime(2019, 3, 5, 23, 59, 59, tzinfo=TOKYO)
    assert parse_value(Kind.DATETIME, "2019/03/05 07:05").value == datetime(2019, 3, 5, 7, 5, tzinfo=TOKYO)
    assert parse_value(Kind.DATETIME, "2019/03/05").value == datetime(2019, 3, 5, tzinfo=TOKYO)
    for bad in ("2019/03/05 24:00:00", "2019/03/05 7:05:60", "2019/03/05 7:5:09", "2019/03/05 7:05:09.5"):
        with pytest.raises(UnparsableValue):
            parse_value(Kind.DATETIME, bad)
    assert parse_value(Kind.DATETIME, "0001/01/01 0:00:00").placeholder == "0001/01/01 0:00:00"
    assert parse_value(Kind.DATETIME, "0001/01/01 0:00:01").placeholder == "0001/01/01 0:00:01"
