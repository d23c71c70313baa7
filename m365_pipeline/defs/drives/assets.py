"""OneDrive and SharePoint sharing as assets partitioned by tenant: each run one delta batch in the raw store (the
drives with their quota, for SharePoint the sites and their libraries, and the changed items' classified
permissions), applied in order to the warehouse. Jobs ``onedrive`` and ``sharepoint``."""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import sqlalchemy as sa

from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema, sql_column_schema
from m365_pipeline.defs.resources import GraphSource, M365Settings, Warehouse
from m365_pipeline.drives.extract import (
    DRIVES,
    ENUMERATION,
    ENUMERATION_DESCRIPTION,
    PERMISSIONS,
    SharingBatch,
    extract_sharing,
)
from m365_pipeline.drives.load import ONEDRIVE_TABLES, SHAREPOINT_TABLES, SharingTables, load_sharing
from m365_pipeline.drives.sites import LIBRARIES, LIBRARY_PERMISSIONS, SITES, extract_site_sharing
from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.raw_store import RawStore

PERMISSIONS_ON_LISTED_DRIVES = "permissions_on_listed_drives"
LIBRARIES_ON_LISTED_SITES = "libraries_on_listed_sites"


@dataclass(frozen=True)
class SharingAssets:
    name: str  # of the two multi-assets: raw_<name>, warehouse_<name>
    job_name: str
    raw_group: str
    warehouse_group: str
    tables: SharingTables
    published: Mapping[str, sa.Table]  # raw entity published as an asset -> its warehouse table
    raw_descriptions: Mapping[str, str]
    extract: Callable[[GraphClient, RawStore, str], SharingBatch]
    permission: str
    what: str  # what one batch holds, for descriptions

    @property
    def selection(self) -> dg.AssetSelection:
        return dg.AssetSelection.groups(self.raw_group, self.warehouse_group)


ONEDRIVE = SharingAssets(
    name="drive_sharing",
    job_name="onedrive",
    raw_group="raw_graph_onedrive",
    warehouse_group="core_onedrive",
    tables=ONEDRIVE_TABLES,
    published={DRIVES: ONEDRIVE_TABLES.replaced[DRIVES], PERMISSIONS: ONEDRIVE_TABLES.permissions},
    raw_descriptions={
        DRIVES: "Each user's OneDrive with its quota (`GET /users/{id}/drive`), one file per run (batch).",
        PERMISSIONS: "Permissions of the drive items each run's delta reported (`GET /drives/{id}/root/delta`, "
        "then `/items/{id}/permissions`), one row per grantee, classified owner, internal, external_guest, "
        "external_domain or anonymous; with the changed items and the deltaLinks to resume from.",
    },
    extract=extract_sharing,
    permission="Files.Read.All (or Sites.Read.All) and User.Read.All",
    what="the tenant's OneDrives: quotas, and the sharing of the items that changed",
)
SHAREPOINT = SharingAssets(
    name="site_sharing",
    job_name="sharepoint",
    raw_group="raw_graph_sharepoint",
    warehouse_group="core_sharepoint",
    tables=SHAREPOINT_TABLES,
    published={
        SITES: SHAREPOINT_TABLES.replaced[SITES],
        LIBRARIES: SHAREPOINT_TABLES.replaced[LIBRARIES],
        LIBRARY_PERMISSIONS: SHAREPOINT_TABLES.permissions,
    },
    raw_descriptions={
        SITES: "Every SharePoint site (`GET /sites/getAllSites`), one file per run (batch).",
        LIBRARIES: "Each site's document libraries with their quota (`GET /sites/{id}/drives`; a personal site's "
        "library is its owner's OneDrive, extracted by the onedrive job), one file per run (batch).",
        LIBRARY_PERMISSIONS: "Permissions of the library items each run's delta reported "
        "(`GET /drives/{id}/root/delta`, then `/items/{id}/permissions`), one row per grantee, classified owner, "
        "internal, external_guest, external_domain or anonymous; with the changed items and the deltaLinks to "
        "resume from.",
    },
    extract=extract_site_sharing,
    permission="Sites.Read.All",
    what="the tenant's SharePoint sites: their libraries with quotas, and the sharing of the items that changed",
)
ONEDRIVE_ASSETS = ONEDRIVE.selection
SHAREPOINT_ASSETS = SHAREPOINT.selection
ONEDRIVE_JOB_NAME = ONEDRIVE.job_name
SHAREPOINT_JOB_NAME = SHAREPOINT.job_name


def _raw_column_info(table: sa.Table, name: str) -> tuple[str, str]:
    """The description and PII class of a raw column: its warehouse column's, or for ``enumeration`` (the raw
    files' alone) its own."""
    if name == ENUMERATION[0]:
        return ENUMERATION_DESCRIPTION, str(PiiClass.NONE)
    info = table.c[name].info
    return info["description"], str(info["pii"])


def _raw_spec(kind: SharingAssets, name: str) -> dg.AssetSpec:
    table = kind.published[name]
    return dg.AssetSpec(
        dg.AssetKey(["raw", name]),
        description=kind.raw_descriptions[name],
        group_name=kind.raw_group,
        kinds={"parquet", "azure"},
        owners=OWNERS,
        metadata={
            "dagster/column_schema": column_schema(
                (field.name, str(field.type), *_raw_column_info(table, field.name), True)
                for field in kind.tables.entities.schemas[name]
            ),
            "graph/permission": kind.permission,
        },
    )


