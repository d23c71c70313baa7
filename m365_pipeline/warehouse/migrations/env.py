"""Alembic environment: runs online, on the connection `migrate.upgrade_to_head` hands in.

Run from the alembic command line instead, it connects to ``sqlalchemy.url`` of the configuration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import VERSION_TABLE
from m365_pipeline.warehouse.schema import metadata


def _run_migrations(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        # SQLite cannot ALTER most things: later revisions change its tables by copy-and-move.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_migrations(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise ValueError("alembic: no connection handed in and no sqlalchemy.url configured")
    engine = create_warehouse_engine(url)
    try:
        with engine.connect() as connection:
            _run_migrations(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise ValueError("alembic: offline (--sql) mode is not supported for the warehouse")
_run_online()
