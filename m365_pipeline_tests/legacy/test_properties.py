"""Property-based: generated files across every catalogued layout, encodings, line ends, quoting and value forms,
with random damage. Every record comes back exactly once, typed with the value it was written from, or
quarantined when it was damaged; reading twice gives the same result."""

from __future__ import annotations

import codecs
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install hypothesis)")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m365_pipeline.legacy import REPORT_TYPES, QuarantinedRow, TypedRow, read_legacy_file
from m365_pipeline.legacy.layouts import Column, ReportType
from m365_pipeline.legacy.values import DateRange, Kind, Status, Yen

TOKYO = ZoneInfo("Asia/Tokyo")
TEXT_ALPHABET = "abcXYZ019 あいうアイウ漢字部署,\"'\n\r-_.@"
ITEM_ALPHABET = "abcXYZ019あいうアイウ漢字"
PLACEHOLDERS = ["N/A", "不明", "データ取得中", "E3ライセンス制限", "サインイン履歴なし", "取得失敗", "3-6ヶ月前"]
GARBAGE = "??壊れた値??"
VARIANTS = [(name, index) for name, rt in sorted(REPORT_TYPES.items()) for index in range(len(rt.variants))]


def _when(rng: random.Random) -> datetime:
    return datetime(
        rng.randint(2000, 2030), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)
    ).replace(second=rng.randint(0, 59), tzinfo=TOKYO)


def _forms(column: Column, rng: random.Random) -> list[tuple[str, Any]]:
    """Candidate (text, expected value) pairs for a column; the first is the plainest."""
    kind = column.kind
    if kind is Kind.INTEGER:
        n = rng.randint(-5000, 5_000_000)
        return [
            (str(n), n),
            (f"{n:,}", n),
            (f"{abs(n)}件", abs(n)),
            (f"{abs(n):,}名", abs(n)),
            (f"+{abs(n)}名", abs(n)),
        ]
    if kind is Kind.DECIMAL:
        d = Decimal(rng.randint(0, 10**6)) / 100
        return [(str(d), d)]
    if kind is Kind.PERCENT:
        d = Decimal(rng.randint(0, 10000)) / 100
        return [(str(d), d), (f"{d}%", d)]
    if kind is Kind.BOOLEAN:
        value = rng.random() < 0.5
        pairs = [("True", "False"), ("はい", "いいえ"), ("有効", "無効"), ("true", "false")]
        return [(pair[0] if value else pair[1], value) for pair in pairs]
    if kind is Kind.DATETIME:
        at = _when(rng)
        midnight = at.replace(hour=0, minute=0, second=0)
        minute = at.replace(second=0)
        return [
            (at.strftime("%Y-%m-%d %H:%M:%S"), at),
            (at.strftime("%Y-%m-%d %H:%M"), minute),
            (at.strftime("%Y-%m-%d"), midnight),
            (at.strftime("%Y/%m/%d %H:%M"), minute),
            (at.strftime("%Y/%m/%d"), midnight),
            (f"{at:%Y/%m/%d} {at.hour}:{at:%M:%S}", at),
            (at.strftime("%m/%d/%Y %H:%M:%S"), at),
            (at.strftime("%Y年%m月%d日 %H:%M:%S"), at),
        ]
    if kind is Kind.DATE:
        day = _when(rng).date()
        return [(day.isoformat(), day), (day.strftime("%Y/%m/%d"), day)]
    if kind is Kind.YEAR_MONTH:
        month = date(rng.randint(2000, 2030), rng.randint(1, 12), 1)
        return [(month.strftime("%Y-%m"), month), (month.strftime("%Y年%m月"), month)]
    if kind is Kind.DATE_RANGE:
        start = _when(rng).replace(hour=0, minute=0, second=0)
        end = start + timedelta(days=rng.randint(0, 60))
        return [(f"{start:%Y/%m/%d} - {end:%Y/%m/%d}", DateRange(start, end))]
    if kind is Kind.DURATION:
        tenths = rng.randint(0, 10000)
        seconds = timedelta(milliseconds=100 * tenths)
        return [(f"{tenths / 10}秒", seconds), (f"{100 * tenths}ms", seconds)]
    if kind is Kind.BYTES:
        n = rng.randint(0, 10**11)
        return [(str(n), n) if column.unit is None else (f"{n} bytes", n), (f"{n / 1024**2:.2f} MB ({n:,} bytes)", n)]
    if kind is Kind.YEN:
        n = rng.randint(0, 10**6)
        return [
            (str(n), Yen(Decimal(n))),
            (f"¥{n:,}", Yen(Decimal(n))),
            (f"¥{n}", Yen(Decimal(n))),
            (f"¥{n:,}/月", Yen(Decimal(n), per="月")),
            (f"Microsoft 365 E3 (¥{n})", Yen(Decimal(n), label="Microsoft 365 E3")),
        ]
    if kind is Kind.STATUS:
        text = rng.choice(["正常", "長期未更新", "高リスク", "アクティブ（推定）"])
        return [
            (text, Status(text)),
            (f"✗ {text}", Status(text, "✗", "error")),
            (f"⚠️ {text}", Status(text, "⚠️", "warning")),
        ]
    if kind is Kind.LIST:
        items = tuple("".join(rng.choices(ITEM_ALPHABET, k=rng.randint(1, 6))) for _ in range(rng.randint(1, 4)))
        return [(separator.join(items), items) for separator in (", ", "; ", " | ")]
    text = "".join(rng.choices(TEXT_ALPHABET, k=rng.randint(0, 12)))
    return [(text, text or None)]


