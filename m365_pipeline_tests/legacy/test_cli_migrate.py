"""`m365 migrate` as a real process: a whole old Reports/ tree, the summary, exit codes, a re-run that does nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa

from m365_pipeline.emulator.tenant import tenant_id_for_seed
from m365_pipeline.warehouse.schema import legacy_files
from m365_pipeline_tests.test_cli import _run


def _figures(stdout: str) -> dict[str, int]:
    figures = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 2 and cells[1].replace(",", "").isdigit():
            figures[cells[0]] = int(cells[1].replace(",", ""))
    return figures


def _tree(samples: Path, root: Path) -> Path:
    """An old Reports/ tree: samples in nested folders, plus a file of an unknown layout and one bad row."""
    reports = root / "Reports"
    for index, sample in enumerate(sorted(samples.glob("*.csv"))):
        folder = reports / ("Daily" if index % 2 else "EntraID/Users")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample, folder / sample.name)
    (reports / "Other").mkdir()
    (reports / "Other" / "Mystery_20250801_090000.csv").write_text('"Foo","Bar"\r\n"1","2"\r\n', encoding="utf-8")
    (reports / "Other" / "notes.txt").write_text("not a report", encoding="utf-8")
    return reports


def test_migrating_a_tree_prints_the_summary_and_exits_1_when_something_was_quarantined(
    samples: Path, tmp_path: Path
) -> None:
    reports = _tree(samples, tmp_path)
    first = _run(["migrate", str(reports)], tmp_path)
    assert first.returncode == 1, first.stderr
    figures = _figures(first.stdout)
    assert figures["files"] == 12
    assert figures["migrated now"] == 12
    assert (figures["rows"], figures["loaded"], figures["quarantined"]) == (43, 42, 1)
    assert figures["unknown layouts"] == 1
    assert "unknown_layout: " in first.stdout and "Mystery_20250801_090000.csv" in first.stdout

    again = _run(["migrate", str(reports)], tmp_path)
    assert again.returncode == 1
    assert _figures(again.stdout)["already migrated"] == 12
    assert _figures(again.stdout)["migrated now"] == 0
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}")
    with engine.connect() as connection:
        ledger = connection.execute(sa.select(legacy_files.c.tenant_id, legacy_files.c.rows_in)).all()
    engine.dispose()
    assert len(ledger) == 12
    assert {tenant for tenant, _ in ledger} == {tenant_id_for_seed(365)}  # the configured (default) tenant


def test_all_rows_loaded_exits_0(samples: Path, tmp_path: Path) -> None:
    completed = _run(["migrate", str(samples)], tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert _figures(completed.stdout)["loaded"] == 42


def test_usage_errors_exit_2_with_one_line(samples: Path, tmp_path: Path) -> None:
    assert _run(["migrate"], tmp_path).returncode == 2
    assert _run(["migrate", str(tmp_path / "missing")], tmp_path).returncode == 2
    several = _run(["migrate", str(samples)], tmp_path, M365_EMULATOR_SEED="1,2")
    assert several.returncode == 2
    assert "give --tenant" in several.stderr
    unknown = _run(["migrate", str(samples), "--tenant", "someone-else"], tmp_path)
    assert unknown.returncode == 2
    assert "not configured" in unknown.stderr
    chosen = _run(["migrate", str(samples), "--tenant", tenant_id_for_seed(2)], tmp_path, M365_EMULATOR_SEED="1,2")
    assert chosen.returncode == 0, chosen.stderr
