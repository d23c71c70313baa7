"""Row-level differences between the warehouses of two snapshots: the schema versions, each table's row counts,
and the rows added, removed and changed by primary key, found by walking both tables in key order together
(a sorted merge of the two streams: neither table is held in memory). A table whose checksum is equal in both
is not read at all.

``license_changes`` answers the question the issue asks: which users gained or lost a licence between two tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from m365_pipeline.snapshots import tables
from m365_pipeline.snapshots.capture import DATABASE, TABLES
from m365_pipeline.snapshots.diff import FileChange, file_changes
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.manifests import Manifest
from m365_pipeline.snapshots.progress import ProgressCallback, StepCounter
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.stored_tables import table_batches, table_specs, warehouse_meta

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
LICENSES_TABLE = "user_licenses"


@dataclass(frozen=True)
class RowChange:
    table: str
    change: str
    """``added``, ``removed`` or ``changed``."""
    key: Mapping[str, Any]
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None

    @property
    def changed_columns(self) -> tuple[str, ...]:
        if self.old is None or self.new is None:
            return ()
        return tuple(c for c in self.new if c in self.old and self.old[c] != self.new[c])


@dataclass
class TableDiff:
    table: str
    old_rows: int | None
    """None when the table is only in the new snapshot."""
    new_rows: int | None
    added: int = 0
    removed: int = 0
    changed: int = 0
    note: str = ""
    """Why rows were not compared (the table is new or gone, or its primary key changed), or which columns were
    left out of the comparison (added or dropped columns)."""


@dataclass
class WarehouseDiff:
    old_schema_version: str | None
    new_schema_version: str | None
    tables: list[TableDiff] = field(default_factory=list)


def table_changes(
    repository: Repository, index: Index, old: Manifest, new: Manifest, table: str
) -> Iterator[RowChange]:
    """The rows of ``table`` added, removed or changed from ``old`` to ``new``, in key order, compared on the
    columns both have."""
    old_spec, new_spec = table_specs(old)[table], table_specs(new)[table]
    if old_spec.key != new_spec.key:
        raise ValueError(
            f"table {table}: its key changed from {old_spec.key} to {new_spec.key}, rows cannot be matched"
        )
    common = tuple(c for c in new_spec.columns if c in old_spec.columns)
    spec = tables.TableSpec(
        table, new_spec.primary_key, common, tuple(new_spec.types[new_spec.columns.index(c)] for c in common)
    )
    with table_batches(repository, index, old, table) as before, table_batches(repository, index, new, table) as after:
        for key, was, now in tables.changes(before, after, spec):
            change = ADDED if was is None else REMOVED if now is None else CHANGED
            yield RowChange(table, change, dict(zip(spec.key, key, strict=True)), was, now)


def warehouse_diff(
    repository: Repository,
    old_id: str,
    new_id: str,
    *,
    only_tables: set[str] | None = None,
    on_change: Callable[[RowChange], None] | None = None,
    progress: ProgressCallback | None = None,
) -> WarehouseDiff:
    """Compare the warehouses of snapshots ``old_id`` and ``new_id``; ``on_change`` receives every row change
    (streamed; the result keeps only the counts); ``progress`` counts the rows of the tables compared row by row
    (both snapshots' rows)."""
    old, new = repository.manifest(old_id), repository.manifest(new_id)
    old_meta, new_meta = warehouse_meta(old), warehouse_meta(new)
    result = WarehouseDiff(old_meta.get("schema_version"), new_meta.get("schema_version"))
    old_tables, new_tables = old_meta.get("tables", {}), new_meta.get("tables", {})
    names = [n for n in sorted(set(old_tables) | set(new_tables)) if only_tables is None or n in only_tables]
    compared = {n: _rows_to_compare(old_tables.get(n), new_tables.get(n)) for n in names}
    counter = StepCounter(progress, sum(compared.values()))
    index = repository.index()
    for name in names:
        before, after = old_tables.get(name), new_tables.get(name)
        summary = TableDiff(name, before and before["rows"], after and after["rows"])
        result.tables.append(summary)
        if before is None or after is None:
            summary.note = "only in the new snapshot" if before is None else "only in the old snapshot"
            continue
        if not compared[name]:
            if before["primary_key"] != after["primary_key"]:
                summary.note = "primary key changed: rows not compared"
            continue
        dropped = sorted({c for c, _ in before["columns"]} ^ {c for c, _ in after["columns"]})
        if dropped:
            summary.note = f"compared without the columns {', '.join(dropped)} (only in one snapshot)"
        for change in table_changes(repository, index, old, new, name):
            setattr(summary, change.change, getattr(summary, change.change) + 1)
            if on_change is not None:
                on_change(change)
        counter.advance(compared[name])
    return result


def _rows_to_compare(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> int:
    """The rows a row-by-row comparison of a table reads (0 when its rows are not compared: the table is in one
    snapshot only, equal in both, or its primary key changed)."""
    if before is None or after is None or before["primary_key"] != after["primary_key"]:
        return 0
    if before["checksum"] == after["checksum"] and before["columns"] == after["columns"]:
        return 0
    return int(before["rows"]) + int(after["rows"])


@dataclass(frozen=True)
class LicenseChange:
    tenant_id: str
    user_id: str
    sku_id: str
    change: str
    """``gained`` or ``lost``."""


def as_license_change(change: RowChange) -> LicenseChange | None:
    """The licence a user gained or lost, when ``change`` is a row of user_licenses added or removed."""
    if change.table != LICENSES_TABLE or change.change not in (ADDED, REMOVED):
        return None
    key = change.key
    return LicenseChange(
        key["tenant_id"], key["user_id"], key["sku_id"], "gained" if change.change == ADDED else "lost"
    )


def license_changes(repository: Repository, old_id: str, new_id: str) -> list[LicenseChange]:
    """Which users gained or lost which licence (SKU) between two snapshots."""
    found = []

    def collect(change: RowChange) -> None:
        licence = as_license_change(change)
        if licence is not None:
            found.append(licence)

    warehouse_diff(repository, old_id, new_id, only_tables={LICENSES_TABLE}, on_change=collect)
    return found


def artifact_changes(old: Manifest, new: Manifest) -> list[FileChange]:
    """Files added, removed and changed outside the warehouse (configuration, raw extracts, reports)."""
    return [c for c in file_changes(old, new) if c.component not in (DATABASE, TABLES)]
