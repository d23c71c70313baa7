"""Jobs and schedules: the main job materializes every asset of one tenant; the daily schedule runs it for every
tenant at the old tool's hour."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import dagster as dg

MAIN_JOB_NAME = "main"
DAILY_REFRESH = "daily_refresh"


def build_main_job(partitions: dg.PartitionsDefinition, excluded: dg.AssetSelection) -> dg.UnresolvedAssetJobDefinition:
    """Every asset but the ``excluded`` ones (those partitioned otherwise, those with jobs of their own)."""
    return dg.define_asset_job(
        MAIN_JOB_NAME,
        selection=dg.AssetSelection.all() - excluded,
        partitions_def=partitions,
        description="Extract one tenant from Graph, publish it to the warehouse and write its reports.",
    )


def build_daily_refresh(job: dg.UnresolvedAssetJobDefinition, tenants: Sequence[str]) -> dg.ScheduleDefinition:
    """Every day at 06:00 Tokyo time (the old tool's appsettings), one run per tenant; off until switched on."""

    @dg.schedule(
        name=DAILY_REFRESH,
        job=job,
        cron_schedule="0 6 * * *",
        execution_timezone="Asia/Tokyo",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Refresh every tenant every day at 06:00 Asia/Tokyo, like the old tool's daily run.",
    )
    def daily_refresh(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        day = context.scheduled_execution_time.date().isoformat()
        for tenant in tenants:
            yield dg.RunRequest(run_key=f"{day}|{tenant}", partition_key=tenant)

    return daily_refresh
