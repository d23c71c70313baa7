"""Snapshots of the whole system as assets downstream of the warehouse and the artifacts: a weekly self-contained
full, a weekday incremental on it, and the tags as an asset of their own so the catalog shows them.

Not tenant-partitioned: one snapshot holds the warehouse, the configuration and every tenant's artifacts at one
moment (a restore brings back a consistent system, not one tenant of it).
"""

import datetime as dt

import dagster as dg

from m365_pipeline import snapshot_system as system
from m365_pipeline.defs.catalog_metadata import OWNERS, column_schema
from m365_pipeline.defs.directory.assets import RAW_DESCRIPTIONS, WAREHOUSE_TABLES, raw_key, warehouse_key
from m365_pipeline.defs.reports.assets import USER_LIST_KEY
from m365_pipeline.defs.resources import M365Settings
from m365_pipeline.defs.snapshots.progress_log import progress_log
from m365_pipeline.settings import Settings
from m365_pipeline.snapshots.tag_store import TagStore
from m365_pipeline.snapshots.tags import TAG_TYPES

GROUP = "snapshots"
FULL_KEY = dg.AssetKey(["snapshots", "full"])
INCREMENTAL_KEY = dg.AssetKey(["snapshots", "incremental"])
TAGS_KEY = dg.AssetKey(["snapshots", "tags"])
TAG_COLUMNS = [
    ("tag", "text", "{env}-{type}-{version}-{date}, e.g. prod-release-v1.2.3-20240624.", "none", False),
    ("snapshot", "text", "The snapshot the tag points at and pins against pruning (id prefix).", "none", False),
    ("commit", "text", "The code's git commit when the tag was made (prefix).", "none", False),
    ("schema", "text", "The warehouse schema's Alembic revision.", "none", False),
    ("retention", "text", "The date the tag is kept until, or `kept` until it is deleted.", "none", False),
]
UPSTREAM = [
    *(raw_key(entity) for entity in RAW_DESCRIPTIONS),
    *(warehouse_key(table) for table in WAREHOUSE_TABLES),
    USER_LIST_KEY,
]


class SnapshotConfig(dg.Config):
    tag_type: str = ""
    """Tag the new snapshot with a tag of this type (release, feature, weekly, manual); empty: no tag."""
    commit: str = ""
    """The code's commit the tag records; empty: `git rev-parse HEAD` of the running code."""


def build_snapshot_assets() -> list[dg.AssetsDefinition]:
    return [_snapshot_asset(FULL_KEY, "full"), _snapshot_asset(INCREMENTAL_KEY, "incremental"), _tags_asset()]


def _snapshot_asset(key: dg.AssetKey, kind: str) -> dg.AssetsDefinition:
    description = {
        "full": "A self-contained snapshot of the system: the warehouse (SQLite online backup or pg_dump), the "
        "configuration, every raw extract and every report, deduplicated against the store, compressed and "
        "encrypted in M365_SNAPSHOT_STORE. Weekly (Sunday 02:00 Asia/Tokyo), and on each new release.",
        "incremental": "A snapshot based on the newest full one; unchanged data is stored once. Weekdays 03:00 "
        "Asia/Tokyo.",
    }[kind]

    @dg.asset(
        key=key,
        deps=UPSTREAM,
        description=description,
        group_name=GROUP,
        kinds={"snapshot"},
        owners=OWNERS,
    )
    def snapshot(
        context: dg.AssetExecutionContext, config: SnapshotConfig, settings: M365Settings
    ) -> dg.MaterializeResult:
        current = settings.current
        context.log.info(f"capturing the warehouse, the configuration, the raw extracts and the reports ({kind})")
        result = system.create_snapshot(
            current, kind, progress=progress_log(context.log.info, "captured", "bytes (estimated)")
        )
        stats, manifest = result.stats, result.manifest
        metadata: dict[str, dg.RawMetadataValue] = {
            "snapshot_id": result.snapshot_id,
            "kind": manifest.kind,
            "parent": manifest.parent or "",
            "taken_as_full_because": result.promoted or "",
            "size_bytes": stats.bytes,
            "new_bytes": stats.new_bytes,
            "stored_bytes": stats.stored_bytes,
            "dedup_ratio": round(stats.bytes / stats.stored_bytes, 2) if stats.stored_bytes else 0.0,
            "duration_seconds": round(result.seconds, 2),
            "store": current.snapshot_store,
            **{f"size_bytes/{component}": size for component, size in system.component_sizes(manifest).items()},
        }
        if config.tag_type:
            metadata["tag"] = _tag(context, current, result.snapshot_id, config)
        context.log.info(f"snapshot {result.snapshot_id[:12]}: {stats.bytes} bytes, {stats.stored_bytes} stored")
        return dg.MaterializeResult(metadata=metadata)

    return snapshot


def _tag(context: dg.AssetExecutionContext, settings: Settings, snapshot_id: str, config: SnapshotConfig) -> str:
    if config.tag_type not in TAG_TYPES:
        raise dg.Failure(f"tag_type {config.tag_type!r} is not one of {', '.join(TAG_TYPES)}")
    repository = system.open_store(settings)
    commit = config.commit or system.current_commit(settings)
    name = system.free_tag_name(repository, settings.snapshots.env, config.tag_type, commit, dt.date.today())
    if TagStore(repository.backend, repository.keys).exists(name):
        context.log.info(f"{name} tags this commit already (a re-run): not tagged again")
        return str(name)
    system.make_tag(repository, settings, name, snapshot_id, commit=commit)
    context.log.info(f"tagged {name}")
    return str(name)


def _tags_asset() -> dg.AssetsDefinition:
    @dg.asset(
        key=TAGS_KEY,
        deps=[FULL_KEY, INCREMENTAL_KEY],
        description="Every tag of the snapshot store ({env}-{type}-{version}-{date}) with its snapshot, commit and "
        "schema revision, as a table in this asset's metadata: the catalog's view of the tagged states.",
        group_name=GROUP,
        kinds={"snapshot"},
        owners=OWNERS,
        metadata={"dagster/column_schema": column_schema(TAG_COLUMNS)},
    )
    def tags(settings: M365Settings) -> dg.MaterializeResult:
        repository = system.open_store(settings.current)
        found = list(TagStore(repository.backend, repository.keys).tags())
        rows = [
            f"| {t.name} | {t.snapshot_id[:12]} | {t.commit[:12]} | {t.schema_version} | "
            f"{t.retention.keep_until or 'kept'} |"
            for t in found
        ]
        table = "\n".join(["| tag | snapshot | commit | schema | retention |", "|---|---|---|---|---|", *rows])
        newest_release = max((t for t in found if t.name.type == "release"), key=lambda t: t.created_at, default=None)
        return dg.MaterializeResult(
            metadata={
                "tags": dg.MetadataValue.md(table),
                "tag_count": len(found),
                "newest_release": str(newest_release.name) if newest_release else "",
            }
        )

    return tags
