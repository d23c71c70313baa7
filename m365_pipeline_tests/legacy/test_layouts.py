"""Recognition by header names: every catalogued layout, any order, tolerated generation differences, unknown
layouts with their reason."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from m365_pipeline.legacy import REPORT_TYPES, Layout, QuarantinedRow, UnknownLayout, read_legacy_file, recognize


def _catalogued_headers(catalogue: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(example file, header names) for every header line of the catalogue."""
    import csv

    found = []
    example = None
    for line in catalogue.read_text(encoding="utf-8").splitlines():
        match = re.match(r"- e\.g\. `([^`]+)`", line)
        if match:
            example = match[1]
            continue
        match = re.match(r"  `(.+)`$", line)
        if match and example:
            found.append((example, tuple(next(csv.reader([match[1]])))))
            example = None
    return found


def test_every_catalogued_layout_is_recognized_exactly(catalogue: Path) -> None:
    headers = _catalogued_headers(catalogue)
    assert len(headers) > 90  # the catalogue lists 95 header lines
    for example, names in headers:
        found = recognize(names)
        assert isinstance(found, Layout), (example, found)
        assert found.variant is not None, example  # an exact catalogued variant, not a tolerated one
        assert sorted(found.variant.headers) == sorted(names), example


def test_each_catalogued_header_set_belongs_to_one_report_type() -> None:
    owners: dict[frozenset[str], str] = {}
    for report_type in REPORT_TYPES.values():
        assert report_type.variants
        for variant in report_type.variants:
            assert variant.generation in (1, 2, 3)
            key = frozenset(variant.headers)
            assert owners.setdefault(key, report_type.name) == report_type.name, (report_type.name, owners[key])


def test_recognition_ignores_order_spacing_case_and_width() -> None:
    names = list(REPORT_TYPES["user_list"].variants[0].headers)
    for seed in range(5):
        shuffled = names[:]
        random.Random(seed).shuffle(shuffled)
        found = recognize(shuffled)
        assert isinstance(found, Layout) and found.report_type.name == "user_list"
        assert [column.name for column in found.columns] == [
            REPORT_TYPES["user_list"].column_for(name).name  # type: ignore[union-attr]
            for name in shuffled
        ]
    found = recognize([" displayname ", "USERPRINCIPALNAME", *names[2:]])
    assert isinstance(found, Layout) and found.report_type.name == "user_list"
    fullwidth = recognize(["ＩＤ", "ユーザー名", "部署", "作成日時", "ステータス", "数値データ", "レポート種別"])
    assert isinstance(fullwidth, Layout) and fullwidth.report_type.name == "daily_sample_records"


def test_japanese_and_english_headers_of_one_report_type_give_the_same_columns() -> None:
    english, japanese = REPORT_TYPES["service_status"].variants
    found_english, found_japanese = recognize(english.headers), recognize(japanese.headers)
    assert isinstance(found_english, Layout) and isinstance(found_japanese, Layout)
    assert [column.name for column in found_english.columns] == [column.name for column in found_japanese.columns]
    assert found_english.columns[0].name == "service_name"
    short = recognize(
        ["ユーザー名", "ユーザープリンシパル名", "Teams活動", "活動レベル", "活動スコア", "ステータス", "レポート日"]
    )
    assert isinstance(short, Layout) and short.report_type.name == "user_daily_activity"
    assert "department" in short.missing


def test_a_generation_difference_within_the_known_columns_is_tolerated() -> None:
    # User_Activity_Report: one generation added AssignedLicenses and LicenseCount; a file with only one of them
    base = REPORT_TYPES["user_activity"].variants[0].headers
    found = recognize([*base, "LicenseCount"])
    assert isinstance(found, Layout)
    assert (found.report_type.name, found.generation, found.variant) == ("user_activity", 1, None)
    assert found.missing == ("assigned_licenses",)
    # Inactive_Users_Report without the Note of two generations
    found = recognize(
        [
            "UserPrincipalName",
            "DisplayName",
            "AccountEnabled",
            "InactiveReason",
            "RiskLevel",
            "LastSignInDateTime",
            "CreatedDateTime",
            "AnalysisTimestamp",
            "AssignedLicenses",
        ]
    )
    assert isinstance(found, Layout) and found.report_type.name == "inactive_users"


