"""A snapshot that fails while a table is being read ahead fails at once with that error, leaves no reading thread
behind and no snapshot in the store, and the next snapshot succeeds and verifies."""

import threading
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from m365_pipeline.snapshots import tables
from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.capture import INCREMENTAL, Sources, create_snapshot
from m365_pipeline.snapshots.check import check
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline_tests.snapshots.warehouse_data import contents, populate

KEYS = RepositoryKeys(bytes(range(32)))


class _DiskFull(OSError):
    pass


@pytest.mark.parametrize("kind", ["full", INCREMENTAL])
def test_a_failure_midway_through_a_table_stops_its_reader_and_stores_no_snapshot(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    populate(url, users=300).dispose()
    repository = Repository.init(LocalBackend(tmp_path / "repo"), KEYS, pack_size=1_000_000)
    sources = Sources(warehouse_url=url, label="prod")
    if kind == INCREMENTAL:
        create_snapshot(repository, sources)
    before = set(repository.snapshot_ids())
    monkeypatch.setattr(tables, "BATCH_ROWS", 10)  # users: 30 batches, so the reader is far ahead when it fails
    written = 0
    real_write = tables.ParquetSink.write

    def failing_write(sink: tables.ParquetSink, batch: pa.RecordBatch) -> None:
        nonlocal written
        written += 1
        if written == 3:
            raise _DiskFull("no space left on the scratch disk")
        real_write(sink, batch)

    monkeypatch.setattr(tables.ParquetSink, "write", failing_write)
    if kind == INCREMENTAL:  # an incremental writes only changed rows: change every user
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE users SET department = 'moved'")
        engine.dispose()

    with pytest.raises(_DiskFull, match="no space left"):
        create_snapshot(repository, sources, kind=kind)

    assert not [thread.name for thread in threading.enumerate() if thread.name == "read-ahead"]
    assert set(repository.snapshot_ids()) == before
    monkeypatch.undo()
    result = create_snapshot(repository, sources, kind=kind)
    assert result.manifest.meta["warehouse"]["tables"]["users"]["rows"] == len(contents(url)["users"]) == 300
    assert check(repository.backend, repository.keys, read_data=True).ok
