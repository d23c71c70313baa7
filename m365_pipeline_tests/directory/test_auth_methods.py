"""Each user's registered authentication methods, through $batch from the emulator into the raw store and the
warehouse: equal to the emulator's methods for every user, whatever the inner 429s and the order of the answers;
users deleted after the directory extract counted, not fatal; a missing permission, a missing directory extract
and a bad record each a clear answer."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from m365_pipeline.directory.auth_methods import (
    DIRECTORY_EXTRACT_KEY,
    SNAPSHOT,
    USERS_ASKED_KEY,
    USERS_NOT_FOUND_KEY,
    NoDirectoryExtractError,
    extract_authentication_methods,
)
from m365_pipeline.directory.auth_methods_load import load_authentication_methods, methods_of_unknown_users
from m365_pipeline.directory.extract import extract_directory
from m365_pipeline.directory.publish import publish_directory
from m365_pipeline.emulator.app import GraphEmulator, RegisteredClient
from m365_pipeline.emulator.auth_methods import authentication_methods
from m365_pipeline.emulator.identity import ALL_PERMISSIONS, EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET
from m365_pipeline.emulator.tenant import REFERENCE_TIME, generate_tenant
from m365_pipeline.entities.auth_methods import METHOD_TYPES, USER_AUTHENTICATION_METHODS
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.raw_store import RawStore
from m365_pipeline.settings import FaultRates
from m365_pipeline.warehouse.auth_method_tables import user_authentication_method_loads, user_authentication_methods
from m365_pipeline.warehouse.schema import quarantine
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock

USERS = 300
DELETED = 7


def _methods_in(engine: sa.Engine, tenant_id: str) -> set[tuple[str, str, str, str | None]]:
    table = user_authentication_methods
    with engine.connect() as connection:
        query = sa.select(table.c.user_id, table.c.method_id, table.c.method_type, table.c.phone_number).where(
            table.c.tenant_id == tenant_id
        )
        return set(connection.execute(query).tuples())


def test_every_users_methods_equal_the_emulators_through_batch_whatever_the_throttling(
    engine: sa.Engine, tmp_path: Path
) -> None:
    emulator = GraphEmulator(generate_tenant(61, USERS), FaultRates(throttle=0.1, retry_after=2, seed=3))
    state = emulator.state()
    store = RawStore(str(tmp_path / "raw"))
    clock = FakeClock()
    with emulator_client(emulator, clock) as client:
        directory = extract_directory(client, store, state.tenant_id)
        publish_directory(engine, store, directory.manifest)
        gone = list(state.users.live)[:DELETED]
        for user_id in gone:  # deleted between the directory extract and their methods' request
            state.hard_delete(user_id)
        with state.lock:
            users = [dict(user) for user in state.users.live.values()]
        extract = extract_authentication_methods(client, store, state.tenant_id)
    load = load_authentication_methods(engine, store, state.tenant_id)

    expected = {
        (user["id"], method["id"], METHOD_TYPES[method["@odata.type"]], method.get("phoneNumber"))
        for user in users
        for method in authentication_methods(user, REFERENCE_TIME)
    }
    assert _methods_in(engine, state.tenant_id) == expected
    assert load.methods == extract.methods == len(expected) > 2 * len(users)
    assert (extract.users_asked, extract.users_not_found) == (USERS, DELETED)
    assert (load.users_asked, load.users_not_found, load.quarantined) == (USERS, DELETED, 0)
    assert extract.directory_extract_id == directory.manifest.extract_id == load.directory_extract_id
    inner = [(path, status) for _, path, status in emulator.requests if path.startswith("$batch:/users/")]
    assert any(status == 429 for _, status in inner)  # inner requests were throttled and retried on their own
    assert sum(1 for path, status in inner if status == 404) == DELETED
    batches = [status for method, path, status in emulator.requests if method == "POST" and path == "/v1.0/$batch"]
    assert len(batches) >= USERS // 20
    assert 2.0 in clock.sleeps  # an inner request waited its own Retry-After
    with engine.connect() as connection:
        provenance = connection.execute(sa.select(user_authentication_method_loads)).mappings().one()
        assert provenance["directory_extract_id"] == directory.manifest.extract_id
        assert provenance["methods"] == len(expected) and provenance["raw_sha256"] == extract.stored.sha256
        assert methods_of_unknown_users(connection, state.tenant_id) == []


def test_a_reload_gives_the_same_rows_and_a_bad_record_goes_to_quarantine(engine: sa.Engine, tmp_path: Path) -> None:
    store = RawStore(str(tmp_path / "raw"))
    tenant_id = "0d6e2c4a-1b1f-4c55-9d0e-0e6a3a1b2c99"
    user = "11111111-2222-4333-8444-555555555555"
    records = [
        {
            "userId": user,
            "id": "28c10230-6103-485e-b985-444c60001490",
            "odataType": "#microsoft.graph.passwordAuthenticationMethod",
        },
        {
            "userId": user,
            "id": "m2",
            "odataType": "#microsoft.graph.phoneAuthenticationMethod",
            "phoneNumber": "+81 9012345678",
        },
        {"userId": user, "id": "m3", "odataType": "#microsoft.graph.futureAuthenticationMethod"},
        {"userId": "not-a-guid", "id": "m4", "odataType": "#microsoft.graph.emailAuthenticationMethod"},
    ]
    metadata = {
        "m365.tenant_id": tenant_id,
        DIRECTORY_EXTRACT_KEY: "20261202T000000Z-x",
        USERS_ASKED_KEY: "2",
        USERS_NOT_FOUND_KEY: "0",
    }
    schema = USER_AUTHENTICATION_METHODS.arrow_schema.with_metadata(metadata)
    local = tmp_path / "methods.parquet"
    pq.write_table(pa.Table.from_pylist(records, schema=schema), local)
    store.put(local, USER_AUTHENTICATION_METHODS.name, "t", SNAPSHOT)

    first = load_authentication_methods(engine, store, "t")
    rows = _methods_in(engine, tenant_id)
    again = load_authentication_methods(engine, store, "t")

    assert (
        rows
        == _methods_in(engine, tenant_id)
        == {
            (user, "28c10230-6103-485e-b985-444c60001490", "password", None),
            (user, "m2", "phone", "+81 9012345678"),
            (user, "m3", "#microsoft.graph.futureAuthenticationMethod", None),  # an undocumented type kept as sent
        }
    )
    assert first.quarantined == again.quarantined == 1 and first.methods == again.methods == 3
    with engine.connect() as connection:
        entries = connection.execute(sa.select(quarantine.c.row_number, quarantine.c.field)).tuples().all()
        assert entries == [(4, "userId")]  # the second load replaced the first's entry
        assert methods_of_unknown_users(connection, tenant_id) == [f"user {user}: 3 methods, not a user of the tenant"]


def test_without_the_permission_the_extraction_fails_naming_it(tmp_path: Path) -> None:
    permissions = ALL_PERMISSIONS - {"UserAuthenticationMethod.Read.All"}
    emulator = GraphEmulator(
        generate_tenant(62, 30), clients={EMULATOR_CLIENT_ID: RegisteredClient(EMULATOR_CLIENT_SECRET, permissions)}
    )
    store = RawStore(str(tmp_path / "raw"))
    tenant_id = emulator.state().tenant_id
    with emulator_client(emulator, FakeClock()) as client:
        extract_directory(client, store, tenant_id)
        with pytest.raises(GraphError, match=r"UserAuthenticationMethod\.Read\.All") as refused:
            extract_authentication_methods(client, store, tenant_id)
    assert refused.value.status == 403
    assert store.partitions(USER_AUTHENTICATION_METHODS.name, tenant_id) == []  # nothing half-written


def test_the_higher_privileged_read_write_permission_also_reads_the_methods(tmp_path: Path) -> None:
    permissions = ALL_PERMISSIONS - {"UserAuthenticationMethod.Read.All"} | {"UserAuthenticationMethod.ReadWrite.All"}
    emulator = GraphEmulator(
        generate_tenant(64, 12), clients={EMULATOR_CLIENT_ID: RegisteredClient(EMULATOR_CLIENT_SECRET, permissions)}
    )
    state = emulator.state()
    store = RawStore(str(tmp_path / "raw"))
    with emulator_client(emulator, FakeClock()) as client:
        extract_directory(client, store, state.tenant_id)
        extract = extract_authentication_methods(client, store, state.tenant_id)
    with state.lock:
        expected = sum(len(authentication_methods(user, REFERENCE_TIME)) for user in state.users.live.values())
    assert extract.methods == expected > 0 and extract.users_not_found == 0


def test_without_a_directory_extract_it_says_so(tmp_path: Path) -> None:
    emulator = GraphEmulator(generate_tenant(63, 10))
    with (
        emulator_client(emulator, FakeClock()) as client,
        pytest.raises(NoDirectoryExtractError, match="no directory extract"),
    ):
        extract_authentication_methods(client, RawStore(str(tmp_path)), emulator.state().tenant_id)