def test_an_unknown_layout_gives_the_reason_and_the_closest_layouts() -> None:
    found = recognize(["Foo", "Bar"])
    assert isinstance(found, UnknownLayout)
    assert '"Foo", "Bar"' in found.reason
    assert found.closest == ()
    # a known layout with a header none of its generations had is not guessed
    names = [*REPORT_TYPES["user_list"].variants[0].headers, "FavouriteColour"]
    found = recognize(names)
    assert isinstance(found, UnknownLayout)
    assert "FavouriteColour" in found.reason
    assert found.closest[0] == "user_list (generation 3) +FavouriteColour"
    # missing a column every generation has
    found = recognize(["DisplayName", "UserPrincipalName", "Email"])
    assert isinstance(found, UnknownLayout)
    assert found.closest[0].startswith("user_list (generation 3) -AccountStatus")


def test_headers_of_two_languages_do_not_make_a_column_optional() -> None:
    # service_status was written with English and with Japanese headers: every column is in every generation
    found = recognize(["ServiceName"])
    assert isinstance(found, UnknownLayout)
    assert found.closest[0].startswith("service_status (generation 3)")
    mixed = recognize(["ServiceName", *REPORT_TYPES["service_status"].variants[1].headers[1:]])
    assert isinstance(mixed, Layout) and mixed.report_type.name == "service_status" and mixed.missing == ()


def test_no_header_set_is_accepted_by_two_report_types() -> None:
    from m365_pipeline.legacy.layouts import _header_index, _required_columns

    names = sorted(REPORT_TYPES)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = _header_index(first), _header_index(second)
            common = a.keys() & b.keys()
            both = _required_columns(first) <= {a[h].name for h in common} and _required_columns(second) <= {
                b[h].name for h in common
            }
            assert not both, (first, second)


def test_an_unknown_layout_file_is_quarantined_whole(tmp_path: Path) -> None:
    path = tmp_path / "Mystery_20250101_090000.csv"
    path.write_text('"Foo","Bar"\r\n"1","2"\r\n"3","4"\r\n', encoding="utf-8-sig")
    legacy = read_legacy_file(path)
    assert legacy.status == "unknown_layout"
    assert legacy.layout is None and legacy.unknown is not None
    assert legacy.unknown.headers == ("Foo", "Bar")
    rows = list(legacy.rows())
    assert all(isinstance(row, QuarantinedRow) for row in rows)
    assert [(row.row_number, row.fields) for row in rows] == [(1, ("1", "2")), (2, ("3", "4"))]
    assert rows[0].reason.startswith("unknown layout: no known layout has these headers")


@pytest.mark.parametrize(
    ("report_type", "column", "kind"),
    [
        ("user_list", "last_sign_in", "datetime"),
        ("user_list", "account_status", "boolean"),
        ("license_consumption_trend", "month", "year_month"),
        ("general_summary", "期間", "date_range"),
        ("exchange_delivery", "期間", "text"),
        ("test_report_mailbox", "total_size", "bytes"),
        ("license_cost_analysis", "value", "decimal"),
        ("clean_user_license_details", "月額コスト", "yen"),
        ("performance_monitoring", "response_time", "duration"),
        ("mfa_analysis", "mfa_methods", "list"),
    ],
)
def test_typed_columns(report_type: str, column: str, kind: str) -> None:
    columns = {c.name: c for c in REPORT_TYPES[report_type].columns}
    assert columns[column].kind.value == kind


def test_a_response_time_without_a_unit_is_in_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "パフォーマンス監視レポート_20250708_140711.csv"
    path.write_text(
        '"Timestamp","Service","ResponseTime","Availability","ThroughputMbps","ErrorRate","Status"\n'
        '"2025-07-08 13:07:11","Exchange Online","125","99.9%","45.6","0.1%","✓ 正常"\n',
        encoding="utf-8-sig",
    )
    (row,) = list(read_legacy_file(path).rows())
    assert not isinstance(row, QuarantinedRow)
    assert row.values["response_time"].total_seconds() == 0.125
    assert row.values["status"].level == "ok"