def _row(fields: list[str], quote_all: bool) -> str:
    """One record as Export-Csv writes it (every field quoted) or as the later unquoted files (quoted only when a
    field holds a comma, a quote or a line break)."""
    return ",".join(
        '"' + field.replace('"', '""') + '"' if quote_all or any(c in field for c in ',"\r\n') else field
        for field in fields
    )


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def write_generated_file(
    folder: Path, variant: tuple[str, int], encoding: str, newline: str, quote_all: bool, seed: int, rows: int
) -> tuple[Path, ReportType, list[tuple[str, Any]]]:
    """A generated file of `variant` with random value forms, placeholders and damage; its expected outcome per
    record: ('typed', (values, placeholder flags)) or ('quarantined', the damaged column or None)."""
    rng = random.Random(seed)
    report_type = REPORT_TYPES[variant[0]]
    headers = list(report_type.variants[variant[1]].headers)
    rng.shuffle(headers)
    columns = [report_type.column_for(header) for header in headers]
    assert all(column is not None for column in columns)
    typed_positions = [i for i, c in enumerate(columns) if c and c.kind not in (Kind.TEXT, Kind.STATUS, Kind.LIST)]

    lines = [_row(headers, quote_all)]
    expected: list[tuple[str, Any]] = []  # ('typed', {column: value}, flags) or ('quarantined', column | None)
    for _ in range(rows):
        fields: list[str] = []
        values: dict[str, Any] = {}
        flags: list[tuple[str, str]] = []
        for column in columns:
            assert column is not None
            roll = rng.random()
            if roll < 0.1:
                fields.append("")
                values[column.name] = None
            elif roll < 0.2 and column.kind not in (Kind.TEXT, Kind.STATUS, Kind.LIST):
                placeholder = rng.choice(PLACEHOLDERS)
                fields.append(placeholder)
                values[column.name] = None
                flags.append((column.name, placeholder))
            else:
                forms = _forms(column, rng)
                text, value = rng.choice(forms)
                if not _encodable(text, encoding):
                    text, value = forms[0]
                fields.append(text)
                values[column.name] = value
        damage = rng.random()
        if damage < 0.1 and typed_positions:
            position = rng.choice(typed_positions)
            fields[position] = GARBAGE
            expected.append(("quarantined", columns[position].name))  # type: ignore[union-attr]
        elif damage < 0.15:
            fields.pop()
            expected.append(("quarantined", None))
        elif damage < 0.2:
            fields.append("extra")
            expected.append(("quarantined", None))
        else:
            expected.append(("typed", (values, flags)))
        lines.append(_row(fields, quote_all))

    path = folder / f"generated_{seed}.csv"
    path.write_bytes(
        (codecs.BOM_UTF8 if encoding == "utf-8-sig" else b"")
        + "".join(line + newline for line in lines).encode("utf-8" if encoding == "utf-8-sig" else encoding)
    )
    return path, report_type, expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    variant=st.sampled_from(VARIANTS),
    encoding=st.sampled_from(["utf-8-sig", "utf-8", "cp932"]),
    newline=st.sampled_from(["\r\n", "\n"]),
    quote_all=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 25),
)
def test_generated_files_round_trip_with_damage(
    tmp_path: Path, variant: tuple[str, int], encoding: str, newline: str, quote_all: bool, seed: int, rows: int
) -> None:
    path, report_type, expected = write_generated_file(tmp_path, variant, encoding, newline, quote_all, seed, rows)
    legacy = read_legacy_file(path)
    assert legacy.layout is not None and legacy.layout.report_type.name == report_type.name
    got = list(legacy.rows())
    assert len(got) == rows  # rows in = typed + quarantined
    assert [row.row_number for row in got] == list(range(1, rows + 1))
    for row, (outcome, detail) in zip(got, expected, strict=True):
        if outcome == "typed":
            assert isinstance(row, TypedRow), row
            values, flags = detail
            for name, value in values.items():
                assert row.values[name] == value, (name, value, row.values[name])
            assert [(flag.column, flag.original) for flag in row.placeholders] == flags
        else:
            assert isinstance(row, QuarantinedRow), (detail, row)
            assert row.column == detail
    assert list(read_legacy_file(path).rows()) == got  # reading again gives the same rows
