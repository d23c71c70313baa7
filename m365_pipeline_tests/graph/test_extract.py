"""Raw extracts to Parquet: the entity spec's schema, every object once, nothing half-written, optional properties
left out when the tenant or the app may not read them, and metadata stored in the file."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator, RegisteredClient
from m365_pipeline.emulator.identity import ALL_PERMISSIONS
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.entities import GROUPS, SUBSCRIBED_SKUS, USERS
from m365_pipeline.graph.errors import GraphError, GraphRetriesExhausted
from m365_pipeline.graph.extract import extract_to_parquet, read_file_metadata
from m365_pipeline.graph.retry import RetryPolicy
from m365_pipeline.settings import FaultRates, load_settings
from m365_pipeline.sources import configured_tenants, graph_client
from m365_pipeline_tests.graph.emulated import emulator_client, graph_requests
from m365_pipeline_tests.graph.fake_clock import FakeClock


def test_users_are_written_once_each_with_the_spec_schema(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path
) -> None:
    emulator = GraphEmulator(small_tenant, FaultRates(throttle=0.1, unavailable=0.05, seed=2))
    destination = tmp_path / "raw" / "users" / "2025-06-24.parquet"
    progress: list[tuple[int, int]] = []
    with emulator_client(emulator, clock, page_size=64) as client:
        result = extract_to_parquet(client, USERS, destination, on_page=lambda *totals: progress.append(totals))
    assert progress == [(1, 64), (2, 128), (3, 192), (4, 256), (5, 300)]
    table = pq.read_table(destination)
    assert table.schema.equals(USERS.arrow_schema)
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
    assert table.schema.equals(USERS.arrow_schema)


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
    (tenant,) = configured_tenants(settings)
    with graph_client(settings, tenant) as client:
        result = extract_to_parquet(client, USERS, tmp_path / "users.parquet")
    ids = pq.read_table(result.path, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == sorted(user["id"] for user in generate_tenant(5, 120).users)


def built_in_client_with(permissions: frozenset[str]) -> dict[str, RegisteredClient]:
    return {EMULATOR_CLIENT_ID: RegisteredClient(EMULATOR_CLIENT_SECRET, permissions)}


def selected(path: str) -> str:
    return path.split("%24select=")[1].split("&")[0].replace("%2C", ",")


@pytest.mark.parametrize(
    ("premium", "permissions", "code"),
    [
        (False, ALL_PERMISSIONS, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"),
        (True, ALL_PERMISSIONS - {"AuditLog.Read.All"}, "Authorization_RequestDenied"),
    ],
    ids=["tenant-without-premium-licence", "app-without-AuditLog.Read.All"],
)
def test_users_are_extracted_without_sign_in_activity_when_graph_refuses_it(
    premium: bool,
    permissions: frozenset[str],
    code: str,
    small_tenant: SyntheticTenant,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = GraphEmulator(small_tenant, premium=premium, clients=built_in_client_with(permissions))
    destination = tmp_path / "users.parquet"
    with (
        caplog.at_level(logging.WARNING, logger="m365_pipeline.graph"),
        emulator_client(emulator, clock, page_size=100) as client,
    ):
        result = extract_to_parquet(client, USERS, destination)
    assert (result.rows, result.pages, result.dropped_properties) == (300, 3, ("signInActivity",))
    table = pq.read_table(destination)
    assert table.schema.equals(USERS.arrow_schema)
    assert table.column("signInActivity").null_count == 300
    by_id = {user["id"]: user for user in small_tenant.users}
    assert all(record["mail"] == by_id[record["id"]]["mail"] for record in table.to_pylist())
    requests = graph_requests(emulator)
    assert [status for _, _, status in requests] == [403, 200, 200, 200]
    assert "signInActivity" in selected(requests[0][1])
    assert all("signInActivity" not in selected(path) for _, path, _ in requests[1:])
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert warning.name == "m365_pipeline.graph"
    assert "users: leaving out signInActivity" in warning.getMessage() and code in warning.getMessage()
    assert "AuditLog.Read.All" in warning.getMessage() and clock.sleeps == []


def test_a_tenant_with_premium_and_the_permission_keeps_sign_in_activity(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path
) -> None:
    with emulator_client(GraphEmulator(small_tenant), clock) as client:
        result = extract_to_parquet(client, USERS, tmp_path / "users.parquet")
    assert result.dropped_properties == ()
    activity = pq.read_table(result.path, columns=["signInActivity"]).column("signInActivity").to_pylist()
    assert activity == [user["signInActivity"] for user in small_tenant.users]


def test_an_app_that_may_not_read_users_fails_with_graphs_403(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Graph refuses a missing User.Read.All and a missing AuditLog.Read.All with the same 403, so the request
    without signInActivity is made once; its refusal is the error, and nothing is said about signInActivity."""
    emulator = GraphEmulator(small_tenant, clients=built_in_client_with(frozenset({"Group.Read.All"})))
    with (
        caplog.at_level(logging.WARNING, logger="m365_pipeline.graph"),
        emulator_client(emulator, clock) as client,
        pytest.raises(GraphError) as raised,
    ):
        extract_to_parquet(client, USERS, tmp_path / "users.parquet")
    assert (raised.value.status, raised.value.code) == (403, "Authorization_RequestDenied")
    requests = graph_requests(emulator)
    assert [status for _, _, status in requests] == [403, 403]
    assert "signInActivity" not in selected(requests[1][1])
    assert caplog.records == [] and list(tmp_path.iterdir()) == []


