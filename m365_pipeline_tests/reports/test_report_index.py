"""A report is written once per extract and layout; the next run with nothing new reuses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from m365_pipeline.reports.report_index import newest_report, write_unless_current


def _writer(folder: Path, calls: list[str]) -> Callable[[], tuple[Path, int]]:
    def write() -> tuple[Path, int]:
        path = folder / f"report_{len(calls)}.csv"
        path.write_text("x")
        calls.append(path.name)
        return path, 7

    return write


def test_the_same_extract_and_layout_reuse_the_newest_report(tmp_path: Path) -> None:
    calls: list[str] = []
    first, written = write_unless_current(tmp_path, "AllUsers", "e1", "layout", _writer(tmp_path, calls))
    assert written and first.rows == 7

    again, written_again = write_unless_current(tmp_path, "AllUsers", "e1", "layout", _writer(tmp_path, calls))
    assert not written_again and again == first and calls == ["report_0.csv"]

    _, new_extract = write_unless_current(tmp_path, "AllUsers", "e2", "layout", _writer(tmp_path, calls))
    _, new_layout = write_unless_current(tmp_path, "AllUsers", "e2", "other time zone", _writer(tmp_path, calls))
    assert new_extract and new_layout and len(calls) == 3


def test_a_missing_report_file_or_an_unreadable_index_means_writing_again(tmp_path: Path) -> None:
    calls: list[str] = []
    report, _ = write_unless_current(tmp_path, "AllUsers", "e1", "layout", _writer(tmp_path, calls))
    Path(report.path).unlink()
    assert newest_report(tmp_path, "AllUsers") is None
    (tmp_path / ".AllUsers.newest.json").write_text("{half")
    assert newest_report(tmp_path, "AllUsers") is None

    _, written = write_unless_current(tmp_path, "AllUsers", "e1", "layout", _writer(tmp_path, calls))
    assert written and len(calls) == 2
