"""CSV exactly as the old tool's `Export-Csv -NoTypeInformation -Encoding UTF8BOM` wrote it.

UTF-8 with a byte order mark, CRLF line ends, every value double-quoted with embedded quotes doubled, and
`$null` as an empty unquoted field. The file appears under its final name only once it is complete.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from m365_pipeline.liveness import temporary_sibling

_LINE_END = "\r\n"


def report_file_name(report_name: str, at: datetime) -> str:
    """`<ReportName>_yyyyMMdd_HHmmss.csv`, the stamp read in the time zone `at` carries."""
    if at.utcoffset() is None:
        raise ValueError(f"report time for {report_name!r} must be timezone-aware, got naive {at.isoformat()}")
    if "/" in report_name or "\\" in report_name:
        raise ValueError(f"report name {report_name!r} must not contain a path separator")
    return f"{report_name}_{at:%Y%m%d_%H%M%S}.csv"


def write_powershell_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str | None]]) -> int:
    """Write `header` and `rows` to `path` (replacing what is there); return the number of data rows written."""
    with _complete_file(path, header, rows) as (temporary, written):
        os.replace(temporary, path)
    return written


def write_new_powershell_csv(
    folder: Path, report_name: str, at: datetime, header: Sequence[str], rows: Iterable[Sequence[str | None]]
) -> tuple[Path, int]:
    """Write a report under `report_file_name(report_name, at)` in `folder`, never over another report: when two
    runs write the same report in the same second, the later one gets `_2` (then `_3`...) before `.csv`."""
    first = folder / report_file_name(report_name, at)
    with _complete_file(first, header, rows) as (temporary, written):
        for attempt in itertools.count(1):
            path = first if attempt == 1 else first.with_name(f"{first.stem}_{attempt}{first.suffix}")
            try:
                os.link(temporary, path)  # fails if the name is taken: no check-then-write race
            except FileExistsError:
                continue
            return path, written
    raise AssertionError("unreachable")


@contextmanager
def _complete_file(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[str | None]]
) -> Iterator[tuple[Path, int]]:
    """A temporary file beside `path` holding the whole report, removed after the caller has published it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        with temporary.open("x", encoding="utf-8-sig", newline="") as file:
            file.write(_format_line(path, 0, header, len(header)))
            written = 0
            for written, row in enumerate(rows, start=1):
                file.write(_format_line(path, written, row, len(header)))
            file.flush()
            os.fsync(file.fileno())
        yield temporary, written
    finally:
        temporary.unlink(missing_ok=True)


def _format_line(path: Path, row_number: int, values: Sequence[str | None], width: int) -> str:
    """One CSV line; `row_number` 0 is the header, data rows count from 1."""
    where = "header" if row_number == 0 else f"row {row_number}"
    if len(values) != width:
        raise ValueError(f"{path}: {where} has {len(values)} fields, the header has {width}")
    fields = []
    for column, value in enumerate(values, start=1):
        if value is None and row_number > 0:
            fields.append("")
        elif isinstance(value, str):
            fields.append('"' + value.replace('"', '""') + '"')
        else:
            raise TypeError(f"{path}: {where}, field {column}: expected text or None, got {type(value).__name__}")
    return ",".join(fields) + _LINE_END
