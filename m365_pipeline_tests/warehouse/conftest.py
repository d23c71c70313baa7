from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from m365_pipeline.warehouse.engine import create_warehouse_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new warehouse database: a SQLite file, then a fresh real PostgreSQL database.

    Empty; but migrated to head when the test also takes ``engine`` (the same database): a copy of the one migrated
    once this session, exactly what migrating it here would give.
    """
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "data" / "warehouse.db"
        if migrated:
            copy: Callable[[Path], str] = request.getfixturevalue("migrated_sqlite")
            return copy(path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("migrated_postgres_url" if migrated else "postgres_url")
    return url


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[sa.Engine]:
    """A migrated warehouse on each dialect (``warehouse_url``, migrated to head)."""
    engine = create_warehouse_engine(warehouse_url)
    yield engine
    engine.dispose()
