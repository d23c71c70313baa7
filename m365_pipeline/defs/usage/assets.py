"""Microsoft 365 usage reports as assets partitioned by tenant: the raw CSV (as Parquet) and its warehouse table.

They run in their own job (``usage_reports``), not in ``main``: Graph allows each report 14 requests per 10 minutes
per tenant, and a report's data is refreshed once a day with a lag of days.
"""

from collections.abc import Iterator

import dagster as dg

from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema, sql_column_schema
from m365_pipeline.defs.resources import GraphSource, M365Settings, Warehouse
from m365_pipeline.entities.usage_reports import PERIODS, USAGE_REPORTS, UsageReportSpec
from m365_pipeline.graph.throttling import USAGE_REPORTS_LIMIT
from m365_pipeline.sources import download_client
from m365_pipeline.usage.extract import extract_report
from m365_pipeline.usage.load import load_report
from m365_pipeline.warehouse.usage_tables import USAGE_TABLES

RAW_GROUP = "raw_graph_usage"
WAREHOUSE_GROUP = "core_usage"
USAGE_JOB_NAME = "usage_reports"
NAMES_NOT_CONCEALED = "names_not_concealed"
USAGE_ASSETS = dg.AssetSelection.groups(RAW_GROUP, WAREHOUSE_GROUP)


class UsageReportConfig(dg.Config):
    period: str = "D7"  # D7, D30, D90 or D180: the days the report covers


def raw_key(report: UsageReportSpec) -> dg.AssetKey:
    return dg.AssetKey(["raw", "usage", report.name])


def warehouse_key(report: UsageReportSpec) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", f"usage_{report.name}"])


def build_usage_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [
        asset
        for report in USAGE_REPORTS.values()
        for asset in (_raw(report, partitions), _warehouse(report, partitions))
    ]


def build_usage_job(partitions: dg.PartitionsDefinition) -> "dg.UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        USAGE_JOB_NAME,
        selection=USAGE_ASSETS,
        partitions_def=partitions,
        description="Download one tenant's Microsoft 365 usage reports and load them into the warehouse.",
    )


def _concealable(report: UsageReportSpec) -> str:
    return ", ".join(column.header for column in report.concealable)


def _raw(report: UsageReportSpec, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(report),
        description=f"{report.title} The CSV of `GET {report.path('{period}')}`, downloaded from the 302's Location "
        "without the Authorization header, kept as sent (every column, as text) under its CSV headers.",
        group_name=RAW_GROUP,
        kinds={"parquet", "azure"},
        owners=OWNERS,
        partitions_def=partitions,
        pool="graph_api",
        metadata={
            "dagster/column_schema": column_schema(
                (column.header, "string", column.documented, str(column.pii), True) for column in report.columns
            ),
            "graph/path": report.path("{period}"),
            "graph/permission": "Reports.Read.All",
            "graph/limit": f"{USAGE_REPORTS_LIMIT.allowed} requests per "
            f"{USAGE_REPORTS_LIMIT.window_seconds / 60:g} min per app per tenant for this report",
            "concealable_columns": _concealable(report),
        },
    )
    def raw_report(
        context: dg.AssetExecutionContext, config: UsageReportConfig, settings: M365Settings, graph: GraphSource
    ) -> dg.MaterializeResult:
        if config.period not in PERIODS:
            raise dg.Failure(f"period {config.period!r} is not one of {', '.join(PERIODS)}")
        tenant = context.partition_key
        with graph.client(tenant) as client, download_client(settings.current) as http:
            extract = extract_report(client, http, settings.raw_store, report, tenant, config.period)
        if extract.names_concealed:
            context.log.warning(
                f"{report.name}: the tenant conceals names in usage reports ({_concealable(report)} are hashes)"
            )
        store = settings.raw_store
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": extract.stored.rows,
                "dagster/uri": store.uri(extract.stored.path),
                "names_concealed": extract.names_concealed,
                "report_refresh_date": extract.refresh_date or "",
                "period": config.period,
                "headers": ", ".join(extract.headers),
                "downloaded_bytes": extract.downloaded_bytes,
                "sha256": extract.stored.sha256,
            }
        )

    return raw_report


def _warehouse(report: UsageReportSpec, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    table = USAGE_TABLES[report.name]

    @dg.asset(
        key=warehouse_key(report),
        deps=[raw_key(report)],
        description=f"{report.title} One row per CSV row, typed, read by header name; each load replaces the "
        "tenant's rows of its period and refresh date.",
        group_name=WAREHOUSE_GROUP,
        kinds={"sql", "table"},
        owners=OWNERS,
        partitions_def=partitions,
        metadata={
            "dagster/column_schema": sql_column_schema(table),
            "dagster/table_name": table.name,
            "concealable_columns": _concealable(report),
        },
        check_specs=[
            dg.AssetCheckSpec(
                NAMES_NOT_CONCEALED,
                asset=warehouse_key(report),
                description="Names are names, not hashes. It warns while the tenant conceals names in usage reports "
                "(Microsoft 365 admin center: Settings, Org settings, Reports): rows then cannot be joined to users.",
            )
        ],
    )
    def warehouse_report(
        context: dg.AssetExecutionContext, config: UsageReportConfig, settings: M365Settings, warehouse: Warehouse
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        load = load_report(warehouse.engine, settings.raw_store, report, context.partition_key, config.period)
        if load.extra_columns:
            context.log.info(f"{report.name}: columns not declared, ignored: {', '.join(load.extra_columns)}")
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": load.rows,
                "names_concealed": load.names_concealed,
                "report_refresh_date": str(load.refresh_date or ""),
                "missing_columns": ", ".join(load.missing_columns),
                "extra_columns": ", ".join(load.extra_columns),
                "tenant_id": load.tenant_id,
                "database": warehouse.display_url,
            }
        )
        yield dg.AssetCheckResult(
            check_name=NAMES_NOT_CONCEALED,
            passed=not load.names_concealed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"names_concealed": load.names_concealed, "concealable_columns": _concealable(report)},
        )

    return warehouse_report
