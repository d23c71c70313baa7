"""Everything the snapshots add to the code location, for definitions.py to merge."""

import warnings

import dagster as dg

from m365_pipeline.defs.snapshots.assets import build_snapshot_assets
from m365_pipeline.defs.snapshots.maintenance import (
    build_maintenance_job,
    build_maintenance_schedule,
    build_verify_job,
    build_verify_schedule,
)
from m365_pipeline.defs.snapshots.restore import build_restore_job
from m365_pipeline.defs.snapshots.schedules import (
    build_release_tag_sensor,
    build_snapshot_jobs,
    build_snapshot_schedules,
)


def build_snapshot_definitions() -> dg.Definitions:
    full, incremental = build_snapshot_jobs()
    maintenance = build_maintenance_job()
    verify = build_verify_job()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # code references: the UI's link from an asset to its source
        assets = dg.with_source_code_references(build_snapshot_assets())
    return dg.Definitions(
        assets=assets,
        jobs=[full, incremental, build_restore_job(), maintenance, verify],
        schedules=[
            *build_snapshot_schedules(full, incremental),
            build_maintenance_schedule(maintenance),
            build_verify_schedule(verify),
        ],
        sensors=[build_release_tag_sensor(full)],
    )
