"""When snapshots are taken and tagged: the weekly full (Sunday 02:00) tagged ``weekly``, the weekday incremental
(03:00), both Asia/Tokyo like the old tool; and a release tag whenever the deployed commit is not the newest
release tag's. All off until switched on, like the daily refresh."""

import dagster as dg

from m365_pipeline import snapshot_system as system
from m365_pipeline.defs.resources import M365Settings
from m365_pipeline.defs.snapshots.assets import FULL_KEY, INCREMENTAL_KEY, TAGS_KEY, SnapshotConfig

FULL_JOB = "snapshot_full"
INCREMENTAL_JOB = "snapshot_incremental"
WEEKLY_FULL = "weekly_full_snapshot"
DAILY_INCREMENTAL = "daily_incremental_snapshot"
RELEASE_TAG = "release_tag"
TIMEZONE = "Asia/Tokyo"
FULL_OP = "snapshots__full"


# the asset job type in quotes: dagster exports it to type checkers only
def build_snapshot_jobs() -> "tuple[dg.UnresolvedAssetJobDefinition, dg.UnresolvedAssetJobDefinition]":
    full = dg.define_asset_job(
        FULL_JOB,
        selection=dg.AssetSelection.assets(FULL_KEY, TAGS_KEY),
        description="Take a full snapshot of the system (optionally tagged), then refresh the tags asset.",
    )
    incremental = dg.define_asset_job(
        INCREMENTAL_JOB,
        selection=dg.AssetSelection.assets(INCREMENTAL_KEY, TAGS_KEY),
        description="Take an incremental snapshot on the newest full one, then refresh the tags asset.",
    )
    return full, incremental


def full_run_config(tag_type: str, commit: str = "") -> dg.RunConfig:
    return dg.RunConfig(ops={FULL_OP: SnapshotConfig(tag_type=tag_type, commit=commit)})


def build_snapshot_schedules(
    full: "dg.UnresolvedAssetJobDefinition", incremental: "dg.UnresolvedAssetJobDefinition"
) -> list[dg.ScheduleDefinition]:
    return [
        dg.ScheduleDefinition(
            name=WEEKLY_FULL,
            job=full,
            cron_schedule="0 2 * * 0",
            execution_timezone=TIMEZONE,
            run_config=full_run_config("weekly"),
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description="A full snapshot every Sunday at 02:00 Asia/Tokyo, tagged {env}-weekly-{version}-{date}.",
        ),
        dg.ScheduleDefinition(
            name=DAILY_INCREMENTAL,
            job=incremental,
            cron_schedule="0 3 * * 1-5",
            execution_timezone=TIMEZONE,
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description="An incremental snapshot Monday to Friday at 03:00 Asia/Tokyo.",
        ),
    ]


def build_release_tag_sensor(full: "dg.UnresolvedAssetJobDefinition") -> dg.SensorDefinition:
    @dg.sensor(
        name=RELEASE_TAG,
        job=full,
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="When the deployed commit (git rev-parse HEAD of the running code) is not the one the newest "
        "release tag records, take a full snapshot tagged {env}-release-{version}-{date}.",
    )
    def release_tag(context: dg.SensorEvaluationContext, settings: M365Settings) -> dg.SensorResult | dg.SkipReason:
        current = settings.current
        try:
            commit = system.current_commit(current)
        except LookupError as error:
            return dg.SkipReason(str(error))
        try:
            newest = system.newest_tag(system.open_store(current), current.snapshots.env, "release")
        except system.NoRepository:
            newest = None  # no store yet: the first release snapshot creates it
        if newest is not None and newest.commit == commit:
            return dg.SkipReason(f"the deployed commit {commit[:12]} is tagged {newest.name} already")
        context.log.info(f"deployed commit {commit[:12]} has no release tag yet")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"release-{commit}", run_config=full_run_config("release", commit))]
        )

    return release_tag
