"""`m365`: run the pipeline, serve the Graph emulator, inspect settings, migrate the warehouse.

Every command exits 0 on success, 1 when the work failed and 2 when a setting or an argument is wrong, and
prints a one-line reason on failure.
"""

from __future__ import annotations

import gc
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

import click

from m365_pipeline.cli_directory import asof
from m365_pipeline.cli_emulator import change as emulator_change
from m365_pipeline.cli_snapshots import snapshot, tag
from m365_pipeline.settings import (
    PREFIX,
    SETTINGS_DOC,
    Settings,
    SettingsError,
    effective_settings,
    load_settings,
)


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        click.echo(f"m365: setting error: {error}", err=True)
        sys.exit(2)


class _OneLineErrors(click.Group):
    """An unexpected error ends the command with exit 1 and one line naming it (--traceback shows the rest)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if ctx.params.get("traceback"):
                raise
            click.echo(f"m365: {type(error).__name__}: {' '.join(str(error).split())[:500]}", err=True)
            sys.exit(1)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--traceback", is_flag=True, help="Show the whole traceback of an unexpected error.")
def main(traceback: bool) -> None:
    """m365_pipeline: Microsoft 365 tenant -> raw extracts -> warehouse -> the old tool's reports."""


@main.command()
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    help="Run only this tenant (repeatable); default: every tenant of M365_TENANT_ID or M365_EMULATOR_SEED.",
)
def run(tenants: tuple[str, ...]) -> None:
    """Materialize every asset (job `main`) for each tenant and print where the outputs are.

    With no M365_* settings this uses the embedded default: the bundled Graph emulator, a SQLite warehouse and
    files under ./data. Run from the project root: its dagster.yaml becomes the Dagster instance, so the runs
    show up under job `main` in `dg dev`. Each tenant is its own run (a partition); one failing does not stop
    the others. A failure prints one line per tenant and the log file with every event; exit 1.
    """
    settings = _settings_or_exit()
    if "DAGSTER_HOME" not in os.environ and Path("dagster.yaml").is_file():
        os.environ["DAGSTER_HOME"] = str(Path.cwd())

    from m365_pipeline.defs.main_run import run_main_job
    from m365_pipeline.sources import configured_tenants, source_description

    known = configured_tenants(settings)
    unknown = [tenant for tenant in tenants if tenant not in known]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} is not a configured tenant ({', '.join(known)})", param_hint="--tenant"
        )
    click.echo(f"m365: extracting from {source_description(settings)} into {settings.data_dir}", err=True)
    # Dagster's modules make a large heap that lives as long as the process: kept out of the cyclic garbage
    # collector, it is not walked again by every collection during the run and at exit (about a second each way).
    gc.freeze()
    outcome = run_main_job(settings=settings, tenants=list(tenants) or None)
    gc.freeze()
    for line in outcome.summary_lines():
        click.echo(line)
    failed = [run for run in outcome.runs if not run.success]
    for run in failed:
        click.echo(f"m365 run failed: tenant {run.tenant}: {run.failure_reason} (all events: {run.log_file})", err=True)
    if failed:
        sys.exit(1)


@main.group()
def emulator() -> None:
    """The bundled Microsoft Graph emulator."""


emulator.add_command(emulator_change)


