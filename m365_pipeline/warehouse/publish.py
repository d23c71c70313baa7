"""Publish one extract of a tenant: every directory table switches from extract N to N+1 together, or none does.

    with TenantPublication(engine, tenant_id, extract_id, digest) as publication:
        if not publication.is_current():
            for batch in user_batches:
                publication.stage("users", batch)
            ...  # every table of the publication, an empty one with stage("groups", [])
            publication.quarantine(rejected)
        result = publication.publish(display_name=..., default_domain=..., seen_at=...)

Rows stream into TEMP staging tables (see ``staging``). ``publish`` then merges each staged table into its target
set-based in SQL, replaces the quarantine entries of this extract, upserts the tenant and records the extract in
the ledger (``extracts``, ``extract_tables``), all in one transaction: a process killed before the commit leaves
the previous extract fully in place. Leaving the ``with`` block without ``publish`` publishes nothing.

Ordering: publications of one tenant are serialized (PostgreSQL: an advisory transaction lock on the tenant, taken
when the block is entered; SQLite: the database write lock, taken by ``publish``, since staging writes only TEMP
tables and must not block other tenants meanwhile). An extract id older than the tenant's newest published one is
refused (``StaleExtractError``): a tenant never rolls back. An extract whose digest equals the newest published
one's publishes nothing and ``publish`` says ``unchanged=True``; ``is_current`` answers that before staging.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from m365_pipeline.warehouse import schema, staging
from m365_pipeline.warehouse.engine import SQLITE_BEGIN, SQLITE_DEFERRED
from m365_pipeline.warehouse.history import record_history
from m365_pipeline.warehouse.ledger import (
    ExtractHead,
    PublishedExtract,
    TableCounts,
    newest_extract,
    published_extract,
    record_extract,
)
from m365_pipeline.warehouse.merge import merge_tenant_rows
from m365_pipeline.warehouse.quarantine import QuarantinedRow

_QUARANTINE_COLUMNS = ("entity", "source", "row_number", "field", "reason", "raw")


class StaleExtractError(RuntimeError):
    """The tenant already holds a newer extract than the one being published."""

    def __init__(self, tenant_id: str, extract_id: str, published_extract_id: str) -> None:
        super().__init__(
            f"extract {extract_id} of tenant {tenant_id} is older than its published extract {published_extract_id}: "
            "a tenant's warehouse never goes back to an older extract; load a newer one"
        )
        self.tenant_id = tenant_id
        self.extract_id = extract_id
        self.published_extract_id = published_extract_id


@dataclass(frozen=True)
class PublishResult:
    extract: PublishedExtract  # what the tenant's tables hold now
    unchanged: bool  # the extract's digest equals the published one's: nothing was written


class TenantPublication:
    """One extract of one tenant on its way into the warehouse; a context manager (see the module docstring).

    `tables` names the tables the extract is published to (default: every directory table); each must be staged,
    so a run that failed to extract one entity cannot publish the others. `digest` identifies the extract's
    content (e.g. a hash of its source files' digests): equal digests mean nothing to publish.
    """

    def __init__(
        self,
        engine: sa.Engine,
        tenant_id: str,
        extract_id: str,
        digest: str,
        *,
        tables: Iterable[str] = tuple(schema.TABLES),
        batch_rows: int = staging.BATCH_ROWS,
    ) -> None:
        if not extract_id or len(extract_id) > schema.EXTRACT_ID_LENGTH:
            raise ValueError(f"extract id {extract_id!r}: give 1 to {schema.EXTRACT_ID_LENGTH} characters")
        if not digest or len(digest) > schema.DIGEST_LENGTH:
            raise ValueError(f"digest {digest!r}: give 1 to {schema.DIGEST_LENGTH} characters")
        self.tenant_id = tenant_id
        self.extract_id = extract_id
        self.digest = digest
        self._engine = engine
        self._targets = {name: schema.TABLES[name] for name in tables}
        self._batch_rows = batch_rows
        self._staged: dict[str, staging.StagedTable] = {}
        self._quarantine: sa.Table | None = None
        self._quarantined: Counter[str] = Counter()
        self._session: _Session | None = None
        self._finished = False

    def __enter__(self) -> Self:
        connection = self._engine.connect()
        if connection.dialect.name == "postgresql":
            self._session = _PostgresSession(connection, self.tenant_id)
        else:
            self._session = _SqliteSession(connection, self.tenant_id)
        try:
            self._session.open()
            with self._step() as step:
                head = newest_extract(step, self.tenant_id)
            self._refuse_if_stale(head)
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._close()

    def is_current(self) -> bool:
        """Whether the tenant's newest published extract has this digest: then there is nothing to stage."""
        with self._step() as connection:
            head = newest_extract(connection, self.tenant_id)
        return head is not None and head.digest == self.digest

    def stage(self, table_name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Stream `rows` (each with exactly the table's columns, this tenant's) into the table's staging table.

        Call it once per batch, or once with an iterator; a table with no rows is staged with ``[]``. Returns the
        number of rows this call staged.
        """
        target = self._targets.get(table_name)
        if target is None:
            raise ValueError(f"{table_name} is not a table of this publication ({', '.join(self._targets)})")
        with self._step() as connection:
            staged = self._staged.get(table_name)
            if staged is None:
                staged = staging.StagedTable(target, connection.dialect)
                self._create(connection, staged.table)
                self._staged[table_name] = staged
            before = staged.rows
            staging.write_rows(connection, staged.table, staged.checked(rows, self.tenant_id), self._batch_rows)
        return staged.rows - before

    def quarantine(self, rows: Iterable[QuarantinedRow]) -> int:
        """Stage records normalization rejected; ``publish`` makes them this extract's quarantine entries."""
        counted = self._counted_quarantine(rows)
        with self._step() as connection:
            if self._quarantine is None:
                columns = [schema.quarantine.c[name] for name in _QUARANTINE_COLUMNS]
                self._quarantine = self._create(
                    connection, staging.staging_table("stage_quarantine", columns, connection.dialect)
                )
            before = self._quarantined.total()
            staging.write_rows(connection, self._quarantine, counted, self._batch_rows)
        return self._quarantined.total() - before

    def publish(self, *, display_name: str | None, default_domain: str | None, seen_at: datetime) -> PublishResult:
        """Merge every staged table, record the history of what changed as of `seen_at` (``warehouse.history``),
        replace this extract's quarantine entries, upsert the tenant (first and last seen widen to `seen_at`; names
        follow the latest sighting) and record the extract: one transaction."""
        if self._finished:
            raise RuntimeError(f"extract {self.extract_id} of tenant {self.tenant_id}: publish() was already called")
        self._finished = True
        with self._session_or_fail().publishing() as connection:
            head = newest_extract(connection, self.tenant_id)
            if head is not None and head.digest == self.digest:
                current = published_extract(connection, self.tenant_id)
                assert current is not None
                return PublishResult(extract=current, unchanged=True)
            self._refuse_if_stale(head)
            missing = [name for name in self._targets if name not in self._staged]
            if missing:
                raise ValueError(
                    f"extract {self.extract_id} of tenant {self.tenant_id} staged no {', '.join(missing)}: every "
                    "table is published together (stage an empty table with stage(name, []))"
                )
            published_at = datetime.now(UTC)
            tables = {name: self._merge(connection, name) for name in self._targets}
            record_history(connection, self.tenant_id, seen_at, current_tables=list(self._targets))
            self._replace_quarantine(connection, published_at)
            upsert_tenant(connection, self.tenant_id, display_name, default_domain, seen_at)
            extract = PublishedExtract(self.tenant_id, self.extract_id, self.digest, published_at, tables)
            record_extract(connection, extract)
        return PublishResult(extract=extract, unchanged=False)

    def _merge(self, connection: sa.Connection, name: str) -> TableCounts:
        target, staged = self._targets[name], self._staged[name]
        key = [column.name for column in target.primary_key.columns]
        staging.index_unique_key(connection, staged.table, key, name)
        merged = merge_tenant_rows(connection, target, staged.table, self.tenant_id)
        return TableCounts(
            rows=staged.rows,
            inserted=merged.inserted,
            updated=merged.updated,
            deleted=merged.deleted,
            quarantined=self._quarantined[name],
        )

    def _replace_quarantine(self, connection: sa.Connection, published_at: datetime) -> None:
        entries = schema.quarantine
        connection.execute(
            sa.delete(entries).where(entries.c.tenant_id == self.tenant_id, entries.c.extract_id == self.extract_id)
        )
        if self._quarantine is None:
            return
        staged = self._quarantine
        rows = sa.select(
            sa.literal(self.tenant_id, entries.c.tenant_id.type),
            sa.literal(self.extract_id, entries.c.extract_id.type),
            *(staged.c[name] for name in _QUARANTINE_COLUMNS),
            sa.literal(published_at, entries.c.quarantined_at.type),
        ).order_by(staged.c.entity, staged.c.source, staged.c.row_number)
        names = ["tenant_id", "extract_id", *_QUARANTINE_COLUMNS, "quarantined_at"]
        connection.execute(sa.insert(entries).from_select(names, rows))

    def _counted_quarantine(self, rows: Iterable[QuarantinedRow]) -> Iterator[dict[str, Any]]:
        for row in rows:
            if row.entity not in self._targets:
                raise ValueError(
                    f"quarantine: row {row.row_number} of {row.source} is for {row.entity}, not a table of this "
                    f"publication ({', '.join(self._targets)})"
                )
            self._quarantined[row.entity] += 1
            yield {
                "entity": row.entity,
                "source": row.source,
                "row_number": row.row_number,
                "field": row.field,
                "reason": row.reason,
                "raw": json.dumps(row.raw, ensure_ascii=False, sort_keys=True, default=str),
            }

    def _create(self, connection: sa.Connection, table: sa.Table) -> sa.Table:
        self._session_or_fail().created(table)
        table.create(connection)
        return table

    def _refuse_if_stale(self, head: ExtractHead | None) -> None:
        if head is not None and self.extract_id < head.extract_id and head.digest != self.digest:
            raise StaleExtractError(self.tenant_id, self.extract_id, head.extract_id)

    @contextmanager
    def _step(self) -> Iterator[sa.Connection]:
        if self._finished:
            raise RuntimeError(f"extract {self.extract_id} of tenant {self.tenant_id} is already published")
        with self._session_or_fail().step() as connection:
            yield connection

    def _session_or_fail(self) -> _Session:
        if self._session is None:
            raise RuntimeError("use TenantPublication in a with block")
        return self._session

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class _Session(ABC):
    """How a publication's connection holds its transactions; one subclass per dialect."""

    def __init__(self, connection: sa.Connection, tenant_id: str) -> None:
        self.connection = connection
        self.tenant_id = tenant_id
        self.temporary: list[sa.Table] = []

    def created(self, table: sa.Table) -> None:
        self.temporary.append(table)

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def step(self) -> AbstractContextManager[sa.Connection]:
        """The connection for one piece of staging."""

    @abstractmethod
    def publishing(self) -> AbstractContextManager[sa.Connection]:
        """The connection in the publishing transaction, committed when the block ends without an error."""

    def close(self) -> None:
        self.connection.close()


class _PostgresSession(_Session):
    """One transaction from start to commit, holding the tenant's advisory lock: publications of a tenant queue."""

    def open(self) -> None:
        self._transaction = self.connection.begin()
        self.connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": tenant_lock_key(self.tenant_id)})

    @contextmanager
    def step(self) -> Iterator[sa.Connection]:
        yield self.connection

    @contextmanager
    def publishing(self) -> Iterator[sa.Connection]:
        yield self.connection
        self._transaction.commit()  # the staging tables go with it (ON COMMIT DROP)

    def close(self) -> None:
        if self.connection.in_transaction():
            self.connection.rollback()
        super().close()


class _SqliteSession(_Session):
    """Staging in short deferred transactions that write TEMP tables only (other writers are not blocked), then
    one IMMEDIATE transaction for publish: the database write lock serializes publications."""

    def open(self) -> None:
        self.connection.execution_options(**{SQLITE_BEGIN: SQLITE_DEFERRED})

    @contextmanager
    def step(self) -> Iterator[sa.Connection]:
        with self.connection.begin():
            yield self.connection

    @contextmanager
    def publishing(self) -> Iterator[sa.Connection]:
        self.connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with self.connection.begin():
            yield self.connection

    def close(self) -> None:
        # TEMP tables live as long as the pooled DBAPI connection: drop them before it goes back to the pool.
        try:
            if self.connection.in_transaction():
                self.connection.rollback()
            self.connection.execution_options(**{SQLITE_BEGIN: SQLITE_DEFERRED})
            with self.connection.begin():
                for table in self.temporary:
                    self.connection.exec_driver_sql(f'DROP TABLE IF EXISTS temp."{table.name}"')
        finally:
            super().close()


def tenant_lock_key(tenant_id: str) -> int:
    """The PostgreSQL advisory lock key of a tenant's publications: a signed 64-bit hash of its id."""
    digest = hashlib.sha256(f"m365_pipeline.publish:{tenant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def upsert_tenant(
    connection: sa.Connection,
    tenant_id: str,
    display_name: str | None,
    default_domain: str | None,
    seen_at: datetime,
) -> None:
    """Record that `tenant_id` was seen at `seen_at`: the first and last sighting widen to include it.

    The names are taken from the latest sighting, so a backfill of an older extract does not roll them back.
    """
    tenants = schema.tenants
    insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(tenants).values(
        tenant_id=tenant_id,
        display_name=display_name,
        default_domain=default_domain,
        first_seen_at=seen_at,
        last_seen_at=seen_at,
    )
    latest = insert.excluded.last_seen_at >= tenants.c.last_seen_at
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={
                "display_name": sa.case((latest, insert.excluded.display_name), else_=tenants.c.display_name),
                "default_domain": sa.case((latest, insert.excluded.default_domain), else_=tenants.c.default_domain),
                "last_seen_at": sa.case((latest, insert.excluded.last_seen_at), else_=tenants.c.last_seen_at),
                "first_seen_at": sa.case(
                    (insert.excluded.first_seen_at < tenants.c.first_seen_at, insert.excluded.first_seen_at),
                    else_=tenants.c.first_seen_at,
                ),
            },
        )
    )
