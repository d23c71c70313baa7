"""Delta sync against the emulator's scripted tenant changes: after every batch of random changes (every kind:
updates, licences, memberships, additions, soft and hard deletions, restores) the warehouse equals the
emulator's directory, through both forms of forced expiry and with pages replayed and shuffled; the history
then answers "who held SKU X on date D" exactly for random pairs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from m365_pipeline.directory.delta import GROUPS, USERS, refresh_directory, sync_delta
from m365_pipeline.directory.extract import extract_directory
from m365_pipeline.directory.publish import publish_directory
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.asof import sku_holders_on
from m365_pipeline.warehouse.publish import StaleExtractError
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock

ROUNDS = 10
CHANGES_PER_ROUND = 50  # 500 changes in all


def emulator_now(emulator: GraphEmulator) -> datetime:
    return datetime.fromtimestamp(emulator.clock(), UTC)


def sync_both(client: GraphClient, engine: sa.Engine, tenant_id: str, at: datetime) -> None:
    sync_delta(client, engine, tenant_id, USERS, at=at)
    sync_delta(client, engine, tenant_id, GROUPS, at=at)


def assert_warehouse_equals_emulator(engine: sa.Engine, emulator: GraphEmulator) -> None:
    state = emulator.state()
    tenant_id = state.tenant_id
    users, licenses, groups, members = schema.users, schema.user_licenses, schema.groups, schema.group_members
    with engine.connect() as connection:
        rows = connection.execute(sa.select(users).where(users.c.tenant_id == tenant_id)).mappings().all()
        live = {row["id"]: row for row in rows if row["deleted_at"] is None}
        soft_deleted = {row["id"] for row in rows if row["deleted_at"] is not None}
        held = set(connection.execute(sa.select(licenses.c.user_id, licenses.c.sku_id)).tuples())
        group_rows = connection.execute(sa.select(groups.c.id, groups.c.deleted_at, groups.c.display_name)).all()
        memberships = set(connection.execute(sa.select(members.c.group_id, members.c.member_id)).tuples())
    with state.lock:
        expected_users: dict[str, dict[str, Any]] = {key.lower(): value for key, value in state.users.live.items()}
        expected_deleted = {key.lower() for key in state.users.deleted}
        expected_groups = {key.lower(): value for key, value in state.groups.live.items()}
        expected_members = {
            (group_id.lower(), member_id.lower())
            for group_id, member_ids in state.members.items()
            if group_id in state.groups.live
            for member_id in member_ids
        }
    assert set(live) == set(expected_users)
    assert soft_deleted <= expected_deleted
    for user_id, expected in expected_users.items():
        row = live[user_id]
        actual = (row["department"], row["account_enabled"], row["user_type"], row["job_title"])
        assert actual == (
            expected["department"],
            expected["accountEnabled"],
            expected["userType"],
            expected["jobTitle"],
        )
    expected_held = {
        (user_id, licence["skuId"].lower())
        for user_id, user in expected_users.items()
        for licence in user["assignedLicenses"]
    }
    assert {pair for pair in held if pair[0] in live} == expected_held
    assert {group_id for group_id, deleted_at, _ in group_rows if deleted_at is None} == set(expected_groups)
    assert {pair for pair in memberships if pair[0] in expected_groups} == expected_members


def test_random_changes_are_reproduced_exactly_and_history_answers_who_held_a_sku(engine: sa.Engine) -> None:
    emulator = GraphEmulator(generate_tenant(11, 120), delta_replays=0.3)
    state = emulator.state()
    tenant_id = state.tenant_id
    client = emulator_client(emulator, FakeClock())
    sync_points = [emulator_now(emulator)]
    sync_both(client, engine, tenant_id, sync_points[0])
    assert_warehouse_equals_emulator(engine, emulator)
    for number in range(ROUNDS):
        emulator.advance_clock(600)
        state.random_changes(CHANGES_PER_ROUND, seed=number, every_seconds=60)
        if number == 3:
            emulator.expire_delta_tokens(400)
        if number == 6:
            emulator.expire_delta_tokens(410)
        emulator.advance_clock(60)
        sync_points.append(emulator_now(emulator))
        sync_both(client, engine, tenant_id, sync_points[-1])
        assert_warehouse_equals_emulator(engine, emulator)

    rng = random.Random(5)
    skus = sorted({sku["skuId"] for sku in state.skus()})
    with engine.connect() as connection:
        for number in range(20):
            sku = rng.choice(skus)
            point = number % len(sync_points)  # every round's state, those after each forced expiry among them
            moment = sync_points[point] + timedelta(seconds=rng.uniform(0, 600))  # before the next round's changes
            expected = {user_id.lower() for user_id in state.licence_holders_at(sku, sync_points[point].timestamp())}
            assert sku_holders_on(connection, tenant_id, sku, moment) == expected


def test_a_full_publication_leaves_the_links_its_extract_took_and_an_older_extract_is_refused_after_a_round(
    engine: sa.Engine, tmp_path: Path
) -> None:
    emulator = GraphEmulator(generate_tenant(12, 150))
    state = emulator.state()
    store = RawStore(str(tmp_path))
    client = emulator_client(emulator, FakeClock())
    first = extract_directory(client, store, state.tenant_id).manifest
    publish_directory(engine, store, first)
    changed = sorted(state.users.live)[:3]
    for user_id in changed:
        state.update_user(user_id, department="Replayed")
    state.add_member(next(group for group in state.groups.live if changed[0] not in state.members[group]), changed[0])

    users, groups = refresh_directory(client, engine, state.tenant_id)

    assert not users.full and not groups.full  # from the links the extract took, not a full round
    assert users.changed == 3 and users.table_changes == {"users": {"updated": 3}}
    assert groups.table_changes == {"group_members": {"inserted": 1}}
    assert_warehouse_equals_emulator(engine, emulator)
    with pytest.raises(StaleExtractError):
        publish_directory(engine, store, first)  # taken before the round: the tables never roll back
    unchanged = refresh_directory(client, engine, state.tenant_id)
    assert [round_.table_changes for round_ in unchanged] == [{}, {}]
