"""The tenant's directory as assets: the raw extract (one step, four Parquet files and a manifest) and the
warehouse tables it is published to (one step, one transaction), both partitioned by tenant.

Each step finds its input in the raw store (the domain's knowledge), never in Dagster's event log, so either
can be materialized alone on a fresh instance from what the store holds.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import sqlalchemy as sa

from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema, sql_column_schema
from m365_pipeline.defs.resources import GraphSource, M365Settings, Warehouse
from m365_pipeline.directory.extract import (
    DIRECTORY_ENTITIES,
    duplicate_or_missing_keys,
    extract_directory,
    record_key,
)
from m365_pipeline.directory.publish import DirectoryPublication, publish_directory
from m365_pipeline.entities import ENTITIES
from m365_pipeline.raw_store import ExtractManifest
from m365_pipeline.warehouse import schema

RAW_GROUP = "raw_graph"
WAREHOUSE_GROUP = "core_directory"
IDS_UNIQUE = "ids_unique"
SOURCE_FULLY_LOADED = "source_fully_loaded"
PROGRESS_EVERY_PAGES = 10
EXAMPLES = 5

RAW_DESCRIPTIONS = {
    "organization": "The tenant itself (`GET /organization`): its id, name and verified domains.",
    "users": "Every user of the tenant (`GET /users`, paged at $top=999) with the properties the reports need, "
    "including assigned licenses and sign-in activity.",
    "subscribed_skus": "The tenant's license subscriptions (`GET /subscribedSkus`): prepaid and consumed units "
    "and service plans.",
    "groups": "Every group of the tenant (`GET /groups`): Microsoft 365, security, mail-enabled and dynamic groups.",
    "directory_roles": "The directory roles activated in the tenant (`GET /directoryRoles`): names and template ids.",
    "role_assignments": "Who holds which directory role (`GET /roleManagement/directory/roleAssignments`).",
    "user_registration_details": "Authentication-method registration per user "
    "(`GET /reports/authenticationMethods/userRegistrationDetails`); empty without Entra ID P1/P2.",
    "conditional_access_policies": "Conditional access policies (`GET /identity/conditionalAccess/policies`); "
    "empty without Entra ID P1/P2.",
    "applications": "App registrations (`GET /applications`) with their secrets' and certificates' expiry.",
    "service_principals": "Service principals (`GET /servicePrincipals`) with their credentials' expiry.",
    "group_relations": "Every group's members, transitive members and owners "
    "(`GET /groups/{id}/members|transitiveMembers|owners`, through $batch).",
}

WAREHOUSE_DESCRIPTIONS = {
    "tenants": "One row per tenant loaded into this warehouse: id, name, default domain, when first and last seen.",
    "users": "Current users of each tenant: identity, organization, account state and last sign-in times.",
    "user_licenses": "Which user holds which license (SKU) now, with the service plans disabled for them.",
    "skus": "License subscriptions of each tenant: prepaid and consumed units, service plans.",
    "groups": "Groups of each tenant, classified as Microsoft 365, security, mail-enabled security or distribution.",
    "sku_service_plans": "The service plans of each licence SKU, with their provisioning status.",
    "directory_roles": "Directory roles activated in each tenant, by template id, with their names.",
    "role_assignments": "Who holds which directory role (Global Administrator...), at which scope.",
    "user_registration_details": "Which authentication methods each user registered (MFA, SSPR, passwordless).",
    "conditional_access_policies": "Conditional access policies: state and grant controls.",
    "applications": "App registrations of each tenant: application id, publisher domain, audience.",
    "application_credentials": "Secrets and certificates of app registrations, with their expiry.",
    "service_principals": "Service principals (enterprise applications) of each tenant.",
    "service_principal_credentials": "Secrets and certificates of service principals, with their expiry.",
    "group_members": "Direct members of each group (users, groups, devices, service principals).",
    "group_transitive_members": "Members of each group including those of its nested groups.",
    "group_owners": "Owners of each group (users or service principals).",
}

# warehouse table -> the raw extract it is published from
WAREHOUSE_SOURCES = {
    "tenants": "organization",
    "users": "users",
    "user_licenses": "users",
    "skus": "subscribed_skus",
    "groups": "groups",
    "sku_service_plans": "subscribed_skus",
    "directory_roles": "directory_roles",
    "role_assignments": "role_assignments",
    "user_registration_details": "user_registration_details",
    "conditional_access_policies": "conditional_access_policies",
    "applications": "applications",
    "application_credentials": "applications",
    "service_principals": "service_principals",
    "service_principal_credentials": "service_principals",
    "group_members": "group_relations",
    "group_transitive_members": "group_relations",
    "group_owners": "group_relations",
}
WAREHOUSE_TABLES = {"tenants": schema.tenants, **{name: schema.TABLES[name] for name in schema.TABLES}}


def raw_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", entity])


def warehouse_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", table])


def build_directory_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [_raw_directory(partitions), _warehouse_directory(partitions)]


def _raw_directory(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            raw_key(name),
            description=RAW_DESCRIPTIONS[name],
            group_name=RAW_GROUP,
            kinds={"parquet", "azure"},
            owners=OWNERS,
            metadata={
                "dagster/column_schema": column_schema(
                    (column.name, str(column.arrow_type), column.description, str(column.pii), column.nullable)
                    for column in ENTITIES[name].columns
                ),
                "graph/path": ENTITIES[name].path,
                "graph/permission": ENTITIES[name].permission,
            },
        )
        for name in DIRECTORY_ENTITIES
    ]
    checks = [
        dg.AssetCheckSpec(
            IDS_UNIQUE,
            asset=raw_key(name),
            description=f"Every record has its key ({', '.join(record_key(name))}), none twice.",
        )
        for name in DIRECTORY_ENTITIES
    ]

    @dg.multi_asset(
        name="raw_directory",
        specs=specs,
        check_specs=checks,
        partitions_def=partitions,
        pool="graph_api",
        description="One complete extract of the tenant's directory into the raw store; visible only once whole.",
    )
    def raw_directory(
        context: dg.AssetExecutionContext, settings: M365Settings, graph: GraphSource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        tenant = context.partition_key
        store = settings.raw_store
        for leftover in store.remove_abandoned(tenant):
            context.log.info(f"removed what a run that died left behind: {leftover}")

        def progress(entity: str, pages: int, rows: int) -> None:
            if pages % PROGRESS_EVERY_PAGES == 0:
                context.log.info(f"{entity}: {rows} objects in {pages} pages so far")

        with graph.client(tenant) as client:
            extract = extract_directory(client, store, tenant, on_progress=progress)
        manifest = extract.manifest
        if extract.reused:
            context.log.info(
                f"tenant {tenant}: Graph answered what extract {manifest.extract_id} holds; nothing stored"
            )
        else:
            context.log.info(f"tenant {tenant}: extract {manifest.extract_id} complete")
        for name in DIRECTORY_ENTITIES:
            stored, result = manifest.files[name], extract.results[name]
            if result.dropped_properties:
                context.log.warning(
                    f"{name}: extracted without {', '.join(result.dropped_properties)}: the tenant or the app lacks "
                    f"what they need ({ENTITIES[name].optional_permission} and an Entra ID P1/P2 licence)"
                )
            duplicates, missing = duplicate_or_missing_keys(store, stored.path, record_key(name))
            yield dg.MaterializeResult(
                asset_key=raw_key(name),
                metadata={
                    "dagster/row_count": stored.rows,
                    "dagster/uri": store.uri(stored.path),
                    "path": dg.MetadataValue.path(store.location(stored.path)),
                    "tenant_id": manifest.tenant_id,
                    "extract_id": manifest.extract_id,
                    "pages": result.pages,
                    "bytes": stored.bytes,
                    "sha256": stored.sha256,
                    "dropped_properties": ", ".join(result.dropped_properties),
                },
            )
            yield dg.AssetCheckResult(
                asset_key=raw_key(name),
                check_name=IDS_UNIQUE,
                passed=not duplicates and missing == 0,
                metadata={"duplicate_ids": len(duplicates), "missing_ids": missing, "examples": duplicates[:EXAMPLES]},
            )

    return raw_directory


def _warehouse_directory(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            warehouse_key(name),
            deps=[raw_key(WAREHOUSE_SOURCES[name])],
            description=WAREHOUSE_DESCRIPTIONS[name],
            group_name=WAREHOUSE_GROUP,
            kinds={"sql", "table"},
            owners=OWNERS,
            metadata={"dagster/column_schema": sql_column_schema(table), "dagster/table_name": table.name},
        )
        for name, table in WAREHOUSE_TABLES.items()
    ]
    checks = [
        dg.AssetCheckSpec(
            SOURCE_FULLY_LOADED,
            asset=warehouse_key(name),
            description=(
                "Every source record is in the table: none quarantined (a warning: see the quarantine table) "
                "and the tenant's rows equal the normalized source (an error)."
            ),
        )
        for name in schema.TABLES
    ]

    @dg.multi_asset(
        name="warehouse_directory",
        specs=specs,
        check_specs=checks,
        partitions_def=partitions,
        description="Publish the tenant's newest complete extract to every directory table in one transaction.",
    )
    def warehouse_directory(
        context: dg.AssetExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        tenant = context.partition_key
        store = settings.raw_store
        manifest = store.latest_extract(tenant)
        if manifest is None:
            raise dg.Failure(
                f"tenant {tenant}: the raw store {store.root} holds no complete extract; materialize raw/* first"
            )
        publication = publish_directory(warehouse.engine, store, manifest)
        if publication.unchanged:
            context.log.info(f"tenant {tenant}: extract {manifest.extract_id} equals the published one; nothing to do")
        with warehouse.engine.connect() as connection:
            tenants = int(connection.execute(sa.select(sa.func.count()).select_from(schema.tenants)).scalar_one())
        yield dg.MaterializeResult(
            asset_key=warehouse_key("tenants"),
            metadata={"dagster/row_count": tenants, "tenant_id": manifest.tenant_id, "database": warehouse.display_url},
        )
        yield from _table_results(publication, manifest, warehouse)

    return warehouse_directory


def _table_results(
    publication: DirectoryPublication, manifest: ExtractManifest, warehouse: Warehouse
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    common: dict[str, Any] = {
        "tenant_id": manifest.tenant_id,
        "extract_id": publication.extract_id,
        "database": warehouse.display_url,
    }
    for name, table in publication.tables.items():
        yield dg.MaterializeResult(
            asset_key=warehouse_key(name),
            metadata={
                "dagster/row_count": table.rows,
                "inserted": table.inserted,
                "updated": table.updated,
                "deleted": table.deleted,
                "unchanged": table.unchanged,
                "quarantined": table.quarantined,
                **common,
            },
        )
        rows_match = table.rows == table.normalized_rows
        yield dg.AssetCheckResult(
            asset_key=warehouse_key(name),
            check_name=SOURCE_FULLY_LOADED,
            passed=table.quarantined == 0 and rows_match,
            severity=dg.AssetCheckSeverity.WARN if rows_match else dg.AssetCheckSeverity.ERROR,
            metadata={
                "table_rows": table.rows,
                "normalized_rows": table.normalized_rows,
                "source_records": table.source_records,
                "quarantined": table.quarantined,
            },
        )
