"""Backends to run the same tests on: a local folder, and S3 through moto's S3 API server on a real socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from m365_pipeline.snapshots.backend import Backend, LocalBackend


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    if request.param == "local":
        return LocalBackend(tmp_path / "repo")
    from m365_pipeline.snapshots.s3_backend import S3Backend

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Backend(f"s3://{bucket}/repo", endpoint_url=endpoint, spool_folder=tmp_path / "spools")
