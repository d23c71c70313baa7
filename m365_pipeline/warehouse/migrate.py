"""Bring the warehouse schema up to date with the Alembic migrations shipped inside this package."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

MIGRATIONS = "m365_pipeline.warehouse:migrations"
# Not alembic's default name: the warehouse may share a database with Dagster's own storage, which keeps its
# revision in `alembic_version`.
VERSION_TABLE = "m365_alembic_version"

# Any constant shared by all runs: concurrent upgrades of one PostgreSQL database queue on this lock.
_POSTGRES_MIGRATION_LOCK = 365_0001


def alembic_config() -> Config:
    """Alembic's configuration without an ini file: the scripts live in the installed package."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config


def upgrade_to_head(engine: sa.Engine) -> None:
    """Apply every migration not yet applied, in one transaction; a no-op when the schema is current."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the warehouse is at; None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()
