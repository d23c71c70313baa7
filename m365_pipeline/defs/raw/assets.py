"""Raw Graph extracts: one Parquet file per entity, tenant and run date, holding the objects exactly as Graph sent
them, with the tenant they came from recorded in the file."""

import dagster as dg

from m365_pipeline.defs.catalog_metadata import OWNERS, arrow_column_schema, file_metadata
from m365_pipeline.defs.resources import GraphSource, M365Settings
from m365_pipeline.graph.catalog import ENTITIES, GraphEntity
from m365_pipeline.graph.extract import extract_to_parquet
from m365_pipeline.graph.raw_files import duplicate_or_missing_ids, fetch_tenant

GROUP = "raw_graph"
IDS_UNIQUE = "ids_unique"
PROGRESS_EVERY_PAGES = 10

DESCRIPTIONS = {
    "organization": "The tenant itself (`GET /organization`): its id, name and verified domains.",
    "users": "Every user of the tenant (`GET /users`, paged at $top=999) with the properties the reports need, "
    "including assigned licenses and sign-in activity.",
    "subscribed_skus": "The tenant's license subscriptions (`GET /subscribedSkus`): prepaid and consumed units "
    "and service plans.",
    "groups": "Every group of the tenant (`GET /groups`): Microsoft 365, security, mail-enabled and dynamic groups.",
}


def raw_key(entity_name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", entity_name])


def _raw_extract_asset(entity: GraphEntity) -> dg.AssetsDefinition:
    key = raw_key(entity.name)

    @dg.asset(
        key=key,
        description=DESCRIPTIONS[entity.name],
        group_name=GROUP,
        kinds={"parquet", "azure"},
        owners=OWNERS,
        pool="graph_api",
        metadata={
            "dagster/column_schema": arrow_column_schema(entity.schema),
            "graph/path": entity.path,
            "graph/permission": entity.permission,
        },
        check_specs=[
            dg.AssetCheckSpec(IDS_UNIQUE, asset=key, description="Every object has an id and no id occurs twice.")
        ],
    )
    def extract(context: dg.AssetExecutionContext, settings: M365Settings, graph: GraphSource) -> dg.MaterializeResult:
        def report_progress(pages: int, rows: int) -> None:
            if pages % PROGRESS_EVERY_PAGES == 0:
                context.log.info(f"{entity.path}: {rows} objects in {pages} pages so far")

        with graph.client() as client:
            tenant = fetch_tenant(client)
            result = extract_to_parquet(
                client,
                entity,
                settings.raw_path(entity.name, tenant.tenant_id),
                on_page=report_progress,
                file_metadata=tenant.as_file_metadata(),
            )
        context.log.info(f"{entity.path}: {result.rows} objects in {result.pages} pages -> {result.path}")
        if result.dropped_properties:
            context.log.warning(
                f"{entity.path}: extracted without {', '.join(result.dropped_properties)}: the tenant or the app "
                f"lacks what they need ({entity.optional_permission} and an Entra ID P1/P2 licence)"
            )
        duplicates, missing = duplicate_or_missing_ids(result.path)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "tenant_id": tenant.tenant_id,
                "pages": result.pages,
                "dropped_properties": ", ".join(result.dropped_properties),
                "bytes": result.bytes,
                **file_metadata(result.path),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=IDS_UNIQUE,
                    passed=not duplicates and missing == 0,
                    metadata={
                        "duplicate_ids": len(duplicates),
                        "missing_ids": missing,
                        "examples": duplicates[:5],
                    },
                )
            ],
        )

    return extract


RAW_ASSETS = [_raw_extract_asset(entity) for entity in ENTITIES.values()]
