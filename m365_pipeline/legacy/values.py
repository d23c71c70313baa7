"""Value parsers for the forms the old PowerShell tool wrote (../shared/reference/legacy_csv_formats.md).

`parse_value(kind, text, unit)` returns `Parsed(value, placeholder)` (rows use `column_parser(kind, unit)`, the
same rules as one function per column, which returns `Flagged(original)` for a placeholder):
- an empty field (`$null`, written `,,`) is `None`, not flagged;
- a text placeholder in a typed column (`N/A`, `不明`, `データ取得中`, `E3ライセンス制限`, `3-6ヶ月前`,
  `System.Object[]`...: PLACEHOLDERS and _PLACEHOLDER_PATTERNS) is `None` with the original text kept, so it is
  flagged and never mistaken for a value; text and status columns keep such text as their value; so is a date of
  year 1, PowerShell's [DateTime]::MinValue written for "never";
- a count or size beyond 64 bits (what the warehouse stores) is a value that fits no form;
- a value that fits no form of its kind raises `UnparsableValue` with the reason (its row goes to quarantine).

Dates and times without an offset are wall-clock times of the old tool's zone (Asia/Tokyo, its appsettings) and
come back aware in that zone; ISO 8601 values with `Z` or an offset keep theirs. Percentages are percentage points
as written (`95.7%` -> Decimal('95.7')). Sizes are bytes (binary units, as Exchange wrote them: `45.95 MB
(48,184,949 bytes)` gives the exact byte count). Money is yen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

LEGACY_ZONE = ZoneInfo("Asia/Tokyo")


class Kind(StrEnum):
    """The typed forms a legacy column can hold."""

    TEXT = "text"
    INTEGER = "integer"  # 1,456  12件  87名  +45名  1.2k
    DECIMAL = "decimal"  # 85.6  1.2k req/sec
    PERCENT = "percent"  # 95.7%  0.02%  84.7
    BOOLEAN = "boolean"  # True/False はい/いいえ 有効/無効
    DATETIME = "datetime"  # every listed date and date-time form
    DATE = "date"  # a date (a date-time at midnight is accepted)
    YEAR_MONTH = "year_month"  # 2024-07  2024年07月
    DATE_RANGE = "date_range"  # 2025/06/19 - 2025/07/19
    DURATION = "duration"  # 2.3秒  125ms  45分
    BYTES = "bytes"  # 156.7 MB  4.2 GB  45.95 MB (48,184,949 bytes)
    YEN = "yen"  # ¥2,840  ¥2180  ¥2,840/月  Microsoft 365 E3 (¥2180)  2840
    STATUS = "status"  # ✗ 長期未更新  ⚠️ 高リスク  ✓ アクティブ（推定）  正常
    LIST = "list"  # a, b  a; b  a | b


class UnparsableValue(ValueError):
    """A value that fits no form of its column's kind; the message is the reason."""


@dataclass(frozen=True, slots=True)
class Parsed:
    value: Any
    placeholder: str | None = None  # the original text when a placeholder became NULL


@dataclass(frozen=True, slots=True)
class DateRange:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Yen:
    amount: Decimal
    label: str | None = None  # `Microsoft 365 E3 (¥2180)` -> 'Microsoft 365 E3'
    per: str | None = None  # `¥2,840/月` -> '月'


@dataclass(frozen=True, slots=True)
class Status:
    text: str  # the status without its symbol
    symbol: str | None = None  # the emoji or mark as written
    level: str | None = None  # 'ok', 'warning', 'error' from the symbol; None without one


# --- placeholders --------------------------------------------------------------------------------------------

PLACEHOLDERS = frozenset(
    {
        "N/A",
        "n/a",
        "NA",
        "-",
        "--",
        "—",
        "不明",
        "データ取得中",
        "取得中",
        "取得失敗",
        "未取得",
        "取得不可",
        "サインイン履歴なし",
        "履歴なし",
        "なし",
        "無し",
        "該当なし",
        "未設定",
        "未使用",
        "未ログイン",
        "未サインイン",
        "Never",
        "never",
        "Unknown",
        "unknown",
        "None",
        "null",
        "NULL",
        # no typed form: a quota or an expiry that has no limit is kept as written, flagged, never made a number
        "Unlimited",
        "unlimited",
        "無制限",
        "無期限",
    }
)
_PLACEHOLDER_PATTERNS = (
    re.compile(r"^.*ライセンス制限$"),  # E3ライセンス制限
    re.compile(r"^\d+(?:\s*[-~〜～]\s*\d+)?\s*(?:ヶ|か|カ|ケ|ヵ)?(?:月|日|年|週間|時間)前$"),  # 3-6ヶ月前, 30日前
    re.compile(r"^\d+(?:ヶ|か|カ|ケ|ヵ)?(?:月|日|年)以上(?:前)?$"),  # 90日以上
    re.compile(r"^(?:データ|情報)?(?:取得|確認)(?:中|失敗|不可|エラー)$"),
    re.compile(r"^\d+\s*(?:分|秒)前$"),  # 5分前
    re.compile(r"^System\.[A-Za-z0-9_.]+\[\]$"),  # an array Export-Csv could not write: System.Object[]
)


