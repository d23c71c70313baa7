"""Fixtures of the emulator tests: one small synthetic tenant per module, a fresh emulator per test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline_tests.emulator.helpers import ManualClock, signed_in

TENANT_SEED = 11
TENANT_USERS = 2500


@pytest.fixture(scope="module")
def tenant() -> SyntheticTenant:
    return generate_tenant(TENANT_SEED, TENANT_USERS)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(tenant: SyntheticTenant, clock: ManualClock) -> GraphEmulator:
    return GraphEmulator(tenant, clock=clock)


@pytest.fixture
def graph(emulator: GraphEmulator, tenant: SyntheticTenant) -> Iterator[httpx.Client]:
    """An httpx client on the in-process emulator, signed in as the built-in client (all permissions)."""
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        yield signed_in(http, tenant.tenant_id)
