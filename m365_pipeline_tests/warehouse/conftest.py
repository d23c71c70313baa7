from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import upgrade_to_head


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty warehouse database: a SQLite file, then a fresh real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[sa.Engine]:
    """A migrated warehouse on each dialect."""
    engine = create_warehouse_engine(warehouse_url)
    upgrade_to_head(engine)
    yield engine
    engine.dispose()