def placeholder_of(text: str) -> bool:
    """True when `text` is a text placeholder that stands in for a missing value."""
    if text in PLACEHOLDERS:
        return True
    return any(pattern.match(text) for pattern in _PLACEHOLDER_PATTERNS)


# --- numbers -------------------------------------------------------------------------------------------------

_NUMBER = re.compile(
    r"^(?P<sign>[+\-−]?)\s*(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?P<frac>\.\d+)?\s*(?P<scale>[kKMG](?![Bb]))?\s*(?P<unit>.*)$"
)
_SCALES = {"k": 1000, "K": 1000, "M": 1_000_000, "G": 1_000_000_000}
_COUNT_UNITS = frozenset(
    {
        "",
        "件",
        "名",
        "人",
        "回",
        "個",
        "台",
        "本",
        "通",
        "日",
        "ユーザー",
        "users",
        "user",
        "req/sec",
        "req/s",
        "requests/sec",
        "Mbps",
        "ファイル",
        "チーム",
        "チャネル",
        "ライセンス",
    }
)


def _number(text: str, units: frozenset[str] = _COUNT_UNITS) -> tuple[Decimal, str]:
    match = _NUMBER.match(text)
    if match is None or (match["int"] is None and match["frac"] is None):
        raise UnparsableValue(f"not a number: {text!r}")
    unit = match["unit"].strip()
    if unit not in units:
        raise UnparsableValue(f"unknown unit {unit!r} in {text!r}")
    digits = (match["int"] or "0").replace(",", "") + (match["frac"] or "")
    try:
        number = Decimal(digits)
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only digits
        raise UnparsableValue(f"not a number: {text!r}") from error
    if match["scale"]:
        number *= _SCALES[match["scale"]]
    if match["sign"] in ("-", "−"):
        number = -number
    return number, unit


def parse_integer(text: str) -> int:
    number, _ = _number(text)
    if number != number.to_integral_value():
        raise UnparsableValue(f"not a whole number: {text!r}")
    return int(number)


def parse_decimal(text: str) -> Decimal:
    return _number(text)[0]


def parse_percent(text: str) -> Decimal:
    body = text.strip()
    if body.endswith(("%", "％")):
        body = body[:-1].rstrip()
    return _number(body, frozenset({""}))[0]


# --- booleans ------------------------------------------------------------------------------------------------

_BOOLEANS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "はい": True,
    "いいえ": False,
    "有効": True,
    "無効": False,
    "enabled": True,
    "disabled": False,
    "可能": True,
    "不可": False,
}


def parse_boolean(text: str) -> bool:
    try:
        return _BOOLEANS[text.strip().lower()]
    except KeyError:
        raise UnparsableValue(f"not a boolean (True/False, はい/いいえ, 有効/無効): {text!r}") from None


# --- dates ---------------------------------------------------------------------------------------------------

# yyyy-MM-dd[ HH:mm[:ss]], yyyy/MM/dd[ H:mm[:ss]], ISO 8601 with T, fractions and Z/offset
_ISO_LIKE = re.compile(
    r"^(\d{4})([-/])(\d{1,2})\2(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
# US MM/dd/yyyy[ HH:mm[:ss][ AM|PM]]
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?)?$")
# yyyy年MM月dd日[ HH:mm[:ss]]
_JAPANESE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日(?:\s*(\d{1,2})(?::|時)(\d{2})(?:(?::|分)(\d{2})秒?)?分?)?$")
_YEAR_MONTH = re.compile(r"^(\d{4})(?:[-/](\d{1,2})|年(\d{1,2})月)$")
_RANGE_SEPARATOR = re.compile(r"\s+[-~〜～]\s+|\s*[~〜～]\s*")


def _make(
    year: str, month: str, day: str, hour: str | None, minute: str | None, second: str | None, text: str
) -> datetime:
    try:
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=LEGACY_ZONE
        )
    except ValueError as error:
        raise UnparsableValue(f"not a valid date: {text!r} ({error})") from None


