"""The raw store on a local folder and on S3 (moto's S3 API server on a real socket): the same code, the same
answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from m365_pipeline.raw_store import ExtractManifest, RawStore, new_extract_id

TENANT = "3f2a0c1e-0000-4000-8000-000000000001"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RawStore:
    if request.param == "local":
        return RawStore(str(tmp_path / "raw"))
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return RawStore(f"s3://{bucket}/m365", s3_endpoint_url=endpoint)


def _write(folder: Path, name: str, ids: list[str | None]) -> Path:
    path = folder / f"{name}.parquet"
    pq.write_table(pa.table({"id": pa.array(ids, pa.string())}), path, row_group_size=3)
    return path


def _extract(store: RawStore, ids: list[str | None], *, publish: bool = True) -> ExtractManifest:
    extract_id = new_extract_id()
    with store.staging() as folder:
        stored = store.put(_write(folder, "users", ids), "users", TENANT, extract_id)
    manifest = ExtractManifest(
        TENANT, TENANT, "Contoso", "contoso.example", extract_id, "2026-12-02T00:00:00+00:00", {"users": stored}
    )
    if publish:
        store.publish_manifest(manifest)
    return manifest


def test_the_newest_complete_extract_is_the_one_read_back(store: RawStore) -> None:
    assert store.latest_extract(TENANT) is None
    first = _extract(store, ["a", "b"])
    second = _extract(store, ["a", "b", "c", "d", "e", "f", "g"])
    _extract(store, ["never", "published"], publish=False)

    latest = store.latest_extract(TENANT)

    assert latest == second and latest != first
    path = latest.files["users"].path
    assert path == store.path("users", TENANT, second.extract_id)
    batches = list(store.iter_record_batches(path, batch_rows=3))
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert [record["id"] for batch in batches for record in batch] == list("abcdefg")
    assert store.read_arrow_column(path, "id").to_pylist() == list("abcdefg")
    assert latest.files["users"].rows == 7


def test_equal_content_gives_equal_digests(store: RawStore) -> None:
    first = _extract(store, ["a", None])
    again = _extract(store, ["a", None])
    other = _extract(store, ["a", "b"])

    assert first.digest == again.digest != other.digest


def test_extract_ids_sort_by_time() -> None:
    ids = [new_extract_id() for _ in range(50)]
    assert ids == sorted(ids)


def test_a_manifest_that_is_not_one_names_its_file(tmp_path: Path) -> None:
    store = RawStore(str(tmp_path))
    folder = tmp_path / "_extracts" / f"tenant={TENANT}"
    folder.mkdir(parents=True)
    (folder / "20261202T000000000000Z-00000000.json").write_text("{not json")

    with pytest.raises(ValueError, match=r"20261202T000000000000Z-00000000\.json: not an extract manifest"):
        store.latest_extract(TENANT)


def test_the_staging_folders_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    store = RawStore(str(tmp_path))
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    host = socket.gethostname()
    dead = tmp_path / ".staging" / f"{host}-{dead_pid}-abc"
    dead.mkdir(parents=True)
    (dead / "users.parquet").write_bytes(b"half a file")
    manifests = tmp_path / "_extracts" / f"tenant={TENANT}"
    manifests.mkdir(parents=True)
    half_manifest = manifests / f".20261202T000000000000Z-00000000.json.{host}-{dead_pid}.0f0f.tmp"
    half_manifest.write_text("{")
    live_manifest = manifests / f".20261202T000000000000Z-00000001.json.{host}-{os.getpid()}.0f0f.tmp"
    live_manifest.write_text("{")
    with store.staging() as live:
        assert store.remove_abandoned(TENANT) == [str(half_manifest), str(dead)]
        assert live.is_dir() and not dead.exists() and live_manifest.exists()
    assert list((tmp_path / ".staging").iterdir()) == []
