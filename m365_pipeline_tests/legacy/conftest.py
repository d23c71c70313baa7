"""Paths to the shared legacy material (../shared beside the project root); tests that need it skip without it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from m365_pipeline.warehouse.engine import create_warehouse_engine

SHARED = Path(__file__).resolve().parents[3] / "shared"
SAMPLES = SHARED / "legacy_csv_samples"
CATALOGUE = SHARED / "reference" / "legacy_csv_formats.md"


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"the legacy samples folder {SAMPLES} is missing")
    return SAMPLES


@pytest.fixture
def catalogue() -> Path:
    if not CATALOGUE.is_file():
        pytest.skip(f"the legacy catalogue {CATALOGUE} is missing")
    return CATALOGUE


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated, empty warehouse: a SQLite file, then a fresh real PostgreSQL database (each a copy of the one
    migrated to head once this session)."""
    if request.param == "sqlite":
        url = request.getfixturevalue("migrated_sqlite")(tmp_path / "warehouse.db")
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    engine = create_warehouse_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_warehouse(tmp_path: Path, migrated_sqlite: Callable[[Path], str]) -> Iterator[sa.Engine]:
    engine = create_warehouse_engine(migrated_sqlite(tmp_path / "warehouse.db"))
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(migrated_postgres_url: str) -> Iterator[sa.Engine]:
    engine = create_warehouse_engine(migrated_postgres_url)
    yield engine
    engine.dispose()
