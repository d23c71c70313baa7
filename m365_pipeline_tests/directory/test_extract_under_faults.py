"""The whole directory extracted exactly under issue 6's faults (10% 429 with a Retry-After of 0-2 s or none, 2%
503, 1% connections dropped mid-page), for a few seeds at 2,000 users: every raw entity holds the records the
emulator's state says a complete extract holds, none twice, byte for byte what a fault-free extract holds.
(benchmarks/directory_faults.py runs 20 seeds at 20,000 users, served, waiting for real.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from m365_pipeline.directory.extract import DIRECTORY_ENTITIES, duplicate_or_missing_keys, extract_directory, record_key
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.faults import FaultKind
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.raw_store import ExtractManifest, RawStore
from m365_pipeline.settings import FaultRates
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock

USERS = 2_000


@pytest.fixture(scope="module")
def tenant() -> SyntheticTenant:
    return generate_tenant(365, USERS)


@pytest.fixture(scope="module")
def fault_free(tenant: SyntheticTenant, tmp_path_factory: pytest.TempPathFactory) -> ExtractManifest:
    return extract(GraphEmulator(tenant), tmp_path_factory.mktemp("fault-free"))


def extract(emulator: GraphEmulator, folder: Path) -> ExtractManifest:
    clock = FakeClock()
    with emulator_client(emulator, clock) as client:
        return extract_directory(client, RawStore(str(folder)), emulator.tenant.tenant_id).manifest


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_whole_directory_is_extracted_exactly_under_faults(
    seed: int, tenant: SyntheticTenant, fault_free: ExtractManifest, tmp_path: Path
) -> None:
    rates = FaultRates.parse(f"429=0.08,retry_after=0-2,429_bare=0.02,503=0.02,drop=0.01,seed={seed}")
    emulator = GraphEmulator(tenant, rates)

    manifest = extract(emulator, tmp_path)

    injected = emulator.faults.counts
    assert {FaultKind.THROTTLE, FaultKind.THROTTLE_BARE, FaultKind.UNAVAILABLE, FaultKind.DROP} <= set(injected)
    expected = emulator.state().extract_counts()
    store = RawStore(str(tmp_path))
    for entity in DIRECTORY_ENTITIES:
        stored = manifest.files[entity]
        assert stored.rows == expected[entity], entity
        assert duplicate_or_missing_keys(store, stored.path, record_key(entity)) == ([], 0), entity
        assert stored.sha256 == fault_free.files[entity].sha256, entity
