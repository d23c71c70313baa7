"""The in-process emulator: one per process and configuration, its tenants following from the seeds."""

from __future__ import annotations

from m365_pipeline.emulator.in_process import EMULATOR_AUTHORITY_HOST, EMULATOR_GRAPH_BASE_URL, shared_emulator
from m365_pipeline.emulator.tenant import tenant_id_for_seed
from m365_pipeline.settings import FaultRates


def test_the_same_arguments_give_the_same_emulator_and_other_arguments_another() -> None:
    emulator = shared_emulator((5, 6), 30, FaultRates())
    assert shared_emulator((5, 6), 30, FaultRates()) is emulator
    assert list(emulator.tenants) == [tenant_id_for_seed(5), tenant_id_for_seed(6)]
    assert all(len(tenant.users) == 30 for tenant in emulator.tenants.values())
    assert shared_emulator((5,), 30, FaultRates()) is not emulator
    assert shared_emulator((5, 6), 31, FaultRates()) is not emulator
    assert shared_emulator((5, 6), 30, FaultRates(throttle=0.1)) is not emulator


def test_the_in_process_hosts_never_resolve() -> None:
    assert EMULATOR_GRAPH_BASE_URL == "https://graph.emulator.invalid/v1.0"
    assert EMULATOR_AUTHORITY_HOST == "https://login.emulator.invalid"