def test_a_403_on_an_entity_without_optional_properties_fails_after_one_request(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path
) -> None:
    emulator = GraphEmulator(small_tenant, clients=built_in_client_with(frozenset({"User.Read.All"})))
    with emulator_client(emulator, clock) as client, pytest.raises(GraphError) as raised:
        extract_to_parquet(client, GROUPS, tmp_path / "groups.parquet")
    assert (raised.value.status, raised.value.code) == (403, "Authorization_RequestDenied")
    assert len(graph_requests(emulator)) == 1


def test_other_failures_of_the_first_request_are_not_retried_without_optional_properties(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path
) -> None:
    emulator = GraphEmulator(small_tenant, FaultRates(unavailable=1.0))
    with (
        emulator_client(emulator, clock, retry=RetryPolicy(max_retries=0)) as client,
        pytest.raises(GraphRetriesExhausted),
    ):
        extract_to_parquet(client, USERS, tmp_path / "users.parquet")
    assert [status for _, _, status in graph_requests(emulator)] == [503]


def test_file_metadata_is_stored_in_the_file_and_read_back(
    small_tenant: SyntheticTenant, clock: FakeClock, tmp_path: Path
) -> None:
    metadata = {"tenant_id": small_tenant.tenant_id, "組織": "テスト株式会社"}
    with emulator_client(GraphEmulator(small_tenant), clock) as client:
        result = extract_to_parquet(client, SUBSCRIBED_SKUS, tmp_path / "skus.parquet", file_metadata=metadata)
        plain = extract_to_parquet(client, SUBSCRIBED_SKUS, tmp_path / "plain.parquet")
    assert read_file_metadata(result.path) == metadata
    assert read_file_metadata(plain.path) == {}
    assert b"ARROW:schema" in (pq.read_metadata(result.path).metadata or {})  # pyarrow's own key, not returned
    assert pq.read_table(result.path).schema.equals(SUBSCRIBED_SKUS.arrow_schema)


def test_file_metadata_may_not_use_pyarrows_keys(
    clock: FakeClock, small_tenant: SyntheticTenant, tmp_path: Path
) -> None:
    emulator = GraphEmulator(small_tenant)
    with emulator_client(emulator, clock) as client, pytest.raises(ValueError, match="ARROW:schema"):
        extract_to_parquet(client, SUBSCRIBED_SKUS, tmp_path / "skus.parquet", file_metadata={"ARROW:schema": "x"})
    assert graph_requests(emulator) == [] and list(tmp_path.iterdir()) == []