# The parts of `yyyy/MM/dd H:mm:ss` (and `yyyy-MM-dd HH:mm[:ss]`), the form of most legacy dates: every valid
# `H:mm` / `HH:mm` and `ss`, and the days already parsed, so a date of a day seen before is two additions.
_CLOCK_MINUTES = {
    f"{hour:{width}}:{minute:02d}": timedelta(hours=hour, minutes=minute)
    for hour in range(24)
    for minute in range(60)
    for width in ("d", "02d")
}
_CLOCK_SECONDS = {f"{second:02d}": timedelta(seconds=second) for second in range(60)}
_MIDNIGHTS: dict[str, datetime] = {}  # `yyyy/MM/dd` as written -> its midnight in LEGACY_ZONE
_MIDNIGHTS_LIMIT = 8_192


def _from_known_parts(text: str) -> datetime | None:
    """The value of `<day> <H:mm>[:<ss>]` or `<day>` when the day was parsed before; None otherwise."""
    day, _, clock = text.partition(" ")
    midnight = _MIDNIGHTS.get(day)
    if midnight is None:
        return None
    if not clock:
        return midnight
    hours_minutes = _CLOCK_MINUTES.get(clock)
    if hours_minutes is not None:
        return midnight + hours_minutes
    clock, _, seconds = clock.rpartition(":")
    hours_minutes, second = _CLOCK_MINUTES.get(clock), _CLOCK_SECONDS.get(seconds)
    if hours_minutes is None or second is None:
        return None
    return midnight + hours_minutes + second


def _remember_day(day: str, value: datetime) -> None:
    if value.year == 1:  # [DateTime]::MinValue, a placeholder: left to the parsers that flag it
        return
    if len(_MIDNIGHTS) >= _MIDNIGHTS_LIMIT:
        _MIDNIGHTS.clear()
    _MIDNIGHTS[day] = value.replace(hour=0, minute=0, second=0)


def parse_datetime(text: str) -> datetime:
    """Every date form of the catalogue, as an aware datetime (Asia/Tokyo unless the value has an offset)."""
    text = text.strip()
    known = _from_known_parts(text)
    if known is not None:
        return known
    match = _ISO_LIKE.match(text)
    if match:
        year, sep, month, day, hour, minute, second, fraction, offset = match.groups()
        if sep == "/" and (fraction or offset):
            raise UnparsableValue(f"not a date form of the old tool: {text!r}")
        value = _make(year, month, day, hour, minute, second, text)
        if not (fraction or offset) and text[match.end(4) : match.end(4) + 1] in ("", " "):
            _remember_day(text[: match.end(4)], value)
        if fraction:
            value = value.replace(microsecond=int(fraction[:6].ljust(6, "0")))
        if offset:
            if offset == "Z":
                zone = UTC
            else:
                sign = 1 if offset[0] == "+" else -1
                digits = offset[1:].replace(":", "")
                zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
            value = value.replace(tzinfo=zone)
        return value
    match = _US.match(text)
    if match:
        month, day, year, hour, minute, second, meridiem = match.groups()
        if meridiem and hour:
            hour_number = int(hour)
            if not 1 <= hour_number <= 12:
                raise UnparsableValue(f"not a valid date: {text!r} (hour {hour} with {meridiem})")
            hour = str(hour_number % 12 + (12 if meridiem.lower() == "pm" else 0))
        return _make(year, month, day, hour, minute, second, text)
    match = _JAPANESE.match(text)
    if match:
        year, month, day, hour, minute, second = match.groups()
        return _make(year, month, day, hour, minute, second, text)
    raise UnparsableValue(f"not a date form of the old tool: {text!r}")


def parse_date(text: str) -> date:
    value = parse_datetime(text)
    if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
        raise UnparsableValue(f"a date was expected, not a time of day: {text!r}")
    return value.date()


def parse_year_month(text: str) -> date:
    """`2024-07`, `2024/07`, `2024年07月` -> the first day of that month."""
    match = _YEAR_MONTH.match(text.strip())
    if match is None:
        raise UnparsableValue(f"not a year-month (2024-07, 2024年07月): {text!r}")
    year, month_a, month_b = match.groups()
    try:
        return date(int(year), int(month_a or month_b), 1)
    except ValueError:
        raise UnparsableValue(f"not a valid year-month: {text!r}") from None


def parse_date_range(text: str) -> DateRange:
    parts = _RANGE_SEPARATOR.split(text.strip())
    if len(parts) != 2:
        raise UnparsableValue(f"not a date range (2025/06/19 - 2025/07/19): {text!r}")
    start, end = parse_datetime(parts[0]), parse_datetime(parts[1])
    if end < start:
        raise UnparsableValue(f"date range ends before it starts: {text!r}")
    return DateRange(start, end)


