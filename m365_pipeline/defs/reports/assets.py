"""The old PowerShell tool's reports, written byte-for-byte the way it wrote them (UTF-8 BOM, quoted, CRLF)."""

import csv
from datetime import datetime
from pathlib import Path

import dagster as dg

from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema
from m365_pipeline.defs.directory.assets import warehouse_key
from m365_pipeline.defs.directory.refresh import DIRECTORY_DELTA_KEY
from m365_pipeline.defs.resources import M365Settings, Warehouse
from m365_pipeline.liveness import remove_abandoned_temporaries
from m365_pipeline.reports.report_index import write_unless_current
from m365_pipeline.reports.user_list import (
    USER_LIST_COLUMNS,
    USER_LIST_FOLDER,
    USER_LIST_HEADER,
    USER_LIST_REPORT_NAME,
    count_listed_users,
    write_user_list,
)
from m365_pipeline.warehouse.ledger import published_extract

GROUP = "out_reports"
ONE_ROW_PER_USER = "one_row_per_user"
USER_LIST_KEY = dg.AssetKey(["reports", "entra_id", "user_list"])


def build_report_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=USER_LIST_KEY,
        deps=[warehouse_key("users"), warehouse_key("user_licenses"), warehouse_key("skus"), DIRECTORY_DELTA_KEY],
        partitions_def=partitions,
        description=(
            "ユーザー一覧 (Entra ID user list): one row per user with account state, licenses, creation date and "
            "last sign-in, as the old tool's `AllUsers_yyyyMMdd_HHmmss.csv` (UTF-8 with BOM, every field quoted, "
            "CRLF), timestamps in the report time zone; one folder per tenant."
        ),
        group_name=GROUP,
        kinds={"csv"},
        owners=OWNERS,
        metadata={
            "dagster/column_schema": column_schema(USER_LIST_COLUMNS),
            "legacy_layout": "Reports/EntraIDManagement/AllUsers_TS.csv",
        },
        check_specs=[
            dg.AssetCheckSpec(
                ONE_ROW_PER_USER,
                asset=USER_LIST_KEY,
                description="The file holds the header and exactly one row per user of the tenant in the warehouse.",
            )
        ],
    )
    def user_list(
        context: dg.AssetExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        tenant = context.partition_key
        manifest = settings.raw_store.latest_extract(tenant)
        if manifest is None:
            raise dg.Failure(f"tenant {tenant}: nothing extracted yet; materialize raw/* and warehouse/* first")
        timezone = settings.current.report_timezone
        folder = settings.current.reports_dir / tenant / USER_LIST_FOLDER
        for leftover in remove_abandoned_temporaries(folder):
            context.log.info(f"removed what a run that died left behind: {leftover}")
        layout = f"{'|'.join(USER_LIST_HEADER)}|{timezone.key}"
        with warehouse.engine.connect() as connection:
            published = published_extract(connection, manifest.tenant_id)
            if published is None:
                raise dg.Failure(f"tenant {tenant}: the warehouse holds no extract yet; materialize warehouse/* first")
            users_in_warehouse = count_listed_users(connection, manifest.tenant_id)

            def write() -> tuple[Path, int]:
                written = write_user_list(
                    connection, manifest.tenant_id, folder.parent, datetime.now(timezone), timezone
                )
                return written.path, written.rows

            report, written_now = write_unless_current(
                folder, USER_LIST_REPORT_NAME, published.extract_id, layout, write
            )
        if written_now:
            context.log.info(f"user list: {report.rows} users -> {report.path}")
        else:
            context.log.info(f"user list: the warehouse still holds extract {report.extract_id}: {report.path}")
        path = Path(report.path)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": report.rows,
                "tenant_id": manifest.tenant_id,
                "extract_id": report.extract_id,
                "path": dg.MetadataValue.path(report.path),
                "dagster/uri": path.resolve().as_uri(),
            },
            check_results=[report_matches_warehouse(path, users_in_warehouse)],
        )

    return [user_list]


def report_matches_warehouse(path: Path, users_in_warehouse: int) -> dg.AssetCheckResult:
    """one_row_per_user: the file's records, as a CSV reader counts them (a quoted field may hold a line break),
    against the tenant's users in the warehouse."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        data_rows = sum(1 for _ in csv.reader(handle)) - 1
    return dg.AssetCheckResult(
        check_name=ONE_ROW_PER_USER,
        passed=data_rows == users_in_warehouse,
        metadata={"rows_in_file": data_rows, "users_in_warehouse": users_in_warehouse},
    )
