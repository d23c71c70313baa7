"""Every real sample of ../shared/legacy_csv_samples is recognized and typed with no quarantined row, and reads as a
person reading the file would (concrete typed values, not only counts)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from m365_pipeline.legacy import QuarantinedRow, TypedRow, read_legacy_file
from m365_pipeline.legacy.values import DateRange, Status

TOKYO = ZoneInfo("Asia/Tokyo")


def _rows(path: Path) -> list[TypedRow]:
    rows = list(read_legacy_file(path).rows())
    quarantined = [row for row in rows if isinstance(row, QuarantinedRow)]
    assert quarantined == []
    return [row for row in rows if isinstance(row, TypedRow)]


def test_every_sample_is_recognized_with_no_quarantined_row(samples: Path) -> None:
    files = sorted(samples.glob("*.csv"))
    assert files
    for path in files:
        legacy = read_legacy_file(path)
        assert legacy.status == "recognized", (path.name, legacy.unknown)
        assert legacy.report_timestamp is not None, path.name
        rows = _rows(path)
        assert rows, path.name
        assert [row.row_number for row in rows] == list(range(1, len(rows) + 1))


# file -> (report type, generation, report timestamp, row count, {(row number, column): value})
EXPECTED: dict[str, tuple[str, int, datetime, int, dict[tuple[int, str], Any]]] = {
    "AllUsers_20250716_210654.csv": (
        "user_list",
        3,
        datetime(2025, 7, 16, 21, 6, 54, tzinfo=TOKYO),
        1,
        {
            (1, "display_name"): "サンプルユーザー1",
            (1, "user_principal_name"): "user1@miraiconst.onmicrosoft.com",
            (1, "department"): "IT部",
            (1, "account_status"): True,
            (1, "license_status"): "Microsoft 365 E3",
            (1, "creation_date"): datetime(2025, 1, 1, tzinfo=TOKYO),
            (1, "last_sign_in"): None,  # E3ライセンス制限: a placeholder, not a date
            (1, "usage_location"): "JP",
            (1, "id"): "sample-user-1",
        },
    ),
    "EntraIdConditionalAccess_20250624_115119.csv": (
        "entra_conditional_access",
        2,
        datetime(2025, 6, 24, 11, 51, 19, tzinfo=TOKYO),
        3,
        {
            (1, "ポリシー名"): "MFA必須 - 管理者",
            (1, "適用回数"): 234,
            (1, "成功率"): Decimal("95.7"),
            (2, "適用回数"): 1456,  # "1,456"
            (3, "成功率"): Decimal("100"),
            (3, "最終更新"): datetime(2025, 6, 23, tzinfo=TOKYO),
            (1, "状態"): "有効",
        },
    ),
    "EntraIdMFA_20250624_115126.csv": (
        "entra_mfa",
        2,
        datetime(2025, 6, 24, 11, 51, 26, tzinfo=TOKYO),
        3,
        {
            (1, "ユーザー"): "john.smith@contoso.com",
            (1, "最終MFA使用"): datetime(2025, 6, 24, 9, 51, 26, tzinfo=TOKYO),
            (3, "最終MFA使用"): None,  # N/A
            (3, "最終サインイン"): datetime(2025, 6, 19, 11, 51, 26, tzinfo=TOKYO),
            (3, "登録方法"): "未設定",
        },
    ),
    "EntraIdSignInLogs_20250624_115108.csv": (
        "entra_sign_in_logs",
        2,
        datetime(2025, 6, 24, 11, 51, 8, tzinfo=TOKYO),
        3,
        {
            (1, "日時"): datetime(2025, 6, 24, 10, 51, 8, tzinfo=TOKYO),
            (1, "場所"): "東京, 日本",  # a text column: the comma is not a list separator here
            (1, "MFA実行"): True,  # はい
            (2, "MFA実行"): False,  # いいえ
            (2, "結果"): "失敗 - 無効なパスワード",
            (3, "場所"): "不明",  # text stays text
        },
    ),
    "ExchangeAntiSpam_20250624_114724.csv": (
        "exchange_anti_spam",
        2,
        datetime(2025, 6, 24, 11, 47, 24, tzinfo=TOKYO),
        5,
        {
            (1, "日付"): date(2025, 6, 23),
            (1, "検出数"): 345,
            (1, "ブロック率"): Decimal("98.5"),
            (3, "影響ユーザー"): 23,
            (4, "対処アクション"): "完全ブロック + 隔離",
            (5, "対応状況"): Status("ドメイン保護強化"),
        },
    ),
    "ExchangeDeliveryReport_20250624_114750.csv": (
        "exchange_delivery",
        2,
        datetime(2025, 6, 24, 11, 47, 50, tzinfo=TOKYO),
        5,
        {
            (1, "期間"): "過去7日間",
            (1, "メール数"): 12847,  # "12,847"
            (1, "平均配信時間"): timedelta(seconds=1.2),  # "1.2秒"
            (2, "再試行回数"): 1234,  # "1,234"
            (3, "平均配信時間"): None,  # N/A
            (5, "配信率"): Decimal("0"),
            (5, "最終更新"): datetime(2025, 6, 24, 11, 47, 50, tzinfo=TOKYO),
        },
    ),
    "ExchangeMailFlow_20250624_114706.csv": (
        "exchange_mail_flow",
        2,
        datetime(2025, 6, 24, 11, 47, 6, tzinfo=TOKYO),
        5,
        {
            (1, "メール数"): 2847,
            (1, "サイズ"): round(Decimal("156.7") * 1024**2),  # "156.7 MB" in bytes
            (1, "平均配信時間"): timedelta(seconds=2.3),
            (1, "エラー率"): Decimal("0.02"),
            (1, "スパム検知"): 12,  # "12件"
            (5, "マルウェア検知"): 234,
            (5, "状態"): Status("ブロック済み"),
            (5, "平均配信時間"): None,
        },
    ),
    "OneDriveSyncErrors_20250624_115041.csv": (
        "onedrive_sync_errors",
        2,
        datetime(2025, 6, 24, 11, 50, 41, tzinfo=TOKYO),
        5,
        {
            (1, "発生日時"): datetime(2025, 6, 24, 9, 50, 41, tzinfo=TOKYO),
            (1, "ファイル名"): "予算計画_2024.xlsx",
            (3, "エラーコード"): "0x80072EE2",
            (5, "発生日時"): datetime(2025, 6, 23, 23, 50, 41, tzinfo=TOKYO),
            (5, "ファイル名"): "レポート<test>.txt",
            (2, "解決状況"): Status("解決済み"),
        },
    ),
    "_20250719_113030.csv": (
        "general_summary",
        3,
        datetime(2025, 7, 19, 11, 30, 30, tzinfo=TOKYO),
        1,
        {
            (1, "レポート種別"): "月次",
            (1, "期間"): DateRange(datetime(2025, 6, 19, tzinfo=TOKYO), datetime(2025, 7, 19, tzinfo=TOKYO)),
            (1, "アクティブユーザー数"): 0,
            (1, "ライセンス使用率"): Decimal("0"),
            (1, "主要アクティビティ"): "データ取得中",
            (1, "生成日時"): datetime(2025, 7, 19, 11, 30, tzinfo=TOKYO),
        },
    ),
    "ライセンス分析_20250624_114541.csv": (
        "license_analysis",
        2,
        datetime(2025, 6, 24, 11, 45, 41, tzinfo=TOKYO),
        8,
        {
            (1, "ライセンス種類"): "Microsoft 365 E3",
            (1, "購入数"): 1000,
            (1, "使用数"): 847,
            (1, "利用率"): Decimal("84.7"),
            (1, "残り"): 153,
            (2, "状態"): Status("緊急"),
            (8, "ライセンス種類"): "Enterprise Mobility + Security E5",
            (8, "利用率"): Decimal("95.6"),
        },
    ),
    "拡張機能テスト_202507162125.csv": (
        "service_status",
        3,
        datetime(2025, 7, 16, 21, 25, tzinfo=TOKYO),  # the 12-digit stamp yyyyMMddHHmm
        3,
        {
            (1, "service_name"): "Microsoft 365",  # Japanese headers, the English layout's columns
            (2, "total_activity_count"): 1688,
            (2, "error_count"): 3,
            (3, "performance_score"): Decimal("95"),
            (3, "last_check"): datetime(2025, 7, 16, 21, 25, tzinfo=TOKYO),
            (3, "status"): Status("正常"),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_reads_as_a_person_would(samples: Path, name: str) -> None:
    report_type, generation, stamp, count, values = EXPECTED[name]
    legacy = read_legacy_file(samples / name)
    assert legacy.layout is not None
    assert (legacy.layout.report_type.name, legacy.layout.generation) == (report_type, generation)
    assert legacy.report_timestamp == stamp
    assert legacy.report_timestamp_source == "file name"
    rows = _rows(samples / name)
    assert len(rows) == count
    for (row_number, column), expected in values.items():
        assert rows[row_number - 1].values[column] == expected, (row_number, column)


def test_placeholders_are_null_and_flagged_with_their_original(samples: Path) -> None:
    (user,) = _rows(samples / "AllUsers_20250716_210654.csv")
    assert user.values["last_sign_in"] is None
    assert [(flag.column, flag.original) for flag in user.placeholders] == [("last_sign_in", "E3ライセンス制限")]
    delivery = _rows(samples / "ExchangeDeliveryReport_20250624_114750.csv")
    assert [[(flag.column, flag.original) for flag in row.placeholders] for row in delivery] == [
        [],
        [],
        [("平均配信時間", "N/A")],
        [("平均配信時間", "N/A")],
        [("平均配信時間", "N/A")],
    ]


def test_sample_dialects(samples: Path) -> None:
    nameless = read_legacy_file(samples / "_20250719_113030.csv")
    assert (nameless.dialect.encoding, nameless.dialect.has_bom, nameless.dialect.newline) == ("utf-8", False, "CRLF")
    assert nameless.report_name == ""
    users = read_legacy_file(samples / "AllUsers_20250716_210654.csv")
    assert (users.dialect.encoding, users.dialect.has_bom, users.dialect.newline) == ("utf-8-sig", True, "LF")
    assert users.headers[0] == "DisplayName"  # no BOM left on the first header
    assert users.layout is not None and users.layout.report_type.directory_history == "users"
