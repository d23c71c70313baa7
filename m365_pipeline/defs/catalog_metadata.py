"""Catalog metadata shared by the asset folders: column schemas (description, PII class, nullability), owners."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

OWNERS = ["team:m365-data"]
PII_TAG = "pii"


def column_schema(columns: Iterable[tuple[str, str, str, str, bool]]) -> dg.TableSchema:
    """A column schema from (name, type, description, PII class, nullable) per column."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=type_name,
                description=description,
                constraints=dg.TableColumnConstraints(nullable=nullable),
                tags={PII_TAG: pii},
            )
            for name, type_name, description, pii, nullable in columns
        ]
    )


def sql_column_schema(table: sa.Table) -> dg.TableSchema:
    """A warehouse table's columns, types as PostgreSQL spells them, from the column info of schema.py."""
    dialect = postgresql.dialect()
    return column_schema(
        (
            column.name,
            column.type.compile(dialect=dialect),
            column.info["description"],
            str(column.info["pii"]),
            bool(column.nullable),
        )
        for column in table.columns
    )
