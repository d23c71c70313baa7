"""Normalized warehouse tables, loaded from the newest raw extracts; each row carries its tenant id."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
import sqlalchemy as sa

from m365_pipeline.defs.catalog_metadata import (
    OWNERS,
    latest_materialization_value,
    latest_materialized_path,
    sql_column_schema,
)
from m365_pipeline.defs.raw.assets import raw_key
from m365_pipeline.defs.resources import Warehouse
from m365_pipeline.graph.raw_files import read_records, tenant_of_file
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.ingest import NORMALIZERS, count_tenant_rows, load_records
from m365_pipeline.warehouse.loader import upsert_tenant

GROUP = "core_directory"
SOURCE_FULLY_LOADED = "source_fully_loaded"
CONSUMED_UNITS_MATCH = "consumed_units_match_assignments"

# warehouse table -> the raw extract it is loaded from
SOURCES = {"users": "users", "user_licenses": "users", "skus": "subscribed_skus", "groups": "groups"}

DESCRIPTIONS = {
    "tenants": "One row per tenant loaded into this warehouse: id, name, default domain, when first and last seen.",
    "users": "Current users of each tenant: identity, organization, account state and last sign-in times.",
    "user_licenses": "Which user holds which license (SKU) now, with the service plans disabled for them.",
    "skus": "License subscriptions of each tenant: prepaid and consumed units, service plans.",
    "groups": "Groups of each tenant, classified as Microsoft 365, security, mail-enabled security or distribution.",
}


def warehouse_key(table_name: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", table_name])


def tenant_last_loaded(instance: dg.DagsterInstance, table_name: str) -> str:
    """The tenant whose rows the newest materialization of a warehouse table loaded (lineage, not guesswork)."""
    return latest_materialization_value(instance, warehouse_key(table_name), "tenant_id")


def _table_metadata(table: sa.Table, warehouse: Warehouse) -> dict[str, Any]:
    return {"dagster/table_name": table.name, "database": warehouse.display_url}


@dg.asset(
    key=warehouse_key("tenants"),
    deps=[raw_key("organization")],
    description=DESCRIPTIONS["tenants"],
    group_name=GROUP,
    kinds={"sql", "table"},
    owners=OWNERS,
    metadata={"dagster/column_schema": sql_column_schema(schema.tenants)},
)
def tenants(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    organization_path = latest_materialized_path(context.instance, raw_key("organization"))
    tenant = tenant_of_file(organization_path)
    seen_at = datetime.fromtimestamp(organization_path.stat().st_mtime, UTC).replace(microsecond=0)
    with warehouse.engine.begin() as connection:
        upsert_tenant(connection, tenant.tenant_id, tenant.display_name, tenant.default_domain, seen_at)
        rows = int(connection.execute(sa.select(sa.func.count()).select_from(schema.tenants)).scalar_one())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "tenant_id": tenant.tenant_id,
            **_table_metadata(schema.tenants, warehouse),
        }
    )


def _warehouse_table_asset(table_name: str) -> dg.AssetsDefinition:
    key = warehouse_key(table_name)
    source_key = raw_key(SOURCES[table_name])
    table = NORMALIZERS[table_name][1]

    @dg.asset(
        key=key,
        deps=[source_key, warehouse_key("tenants")],
        description=DESCRIPTIONS[table_name],
        group_name=GROUP,
        kinds={"sql", "table"},
        owners=OWNERS,
        metadata={"dagster/column_schema": sql_column_schema(table)},
        check_specs=[
            dg.AssetCheckSpec(
                SOURCE_FULLY_LOADED,
                asset=key,
                description=(
                    "Every source record is in the table: none quarantined (a warning: see the quarantine table) "
                    "and the tenant's rows equal the normalized source (an error)."
                ),
            )
        ],
    )
    def load(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        source = latest_materialized_path(context.instance, source_key)
        tenant = tenant_of_file(source)
        loaded = load_records(warehouse.engine, table_name, read_records(source), tenant.tenant_id, str(source))
        rows_match = loaded.table_rows == loaded.normalized_rows
        if loaded.quarantined:
            context.log.warning(f"{loaded.quarantined} {SOURCES[table_name]} records quarantined from {source}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": loaded.table_rows,
                "tenant_id": tenant.tenant_id,
                "source": dg.MetadataValue.path(str(source)),
                "inserted": loaded.result.inserted,
                "updated": loaded.result.updated,
                "deleted": loaded.result.deleted,
                "unchanged": loaded.result.unchanged,
                "quarantined": loaded.quarantined,
                **_table_metadata(table, warehouse),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=SOURCE_FULLY_LOADED,
                    passed=loaded.quarantined == 0 and rows_match,
                    severity=dg.AssetCheckSeverity.ERROR if not rows_match else dg.AssetCheckSeverity.WARN,
                    metadata={
                        "table_rows": loaded.table_rows,
                        "normalized_rows": loaded.normalized_rows,
                        "source_records": loaded.source_records,
                        "quarantined": loaded.quarantined,
                    },
                )
            ],
        )

    return load


@dg.asset_check(
    asset=warehouse_key("skus"),
    name=CONSUMED_UNITS_MATCH,
    additional_deps=[warehouse_key("user_licenses")],
    description="Each SKU's consumedUnits equals the number of users holding it (a gap means unloaded users).",
)
def consumed_units_match_assignments(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse
) -> dg.AssetCheckResult:
    tenant_id = tenant_last_loaded(context.instance, "skus")
    with warehouse.engine.connect() as connection:
        mismatches = _consumed_unit_mismatches(connection, tenant_id)
        skus_checked = count_tenant_rows(connection, schema.skus, tenant_id)
    return dg.AssetCheckResult(
        passed=not mismatches,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"skus_checked": skus_checked, "mismatches": len(mismatches), "examples": mismatches[:5]},
    )


def _consumed_unit_mismatches(connection: sa.Connection, tenant_id: str) -> list[str]:
    skus, licenses = schema.skus, schema.user_licenses
    assigned = (
        sa.select(licenses.c.sku_id, sa.func.count().label("holders"))
        .where(licenses.c.tenant_id == tenant_id)
        .group_by(licenses.c.sku_id)
        .subquery()
    )
    query = (
        sa.select(skus.c.sku_part_number, skus.c.consumed_units, sa.func.coalesce(assigned.c.holders, 0))
        .select_from(skus.outerjoin(assigned, skus.c.sku_id == assigned.c.sku_id))
        .where(skus.c.tenant_id == tenant_id)
        .where(skus.c.consumed_units != sa.func.coalesce(assigned.c.holders, 0))
        .order_by(skus.c.sku_part_number)
    )
    return [f"{part}: consumed {consumed}, held by {held}" for part, consumed, held in connection.execute(query)]


WAREHOUSE_ASSETS = [tenants, *(_warehouse_table_asset(name) for name in SOURCES)]
WAREHOUSE_CHECKS = [consumed_units_match_assignments]