# --- durations, sizes, money ---------------------------------------------------------------------------------

_DURATION_UNITS = {
    "ms": Decimal("0.001"),
    "ミリ秒": Decimal("0.001"),
    "s": Decimal(1),
    "sec": Decimal(1),
    "秒": Decimal(1),
    "min": Decimal(60),
    "分": Decimal(60),
    "h": Decimal(3600),
    "時間": Decimal(3600),
}


def parse_duration(text: str, bare_unit: str = "s") -> timedelta:
    """`2.3秒`, `125ms`, `45分`; a bare number is in `bare_unit` (the column's)."""
    number, unit = _number(text, frozenset({"", *_DURATION_UNITS}))
    seconds = number * _DURATION_UNITS[unit or bare_unit]
    return timedelta(microseconds=int((seconds * 1_000_000).to_integral_value()))


_BYTE_UNITS = {
    "": 1,
    "B": 1,
    "bytes": 1,
    "KB": 1024,
    "MB": 1024**2,
    "GB": 1024**3,
    "TB": 1024**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
}
_EXCHANGE_SIZE = re.compile(r"^.*\(\s*([\d,]+)\s*bytes\s*\)$")


def parse_bytes(text: str, bare_unit: str = "B") -> int:
    """`156.7 MB`, `4.2 GB`, `45.95 MB (48,184,949 bytes)` (exact), a bare number in `bare_unit`."""
    exchange = _EXCHANGE_SIZE.match(text.strip())
    if exchange:
        return int(exchange[1].replace(",", ""))
    match = _NUMBER.match(text.strip())
    if match is None or (match["int"] is None and match["frac"] is None) or match["scale"] or match["sign"]:
        raise UnparsableValue(f"not a size (156.7 MB): {text!r}")
    unit = match["unit"].strip()
    factor = _BYTE_UNITS.get(unit) or _BYTE_UNITS.get(unit.upper())
    if factor is None:
        raise UnparsableValue(f"unknown size unit {unit!r} in {text!r}")
    if not unit:
        factor = _BYTE_UNITS[bare_unit]
    number = Decimal((match["int"] or "0").replace(",", "") + (match["frac"] or ""))
    return int((number * factor).to_integral_value())


_YEN_LABELLED = re.compile(r"^(?P<label>.*\S)\s*[(（]\s*(?P<inner>[¥￥][^)）]*)[)）]$")
_YEN_PERIODS = frozenset({"月", "年", "ユーザー", "人", "ユーザー/月", "月/ユーザー", "month", "year", "user"})


def parse_yen(text: str) -> Yen:
    """`¥2,840`, `¥2180`, `¥2,840/月`, `2,840円`, `Microsoft 365 E3 (¥2180)`, a plain number."""
    body = text.strip()
    label = None
    labelled = _YEN_LABELLED.match(body)
    if labelled:
        label, body = labelled["label"], labelled["inner"].strip()
    per = None
    if "/" in body:
        body, per = (part.strip() for part in body.split("/", 1))
        if per not in _YEN_PERIODS:
            raise UnparsableValue(f"not an amount in yen: {text!r} (per {per!r})")
    body = body.lstrip("¥￥").strip()
    if body.endswith("円"):
        body = body[:-1].rstrip()
    amount, _ = _number(body, frozenset({""}))
    return Yen(amount, label, per)


# --- statuses and lists --------------------------------------------------------------------------------------

_STATUS_SYMBOLS = {
    "✓": "ok",
    "✔": "ok",
    "✔️": "ok",
    "✅": "ok",
    "🟢": "ok",
    "⚠️": "warning",
    "⚠": "warning",
    "🟡": "warning",
    "✗": "error",
    "✘": "error",
    "❌": "error",
    "🔴": "error",
    "⛔": "error",
    "ℹ️": "info",
    "ℹ": "info",
}
_SYMBOLS_LONGEST_FIRST = sorted(_STATUS_SYMBOLS, key=len, reverse=True)


def parse_status(text: str) -> Status:
    body = text.strip()
    for symbol in _SYMBOLS_LONGEST_FIRST:
        if body.startswith(symbol):
            return Status(body[len(symbol) :].strip(), symbol, _STATUS_SYMBOLS[symbol])
    return Status(body)


def parse_list(text: str) -> tuple[str, ...]:
    """Items joined with `" | "`, `"; "` or `", "` (the first of those found, in that order)."""
    for separator in (" | ", "; ", ", "):
        if separator in text:
            return tuple(item.strip() for item in text.split(separator) if item.strip())
    return (text.strip(),)


