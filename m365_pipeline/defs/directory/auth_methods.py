"""Each user's registered authentication methods as assets partitioned by tenant: the raw extract and its warehouse
table, with a check. Opt-in: one Graph request per user, so they run in a job of their own
(``user_authentication_methods``), not in ``main``; the registration report in ``main`` already says who
registered what kind of method for the whole tenant in a few requests."""

from collections.abc import Iterator

import dagster as dg

from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema, sql_column_schema
from m365_pipeline.defs.directory.assets import raw_key, warehouse_key
from m365_pipeline.defs.resources import GraphSource, M365Settings, Warehouse
from m365_pipeline.directory.auth_methods import extract_authentication_methods
from m365_pipeline.directory.auth_methods_load import load_authentication_methods, methods_of_unknown_users
from m365_pipeline.entities.auth_methods import USER_AUTHENTICATION_METHODS
from m365_pipeline.graph.batch import MAX_BATCH_REQUESTS
from m365_pipeline.warehouse.auth_method_tables import user_authentication_methods

RAW_GROUP = "raw_graph_auth_methods"
WAREHOUSE_GROUP = "core_auth_methods"
AUTH_METHODS_JOB_NAME = "user_authentication_methods"
AUTH_METHODS_ASSETS = dg.AssetSelection.groups(RAW_GROUP, WAREHOUSE_GROUP)
METHODS_BELONG_TO_USERS = "methods_belong_to_users"
EXAMPLES = 5


def build_auth_methods_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    entity = USER_AUTHENTICATION_METHODS

    @dg.asset(
        key=raw_key(entity.name),
        deps=[raw_key("users")],
        description="Each user's registered authentication methods (`GET /users/{id}/authentication/methods`, "
        f"{MAX_BATCH_REQUESTS} users to a `$batch`) for every user of the newest directory extract, one row per "
        "method; users deleted since that extract are counted, not failed. Replaces the tenant's previous file.",
        group_name=RAW_GROUP,
        kinds={"parquet", "azure"},
        owners=OWNERS,
        partitions_def=partitions,
        pool="graph_api",
        metadata={
            "dagster/column_schema": column_schema(
                (column.name, str(column.arrow_type), column.description, str(column.pii), column.nullable)
                for column in entity.columns
            ),
            "graph/path": entity.path,
            "graph/permission": entity.permission,
            "graph/limit": "1 identity resource unit per user, from M365_GRAPH_BUDGET",
        },
    )
    def raw_user_authentication_methods(
        context: dg.AssetExecutionContext, settings: M365Settings, graph: GraphSource
    ) -> dg.MaterializeResult:
        store = settings.raw_store

        def progress(users: int, methods: int) -> None:
            if users % 1_000 == 0:
                context.log.debug(f"{users} users answered, {methods} methods so far")

        with graph.client(context.partition_key) as client:
            extract = extract_authentication_methods(client, store, context.partition_key, on_progress=progress)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": extract.methods,
                "dagster/uri": store.uri(extract.stored.path),
                "directory_extract_id": extract.directory_extract_id,
                "users_asked": extract.users_asked,
                "users_not_found": extract.users_not_found,
                "sha256": extract.stored.sha256,
            }
        )

    table = user_authentication_methods

    @dg.asset(
        key=warehouse_key(table.name),
        deps=[raw_key(entity.name), warehouse_key("users")],
        description=f"{table.comment} Replaced whole for the tenant by each load, with its provenance in "
        "`user_authentication_method_loads`; invalid records go to `quarantine`.",
        group_name=WAREHOUSE_GROUP,
        kinds={"sql", "table"},
        owners=OWNERS,
        partitions_def=partitions,
        metadata={"dagster/column_schema": sql_column_schema(table), "dagster/table_name": table.name},
        check_specs=[
            dg.AssetCheckSpec(
                METHODS_BELONG_TO_USERS,
                asset=warehouse_key(table.name),
                description="Every user with methods is a user of the tenant in `users`. It warns when users were "
                "deleted since the methods were extracted, or the directory was published from another extract: "
                "extract the methods again.",
            )
        ],
    )
    def warehouse_user_authentication_methods(
        context: dg.AssetExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        load = load_authentication_methods(warehouse.engine, settings.raw_store, context.partition_key)
        if load.quarantined:
            context.log.warning(f"{load.quarantined} method records quarantined (table quarantine)")
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": load.methods,
                "quarantined": load.quarantined,
                "users_asked": load.users_asked,
                "users_not_found": load.users_not_found,
                "directory_extract_id": load.directory_extract_id,
                "tenant_id": load.tenant_id,
                "database": warehouse.display_url,
            }
        )
        with warehouse.engine.connect() as connection:
            unknown = methods_of_unknown_users(connection, load.tenant_id)
        yield dg.AssetCheckResult(
            check_name=METHODS_BELONG_TO_USERS,
            passed=not unknown,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"users_not_in_users": len(unknown), "examples": unknown[:EXAMPLES]},
        )

    return [raw_user_authentication_methods, warehouse_user_authentication_methods]


def build_auth_methods_job(partitions: dg.PartitionsDefinition) -> "dg.UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        AUTH_METHODS_JOB_NAME,
        selection=AUTH_METHODS_ASSETS,
        partitions_def=partitions,
        description="Opt-in: read every user's registered authentication methods (one request per user, through "
        "$batch) from the newest directory extract's users, and load them into the warehouse.",
    )