@emulator.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=lambda _context, _parameter, value: _loopback_only(value),
    help="Loopback address to listen on: the emulator's built-in app secret is published, so it never faces a network.",
)
@click.option("--port", default=8365, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free).")
@click.option("--users", type=click.IntRange(1), help="Users in each synthetic tenant [M365_EMULATOR_USERS].")
@click.option("--tls", is_flag=True, help="Serve https with a self-signed certificate (needed for tenant mode: msal).")
@click.option("--limits", is_flag=True, help="Enforce Graph's published throttling limits per service class.")
@click.option(
    "--delta-replays", type=click.FloatRange(0, 1), default=0.0, help="Share of delta pages shuffled and replayed."
)
@click.option(
    "--tls-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the certificate and its key [default: <M365_DATA_DIR>/emulator-tls].",
)
def serve(
    host: str, port: int, users: int | None, tls: bool, limits: bool, delta_replays: float, tls_dir: Path | None
) -> None:
    """Serve one synthetic tenant per seed of M365_EMULATOR_SEED with Graph's semantics (faults from
    M365_EMULATOR_FAULTS), and print the settings that point the pipeline at it.

    Over http the pipeline uses it in emulator mode (M365_EMULATOR_URL). With --tls it is addressed as a real
    national cloud, so tenant mode runs against it end to end, msal included: the printed M365_* variables and
    SSL_CERT_FILE (the generated certificate) go into the pipeline's environment.
    """
    from m365_pipeline.emulator.app import GraphEmulator
    from m365_pipeline.emulator.identity import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET
    from m365_pipeline.emulator.server import ServedEmulator, serve_forever
    from m365_pipeline.emulator.tenant import generate_tenant

    if tls_dir is not None and not tls:
        raise click.UsageError("--tls-dir needs --tls")
    settings = _settings_or_exit()
    seeds = settings.emulator.seeds
    tenants = [generate_tenant(seed, settings.emulator.users if users is None else users) for seed in seeds]
    for seed, tenant in zip(seeds, tenants, strict=True):
        click.echo(f"m365 emulator: tenant {tenant.tenant_id} (seed {seed}, {len(tenant.users)} users)", err=True)

    def announce(served: ServedEmulator) -> None:
        click.echo(f"m365 emulator: serving {served.graph_base_url} (Ctrl-C stops it)", err=True)
        if served.certificate is None:
            click.echo("m365 emulator: settings of emulator mode against it:", err=True)
            click.echo(f"M365_EMULATOR_URL={served.url}")
            click.echo(f"M365_EMULATOR_SEED={','.join(str(seed) for seed in seeds)}")
            return
        click.echo(f"m365 emulator: certificate {served.certificate}", err=True)
        click.echo("m365 emulator: settings of tenant mode against it (no M365_EMULATOR_* with them):", err=True)
        click.echo(f"M365_TENANT_ID={','.join(tenant.tenant_id for tenant in tenants)}")
        click.echo(f"M365_CLIENT_ID={EMULATOR_CLIENT_ID}")
        click.echo(f"M365_CLIENT_SECRET={EMULATOR_CLIENT_SECRET}")  # the emulator's published secret
        click.echo(f"M365_GRAPH_BASE_URL={served.graph_base_url}")
        click.echo(f"M365_AUTHORITY_HOST={served.url}")
        click.echo(f"SSL_CERT_FILE={served.certificate}")

    if tls and tls_dir is None:
        tls_dir = settings.data_dir / "emulator-tls"
    emulator = GraphEmulator(tenants, settings.emulator.faults, limits=limits, delta_replays=delta_replays)
    serve_forever(emulator, host, port, tls_dir, on_ready=announce)


@main.command(name="settings")
def show_settings() -> None:
    """Validate the M365_* settings and print the effective values (secrets masked)."""
    settings = _settings_or_exit()
    for name, value in effective_settings(settings):
        click.echo(f"{name} = {value}")


@main.command(name="settings-doc")
def settings_doc() -> None:
    """Print every setting as a Markdown table (the README's table)."""
    click.echo("| variable | default | meaning |")
    click.echo("|---|---|---|")
    for name, (default, meaning) in SETTINGS_DOC.items():
        click.echo(f"| `{PREFIX}{name}` | {default or ''} | {meaning} |")


main.add_command(asof)


@main.group()
def warehouse() -> None:
    """The warehouse database."""


@warehouse.command()
def upgrade() -> None:
    """Migrate the warehouse (M365_DATABASE_URL) to the newest schema revision; safe to repeat."""
    from m365_pipeline.warehouse.engine import create_warehouse_engine
    from m365_pipeline.warehouse.migrate import current_revision, upgrade_to_head

    engine = create_warehouse_engine(_settings_or_exit().database_url)
    upgrade_to_head(engine)
    click.echo(f"{engine.url.render_as_string(hide_password=True)} is at revision {current_revision(engine)}")


main.add_command(tag)
main.add_command(snapshot)


def _loopback_only(host: str) -> str:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise click.BadParameter(f"{host} is not a loopback address (127.0.0.0/8, ::1 or localhost)")
    return host


from m365_pipeline.cli_legacy import migrate  # noqa: E402  (commands of their own modules, registered last)

main.add_command(migrate)
