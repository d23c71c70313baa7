"""The directory's history (SCD2): for each tracked fact, intervals [valid_from, valid_to) of equal values.

``record_history`` runs after every change of a tenant's current tables (a publication, a delta round), in the
same transaction, and compares the current tables with the open intervals set-based in SQL (both dialects):

1. an open interval (valid_to null) of source ``graph`` whose values no current row has any more is closed at
   ``at`` (the row changed or went away);
2. a current row without an open ``graph`` interval of the same values opens one at ``at``;
3. an interval closed at the instant it was opened (two changes recorded at the same ``at``) is removed.

Running it twice changes nothing. Intervals of another ``source`` (``legacy:<report type>``: past states read
from the old tool's reports, ``legacy.history``) are never touched, except that one still open (the last report
before Graph history began) is closed at ``at``; the state on a date reads every source (``warehouse.asof``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from m365_pipeline.warehouse import schema, staging

GRAPH_SOURCE = "graph"


@dataclass(frozen=True)
class TrackedFact:
    """A history table and the current table its intervals follow: ``key`` and ``values`` pair each history
    column with the current table's expression of it."""

    history: sa.Table
    current: sa.Table
    key: Sequence[tuple[str, str]]  # (history column, current column)
    values: Sequence[tuple[str, sa.ColumnElement[Any]]]


TRACKED_FACTS: tuple[TrackedFact, ...] = (
    TrackedFact(
        schema.user_history,
        schema.users,
        [("user_id", "id")],
        [
            ("user_principal_name", schema.users.c.user_principal_name),
            ("department", schema.users.c.department),
            ("account_enabled", schema.users.c.account_enabled),
            ("user_type", schema.users.c.user_type),
            ("usage_location", schema.users.c.usage_location),
            ("soft_deleted", schema.users.c.deleted_at.is_not(None)),
        ],
    ),
    TrackedFact(
        schema.group_history,
        schema.groups,
        [("group_id", "id")],
        [
            ("display_name", schema.groups.c.display_name),
            ("kind", schema.groups.c.kind),
            ("soft_deleted", schema.groups.c.deleted_at.is_not(None)),
        ],
    ),
    TrackedFact(schema.license_history, schema.user_licenses, [("user_id", "user_id"), ("sku_id", "sku_id")], []),
    TrackedFact(
        schema.group_member_history, schema.group_members, [("group_id", "group_id"), ("member_id", "member_id")], []
    ),
    TrackedFact(
        schema.role_member_history,
        schema.role_assignments,
        [("role_definition_id", "role_definition_id"), ("principal_id", "principal_id")],
        [],
    ),
)


def record_history(
    connection: sa.Connection, tenant_id: str, at: datetime, current_tables: Sequence[str] | None = None
) -> None:
    """Bring the tenant's ``graph`` intervals in line with its current tables as of ``at`` (module docstring).
    ``current_tables`` limits it to the facts of those tables (default: all)."""
    for fact in TRACKED_FACTS:
        if current_tables is None or fact.current.name in current_tables:
            _record(connection, fact, tenant_id, at)


def _record(connection: sa.Connection, fact: TrackedFact, tenant_id: str, at: datetime) -> None:
    history, current = fact.history, fact.current
    # Rows written earlier in this transaction have no statistics yet: without them PostgreSQL's planner guesses a
    # nested loop over both tables (hours at 100,000 rows) where a hash anti-join takes a second, and SQLite's
    # probes the open intervals through (tenant_id, valid_to), every open one per current row, rather than by key.
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f'ANALYZE "{history.name}", "{current.name}"')
    else:
        connection.exec_driver_sql(f'ANALYZE "{history.name}"')
        connection.exec_driver_sql(f'ANALYZE "{current.name}"')
    open_graph = sa.and_(
        history.c.tenant_id == tenant_id, history.c.source == GRAPH_SOURCE, history.c.valid_to.is_(None)
    )

    still_current = sa.exists().where(
        current.c.tenant_id == history.c.tenant_id,
        *(current.c[current_name] == history.c[name] for name, current_name in fact.key),
        *(sa.not_(history.c[name].is_distinct_from(expression)) for name, expression in fact.values),
    )
    connection.execute(sa.update(history).where(open_graph, ~still_current).values(valid_to=at))
    # the old tool's last report held until Graph history began (legacy.history)
    connection.execute(
        sa.update(history)
        .where(
            history.c.tenant_id == tenant_id,
            history.c.source.startswith("legacy:"),
            history.c.valid_to.is_(None),
            history.c.valid_from < at,
        )
        .values(valid_to=at)
    )
    connection.execute(
        sa.delete(history).where(
            history.c.tenant_id == tenant_id,
            history.c.source == GRAPH_SOURCE,
            history.c.valid_to == at,
            history.c.valid_from >= at,
        )
    )

    opened = history.alias("opened")
    already_open = sa.exists().where(
        opened.c.tenant_id == current.c.tenant_id,
        opened.c.source == GRAPH_SOURCE,
        opened.c.valid_to.is_(None),
        *(opened.c[name] == current.c[current_name] for name, current_name in fact.key),
        *(sa.not_(opened.c[name].is_distinct_from(expression)) for name, expression in fact.values),
    )
    names = ["tenant_id", *(name for name, _ in fact.key), *(name for name, _ in fact.values)]
    rows = (
        sa.select(
            current.c.tenant_id,
            *(current.c[current_name] for _, current_name in fact.key),
            *(expression for _, expression in fact.values),
        )
        .where(current.c.tenant_id == tenant_id, ~already_open)
        .distinct()
    )  # one role may be assigned at two scopes
    # Through a TEMP table: an INSERT whose NOT EXISTS reads the table it writes makes PostgreSQL rescan the rows
    # it has just added (invisible, but read) for every row: quadratic at a first publication.
    to_open = staging.staging_table(
        f"history_open_{history.name}", [history.c[name] for name in names], connection.dialect
    )
    to_open.create(connection)
    connection.execute(sa.insert(to_open).from_select(names, rows))
    opening = sa.select(
        *(to_open.c[name] for name in names),
        sa.literal(at, history.c.valid_from.type),
        sa.literal(GRAPH_SOURCE, history.c.source.type),
    )
    connection.execute(sa.insert(history).from_select([*names, "valid_from", "source"], opening))
    to_open.drop(connection)  # a failure rolls the transaction back, and the TEMP table with it
