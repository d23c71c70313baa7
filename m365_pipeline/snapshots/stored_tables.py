"""A snapshot's warehouse tables read back as key-ordered rows: a full's table is its Parquet file; an
incremental's is its base full's Parquet with the incremental's delta applied, merged as both stream (or the
base's Parquet alone when no row of it changed)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa

from m365_pipeline.snapshots import row_groups, tables
from m365_pipeline.snapshots.capture import DELTA, TABLES, UNCHANGED, WHOLE
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.manifests import FileEntry, Manifest
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.stored_file import StoredFile


def warehouse_meta(manifest: Manifest) -> Mapping[str, Any]:
    """The warehouse's dialect, format, schema version and tables as captured; empty without a warehouse."""
    meta: Mapping[str, Any] = manifest.meta.get("warehouse", {})
    return meta


def table_specs(manifest: Manifest) -> dict[str, tables.TableSpec]:
    return {n: tables.TableSpec.from_dict(n, info) for n, info in warehouse_meta(manifest).get("tables", {}).items()}


def table_entry(manifest: Manifest, name: str) -> FileEntry | None:
    """The file holding table ``name`` (whole, or an incremental's delta); None for an incremental's table that
    no row of changed since the base (the base's file is the table)."""
    info = warehouse_meta(manifest)["tables"][name]
    if info["stored"] == UNCHANGED:
        return None
    path = f"{name}.delta.parquet" if info["stored"] == DELTA else f"{name}.parquet"
    for entry in manifest.components.get(TABLES, ()):
        if entry.path == path:
            return entry
    raise KeyError(f"the snapshot lists table {name} but holds no {TABLES}/{path}")


def checksum_boundaries(
    repository: Repository, index: Index, manifest: Manifest, name: str
) -> tuple[tuple[Any, ...], ...]:
    """The keys at which table ``name``'s checksum cuts it into windows (``tables.WindowedChecksum``): the row
    groups of the Parquet it is stored whole in or, stored against a base, of the base's (read from its footer).
    None for a table checksummed in one window, as every table was before windows."""
    info = warehouse_meta(manifest)["tables"][name]
    windows = int(info.get("windows", 1))
    if windows == 1:
        return ()
    holder = manifest if info["stored"] == WHOLE else repository.manifest(_parent(manifest, name))
    entry = table_entry(holder, name)
    assert entry is not None  # a table stored whole, or a full's
    with StoredFile(repository.backend, repository.keys, index, entry) as stored:
        found = row_groups.boundaries(stored, table_specs(manifest)[name])
    if len(found) + 1 != windows:
        raise row_groups.RowGroupIndexError(
            f"table {name}: its checksum has {windows} windows, the row-group index of {entry.path} {len(found) + 1}"
        )
    return found


def _parent(manifest: Manifest, name: str) -> str:
    if manifest.parent is None:
        raise ValueError(f"table {name} is stored against a base but the snapshot names no base")
    return manifest.parent


@contextlib.contextmanager
def table_batches(
    repository: Repository, index: Index, manifest: Manifest, name: str
) -> Iterator[Iterator[pa.RecordBatch]]:
    """The rows of table ``name`` as the snapshot captured it, in key order, batch by batch."""
    specs = table_specs(manifest)
    if name not in specs:
        raise KeyError(f"the snapshot holds no table {name!r} (it holds {', '.join(sorted(specs)) or 'none'})")
    entry = table_entry(manifest, name)
    if warehouse_meta(manifest)["tables"][name]["stored"] == WHOLE:
        assert entry is not None
        with repository.temporary_file(index, entry) as path:
            yield tables.parquet_batches(path)
        return
    base_entry = table_entry(repository.manifest(_parent(manifest, name)), name)
    assert base_entry is not None  # a base is a full: every table whole
    with repository.temporary_file(index, base_entry) as base_path:
        if entry is None:
            yield tables.parquet_batches(base_path)
            return
        with repository.temporary_file(index, entry) as path:
            yield tables.apply_delta(tables.parquet_batches(base_path), tables.parquet_batches(path), specs[name])
