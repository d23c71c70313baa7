"""Checks that a tenant's warehouse is one consistent extract. Blocking: when one fails, the tenant's reports are
not written from tables that disagree. They run as steps of their own, so they can also be run alone (the UI's
"Execute checks") against the warehouse as it is."""

from collections.abc import Callable

import dagster as dg
import sqlalchemy as sa

from m365_pipeline.defs.directory.assets import warehouse_key
from m365_pipeline.defs.resources import M365Settings, Warehouse
from m365_pipeline.warehouse.consistency import consumed_unit_mismatches, licenses_without_user

LICENSES_HAVE_USERS = "licenses_have_users"
CONSUMED_UNITS_MATCH = "consumed_units_match_assignments"
EXAMPLES = 5

Finder = Callable[[sa.Connection, str], list[str]]  # (connection, tenant id) -> the inconsistencies, described


def build_directory_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    return [
        _consistency_check(
            partitions,
            table="user_licenses",
            name=LICENSES_HAVE_USERS,
            also_reads="users",
            description="Every license row belongs to a user of the same tenant in `users` (blocks the reports).",
            finder=licenses_without_user,
            counted_as="licenses_without_user",
        ),
        _consistency_check(
            partitions,
            table="skus",
            name=CONSUMED_UNITS_MATCH,
            also_reads="user_licenses",
            description="Each SKU's consumedUnits equals the number of users holding it (blocks the reports).",
            finder=consumed_unit_mismatches,
            counted_as="mismatches",
        ),
    ]


def _consistency_check(
    partitions: dg.PartitionsDefinition,
    *,
    table: str,
    name: str,
    also_reads: str,
    description: str,
    finder: Finder,
    counted_as: str,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=warehouse_key(table),
        name=name,
        blocking=True,
        partitions_def=partitions,
        additional_deps=[warehouse_key(also_reads)],
        description=description,
    )
    def check(
        context: dg.AssetCheckExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> dg.AssetCheckResult:
        tenant_id = _tenant_id(settings, context.partition_key)
        with warehouse.engine.connect() as connection:
            found = finder(connection, tenant_id)
        return dg.AssetCheckResult(
            passed=not found,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"tenant_id": tenant_id, counted_as: len(found), "examples": found[:EXAMPLES]},
        )

    return check


def _tenant_id(settings: M365Settings, tenant: str) -> str:
    """The directory id of a configured tenant (it may be configured by domain), as its newest extract says."""
    manifest = settings.raw_store.latest_extract(tenant)
    if manifest is None:
        raise dg.Failure(f"tenant {tenant}: nothing extracted yet; materialize raw/* and warehouse/* first")
    return manifest.tenant_id
