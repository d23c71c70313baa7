"""The one entry point: merges what each folder of defs/ defines."""

import warnings

import dagster as dg

from m365_pipeline.defs.jobs import daily_refresh, main_job
from m365_pipeline.defs.raw.assets import RAW_ASSETS
from m365_pipeline.defs.reports.assets import REPORT_ASSETS
from m365_pipeline.defs.resources import build_resources
from m365_pipeline.defs.warehouse.assets import WAREHOUSE_ASSETS, WAREHOUSE_CHECKS

with warnings.catch_warnings():
    # Code references (the UI's link from an asset to its source) are a beta API; the link is worth it.
    warnings.simplefilter("ignore", dg.BetaWarning)
    assets = dg.with_source_code_references([*RAW_ASSETS, *WAREHOUSE_ASSETS, *REPORT_ASSETS])

defs = dg.Definitions(
    assets=assets,
    asset_checks=WAREHOUSE_CHECKS,
    jobs=[main_job],
    schedules=[daily_refresh],
    resources=build_resources(),
)
