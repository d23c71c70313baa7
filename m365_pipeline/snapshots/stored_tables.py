"""A snapshot's warehouse tables read back as key-ordered rows: a full's table is its Parquet file; an
incremental's is its base full's Parquet with the incremental's delta applied, merged as both stream."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa

from m365_pipeline.snapshots import tables
from m365_pipeline.snapshots.capture import TABLES
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.manifests import FileEntry, Manifest
from m365_pipeline.snapshots.repository import Repository


def warehouse_meta(manifest: Manifest) -> Mapping[str, Any]:
    """The warehouse's dialect, format, schema version and tables as captured; empty without a warehouse."""
    meta: Mapping[str, Any] = manifest.meta.get("warehouse", {})
    return meta


def table_specs(manifest: Manifest) -> dict[str, tables.TableSpec]:
    return {n: tables.TableSpec.from_dict(n, info) for n, info in warehouse_meta(manifest).get("tables", {}).items()}


def table_entry(manifest: Manifest, name: str) -> FileEntry:
    info = warehouse_meta(manifest)["tables"][name]
    path = f"{name}.delta.parquet" if info["stored"] == "delta" else f"{name}.parquet"
    for entry in manifest.components.get(TABLES, ()):
        if entry.path == path:
            return entry
    raise KeyError(f"the snapshot lists table {name} but holds no {TABLES}/{path}")


@contextlib.contextmanager
def table_batches(
    repository: Repository, index: Index, manifest: Manifest, name: str
) -> Iterator[Iterator[pa.RecordBatch]]:
    """The rows of table ``name`` as the snapshot captured it, in key order, batch by batch."""
    specs = table_specs(manifest)
    if name not in specs:
        raise KeyError(f"the snapshot holds no table {name!r} (it holds {', '.join(sorted(specs)) or 'none'})")
    spec = specs[name]
    entry = table_entry(manifest, name)
    with repository.temporary_file(index, entry) as path:
        stored = tables.parquet_batches(path)
        if warehouse_meta(manifest)["tables"][name]["stored"] != "delta":
            yield stored
            return
        if manifest.parent is None:
            raise ValueError(f"table {name} is stored as a delta but the snapshot names no base")
        base = repository.manifest(manifest.parent)
        with repository.temporary_file(index, table_entry(base, name)) as base_path:
            yield tables.apply_delta(tables.parquet_batches(base_path), stored, spec)
