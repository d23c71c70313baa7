"""Backends to run the same tests on: a local folder, and S3 through moto's S3 API server on a real socket; the row
groups of base tables read, recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from m365_pipeline.snapshots import row_groups, tables
from m365_pipeline.snapshots.backend import Backend, LocalBackend
from m365_pipeline_tests.conftest import fresh_postgres_database


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
    with fresh_postgres_database() as url:
        yield url


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
