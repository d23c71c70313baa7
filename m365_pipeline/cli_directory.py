"""`m365 asof DATE`: the tenant's directory on a past date, from the warehouse's history (``warehouse.asof``)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta

import click
import sqlalchemy as sa

from m365_pipeline.settings import SettingsError, load_settings


def _moment(text: str) -> datetime:
    """A DATE means the end of that day (UTC): the state the day ended with."""
    try:
        if "T" in text or " " in text:
            moment = datetime.fromisoformat(text)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        day = date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a date (2026-11-30) nor a time (2026-11-30T09:00:00Z)") from None
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC) - timedelta(microseconds=1)


@click.command(name="asof")
@click.argument("when", metavar="DATE")
@click.option("--tenant", help="Tenant id [default: every tenant in the warehouse].")
def asof(when: str, tenant: str | None) -> None:
    """Print the directory on DATE (end of that day, UTC; or an ISO time): users, enabled users, guests, holders
    per SKU and per directory role, groups and memberships, from the warehouse's history tables."""
    moment = _moment(when)
    try:
        settings = load_settings()
    except SettingsError as error:
        click.echo(f"m365: setting error: {error}", err=True)
        sys.exit(2)
    from m365_pipeline.warehouse import schema
    from m365_pipeline.warehouse.asof import summary_on
    from m365_pipeline.warehouse.engine import create_warehouse_engine

    engine = create_warehouse_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            history = schema.user_history
            tenants = (
                [tenant.lower()]
                if tenant
                else list(
                    connection.execute(
                        sa.select(history.c.tenant_id).distinct().order_by(history.c.tenant_id)
                    ).scalars()
                )
            )
            if not tenants:
                click.echo("m365: the warehouse holds no history yet: publish or sync a directory first", err=True)
                sys.exit(1)
            for tenant_id in tenants:
                summary = summary_on(connection, tenant_id, moment)
                click.echo(f"tenant {tenant_id} on {moment.isoformat()}")
                click.echo(f"  users {summary.users} (enabled {summary.enabled_users}, guests {summary.guests})")
                click.echo(f"  groups {summary.groups} ({summary.memberships} direct memberships)")
                for sku, holders in summary.sku_holders.items():
                    click.echo(f"  licence {sku}: {holders}")
                for role, holders in summary.role_holders.items():
                    click.echo(f"  role {role}: {holders}")
    finally:
        engine.dispose()