def _warehouse_key(table: sa.Table) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", table.name])


def _check_specs(kind: SharingAssets) -> list[dg.AssetCheckSpec]:
    drives = kind.tables.replaced[kind.tables.entities.drives]
    specs = [
        dg.AssetCheckSpec(
            PERMISSIONS_ON_LISTED_DRIVES,
            asset=_warehouse_key(kind.tables.permissions),
            description=f"Every permission row belongs to a drive of {drives.name}: a drive no longer listed took "
            "its permissions with it.",
        )
    ]
    if SITES in kind.tables.replaced:
        specs.append(
            dg.AssetCheckSpec(
                LIBRARIES_ON_LISTED_SITES,
                asset=_warehouse_key(drives),
                description="Every library belongs to a site of the same batch.",
            )
        )
    return specs


def _orphans(connection: sa.Connection, child: sa.Table, parent: sa.Table, key: str, tenant_id: str | None) -> int:
    """Rows of ``child`` in the tenant whose ``key`` names no row of ``parent``."""
    known = sa.select(parent.c[key]).where(parent.c.tenant_id == tenant_id)
    query = sa.select(sa.func.count()).where(child.c.tenant_id == tenant_id, child.c[key].not_in(known))
    return int(connection.execute(query.select_from(child)).scalar_one())


def build_sharing_assets(kind: SharingAssets, partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name=f"raw_{kind.name}",
        specs=[_raw_spec(kind, name) for name in kind.published],
        partitions_def=partitions,
        pool="graph_api",
        description=f"One delta batch of {kind.what}.",
    )
    def raw_sharing(
        context: dg.AssetExecutionContext, settings: M365Settings, graph: GraphSource
    ) -> Iterator[dg.MaterializeResult]:
        with graph.client(context.partition_key) as client:
            batch = kind.extract(client, settings.raw_store, context.partition_key)
        common: dict[str, Any] = {
            "batch_id": batch.batch_id,
            "resynced_drives": batch.resynced_drives,
            "changed_items": batch.changed_items,
        }
        for name in kind.published:
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["raw", name]), metadata={"dagster/row_count": batch.rows[name], **common}
            )

    specs = [
        dg.AssetSpec(
            _warehouse_key(table),
            deps=[dg.AssetKey(["raw", name])],
            description=f"{table.comment} Kept current by applying each delta batch once, in order.",
            group_name=kind.warehouse_group,
            kinds={"sql", "table"},
            owners=OWNERS,
            metadata={"dagster/column_schema": sql_column_schema(table), "dagster/table_name": table.name},
        )
        for name, table in kind.published.items()
    ]

    @dg.multi_asset(
        name=f"warehouse_{kind.name}",
        specs=specs,
        check_specs=_check_specs(kind),
        partitions_def=partitions,
        description="Apply the tenant's sharing batches not applied yet, in order, in one transaction.",
    )
    def warehouse_sharing(
        context: dg.AssetExecutionContext, settings: M365Settings, warehouse: Warehouse
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        applied = load_sharing(warehouse.engine, settings.raw_store, context.partition_key, kind.tables)
        tables = kind.tables
        drives = tables.replaced[tables.entities.drives]
        with warehouse.engine.connect() as connection:
            for table in kind.published.values():
                rows = connection.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == applied.tenant_id)
                ).scalar_one()
                yield dg.MaterializeResult(
                    asset_key=_warehouse_key(table),
                    metadata={
                        "dagster/row_count": int(rows),
                        "batches_applied": applied.batches,
                        "batch_id": applied.last_batch or "",
                        "database": warehouse.display_url,
                    },
                )
            orphans = _orphans(connection, tables.permissions, drives, "drive_id", applied.tenant_id)
            yield dg.AssetCheckResult(
                asset_key=_warehouse_key(tables.permissions),
                check_name=PERMISSIONS_ON_LISTED_DRIVES,
                passed=orphans == 0,
                metadata={"rows_on_unlisted_drives": orphans},
            )
            if SITES in tables.replaced:
                orphans = _orphans(connection, drives, tables.replaced[SITES], "site_id", applied.tenant_id)
                yield dg.AssetCheckResult(
                    asset_key=_warehouse_key(drives),
                    check_name=LIBRARIES_ON_LISTED_SITES,
                    passed=orphans == 0,
                    metadata={"libraries_on_unlisted_sites": orphans},
                )

    return [raw_sharing, warehouse_sharing]


def build_drive_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return build_sharing_assets(ONEDRIVE, partitions) + build_sharing_assets(SHAREPOINT, partitions)


def build_sharing_jobs(partitions: dg.PartitionsDefinition) -> "list[dg.UnresolvedAssetJobDefinition]":
    return [
        dg.define_asset_job(
            kind.job_name,
            selection=kind.selection,
            partitions_def=partitions,
            description=f"Take one delta batch of {kind.what}, and apply it to the warehouse.",
        )
        for kind in (ONEDRIVE, SHAREPOINT)
    ]
