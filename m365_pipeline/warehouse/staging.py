"""Staging tables: a publication streams rows into TEMP tables shaped like their targets, never into the targets.

PostgreSQL receives the rows through ``COPY ... FROM STDIN`` (psycopg 3, on the SQLAlchemy connection's driver
connection); SQLite through ``executemany`` in batches. Either way Python holds at most one batch, so memory does
not grow with the tenant. Staging tables live and die with the publication's connection (PostgreSQL drops them
at commit or rollback), so a killed publication leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

import sqlalchemy as sa

BATCH_ROWS = 5_000


class DuplicateKeyError(ValueError):
    """Two staged rows share a key: normalization removes duplicates, so this is a bug upstream, not bad data."""


def staging_table(name: str, columns: Sequence[sa.Column[Any]], dialect: sa.Dialect) -> sa.Table:
    """A TEMP table `name` with these columns' names, types and nullability (no keys: duplicates are found later)."""
    options: dict[str, Any] = {"postgresql_on_commit": "DROP"} if dialect.name == "postgresql" else {}
    copies = [sa.Column(column.name, column.type, nullable=column.nullable) for column in columns]
    return sa.Table(name, sa.MetaData(), *copies, prefixes=["TEMPORARY"], **options)


def like(target: sa.Table, dialect: sa.Dialect) -> sa.Table:
    """The staging table of `target`: ``stage_<name>`` with all its columns."""
    return staging_table(f"stage_{target.name}", list(target.columns), dialect)


def write_rows(
    connection: sa.Connection, table: sa.Table, rows: Iterable[Mapping[str, Any]], batch_rows: int = BATCH_ROWS
) -> None:
    """Append `rows` (mappings with every column of `table`) to the staging table, streaming.

    Values go through the columns' own bind processing (UtcDateTime refuses a naive timestamp) before the driver
    adapts them. Errors are raised as SQLAlchemy raises them for any other statement, so callers see one family
    on both dialects: IntegrityError for a constraint, StatementError for a value the column type refuses.
    """
    dialect = connection.dialect
    converters = [(column.name, column.type.dialect_impl(dialect).bind_processor(dialect)) for column in table.columns]
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name, _ in converters)
    if dialect.name == "postgresql":
        statement = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
    else:
        statement = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({', '.join('?' for _ in converters)})"

    def values(row: Mapping[str, Any]) -> list[Any]:
        try:
            return [row[name] if convert is None else convert(row[name]) for name, convert in converters]
        except (ValueError, TypeError) as error:
            raise sa.exc.StatementError(str(error), statement, None, error) from error

    driver_connection: Any = connection.connection.driver_connection
    try:
        if dialect.name == "postgresql":
            with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(values(row))
            return
        cursor = driver_connection.cursor()
        try:
            iterator = iter(rows)
            while batch := [values(row) for row in islice(iterator, batch_rows)]:
                cursor.executemany(statement, batch)
        finally:
            cursor.close()
    except dialect.loaded_dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(statement, None, error, dialect.loaded_dbapi.Error) from error


def index_unique_key(connection: sa.Connection, table: sa.Table, key: Sequence[str], target_name: str) -> None:
    """Index the staging table on the target's key for the merge joins; a repeated key fails naming it."""
    columns = [table.c[name] for name in key]
    duplicate = connection.execute(sa.select(*columns).group_by(*columns).having(sa.func.count() > 1).limit(1)).first()
    if duplicate is not None:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(key, duplicate, strict=True))
        raise DuplicateKeyError(f"{target_name}: duplicate key ({shown}) in the staged rows")
    sa.Index(f"ix_{table.name}_key", *columns, unique=True).create(connection)
    if connection.dialect.name == "postgresql":
        # Autovacuum never analyzes temporary tables: without statistics the planner guesses the merge joins.
        connection.exec_driver_sql(f'ANALYZE "{table.name}"')


class StagedTable:
    """A staging table of one target and the rows staged into it so far."""

    def __init__(self, target: sa.Table, dialect: sa.Dialect) -> None:
        self.target = target
        self.table = like(target, dialect)
        self.rows = 0
        self._columns = set(target.columns.keys())

    def checked(self, rows: Iterable[Mapping[str, Any]], tenant_id: str) -> Iterator[Mapping[str, Any]]:
        """`rows`, counted, each refused unless it has exactly the target's columns and belongs to `tenant_id`
        (rows are numbered from 1 across all the batches staged)."""
        name, columns = self.target.name, self._columns
        for row in rows:
            self.rows += 1
            if len(row) != len(columns) or row.keys() != columns:
                missing, unknown = sorted(columns - row.keys()), sorted(row.keys() - columns)
                raise ValueError(f"{name} row {self.rows}: missing columns {missing}, unknown columns {unknown}")
            if row["tenant_id"] != tenant_id:
                raise ValueError(f"{name} row {self.rows}: tenant_id {row['tenant_id']!r} is not {tenant_id!r}")
            yield row
