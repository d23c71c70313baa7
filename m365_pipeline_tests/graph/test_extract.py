"""Raw extracts to Parquet: the catalog's schema, every object once, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.graph.catalog import SUBSCRIBED_SKUS, USERS
from m365_pipeline.graph.client import graph_client_for
from m365_pipeline.graph.errors import GraphRetriesExhausted
from m365_pipeline.graph.extract import extract_to_parquet
from m365_pipeline.graph.retry import RetryPolicy
from m365_pipeline.settings import FaultRates, load_settings
from m365_pipeline_tests.graph.emulated import emulator_client, graph_requests
from m365_pipeline_tests.graph.fake_clock import FakeClock


def test_users_are_written_once_each_with_the_catalog_schema(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path
) -> None:
    emulator = GraphEmulator(small_tenant, FaultRates(throttle=0.1, unavailable=0.05, seed=2))
    destination = tmp_path / "raw" / "users" / "2025-06-24.parquet"
    progress: list[tuple[int, int]] = []
    with emulator_client(emulator, clock, page_size=64) as client:
        result = extract_to_parquet(client, USERS, destination, on_page=lambda *totals: progress.append(totals))
    assert progress == [(1, 64), (2, 128), (3, 192), (4, 256), (5, 300)]
    table = pq.read_table(destination)
    assert table.schema.equals(USERS.schema)
    assert (result.entity, result.path, result.rows, result.pages) == ("users", destination, 300, 5)
    assert result.bytes == destination.stat().st_size
    assert sorted(table.column("id").to_pylist()) == sorted(user["id"] for user in small_tenant.users)
    by_id = {user["id"]: user for user in small_tenant.users}
    for record in table.to_pylist()[:50]:
        source = by_id[record["id"]]
        assert record["userPrincipalName"] == source["userPrincipalName"]
        assert record["accountEnabled"] == source["accountEnabled"]
        assert len(record["assignedLicenses"]) == len(source["assignedLicenses"])
    assert sorted(path.name for path in destination.parent.iterdir()) == [destination.name]


def test_subscribed_skus_are_written_as_graph_sent_them(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path
) -> None:
    destination = tmp_path / "skus.parquet"
    with emulator_client(GraphEmulator(small_tenant), clock) as client:
        result = extract_to_parquet(client, SUBSCRIBED_SKUS, destination)
    expected = [{name: sku.get(name) for name in SUBSCRIBED_SKUS.select} for sku in small_tenant.skus]
    assert result.rows == len(expected) > 0 and result.pages == 1
    assert pq.read_table(destination).to_pylist() == expected


def test_an_empty_collection_gives_a_valid_empty_file(clock: FakeClock, tmp_path: Path) -> None:
    destination = tmp_path / "users.parquet"
    with emulator_client(GraphEmulator(generate_tenant(3, 0)), clock) as client:
        result = extract_to_parquet(client, USERS, destination)
    table = pq.read_table(destination)
    assert (result.rows, result.pages, table.num_rows) == (0, 1, 0)
    assert table.schema.equals(USERS.schema)


def test_an_extraction_failing_midway_leaves_no_file(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path
) -> None:
    emulator = GraphEmulator(small_tenant, FaultRates(unavailable=0.3, seed=5))
    destination = tmp_path / "users.parquet"
    previous = tmp_path / "yesterday.parquet"
    previous.write_bytes(b"an earlier, complete extract")
    with (
        emulator_client(emulator, clock, page_size=10, retry=RetryPolicy(max_retries=0)) as client,
        pytest.raises(GraphRetriesExhausted),
    ):
        extract_to_parquet(client, USERS, destination)
    assert [status for _, _, status in graph_requests(emulator)] == [
        200,
        200,
        200,
        503,
    ]  # three pages written, then the outage
    assert sorted(path.name for path in tmp_path.iterdir()) == ["yesterday.parquet"]


def test_the_embedded_default_extracts_its_own_emulator(tmp_path: Path) -> None:
    settings = load_settings({"M365_DATA_DIR": str(tmp_path), "M365_EMULATOR_USERS": "120", "M365_EMULATOR_SEED": "5"})
    with graph_client_for(settings) as client:
        result = extract_to_parquet(client, USERS, settings.raw_dir / "users.parquet")
    ids = pq.read_table(result.path, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == sorted(user["id"] for user in generate_tenant(5, 120).users)
