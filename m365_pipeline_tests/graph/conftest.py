"""Fixtures of the Graph client tests: synthetic tenants (made once, read-only) and a fake clock."""

from __future__ import annotations

import pytest

from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline_tests.graph.fake_clock import FakeClock

LARGE_TENANT_SEED = 365
SMALL_TENANT_SEED = 7


@pytest.fixture(scope="session")
def large_tenant() -> SyntheticTenant:
    """The issue's 5,000-user tenant."""
    return generate_tenant(LARGE_TENANT_SEED, 5000)


@pytest.fixture(scope="session")
def small_tenant() -> SyntheticTenant:
    return generate_tenant(SMALL_TENANT_SEED, 300)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
