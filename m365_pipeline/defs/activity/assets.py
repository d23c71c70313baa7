"""Entra activity logs as assets partitioned by tenant × UTC day: the raw day files and the warehouse tables.

Every asset declares ``BackfillPolicy.single_run()``: a date range of a tenant backfills in one run
(``dg launch --assets 'raw/sign_ins' --partition-range '2026-11-01|<tenant>...2026-11-03|<tenant>'``), whose
step receives every day of the range and replaces each day's window. Each step finds its input in the raw store,
never in Dagster's event log.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg

from m365_pipeline.activity.extract import ACTIVITY_LOGS, ActivityLogSpec, extract_days
from m365_pipeline.activity.load import duplicate_ids_across_days, incomplete_days, load_day
from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema, sql_column_schema
from m365_pipeline.defs.resources import GraphSource, M365Settings, Warehouse
from m365_pipeline.graph.throttling import ENTRA_REPORTS_LIMIT
from m365_pipeline.warehouse.activity_tables import ACTIVITY_TABLES

RAW_GROUP = "raw_graph_activity"
WAREHOUSE_GROUP = "core_activity"
ACTIVITY_START_DATE = "2025-01-01"
DAY_COMPLETE = "day_complete"
IDS_UNIQUE_ACROSS_DAYS = "ids_unique_across_days"
EXAMPLES = 5
ACTIVITY_ASSETS = dg.AssetSelection.groups(RAW_GROUP, WAREHOUSE_GROUP)

RAW_DESCRIPTIONS = {
    "sign_ins": "Sign-ins of one UTC day (`GET /auditLogs/signIns`, createdDateTime in [day, day+1)), newest first, "
    "1,000 a page, with the evolvable enum members (Prefer: include-unknown-enum-members). Graph keeps 30 days "
    "(Entra ID P1/P2; a free tenant cannot read sign-ins).",
    "directory_audits": "Directory audits of one UTC day (`GET /auditLogs/directoryAudits`, activityDateTime in "
    "[day, day+1)). Graph keeps 7 days (free) or 30 days (Entra ID P1/P2).",
}
WAREHOUSE_DESCRIPTIONS = {
    "sign_ins": "Sign-in events, one row per sign-in, keyed by tenant, UTC day and id; each day replaced whole.",
    "sign_in_policies": "Conditional access policies evaluated for each sign-in and their results.",
    "directory_audits": "Directory audit events, one row per event, keyed by tenant, UTC day and id.",
    "directory_audit_targets": "Objects each directory audit event changed, with the properties changed (JSON).",
}


def activity_partitions(tenants: Sequence[str]) -> dg.MultiPartitionsDefinition:
    """Tenant × UTC day, keyed ``<day>|<tenant>``."""
    return dg.MultiPartitionsDefinition(
        {
            "day": dg.DailyPartitionsDefinition(start_date=ACTIVITY_START_DATE, timezone="UTC"),
            "tenant": dg.StaticPartitionsDefinition(list(tenants)),
        }
    )


def raw_key(log: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", log])


def warehouse_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", table])


def build_activity_assets(tenants: Sequence[str]) -> list[dg.AssetsDefinition]:
    partitions = activity_partitions(tenants)
    return [_raw_logs(partitions), *(_warehouse_log(log, partitions) for log in ACTIVITY_LOGS.values())]


def days_by_tenant(context: dg.AssetExecutionContext) -> dict[str, list[date]]:
    """The run's partitions (one, or a backfill's range) as the days of each tenant, in order."""
    days: dict[str, list[date]] = defaultdict(list)
    partitions = context.assets_def.partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    for key in context.partition_keys:
        dimensions = partitions.get_partition_key_from_str(key).keys_by_dimension
        days[dimensions["tenant"]].append(date.fromisoformat(dimensions["day"]))
    return {tenant: sorted(set(tenant_days)) for tenant, tenant_days in days.items()}


def _raw_logs(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """Both logs in one step: they share one budget (5 requests per 10 s per app and tenant), which a bucket in
    this process then keeps for both; two steps in two processes would each spend it in full."""
    specs = [
        dg.AssetSpec(
            raw_key(log.name),
            description=RAW_DESCRIPTIONS[log.name],
            group_name=RAW_GROUP,
            kinds={"parquet", "azure"},
            owners=OWNERS,
            skippable=True,
            metadata={
                "dagster/column_schema": column_schema(
                    (column.name, str(column.arrow_type), column.description, str(column.pii), column.nullable)
                    for column in log.entity.columns
                ),
                "graph/path": log.entity.path,
                "graph/permission": f"{log.entity.permission} and Directory.Read.All",
                "graph/limit": f"{ENTRA_REPORTS_LIMIT.allowed} requests per {ENTRA_REPORTS_LIMIT.window_seconds:g} s "
                "per app per tenant",
            },
        )
        for log in ACTIVITY_LOGS.values()
    ]

    @dg.multi_asset(
        name="raw_activity_logs",
        specs=specs,
        can_subset=True,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool="graph_api",
        description="Each selected activity log, a UTC day at a time, into the raw store (each day replaces its file).",
    )
    def raw_activity_logs(
        context: dg.AssetExecutionContext, settings: M365Settings, graph: GraphSource
    ) -> Iterator[dg.MaterializeResult]:
        selected = [log for log in ACTIVITY_LOGS.values() if raw_key(log.name) in context.selected_asset_keys]
        days = days_by_tenant(context)
        for log in selected:
            yield _extract_log(context, settings, graph, log, days)

    return raw_activity_logs


def _extract_log(
    context: dg.AssetExecutionContext,
    settings: M365Settings,
    graph: GraphSource,
    log: ActivityLogSpec,
    days_by_tenant: dict[str, list[date]],
) -> dg.MaterializeResult:
    store = settings.raw_store
    per_day: dict[str, int] = {}
    pages = 0
    for tenant, days in days_by_tenant.items():

        def progress(day: date, pages: int, rows: int, tenant: str = tenant) -> None:
            context.log.debug(f"{log.name} {day}|{tenant}: {rows} events in {pages} pages so far")

        with graph.client(tenant) as client:
            extracts = extract_days(client, store, log, tenant, days, datetime.now(UTC), progress)
        for extract in extracts:
            context.log.info(f"{log.name} {extract.day}|{tenant}: {extract.rows} events in {extract.pages} pages")
            per_day[f"{extract.day}|{tenant}"] = extract.rows
            pages += extract.pages
    return dg.MaterializeResult(
        asset_key=raw_key(log.name),
        metadata={
            "dagster/row_count": sum(per_day.values()),
            "days": len(per_day),
            "pages": pages,
            "events_per_day": dg.MetadataValue.json(per_day),
        },
    )


def _warehouse_log(log: ActivityLogSpec, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    main, child = ACTIVITY_TABLES[log.name]
    specs = [
        dg.AssetSpec(
            warehouse_key(table.name),
            deps=[raw_key(log.name)],
            description=WAREHOUSE_DESCRIPTIONS[table.name],
            group_name=WAREHOUSE_GROUP,
            kinds={"sql", "table"},
            owners=OWNERS,
            metadata={"dagster/column_schema": sql_column_schema(table), "dagster/table_name": table.name},
        )
        for table in (main, child)
    ]
    checks = [
        dg.AssetCheckSpec(
            DAY_COMPLETE,
            asset=warehouse_key(main.name),
            description="Every loaded day of the tenant still holds exactly the events its load took from the raw file "
            "(activity_days.events; Graph reports no count for these logs, so the raw file's rows are the count of "
            "what Graph answered for the day's window).",
        ),
        dg.AssetCheckSpec(
            IDS_UNIQUE_ACROSS_DAYS,
            asset=warehouse_key(main.name),
            description="No event id of the tenant is in the warehouse on more than one day (a backfill never loads "
            "one twice).",
        ),
    ]

    @dg.multi_asset(
        name=f"warehouse_{log.name}",
        specs=specs,
        check_specs=checks,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=f"Replace each day of {log.name} (and its child rows) with the raw store's file of that day.",
    )
    def warehouse_log(
        context: dg.AssetExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        store = settings.raw_store
        loads = [
            load_day(warehouse.engine, store, log.name, tenant, day)
            for tenant, days in days_by_tenant(context).items()
            for day in days
        ]
        for load in loads:
            context.log.info(f"{log.name} {load.day}|{load.tenant_id}: {load.events} events from {load.raw_path}")
        tenant_ids = sorted({load.tenant_id for load in loads})
        with warehouse.engine.connect() as connection:
            incomplete = [
                f"{tenant_id} {day}"
                for tenant_id in tenant_ids
                for day in incomplete_days(connection, log.name, tenant_id)
            ]
            duplicates = sorted(
                {
                    event_id
                    for tenant_id in tenant_ids
                    for event_id in duplicate_ids_across_days(connection, log.name, tenant_id)
                }
            )
        common: dict[str, Any] = {"days": len(loads), "database": warehouse.display_url}
        yield dg.MaterializeResult(
            asset_key=warehouse_key(main.name),
            metadata={"dagster/row_count": sum(load.events for load in loads), **common},
        )
        yield dg.MaterializeResult(
            asset_key=warehouse_key(child.name),
            metadata={"dagster/row_count": sum(load.child_rows for load in loads), **common},
        )
        yield dg.AssetCheckResult(
            asset_key=warehouse_key(main.name),
            check_name=DAY_COMPLETE,
            passed=not incomplete,
            metadata={"incomplete_days": len(incomplete), "examples": incomplete[:EXAMPLES]},
        )
        yield dg.AssetCheckResult(
            asset_key=warehouse_key(main.name),
            check_name=IDS_UNIQUE_ACROSS_DAYS,
            passed=not duplicates,
            metadata={"duplicate_ids": len(duplicates), "examples": duplicates[:EXAMPLES]},
        )

    return warehouse_log
