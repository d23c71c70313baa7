"""`read_legacy_file(path)`: one legacy CSV file, recognized, with its rows streamed typed or quarantined.

    legacy = read_legacy_file(path)          # reads the encoding and the header, not the rows
    legacy.status                            # 'recognized', 'unknown_layout' or 'empty'
    legacy.layout.report_type.name           # e.g. 'user_list'; legacy.unknown.reason otherwise
    for row in legacy.rows():                # TypedRow | QuarantinedRow, one per record, streamed
        ...
    for batch in legacy.batches():           # the same records as TypedBatch: typed columns + quarantined rows
        ...

The report's own time: the file name's stamp (`<ReportName>_yyyyMMdd_HHmmss[_N].csv` or `_yyyyMMddHHmm.csv`,
Asia/Tokyo, the old tool's zone); a file without one (`Clean_User_License_Details.csv`) takes the first record's
value of its report type's timestamp column (`AnalysisTimestamp`, `生成日時`, `ReportDate`, `分析日時`), if any.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Literal

from m365_pipeline.legacy.layouts import Layout, UnknownLayout, recognize
from m365_pipeline.legacy.reading import CsvStream, Dialect, detect_dialect
from m365_pipeline.legacy.rows import (
    BATCH_RECORDS,
    Problem,
    QuarantinedRow,
    RowTyper,
    TypedBatch,
    TypedRow,
    column_keys,
    quarantined_batch,
)
from m365_pipeline.legacy.values import LEGACY_ZONE, UnparsableValue, parse_datetime

_STAMP = re.compile(r"^(?P<name>.*?)_?(?P<stamp>\d{8}_\d{6}|\d{12})(?:_\d+)?$")

Status = Literal["recognized", "unknown_layout", "empty"]


def timestamp_from_name(path: Path) -> tuple[str, datetime | None]:
    """The report name and the time stamped in a legacy file's name (None without a stamp)."""
    match = _STAMP.match(path.stem)
    if match is None:
        return path.stem, None
    digits = match["stamp"].replace("_", "")
    try:
        stamp = datetime.strptime(digits, "%Y%m%d%H%M%S" if len(digits) == 14 else "%Y%m%d%H%M")
    except ValueError:
        return path.stem, None
    return match["name"], stamp.replace(tzinfo=LEGACY_ZONE)


@dataclass(frozen=True)
class LegacyFile:
    path: Path
    dialect: Dialect
    headers: tuple[str, ...]  # as written (repeated names included); empty for an empty file
    layout: Layout | None
    unknown: UnknownLayout | None
    report_name: str  # from the file name, without its stamp ('' for the old tool's nameless `_TS.csv`)
    report_timestamp: datetime | None
    report_timestamp_source: str | None  # 'file name' or 'content: <column>'

    @property
    def status(self) -> Status:
        if self.layout is not None:
            return "recognized"
        return "unknown_layout" if self.unknown is not None else "empty"

    @property
    def columns(self) -> tuple[str, ...]:
        """The value keys of the file's columns, in the file's order."""
        return column_keys(self.layout.columns) if self.layout else ()

    def rows(self) -> Iterator[TypedRow | QuarantinedRow]:
        """Every record of the file, typed or quarantined (all quarantined when the layout is unknown)."""
        for batch in self.batches():
            yield from batch.rows()

    def batches(self) -> Iterator[TypedBatch]:
        """Every record of the file in batches of consecutive records typed together (BATCH_RECORDS)."""
        with CsvStream(self.path, self.dialect) as stream:
            records = stream.records()
            if self.layout is not None:
                yield from RowTyper(str(self.path), self.layout).batches(records)
                return
            reason = f"unknown layout: {self.unknown.reason}" if self.unknown else "no header"
            while batch := list(islice(records, BATCH_RECORDS)):
                yield quarantined_batch(
                    [
                        QuarantinedRow(
                            str(self.path),
                            record.row_number,
                            record.line,
                            (Problem(None, None, reason),),
                            record.fields,
                        )
                        for record in batch
                    ]
                )


def read_legacy_file(path: str | Path) -> LegacyFile:
    """Open a legacy CSV file: its encoding, header, layout and own time. Raises LegacyEncodingError naming the
    file when it is neither UTF-8 nor Shift_JIS."""
    path = Path(path)
    dialect = detect_dialect(path)
    with CsvStream(path, dialect) as stream:
        headers = stream.header_raw or ()
        first = next(stream.records(), None)
    report_name, stamp = timestamp_from_name(path)
    layout: Layout | None = None
    unknown: UnknownLayout | None = None
    if headers:
        found = recognize(headers)
        if isinstance(found, Layout):
            layout = found
        else:
            unknown = found
    source = "file name" if stamp else None
    if stamp is None and layout is not None and first is not None and layout.report_type.timestamp_column:
        stamp, source = _content_timestamp(layout, first.fields)
    return LegacyFile(path, dialect, headers, layout, unknown, report_name, stamp, source)


def _content_timestamp(layout: Layout, fields: tuple[str, ...]) -> tuple[datetime | None, str | None]:
    wanted = layout.report_type.timestamp_column
    for column, text in zip(layout.columns, fields, strict=False):
        if column.name == wanted and text.strip():
            try:
                return parse_datetime(text), f"content: {column.name}"
            except UnparsableValue:
                return None, None
    return None, None
