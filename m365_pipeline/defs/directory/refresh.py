"""The directory's incremental refresh: users and groups brought current by Graph's delta query, the reports
written again from them.

``warehouse/directory_delta`` runs ``directory.delta.refresh_directory`` for one tenant: a users round and a groups
round from the deltaLinks the warehouse holds (those the last full publication took before its extract began, or
the last round's), each applied with its history in one transaction. It needs a first full load (job ``main``);
an expired or reset link is answered by a full round inside it. What delta does not track (SKUs and their
consumed units, transitive members, owners, roles, registration details, applications) stays as the last full
run left it: the daily full run (or ``m365 run``) refreshes them and runs the consistency checks.

Job ``directory_refresh`` is this asset and what is downstream of it (the reports); the ``directory_changes``
sensor requests it when a tenant's users or groups changed.
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from m365_pipeline.defs.catalog_metadata import OWNERS, sql_column_schema
from m365_pipeline.defs.directory.assets import WAREHOUSE_GROUP, warehouse_key
from m365_pipeline.defs.resources import GraphSource, M365Settings, Warehouse
from m365_pipeline.directory.delta import DeltaRound, refresh_directory
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.ledger import published_extract

DIRECTORY_DELTA_KEY = warehouse_key("directory_delta")
DIRECTORY_REFRESH_JOB = "directory_refresh"
DELTA_TABLES = ("users", "user_licenses", "groups", "group_members")
OBJECT_TABLES = ("users", "groups")


def build_directory_delta_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=DIRECTORY_DELTA_KEY,
        deps=[warehouse_key(name) for name in DELTA_TABLES],
        partitions_def=partitions,
        group_name=WAREHOUSE_GROUP,
        kinds={"sql", "azure"},
        owners=OWNERS,
        pool="graph_api",
        # what the asset keeps of its own: where each tenant's next users and groups rounds start
        metadata={
            "dagster/column_schema": sql_column_schema(schema.delta_links),
            "dagster/table_name": schema.delta_links.name,
        },
        description=(
            "The tenant's users (with their licences) and groups (with their direct members) brought current by "
            "Graph's delta query (`/users/delta`, `/groups/delta`) since the last full publication or round: "
            "only what changed is read and written, with its history. Needs a first full load (job `main`)."
        ),
    )
    def directory_delta(
        context: dg.AssetExecutionContext, settings: M365Settings, graph: GraphSource, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        tenant = context.partition_key
        manifest = settings.raw_store.latest_extract(tenant)
        with warehouse.engine.connect() as connection:
            loaded = manifest is not None and published_extract(connection, manifest.tenant_id) is not None
        if manifest is None or not loaded:
            raise dg.Failure(
                f"tenant {tenant}: no full load to refresh yet; run job main first (m365 run --tenant {tenant})"
            )
        with graph.client(tenant) as client:
            rounds = refresh_directory(client, warehouse.engine, manifest.tenant_id)
        for round_ in rounds:
            if round_.resynced:
                context.log.warning(f"{round_.resource}: Graph refused the stored deltaLink; a full round resynced")
            context.log.info(_described(round_))
        return dg.MaterializeResult(metadata=_metadata(rounds, manifest.tenant_id, warehouse.display_url))

    return directory_delta


def build_directory_refresh_job(
    partitions: dg.PartitionsDefinition, excluded: dg.AssetSelection
) -> "dg.UnresolvedAssetJobDefinition":
    """The delta asset and what is downstream of it, but the ``excluded`` (those with jobs of their own)."""
    return dg.define_asset_job(
        DIRECTORY_REFRESH_JOB,
        selection=dg.AssetSelection.assets(DIRECTORY_DELTA_KEY).downstream() - excluded,
        partitions_def=partitions,
        description="Bring one tenant's users and groups current through Graph's delta query, then its reports.",
    )


def _table_total(rounds: Sequence[DeltaRound], column: str, tables: Sequence[str]) -> int:
    return sum(round_.table_changes.get(name, {}).get(column, 0) for round_ in rounds for name in tables)


def _metadata(rounds: Sequence[DeltaRound], tenant_id: str, database: str) -> dict[str, Any]:
    soft_deleted = sum(round_.soft_deleted for round_ in rounds)
    metadata: dict[str, Any] = {
        "tenant_id": tenant_id,
        "database": database,
        "rounds": len(rounds),
        "pages": sum(round_.pages for round_ in rounds),
        "full_resync": any(round_.full for round_ in rounds),
        "objects_added": _table_total(rounds, "inserted", OBJECT_TABLES),
        # a soft deletion writes deleted_at (an update of the row): it is counted as a removal
        "objects_changed": _table_total(rounds, "updated", OBJECT_TABLES) - soft_deleted,
        "objects_soft_deleted": soft_deleted,
        "objects_deleted": _table_total(rounds, "deleted", OBJECT_TABLES),
        "objects_in_delta": sum(round_.changed + round_.soft_deleted + round_.deleted for round_ in rounds),
        "membership_changes": sum(round_.membership_changes for round_ in rounds),
    }
    for name in DELTA_TABLES:
        counts = [_table_total(rounds, column, [name]) for column in ("inserted", "updated", "deleted")]
        metadata[f"{name}_inserted_updated_deleted"] = ", ".join(str(count) for count in counts)
    return metadata


def _described(round_: DeltaRound) -> str:
    kind = "full round" if round_.full else "round"
    return (
        f"{round_.resource} {kind}: {round_.pages} pages, {round_.changed} objects written, "
        f"{round_.soft_deleted} soft-deleted, {round_.deleted} deleted, {round_.membership_changes} membership changes"
    )
