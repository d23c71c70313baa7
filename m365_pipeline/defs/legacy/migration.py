"""Legacy files dropped into the inbox (M365_LEGACY_INBOX) become warehouse rows: the sensor adds one dynamic
partition per file (keyed by tenant and content hash) and requests its run; the asset migrates that file in one
transaction with its figures as metadata; a blocking check reconciles the ledger with the tables.

The domain work is `m365_pipeline.legacy` (inbox, load); this module only wires it to Dagster.
"""

import json
import warnings
from pathlib import Path

import dagster as dg

from m365_pipeline.defs.catalog_metadata import OWNERS, sql_column_schema
from m365_pipeline.defs.resources import M365Settings, Warehouse
from m365_pipeline.legacy.inbox import find_in_inbox, parse_partition_key, scan_inbox
from m365_pipeline.legacy.load import migrate_file, reconcile
from m365_pipeline.sources import configured_tenants
from m365_pipeline.warehouse.schema import legacy_files

LEGACY_GROUP = "legacy"
LEGACY_FILES = dg.DynamicPartitionsDefinition(name="legacy_files")
MIGRATED_FILES = dg.AssetKey(["legacy", "migrated_files"])
ROWS_RECONCILE = "rows_reconcile"
MIGRATION_JOB = "legacy_migration"
INBOX_SENSOR = "legacy_inbox_sensor"
PATH_TAG = "m365/legacy_path"


@dg.asset(
    key=MIGRATED_FILES,
    partitions_def=LEGACY_FILES,
    group_name=LEGACY_GROUP,
    kinds={"csv", "sql"},
    owners=OWNERS,
    description="One old PowerShell tool's CSV report (a partition per tenant and file content) migrated into its "
    "typed legacy_* table in one transaction, recorded in the ledger legacy_files; rows that cannot be typed go to "
    "legacy_quarantine.",
    metadata={"dagster/column_schema": sql_column_schema(legacy_files), "dagster/table_name": legacy_files.name},
)
def migrated_files(
    context: dg.AssetExecutionContext, settings: M365Settings, warehouse: Warehouse
) -> dg.MaterializeResult:
    tenant_id, sha256 = parse_partition_key(context.partition_key)
    current = settings.current
    tagged = context.run.tags.get(PATH_TAG)
    path = (
        Path(tagged) if tagged else find_in_inbox(current.legacy_inbox, configured_tenants(current), tenant_id, sha256)
    )
    if path is None or not path.is_file():
        raise dg.Failure(f"legacy file {sha256} of tenant {tenant_id} is no longer in {current.legacy_inbox}")
    result = migrate_file(warehouse.engine, path, tenant_id)
    if result.sha256 != sha256:
        raise dg.Failure(
            f"{path} changed since the sensor saw it (now {result.sha256}); its new content is its own partition"
        )
    context.log.info(f"{path}: {result.status}, {result.rows_loaded} of {result.rows_in} rows loaded")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "tenant_id": tenant_id,
            "sha256": sha256,
            "status": result.status,
            "report_type": result.report_type or "",
            "table": result.table_name or "",
            "rows_in": result.rows_in,
            "rows_loaded": result.rows_loaded,
            "rows_quarantined": result.rows_quarantined,
            "version": result.version,
            "already_migrated": result.already_migrated,
            "reason": result.reason or "",
            "history_left_out": result.history.left_out,  # facts the directory history could not hold, named:
            "history_left_out_examples": list(result.history.examples),
        }
    )


# a partitioned asset check is a preview API, worth it: the reconciliation runs per file
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)

    @dg.asset_check(
        asset=MIGRATED_FILES,
        name=ROWS_RECONCILE,
        blocking=True,
        partitions_def=LEGACY_FILES,
        description="The file's ledger entry agrees with the tables: rows in = loaded + quarantined, and the rows "
        "of the file in its table and in legacy_quarantine are as many as the ledger says.",
    )
    def rows_reconcile(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
        tenant_id, sha256 = parse_partition_key(context.partition_key)
        with warehouse.engine.connect() as connection:
            problems = reconcile(connection, tenant_id, sha256)
        return dg.AssetCheckResult(
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"tenant_id": tenant_id, "sha256": sha256, "problems": problems},
        )


migration_job = dg.define_asset_job(
    MIGRATION_JOB,
    selection=dg.AssetSelection.assets(MIGRATED_FILES),
    partitions_def=LEGACY_FILES,
    description="Migrate one legacy CSV file (a partition of legacy_files) into the warehouse.",
)


@dg.sensor(
    name=INBOX_SENSOR,
    job=migration_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches M365_LEGACY_INBOX: each new file, once its size and time are unchanged between two looks, "
    "becomes a partition of legacy_files (keyed by tenant and content) and a run of legacy_migration.",
)
def legacy_inbox_sensor(context: dg.SensorEvaluationContext, settings: M365Settings) -> dg.SensorResult:
    current = settings.current
    previous = json.loads(context.cursor) if context.cursor else {}
    tenants = configured_tenants(current)
    scan = scan_inbox(current.legacy_inbox, tenants, previous)
    if scan.unowned:
        context.log.warning(
            f"{len(scan.unowned)} files of {current.legacy_inbox} are outside the subfolders of the {len(tenants)} "
            f"tenants ({', '.join(tenants)}) and are not migrated, e.g. {scan.unowned[0]}"
        )
    known = set(context.instance.get_dynamic_partitions(LEGACY_FILES.name or ""))
    new = {}
    for file in scan.ready:
        if file.partition_key not in known and file.partition_key not in new:
            new[file.partition_key] = file
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=key, partition_key=key, tags={PATH_TAG: str(file.path)}) for key, file in new.items()
        ],
        dynamic_partitions_requests=[LEGACY_FILES.build_add_request(list(new))] if new else [],
        cursor=json.dumps(scan.stamps, sort_keys=True),
    )


def build_legacy_definitions() -> dg.Definitions:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # code references: the UI's link from the asset to its source
        assets = dg.with_source_code_references([migrated_files])
    return dg.Definitions(
        assets=assets,
        asset_checks=[rows_reconcile],
        jobs=[migration_job],
        sensors=[legacy_inbox_sensor],
    )
