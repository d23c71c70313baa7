"""Keeping the store in shape: every week, snapshots older than M365_COLD_AFTER_DAYS move to the cold store, then
prune forgets what neither the retention (M365_SNAPSHOT_KEEP_DAILY/WEEKLY) nor a tag keeps and frees the hot data
no kept snapshot needs (`m365 snapshot tier` and `m365 snapshot prune`, as one job); every day, a rotating verify
reads one seventh of the packs (`m365 snapshot verify --rotate 7`), so a week reads everything once."""

import datetime as dt

import dagster as dg

from m365_pipeline import snapshot_system as system
from m365_pipeline.defs.resources import M365Settings
from m365_pipeline.defs.snapshots.progress_log import progress_log
from m365_pipeline.snapshots.check import check, todays_slice
from m365_pipeline.snapshots.cold import move_to_cold
from m365_pipeline.snapshots.prune import prune
from m365_pipeline.snapshots.retention import RetentionPolicy
from m365_pipeline.snapshots.tag_store import TagStore

MAINTENANCE_JOB = "snapshot_maintenance"
WEEKLY_MAINTENANCE = "weekly_snapshot_maintenance"
VERIFY_JOB = "snapshot_verify"
DAILY_VERIFY = "daily_snapshot_verify"
VERIFY_SLICES = 7


class VerifyConfig(dg.Config):
    slices: int = VERIFY_SLICES
    """Read only today's slice of this many (the day's number modulo it); 1 reads every pack."""


def build_maintenance_job() -> dg.JobDefinition:
    @dg.op(name="tier_and_prune", description="Move old snapshots to the cold store, then prune the hot store.")
    def tier_and_prune(context: dg.OpExecutionContext, settings: M365Settings) -> None:
        current = settings.current
        repository = system.open_store(current)
        moved = move_to_cold(
            repository,
            system.open_cold(current),
            older_than=dt.timedelta(days=current.snapshots.cold_after_days),
            progress=progress_log(context.log.info, "tier", "chunks archived"),
        )
        context.log.info(f"moved {len(moved.moved)} snapshot(s) to {current.cold_store}")
        policy = RetentionPolicy(daily=current.snapshots.keep_daily, weekly=current.snapshots.keep_weekly)
        pinned = TagStore(repository.backend, repository.keys).pinned_snapshots(today=dt.date.today())
        pruned = prune(
            repository.backend,
            repository.keys,
            policy,
            pinned,
            pack_size=repository.config.pack_size,
            progress=progress_log(context.log.info, "prune", "steps"),
        )
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


def build_verify_job() -> dg.JobDefinition:
    @dg.op(name="verify", description="Prove today's slice of the store's packs, every snapshot and every tag.")
    def verify(context: dg.OpExecutionContext, config: VerifyConfig, settings: M365Settings) -> None:
        repository = system.open_store(settings.current)
        subset = todays_slice(config.slices, dt.date.today()) if config.slices > 1 else None
        report = check(
            repository.backend,
            repository.keys,
            subset=subset,
            progress=progress_log(context.log.info, "verify", "snapshots and packs"),
        )
        for problem in report.problems:
            context.log.error(str(problem))
        context.add_output_metadata(
            {
                "slice": f"{subset[0]}/{subset[1]}" if subset else "all",
                "snapshots": report.snapshots,
                "packs": report.packs,
                "packs_read": report.packs_read,
                "bytes_read": report.bytes_read,
                "problems": dg.MetadataValue.json([str(problem) for problem in report.problems]),
            }
        )
        if not report.ok:
            raise dg.Failure(f"{len(report.problems)} problem(s) in the store, first: {report.problems[0]}")

    @dg.job(name=VERIFY_JOB, description="Verify the snapshot store (today's rotating slice of the packs).")
    def snapshot_verify() -> None:
        verify()

    return snapshot_verify


def build_verify_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=DAILY_VERIFY,
        job=job,
        cron_schedule="0 5 * * *",
        execution_timezone="Asia/Tokyo",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Every day at 05:00 Asia/Tokyo: verify today's 1/{VERIFY_SLICES} of the packs (a week reads all).",
    )
