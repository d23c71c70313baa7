"""Single tables restored into a warehouse of another database kind (a SQLite snapshot's table into PostgreSQL,
a PostgreSQL one's into SQLite): the snapshot's Arrow batches are cast to the target table's own types before
they are inserted, and the restored rows are read back with those types to be checksummed.

The differences this bridges: SQLite keeps a timestamp as UTC wall time (a naive Arrow timestamp in its
snapshot) where PostgreSQL has ``timestamptz`` (an Arrow timestamp in UTC); both are the same microseconds since
the epoch, which is what the checksum hashes. A naive timestamp is never handed to PostgreSQL as it is (the
session's time zone would give it a meaning): it is cast to UTC first. Booleans, text (JSON, lists) and NULLs have
one Arrow form on both sides. Decimals do not: PostgreSQL writes ``NUMERIC(18, 6)``'s 1.2 as ``1.200000``, SQLite
(a REAL) as ``1.2``; so a restored table is proven by comparing, in one canonical form (decimals normalized), the
rows inserted with the rows read back, after the snapshot's rows were proven to be the snapshot's by its checksum.

A table only moves between warehouses of the same schema revision: its columns mean the same on both sides.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from m365_pipeline.snapshots import tables
from m365_pipeline.snapshots.manifests import Manifest
from m365_pipeline.snapshots.restorer import RestoreRefused
from m365_pipeline.snapshots.stored_tables import warehouse_meta
from m365_pipeline.warehouse.migrate import current_revision


class SchemaVersionMismatch(RestoreRefused):
    """The target warehouse is at another schema revision than the snapshot's tables."""


def require_schema_version(engine: sa.Engine, manifest: Manifest, snapshot_id: str) -> None:
    """Refuse single tables into a warehouse whose schema revision is not the snapshot's."""
    wanted = warehouse_meta(manifest).get("schema_version")
    found = current_revision(engine)
    if found != wanted:
        raise SchemaVersionMismatch(
            f"the target warehouse is at schema revision {found or 'none (never migrated)'}, snapshot "
            f"{snapshot_id[:12]}'s tables are of revision {wanted or 'none'}: migrate the target to {wanted} "
            "(m365 warehouse upgrade, or an older checkout for an older revision) or restore the whole warehouse"
        )


def target_spec(table: sa.Table, spec: tables.TableSpec) -> tables.TableSpec:
    """``spec``'s columns with the types of ``table`` (reflected from the target) instead of the snapshot's."""
    own = tables.spec_of(table)
    if set(own.columns) != set(spec.columns):
        missing, extra = sorted(set(spec.columns) - set(own.columns)), sorted(set(own.columns) - set(spec.columns))
        raise RestoreRefused(
            f"table {table.name} of the target has other columns than the snapshot's (missing {missing}, extra {extra})"
        )
    types = dict(zip(own.columns, own.types, strict=True))
    return tables.TableSpec(spec.name, spec.primary_key, spec.columns, tuple(types[c] for c in spec.columns))


class RoundTrip:
    """One table's rows from a snapshot into a target table and back: ``conform`` casts the snapshot's batches to
    the target's types on their way in (digesting them as they pass), ``problem`` reads the table back and says
    what differs (None when nothing does)."""

    def __init__(
        self,
        table: sa.Table,
        snapshot: tables.TableSpec,
        target: tables.TableSpec,
        boundaries: Sequence[tuple[Any, ...]] = (),
    ) -> None:
        self._snapshot, self._target, self._boundaries = snapshot, target, boundaries
        self._decimals = [c for c in target.columns if isinstance(table.c[c].type, sa.Numeric) and _is_text(target, c)]
        self._read = tables.WindowedChecksum()
        self._inserted = tables.TableDigest(target.columns)

    def conform(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``batches`` cast column by column to the target's types (a naive timestamp read as UTC); their checksum
        is taken in the windows of the snapshot's (cut at ``boundaries``)."""
        schema = self._target.schema()
        for batch in tables.digested_windows(batches, self._snapshot, self._boundaries, self._read):
            selected = batch.select(list(self._target.columns))
            cast = selected if selected.schema.equals(schema) else selected.cast(schema)
            self._inserted.add_batch(self._canonical(cast))
            yield cast

    def problem(self, restored: Iterable[pa.RecordBatch], expected: Mapping[str, Any]) -> str | None:
        if (self._read.rows, self._read.checksum) != (expected["rows"], expected["checksum"]):
            return "the snapshot's rows do not match its checksum"
        back = tables.TableDigest(self._target.columns)
        for batch in restored:
            back.add_batch(self._canonical(batch))
        if (back.rows, back.checksum) != (self._inserted.rows, self._inserted.checksum):
            return f"{back.rows} rows read back differ from the snapshot's {self._inserted.rows}"
        return None

    @property
    def rows(self) -> int:
        return self._inserted.rows

    def _canonical(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        for name in self._decimals:
            index = batch.schema.get_field_index(name)
            values = [None if v is None else _plain_decimal(v) for v in batch.column(index).to_pylist()]
            batch = batch.set_column(index, name, pa.array(values, pa.string()))
        return batch


def _is_text(spec: tables.TableSpec, column: str) -> bool:
    return spec.types[spec.columns.index(column)] == str(pa.string())


def _plain_decimal(text: str) -> str:
    """``1.200000``, ``1.2`` and ``1.20`` as ``1.2``; ``100.0`` as ``100`` (never an exponent)."""
    return format(decimal.Decimal(text).normalize(), "f")
