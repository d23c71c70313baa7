"""Catalog metadata shared by the asset folders: column schemas, owners, file URIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa

from m365_pipeline.warehouse.loader import table_column_schema

OWNERS = ["team:m365-data"]


def arrow_column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=field.name, type=str(field.type)) for field in schema])


def sql_column_schema(table: sa.Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=type_name, description=description)
            for name, type_name, description in table_column_schema(table)
        ]
    )


def file_metadata(path: Path) -> dict[str, Any]:
    return {"path": dg.MetadataValue.path(str(path)), "dagster/uri": path.resolve().as_uri()}


def latest_materialization_value(instance: dg.DagsterInstance, key: dg.AssetKey, label: str) -> str:
    """A metadata value of an upstream asset's newest materialization (lineage tells what it produced)."""
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    if materialization is None or label not in materialization.metadata:
        raise dg.Failure(f"{key.to_user_string()} has not been materialized yet: materialize it first")
    return str(materialization.metadata[label].value)


def latest_materialized_path(instance: dg.DagsterInstance, key: dg.AssetKey) -> Path:
    """The file behind an upstream asset's newest materialization."""
    return Path(latest_materialization_value(instance, key, "path"))
