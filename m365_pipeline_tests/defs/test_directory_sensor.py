"""The directory sensor requests a refresh only when the tenant's users or groups changed, and once per change."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from m365_pipeline.defs.directory.sensors import build_directory_change_sensor
from m365_pipeline.defs.jobs import build_main_job
from m365_pipeline.defs.partitions import tenant_partitions
from m365_pipeline.defs.resources import GraphSource, M365Settings
from m365_pipeline.emulator.in_process import shared_emulator
from m365_pipeline.settings import load_settings
from m365_pipeline.sources import configured_tenants


def test_a_refresh_is_requested_only_after_a_change(embedded_default: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M365_EMULATOR_USERS", "57")  # an emulator of its own: this test changes its tenant
    settings = load_settings()
    tenants = configured_tenants(settings)
    sensor = build_directory_change_sensor(
        build_main_job(tenant_partitions(tenants), dg.AssetSelection.assets()), tenants
    )
    resources = {"graph": GraphSource(settings=M365Settings())}
    emulator = shared_emulator(settings.emulator.seeds, settings.emulator.users, settings.emulator.faults)

    def tick(cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
        with dg.build_sensor_context(cursor=cursor, resources=resources) as context:
            requests = list(sensor(context))
            return requests, context.cursor

    requests, cursor = tick(None)  # the first tick only takes links that start now
    assert requests == [] and cursor is not None
    requests, cursor = tick(cursor)
    assert requests == []
    emulator.state(tenants[0]).add_user(department="Sales", usageLocation="JP")
    requests, cursor = tick(cursor)
    assert [request.partition_key for request in requests] == [tenants[0]]
    requests, cursor = tick(cursor)
    assert requests == []  # the change was seen once
    group_id = next(iter(emulator.state(tenants[0]).groups.live))
    emulator.state(tenants[0]).update_group(group_id, displayName="Renamed")
    assert [request.partition_key for request in tick(cursor)[0]] == [tenants[0]]
    emulator.expire_delta_tokens(410)
    requests, _ = tick(cursor)
    assert [request.partition_key for request in requests] == [tenants[0]]  # changes may have been missed
