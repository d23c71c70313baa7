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
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tenant", help="Whose history the files are (a configured tenant); default: the configured tenant.")
def migrate(paths: Sequence[Path], tenant: str | None) -> None:
    """Migrate the old tool's CSV reports (files, or folders walked for *.csv) into the warehouse.

    Each file is migrated in one transaction and recorded in the ledger by its content's SHA-256, so running
    again skips what is done and a changed file is loaded as a new version. Prints a progress bar (stderr) and a
    summary; exit 0 when every row was loaded, 1 when some rows or files were quarantined or failed, 2 on a
    usage or setting error.
    """
    from m365_pipeline.legacy.load import legacy_csv_files, migrate_file
    from m365_pipeline.warehouse.engine import create_warehouse_engine
    from m365_pipeline.warehouse.migrate import upgrade_to_head

    database_url, tenant_id = _tenant_or_exit(tenant)
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
                    failures.append((path, f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"))
    finally:
        engine.dispose()
    _print_summary(results, failures)
    clean = not failures and all(result.status in ("loaded", "empty") for result in results)
    sys.exit(0 if clean else 1)


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
        ("failed files", len(failures)),
    ]
    width = max(len(name) for name, _ in figures)
    click.echo(f"| {'':{width}} | {'count':>10} |")
    click.echo(f"|{'-' * (width + 2)}|{'-' * 12}|")
    for name, count in figures:
        click.echo(f"| {name:{width}} | {count:>10,} |")
    for result in results:
        if result.status not in ("loaded", "empty"):
            click.echo(f"{result.status}: {result.path}: {result.reason}")
    for path, reason in failures:
        click.echo(f"failed: {path}: {reason}")
