"""Teams as assets partitioned by tenant: the raw snapshot (teams with their settings, installed apps) and its
warehouse tables. They run in their own job (``teams``)."""

from collections.abc import Iterator

import dagster as dg

from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema, sql_column_schema
from m365_pipeline.defs.resources import GraphSource, M365Settings, Warehouse
from m365_pipeline.entities.spec import EntitySpec
from m365_pipeline.entities.teams import TEAM_INSTALLED_APPS, TEAMS
from m365_pipeline.teams.extract import extract_teams
from m365_pipeline.teams.load import load_teams
from m365_pipeline.warehouse.teams_tables import team_installed_apps, teams

RAW_GROUP = "raw_graph_teams"
WAREHOUSE_GROUP = "core_teams"
TEAMS_JOB_NAME = "teams"
TEAMS_ASSETS = dg.AssetSelection.groups(RAW_GROUP, WAREHOUSE_GROUP)

RAW_DESCRIPTIONS = {
    "teams": "Every team of the tenant (`GET /teams`, then `GET /teams/{id}`): visibility, archived, and its member, "
    "guest, messaging and fun settings.",
    "team_installed_apps": "The apps installed in each team (`GET /teams/{id}/installedApps?$expand="
    "teamsAppDefinition`): app id, name, version, distribution (store, organization, sideloaded).",
}


def _raw_spec(entity: EntitySpec) -> dg.AssetSpec:
    return dg.AssetSpec(
        dg.AssetKey(["raw", entity.name]),
        description=RAW_DESCRIPTIONS[entity.name],
        group_name=RAW_GROUP,
        kinds={"parquet", "azure"},
        owners=OWNERS,
        metadata={
            "dagster/column_schema": column_schema(
                (column.name, str(column.arrow_type), column.description, str(column.pii), column.nullable)
                for column in entity.columns
            ),
            "graph/path": entity.path,
            "graph/permission": entity.permission,
        },
    )


def build_teams_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name="raw_teams",
        specs=[_raw_spec(TEAMS), _raw_spec(TEAM_INSTALLED_APPS)],
        partitions_def=partitions,
        pool="graph_api",
        description="The tenant's teams and their installed apps into the raw store, replacing the last snapshot.",
    )
    def raw_teams(
        context: dg.AssetExecutionContext, settings: M365Settings, graph: GraphSource
    ) -> Iterator[dg.MaterializeResult]:
        store = settings.raw_store
        with graph.client(context.partition_key) as client:
            extract = extract_teams(client, store, context.partition_key)
        for entity, stored in ((TEAMS, extract.teams), (TEAM_INSTALLED_APPS, extract.installed_apps)):
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["raw", entity.name]),
                metadata={
                    "dagster/row_count": stored.rows,
                    "dagster/uri": store.uri(stored.path),
                    "sha256": stored.sha256,
                },
            )

    specs = [
        dg.AssetSpec(
            dg.AssetKey(["warehouse", table.name]),
            deps=[dg.AssetKey(["raw", table.name])],
            description=f"{table.comment} Replaced whole with the newest snapshot.",
            group_name=WAREHOUSE_GROUP,
            kinds={"sql", "table"},
            owners=OWNERS,
            metadata={"dagster/column_schema": sql_column_schema(table), "dagster/table_name": table.name},
        )
        for table in (teams, team_installed_apps)
    ]

    @dg.multi_asset(
        name="warehouse_teams",
        specs=specs,
        partitions_def=partitions,
        description="Replace the tenant's teams and installed apps with the raw store's snapshot, in one transaction.",
    )
    def warehouse_teams(
        context: dg.AssetExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> Iterator[dg.MaterializeResult]:
        load = load_teams(warehouse.engine, settings.raw_store, context.partition_key)
        for name, rows in (("teams", load.teams), ("team_installed_apps", load.installed_apps)):
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["warehouse", name]),
                metadata={"dagster/row_count": rows, "tenant_id": load.tenant_id, "database": warehouse.display_url},
            )

    return [raw_teams, warehouse_teams]


def build_teams_job(partitions: dg.PartitionsDefinition) -> "dg.UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        TEAMS_JOB_NAME,
        selection=TEAMS_ASSETS,
        partitions_def=partitions,
        description="Extract one tenant's teams (settings, installed apps) and load them into the warehouse.",
    )
