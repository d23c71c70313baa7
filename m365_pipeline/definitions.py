"""The one entry point: the Definitions of every domain, built from the settings when the code location loads.

The tenants are the partitions of every asset, so the Definitions depend on the settings (M365_TENANT_ID, or
M365_EMULATOR_SEED for the emulator); nothing else of the settings is read here.
"""

import warnings

import dagster as dg

from m365_pipeline.defs.activity.assets import ACTIVITY_ASSETS, build_activity_assets
from m365_pipeline.defs.calls.assets import CALL_ASSETS, build_call_assets
from m365_pipeline.defs.directory.assets import build_directory_assets
from m365_pipeline.defs.directory.auth_methods import (
    AUTH_METHODS_ASSETS,
    build_auth_methods_assets,
    build_auth_methods_job,
)
from m365_pipeline.defs.directory.checks import build_directory_checks
from m365_pipeline.defs.directory.refresh import (
    DIRECTORY_DELTA_KEY,
    build_directory_delta_asset,
    build_directory_refresh_job,
)
from m365_pipeline.defs.directory.sensors import build_directory_change_sensor
from m365_pipeline.defs.drives.assets import (
    ONEDRIVE_ASSETS,
    SHAREPOINT_ASSETS,
    build_drive_assets,
    build_sharing_jobs,
)
from m365_pipeline.defs.exchange.assets import EXCHANGE_SOURCES, build_exchange_source_specs
from m365_pipeline.defs.jobs import build_daily_refresh, build_main_job
from m365_pipeline.defs.legacy.migration import build_legacy_definitions
from m365_pipeline.defs.partitions import tenant_partitions
from m365_pipeline.defs.progress import progress_logger
from m365_pipeline.defs.reports.assets import build_report_assets
from m365_pipeline.defs.resources import build_resources
from m365_pipeline.defs.snapshots.build import build_snapshot_definitions
from m365_pipeline.defs.teams.assets import TEAMS_ASSETS, build_teams_assets, build_teams_job
from m365_pipeline.defs.usage.assets import USAGE_ASSETS, build_usage_assets, build_usage_job
from m365_pipeline.settings import Settings, load_settings
from m365_pipeline.sources import configured_tenants


def build_definitions(settings: Settings) -> dg.Definitions:
    tenants = configured_tenants(settings)
    partitions = tenant_partitions(tenants)
    # snapshots have jobs of their own; legacy files, activity days and the services are partitioned otherwise
    excluded = dg.AssetSelection.groups("snapshots", "legacy") | ACTIVITY_ASSETS | USAGE_ASSETS | TEAMS_ASSETS
    excluded |= ONEDRIVE_ASSETS | SHAREPOINT_ASSETS | EXCHANGE_SOURCES | CALL_ASSETS
    # the directory's incremental refresh has a job of its own: main stays the full extract
    excluded |= dg.AssetSelection.assets(DIRECTORY_DELTA_KEY)
    excluded |= AUTH_METHODS_ASSETS  # opt-in: one request per user
    main_job = build_main_job(partitions, excluded=excluded)
    directory_refresh_job = build_directory_refresh_job(partitions, excluded=dg.AssetSelection.groups("snapshots"))
    with warnings.catch_warnings():
        # Code references (the UI's link from an asset to its source) are a beta API, partitioned asset checks a
        # preview one; both are worth it: the link, and checks that run per tenant.
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        assets = dg.with_source_code_references(
            [
                *build_directory_assets(partitions),
                *build_auth_methods_assets(partitions),
                build_directory_delta_asset(partitions),
                *build_report_assets(partitions),
                *build_activity_assets(tenants),
                *build_call_assets(tenants),
                *build_usage_assets(partitions),
                *build_teams_assets(partitions),
                *build_drive_assets(partitions),
                *build_exchange_source_specs(partitions),
            ]
        )
        checks = build_directory_checks(partitions)
    core = dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[
            main_job,
            directory_refresh_job,
            build_usage_job(partitions),
            build_teams_job(partitions),
            *build_sharing_jobs(partitions),
            build_auth_methods_job(partitions),
        ],
        schedules=[build_daily_refresh(main_job, tenants)],
        sensors=[build_directory_change_sensor(directory_refresh_job, tenants)],
        resources=build_resources(),
        loggers={"progress": progress_logger},
    )
    return dg.Definitions.merge(core, build_snapshot_definitions(), build_legacy_definitions())


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings())
