"""Teams call records as assets partitioned by tenant × UTC day of the call's start: the raw day files and the
warehouse tables of calls, sessions, segments and media streams.

Like the activity logs (``defs.activity``) every asset declares ``BackfillPolicy.single_run()``: a date range of a
tenant backfills in one run (``dg launch --assets 'raw/call_records,warehouse/call_records,...' --partition-range
'2026-11-01|<tenant>...2026-11-03|<tenant>'``) whose step receives every day of the range and replaces each day.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

import dagster as dg

from m365_pipeline.calls.extract import extract_call_days
from m365_pipeline.calls.load import duplicate_record_ids, incomplete_call_days, load_call_day
from m365_pipeline.defs.activity.assets import (
    DAY_COMPLETE,
    EXAMPLES,
    IDS_UNIQUE_ACROSS_DAYS,
    activity_partitions,
    days_by_tenant,
)
from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema, sql_column_schema
from m365_pipeline.defs.resources import GraphSource, M365Settings, Warehouse
from m365_pipeline.entities.call_records import CALL_RECORDS
from m365_pipeline.warehouse.call_tables import CALL_TABLES, call_records

RAW_GROUP = "raw_graph_calls"
WAREHOUSE_GROUP = "core_calls"
CALL_ASSETS = dg.AssetSelection.groups(RAW_GROUP, WAREHOUSE_GROUP)
RAW_KEY = dg.AssetKey(["raw", CALL_RECORDS.name])


def build_call_assets(tenants: Sequence[str]) -> list[dg.AssetsDefinition]:
    partitions = activity_partitions(tenants)
    return [_raw_call_records(partitions), _warehouse_calls(partitions)]


def _raw_call_records(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=RAW_KEY,
        description="Call records of one UTC day (`GET /communications/callRecords`, startDateTime in [day, day+1)), "
        "each read whole with `$expand=sessions($expand=segments)` and every sessions@odata.nextLink page merged. "
        "Graph keeps a call record 30 days after the call.",
        group_name=RAW_GROUP,
        kinds={"parquet", "azure"},
        owners=OWNERS,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool="graph_api",
        metadata={
            "dagster/column_schema": column_schema(
                (column.name, str(column.arrow_type), column.description, str(column.pii), column.nullable)
                for column in CALL_RECORDS.columns
            ),
            "graph/path": CALL_RECORDS.path,
            "graph/permission": CALL_RECORDS.permission,
            "graph/limit": "1,500 requests per 20 s per app per tenant; 40 per 20 s on one call record or the list",
        },
    )
    def raw_call_records(
        context: dg.AssetExecutionContext, settings: M365Settings, graph: GraphSource
    ) -> dg.MaterializeResult:
        store = settings.raw_store
        per_day: dict[str, int] = {}
        sessions = session_pages = list_pages = 0
        for tenant, days in days_by_tenant(context).items():

            def progress(day: date, pages: int, records: int, tenant: str = tenant) -> None:
                context.log.debug(f"call_records {day}|{tenant}: {records} records in {pages} list pages so far")

            with graph.client(tenant) as client:
                extracts = extract_call_days(client, store, tenant, days, datetime.now(UTC), progress)
            for extract in extracts:
                context.log.info(
                    f"call_records {extract.day}|{tenant}: {extract.records} records, {extract.sessions} sessions"
                )
                per_day[f"{extract.day}|{tenant}"] = extract.records
                sessions += extract.sessions
                session_pages += extract.session_pages
                list_pages += extract.list_pages
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": sum(per_day.values()),
                "days": len(per_day),
                "sessions": sessions,
                "list_pages": list_pages,
                "sessions_pages": session_pages,
                "records_per_day": dg.MetadataValue.json(per_day),
            }
        )

    return raw_call_records


def _warehouse_calls(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            dg.AssetKey(["warehouse", table.name]),
            deps=[RAW_KEY],
            description=f"{table.comment} Keyed by tenant, UTC day of the call and position; each day replaced whole.",
            group_name=WAREHOUSE_GROUP,
            kinds={"sql", "table"},
            owners=OWNERS,
            metadata={"dagster/column_schema": sql_column_schema(table), "dagster/table_name": table.name},
        )
        for table in CALL_TABLES
    ]
    main = dg.AssetKey(["warehouse", call_records.name])
    checks = [
        dg.AssetCheckSpec(
            DAY_COMPLETE,
            asset=main,
            description="Every loaded day of the tenant still holds exactly the calls, sessions, segments and streams "
            "its load took from the raw file (call_record_days; Graph reports no count, so the raw file's records are "
            "the count of what Graph answered for the day's window).",
        ),
        dg.AssetCheckSpec(
            IDS_UNIQUE_ACROSS_DAYS,
            asset=main,
            description="No call record id of the tenant is in the warehouse on more than one day.",
        ),
    ]

    @dg.multi_asset(
        name="warehouse_call_records",
        specs=specs,
        check_specs=checks,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="Replace each day of call records (sessions, segments, streams) with the raw file of that day.",
    )
    def warehouse_call_records(
        context: dg.AssetExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        loads = [
            load_call_day(warehouse.engine, settings.raw_store, tenant, day)
            for tenant, days in days_by_tenant(context).items()
            for day in days
        ]
        for load in loads:
            context.log.info(f"call_records {load.day}|{load.tenant_id}: {load.records} records from {load.raw_path}")
        tenant_ids = sorted({load.tenant_id for load in loads})
        with warehouse.engine.connect() as connection:
            incomplete = [
                f"{tenant_id} {day}" for tenant_id in tenant_ids for day in incomplete_call_days(connection, tenant_id)
            ]
            duplicates = sorted(
                {record for tenant_id in tenant_ids for record in duplicate_record_ids(connection, tenant_id)}
            )
        rows = {
            "call_records": sum(load.records for load in loads),
            "call_sessions": sum(load.sessions for load in loads),
            "call_segments": sum(load.segments for load in loads),
            "call_media_streams": sum(load.media_streams for load in loads),
        }
        for table in CALL_TABLES:
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["warehouse", table.name]),
                metadata={"dagster/row_count": rows[table.name], "days": len(loads), "database": warehouse.display_url},
            )
        yield dg.AssetCheckResult(
            asset_key=main,
            check_name=DAY_COMPLETE,
            passed=not incomplete,
            metadata={"incomplete_days": len(incomplete), "examples": incomplete[:EXAMPLES]},
        )
        yield dg.AssetCheckResult(
            asset_key=main,
            check_name=IDS_UNIQUE_ACROSS_DAYS,
            passed=not duplicates,
            metadata={"duplicate_ids": len(duplicates), "examples": duplicates[:EXAMPLES]},
        )

    return warehouse_call_records
