"""Backends to run the same tests on: a local folder, and S3 through moto's S3 API server on a real socket; the row
groups of base tables read, recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from m365_pipeline.snapshots import row_groups, tables
from m365_pipeline.snapshots.backend import Backend, LocalBackend


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    if request.param == "local":
        return LocalBackend(tmp_path / "repo")
    from m365_pipeline.snapshots.s3_backend import S3Backend

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Backend(f"s3://{bucket}/repo", endpoint_url=endpoint, spool_folder=tmp_path / "spools")


@pytest.fixture
def second_postgres_url() -> Iterator[str]:
    """Another fresh PostgreSQL database (a restore target beside ``postgres_url``), dropped afterwards."""
    import sqlalchemy as sa

    from m365_pipeline_tests.conftest import POSTGRES_ADMIN_URL, _service_missing

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"m365_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        _service_missing(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error.orig}")
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def groups_read(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every base window read, as (table, window number) in the order read: the real ``RowGroupIndex.window``,
    recorded."""
    read: list[tuple[str, int]] = []
    real_window = row_groups.RowGroupIndex.window

    def recording(self: row_groups.RowGroupIndex, number: int, spec: tables.TableSpec) -> list[pa.RecordBatch]:
        read.append((spec.name, number))
        return real_window(self, number, spec)

    monkeypatch.setattr(row_groups.RowGroupIndex, "window", recording)
    return read