# --- dispatch ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flagged:
    """What a column parser returns for a text placeholder: the value is NULL, `original` is kept."""

    original: str


ColumnParser = Callable[[str], Any]  # text -> value | None | Flagged; raises UnparsableValue


_GROUPED_DIGITS = re.compile(r"\d{1,3}(?:,\d{3})+")


def _integer_fast(text: str) -> int:
    if text.isascii():
        if text.isdigit():
            return int(text)
        if _GROUPED_DIGITS.fullmatch(text):
            return int(text.replace(",", ""))
    return parse_integer(text.strip())


_BOOLEANS_AS_WRITTEN = {**_BOOLEANS, "True": True, "False": False, "TRUE": True, "FALSE": False}


def _boolean_fast(text: str) -> bool:
    value = _BOOLEANS_AS_WRITTEN.get(text)
    return value if value is not None else parse_boolean(text)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int64(value: int, text: str) -> int:
    """Counts and sizes are stored as 64-bit integers: a larger number is a bad value, not a failed load."""
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    raise UnparsableValue(f"beyond the 64-bit integer range: {text!r}")


def _never_if_min_value(value: date, text: str) -> date | Flagged:
    """PowerShell writes [DateTime]::MinValue (`0001/01/01 0:00:00`) for "never": a placeholder, not a date (and
    no instant in UTC: the first hours of year 1 in Tokyo are before it)."""
    return Flagged(text) if value.year == 1 else value


_TYPED: dict[Kind, Callable[[str, str | None], Any]] = {
    Kind.INTEGER: lambda text, unit: _int64(_integer_fast(text), text),
    Kind.DECIMAL: lambda text, unit: parse_decimal(text.strip()),
    Kind.PERCENT: lambda text, unit: parse_percent(text),
    Kind.BOOLEAN: lambda text, unit: _boolean_fast(text),
    Kind.DATETIME: lambda text, unit: _never_if_min_value(parse_datetime(text), text),
    Kind.DATE: lambda text, unit: _never_if_min_value(parse_date(text), text),
    Kind.YEAR_MONTH: lambda text, unit: parse_year_month(text),
    Kind.DATE_RANGE: lambda text, unit: parse_date_range(text),
    Kind.DURATION: lambda text, unit: parse_duration(text.strip(), unit or "s"),
    Kind.BYTES: lambda text, unit: _int64(parse_bytes(text, unit or "B"), text),
    Kind.YEN: lambda text, unit: parse_yen(text),
}


def _text(text: str) -> str | None:
    return text or None


def _status(text: str) -> Status | None:
    return parse_status(text) if text and not text.isspace() else None


def _list(text: str) -> tuple[str, ...] | Flagged | None:
    if not text or text.isspace():
        return None
    if text in PLACEHOLDERS or placeholder_of(text.strip()):
        return Flagged(text)
    return parse_list(text)


@cache
def column_parser(kind: Kind, unit: str | None = None) -> ColumnParser:
    """The parser of one column: text -> the typed value, None for an empty field, `Flagged(original)` for a
    text placeholder; raises UnparsableValue with the reason when the text fits no form of `kind`."""
    if kind is Kind.TEXT:
        return _text
    if kind is Kind.STATUS:
        return _status
    if kind is Kind.LIST:
        return _list
    typed = _TYPED[kind]

    def parse(text: str) -> Any:
        if not text or text.isspace():
            return None
        if text in PLACEHOLDERS:
            return Flagged(text)
        try:
            return typed(text, unit)
        except UnparsableValue:
            if placeholder_of(text.strip()):
                return Flagged(text)
            raise

    if kind is not Kind.DATETIME:
        return parse

    def parse_datetime_column(text: str) -> Any:  # most dates of a report are of a day it had before
        known = _from_known_parts(text)
        return known if known is not None else parse(text)

    return parse_datetime_column


def common_form_parser(kind: Kind) -> Callable[[str], Any] | None:
    """A parser of the commonest form of `kind`, cheaper than the column parser's (None for a kind without one):
    text -> the value the column parser gives, or None when the text is not in that form (the column parser
    decides then). It never raises and never returns a placeholder."""
    return _from_known_parts if kind is Kind.DATETIME else None


def parse_value(kind: Kind, text: str | None, unit: str | None = None) -> Parsed:
    """Parse one field of a column of `kind`; raises UnparsableValue with the reason."""
    if text is None:
        return Parsed(None)
    value = column_parser(kind, unit)(text)
    if isinstance(value, Flagged):
        return Parsed(None, value.original)
    return Parsed(value)
