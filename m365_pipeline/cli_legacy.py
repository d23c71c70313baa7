"""`m365 migrate PATH...`: the old tool's CSV reports (a whole Reports/ tree at once) into the warehouse."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from m365_pipeline.settings import SettingsError, load_settings

if TYPE_CHECKING:
    from m365_pipeline.legacy.load import FileResult


def _tenant_or_exit(tenant: str | None) -> tuple[str, str]:
    """(database URL, tenant) from the settings; exit 2 with the reason on a setting or usage error."""
    from m365_pipeline.sources import configured_tenants

    try:
        settings = load_settings()
    except SettingsError as error:
        click.echo(f"m365: setting error: {error}", err=True)
        sys.exit(2)
    known = configured_tenants(settings)
    if tenant is None:
        if len(known) != 1:
            click.echo(
                f"m365 migrate: {len(known)} tenants are configured ({', '.join(known)}): give --tenant", err=True
            )
            sys.exit(2)
        return settings.database_url, known[0]
    if tenant not in known:
        click.echo(f"m365 migrate: tenant {tenant} is not configured (configured: {', '.join(known)})", err=True)
        sys.exit(2)
    return settings.database_url, tenant


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--tenant", help="Whose history the files are (a configured tenant); default: the configured tenant.")
@click.option(
    "--refold-history",
    is_flag=True,
    help="Instead of migrating files, fold every report already migrated into the directory history again.",
)
def migrate(paths: Sequence[Path], tenant: str | None, refold_history: bool) -> None:
    """Migrate the old tool's CSV reports (files, or folders walked for *.csv) into the warehouse.

    Each file is migrated in one transaction and recorded in the ledger by its content's SHA-256, so running
    again skips what is done and a changed file is loaded as a new version. Prints a progress bar (stderr) and a
    summary; exit 0 when every row was loaded, 1 when some rows or files were quarantined or failed, 2 on a
    usage or setting error.

    With --refold-history (and no PATH), the user list, licence and group reports already in the ledger are folded
    into the directory history again from their typed tables (for reports migrated before their fold existed);
    exit 0 when every report was folded, 1 when some failed.
    """
    if refold_history == bool(paths):
        raise click.UsageError("give PATH... to migrate, or --refold-history alone")
    database_url, tenant_id = _tenant_or_exit(tenant)
    if refold_history:
        _refold(database_url, tenant_id)
    from m365_pipeline.legacy.load import legacy_csv_files, migrate_file
    from m365_pipeline.warehouse.engine import create_warehouse_engine
    from m365_pipeline.warehouse.migrate import upgrade_to_head

    files = list(legacy_csv_files(paths))
    engine = create_warehouse_engine(database_url)
    upgrade_to_head(engine)
    results: list[FileResult] = []
    failures: list[tuple[Path, str]] = []
    try:
        with click.progressbar(
            files,
            label=f"migrating {len(files)} files for {tenant_id}",
            file=sys.stderr,
            item_show_func=lambda path: path.name if path else None,
        ) as progress:
            for path in progress:
                try:
                    results.append(migrate_file(engine, path, tenant_id))
                except Exception as error:  # one file's failure is noted with its reason; the other files go on
                    failures.append((path, _reason(error)))
    finally:
        engine.dispose()
    _print_summary(results, failures)
    clean = not failures and all(result.status in ("loaded", "empty") for result in results)
    sys.exit(0 if clean else 1)


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


def _refold(database_url: str, tenant_id: str) -> None:
    """`m365 migrate --refold-history`: every migrated report with a fold, one transaction each; exits."""
    from m365_pipeline.legacy.backfill import folded_reports, legacy_history_rows, refold_report
    from m365_pipeline.legacy.history import NOTHING_LEFT_OUT
    from m365_pipeline.warehouse.engine import create_warehouse_engine
    from m365_pipeline.warehouse.migrate import upgrade_to_head

    engine = create_warehouse_engine(database_url)
    upgrade_to_head(engine)
    failures: list[tuple[str, str]] = []
    folded = NOTHING_LEFT_OUT
    try:
        reports = folded_reports(engine, tenant_id)
        with click.progressbar(
            reports,
            label=f"folding {len(reports)} migrated reports into the history of {tenant_id}",
            file=sys.stderr,
            item_show_func=lambda report: (
                f"{report.report_type} {report.report_timestamp:%Y-%m-%d %H:%M}" if report else None
            ),
        ) as progress:
            for report in progress:
                try:
                    folded += refold_report(engine, tenant_id, report)
                except Exception as error:  # one report's failure is noted with its reason; the others go on
                    failures.append((f"{report.report_type} at {report.report_timestamp.isoformat()}", _reason(error)))
        rows = legacy_history_rows(engine, tenant_id)
    finally:
        engine.dispose()
    figures = [
        ("reports folded", len(reports) - len(failures)),
        ("report files", sum(report.files for report in reports)),
        ("report types", len({report.report_type for report in reports})),
        *((f"{table} rows from old reports", count) for table, count in rows.items()),
        ("facts left out (key > 36 characters)", folded.left_out),
        ("failed reports", len(failures)),
    ]
    _print_table(figures)
    for example in folded.examples:
        click.echo(f"left out of the history: {example}")
    for report_name, reason in failures:
        click.echo(f"failed: {report_name}: {reason}")
    sys.exit(1 if failures else 0)


def _print_table(figures: list[tuple[str, int]]) -> None:
    width = max(len(name) for name, _ in figures)
    click.echo(f"| {'':{width}} | {'count':>10} |")
    click.echo(f"|{'-' * (width + 2)}|{'-' * 12}|")
    for name, count in figures:
        click.echo(f"| {name:{width}} | {count:>10,} |")


def _print_summary(results: list[FileResult], failures: list[tuple[Path, str]]) -> None:
    statuses = Counter(result.status for result in results)
    figures = [
        ("files", len(results) + len(failures)),
        ("migrated now", sum(not result.already_migrated for result in results)),
        ("already migrated", sum(result.already_migrated for result in results)),
        ("rows", sum(result.rows_in for result in results)),
        ("loaded", sum(result.rows_loaded for result in results)),
        ("quarantined", sum(result.rows_quarantined for result in results)),
        ("files with quarantined rows", statuses["quarantined"]),
        ("unknown layouts", statuses["unknown_layout"]),
        ("unreadable files", statuses["unreadable"]),
        ("empty files", statuses["empty"]),
        ("history facts left out (key > 36 characters)", sum(result.history.left_out for result in results)),
        ("failed files", len(failures)),
    ]
    _print_table(figures)
    for result in results:
        if result.status not in ("loaded", "empty"):
            click.echo(f"{result.status}: {result.path}: {result.reason}")
        if result.history.left_out:
            named = "; ".join(result.history.examples)
            click.echo(f"left out of the history: {result.path}: {result.history.left_out} facts, e.g. {named}")
    for path, reason in failures:
        click.echo(f"failed: {path}: {reason}")
