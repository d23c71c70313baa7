"""Keeping the store in shape: every week, snapshots older than M365_COLD_AFTER_DAYS move to the cold store, then
prune forgets what neither the retention (M365_SNAPSHOT_KEEP_DAILY/WEEKLY) nor a tag keeps and frees the hot data
no kept snapshot needs (`m365 snapshot tier` and `m365 snapshot prune`, as one job)."""

import datetime as dt

import dagster as dg

from m365_pipeline import snapshot_system as system
from m365_pipeline.defs.resources import M365Settings
from m365_pipeline.snapshots.cold import move_to_cold
from m365_pipeline.snapshots.prune import prune
from m365_pipeline.snapshots.retention import RetentionPolicy
from m365_pipeline.snapshots.tag_store import TagStore

MAINTENANCE_JOB = "snapshot_maintenance"
WEEKLY_MAINTENANCE = "weekly_snapshot_maintenance"


def build_maintenance_job() -> dg.JobDefinition:
    @dg.op(name="tier_and_prune", description="Move old snapshots to the cold store, then prune the hot store.")
    def tier_and_prune(context: dg.OpExecutionContext, settings: M365Settings) -> None:
        current = settings.current
        repository = system.open_store(current)
        moved = move_to_cold(
            repository, system.open_cold(current), older_than=dt.timedelta(days=current.snapshots.cold_after_days)
        )
        context.log.info(f"moved {len(moved.moved)} snapshot(s) to {current.cold_store}")
        policy = RetentionPolicy(daily=current.snapshots.keep_daily, weekly=current.snapshots.keep_weekly)
        pinned = TagStore(repository.backend, repository.keys).pinned_snapshots(today=dt.date.today())
        pruned = prune(repository.backend, repository.keys, policy, pinned, pack_size=repository.config.pack_size)
        context.log.info(
            f"pruned: forgot {len(pruned.decision.forget)} snapshot(s), removed {pruned.bytes_removed} bytes"
        )
        context.add_output_metadata(
            {
                "moved_to_cold": len(moved.moved),
                "archive_bytes": moved.archive_bytes,
                "kept_hot": dg.MetadataValue.json(moved.kept_hot),
                "forgotten": len(pruned.decision.forget),
                "kept": len(pruned.decision.keep),
                "packs_removed": pruned.packs_removed,
                "bytes_removed": pruned.bytes_removed,
            }
        )

    @dg.job(name=MAINTENANCE_JOB, description="Tier old snapshots to the cold store, then prune the hot store.")
    def snapshot_maintenance() -> None:
        tier_and_prune()

    return snapshot_maintenance


def build_maintenance_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=WEEKLY_MAINTENANCE,
        job=job,
        cron_schedule="0 4 * * 0",
        execution_timezone="Asia/Tokyo",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Every Sunday at 04:00 Asia/Tokyo (after the weekly full): tier, then prune.",
    )
