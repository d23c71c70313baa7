"""OneDrive sharing as assets partitioned by tenant: each run one delta batch in the raw store (drives with their
quota, the changed items' classified permissions), applied in order to the warehouse. Job ``onedrive``."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import sqlalchemy as sa

from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema, sql_column_schema
from m365_pipeline.defs.resources import GraphSource, M365Settings, Warehouse
from m365_pipeline.drives.extract import DRIVES, PERMISSIONS, SCHEMAS, extract_sharing
from m365_pipeline.drives.load import load_sharing
from m365_pipeline.warehouse.drive_tables import drive_item_permissions, drives

RAW_GROUP = "raw_graph_onedrive"
WAREHOUSE_GROUP = "core_onedrive"
ONEDRIVE_JOB_NAME = "onedrive"
ONEDRIVE_ASSETS = dg.AssetSelection.groups(RAW_GROUP, WAREHOUSE_GROUP)
TABLES = {DRIVES: drives, PERMISSIONS: drive_item_permissions}
RAW_DESCRIPTIONS = {
    DRIVES: "Each user's OneDrive with its quota (`GET /users/{id}/drive`), one file per run (batch).",
    PERMISSIONS: "Permissions of the drive items each run's delta reported (`GET /drives/{id}/root/delta`, then "
    "`/items/{id}/permissions`), one row per grantee, classified owner, internal, external_guest, external_domain "
    "or anonymous; with the changed items and the deltaLinks to resume from.",
}


def _raw_spec(name: str) -> dg.AssetSpec:
    table = TABLES[name]
    return dg.AssetSpec(
        dg.AssetKey(["raw", name]),
        description=RAW_DESCRIPTIONS[name],
        group_name=RAW_GROUP,
        kinds={"parquet", "azure"},
        owners=OWNERS,
        metadata={
            "dagster/column_schema": column_schema(
                (
                    field.name,
                    str(field.type),
                    table.c[field.name].info["description"],
                    str(table.c[field.name].info["pii"]),
                    True,
                )
                for field in SCHEMAS[name]
            ),
            "graph/permission": "Files.Read.All (or Sites.Read.All) and User.Read.All",
        },
    )


def build_drive_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name="raw_drive_sharing",
        specs=[_raw_spec(DRIVES), _raw_spec(PERMISSIONS)],
        partitions_def=partitions,
        pool="graph_api",
        description="One delta batch of the tenant's OneDrives: quotas, and the sharing of the items that changed.",
    )
    def raw_drive_sharing(
        context: dg.AssetExecutionContext, settings: M365Settings, graph: GraphSource
    ) -> Iterator[dg.MaterializeResult]:
        with graph.client(context.partition_key) as client:
            batch = extract_sharing(client, settings.raw_store, context.partition_key)
        common: dict[str, Any] = {
            "batch_id": batch.batch_id,
            "resynced_drives": batch.resynced_drives,
            "changed_items": batch.changed_items,
        }
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey(["raw", DRIVES]), metadata={"dagster/row_count": batch.drives, **common}
        )
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey(["raw", PERMISSIONS]), metadata={"dagster/row_count": batch.permissions, **common}
        )

    specs = [
        dg.AssetSpec(
            dg.AssetKey(["warehouse", table.name]),
            deps=[dg.AssetKey(["raw", name])],
            description=f"{table.comment} Kept current by applying each delta batch once, in order.",
            group_name=WAREHOUSE_GROUP,
            kinds={"sql", "table"},
            owners=OWNERS,
            metadata={"dagster/column_schema": sql_column_schema(table), "dagster/table_name": table.name},
        )
        for name, table in TABLES.items()
    ]

    @dg.multi_asset(
        name="warehouse_drive_sharing",
        specs=specs,
        partitions_def=partitions,
        description="Apply the tenant's sharing batches not applied yet, in order, in one transaction.",
    )
    def warehouse_drive_sharing(
        context: dg.AssetExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> Iterator[dg.MaterializeResult]:
        applied = load_sharing(warehouse.engine, settings.raw_store, context.partition_key)
        with warehouse.engine.connect() as connection:
            for table in TABLES.values():
                rows = connection.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == applied.tenant_id)
                ).scalar_one()
                yield dg.MaterializeResult(
                    asset_key=dg.AssetKey(["warehouse", table.name]),
                    metadata={
                        "dagster/row_count": int(rows),
                        "batches_applied": applied.batches,
                        "batch_id": applied.last_batch or "",
                        "database": warehouse.display_url,
                    },
                )

    return [raw_drive_sharing, warehouse_drive_sharing]


def build_onedrive_job(partitions: dg.PartitionsDefinition) -> "dg.UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        ONEDRIVE_JOB_NAME,
        selection=ONEDRIVE_ASSETS,
        partitions_def=partitions,
        description="Take one delta batch of a tenant's OneDrives (quota, sharing) and apply it to the warehouse.",
    )
