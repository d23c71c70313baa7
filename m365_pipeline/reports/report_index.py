"""Which extract a folder's newest report was written from: a run whose warehouse holds the same extract (and
the same layout and time zone) writes no new report, since the newest one already says everything.

The index is one small JSON file per report name beside the reports, replaced whole; a missing or unreadable
index only means the next run writes the report again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from m365_pipeline.liveness import temporary_sibling


@dataclass(frozen=True)
class WrittenReport:
    extract_id: str  # the warehouse extract the report was written from
    layout: str  # what else decides its content: header and time zone
    path: str
    rows: int


def write_unless_current(
    folder: Path, report_name: str, extract_id: str, layout: str, write: Callable[[], tuple[Path, int]]
) -> tuple[WrittenReport, bool]:
    """The newest report of ``extract_id`` in ``layout``, written by ``write`` (path, rows) unless there is one
    already; and whether it was written now."""
    report = newest_report(folder, report_name)
    if report is not None and (report.extract_id, report.layout) == (extract_id, layout):
        return report, False
    path, rows = write()
    report = WrittenReport(extract_id, layout, str(path), rows)
    record_report(folder, report_name, report)
    return report, True


def newest_report(folder: Path, report_name: str) -> WrittenReport | None:
    try:
        report = WrittenReport(**json.loads(_index(folder, report_name).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return report if Path(report.path).is_file() else None


def record_report(folder: Path, report_name: str, report: WrittenReport) -> None:
    index = _index(folder, report_name)
    temporary = temporary_sibling(index)
    try:
        temporary.write_text(json.dumps(asdict(report), ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, index)
    finally:
        temporary.unlink(missing_ok=True)


def _index(folder: Path, report_name: str) -> Path:
    return folder / f".{report_name}.newest.json"
