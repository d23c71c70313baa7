"""Checks that a tenant's warehouse is one consistent extract. Blocking: when one fails, the tenant's reports are
not written from tables that disagree. They run as steps of their own, so they can also be run alone (the UI's
"Execute checks") against the warehouse as it is."""

import dagster as dg

from m365_pipeline.defs.directory.assets import warehouse_key
from m365_pipeline.defs.resources import M365Settings, Warehouse
from m365_pipeline.warehouse.consistency import consumed_unit_mismatches, licenses_without_user

LICENSES_HAVE_USERS = "licenses_have_users"
CONSUMED_UNITS_MATCH = "consumed_units_match_assignments"
EXAMPLES = 5


def build_directory_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=warehouse_key("user_licenses"),
        name=LICENSES_HAVE_USERS,
        blocking=True,
        partitions_def=partitions,
        additional_deps=[warehouse_key("users")],
        description="Every license row belongs to a user of the same tenant in `users` (blocks the reports).",
    )
    def licenses_have_users(
        context: dg.AssetCheckExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> dg.AssetCheckResult:
        tenant_id = _tenant_id(settings, context.partition_key)
        with warehouse.engine.connect() as connection:
            orphans = licenses_without_user(connection, tenant_id)
        return dg.AssetCheckResult(
            passed=not orphans,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"tenant_id": tenant_id, "licenses_without_user": len(orphans), "examples": orphans[:EXAMPLES]},
        )

    @dg.asset_check(
        asset=warehouse_key("skus"),
        name=CONSUMED_UNITS_MATCH,
        blocking=True,
        partitions_def=partitions,
        additional_deps=[warehouse_key("user_licenses")],
        description="Each SKU's consumedUnits equals the number of users holding it (blocks the reports).",
    )
    def consumed_units_match_assignments(
        context: dg.AssetCheckExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> dg.AssetCheckResult:
        tenant_id = _tenant_id(settings, context.partition_key)
        with warehouse.engine.connect() as connection:
            mismatches = consumed_unit_mismatches(connection, tenant_id)
        return dg.AssetCheckResult(
            passed=not mismatches,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"tenant_id": tenant_id, "mismatches": len(mismatches), "examples": mismatches[:EXAMPLES]},
        )

    return [licenses_have_users, consumed_units_match_assignments]


def _tenant_id(settings: M365Settings, tenant: str) -> str:
    """The directory id of a configured tenant (it may be configured by domain), as its newest extract says."""
    manifest = settings.raw_store.latest_extract(tenant)
    if manifest is None:
        raise dg.Failure(f"tenant {tenant}: nothing extracted yet; materialize raw/* and warehouse/* first")
    return manifest.tenant_id
