"""Tenant changes over emulator time: the Python change API, the history it keeps, the admin endpoints of a served
emulator and `m365 emulator change`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from m365_pipeline.cli import main
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.relations import GLOBAL_ADMINISTRATOR
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.skus import SKUS
from m365_pipeline.emulator.state import ChangeError
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline_tests.emulator.helpers import GRAPH, ManualClock, signed_in


@pytest.fixture(scope="module")
def small() -> SyntheticTenant:
    return generate_tenant(41, 300)


def test_every_kind_of_change_applies_and_is_logged(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    state = emulator.state()
    user = state.add_user(displayName="Hanako Test", department="営業部")
    sku = SKUS[0].sku_id
    consumed = next(s["consumedUnits"] for s in state.skus() if s["skuId"] == sku)
    state.assign_licence(user, sku)
    state.add_role_member(GLOBAL_ADMINISTRATOR, user)
    group = small.groups[2]["id"]
    state.add_member(group, user)
    assert state.users.live[user]["assignedLicenses"] == [{"disabledPlans": [], "skuId": sku}]
    assert next(s["consumedUnits"] for s in state.skus() if s["skuId"] == sku) == consumed + 1
    state.soft_delete(user)
    assert user in state.users.deleted and user not in state.members[group]
    assert user not in state.role_members[GLOBAL_ADMINISTRATOR]
    state.restore(user)
    assert user in state.members[group]  # a restore gives the memberships back
    state.hard_delete(user)
    assert state.object_kind(user) is None
    with pytest.raises(ChangeError):
        state.restore(user)
    assert [change.action for change in state.log] == [
        "addUser",
        "assignLicence",
        "addRoleMember",
        "addMember",
        "removeMember",
        "removeRoleMember",
        "softDelete",
        "restore",
        "addMember",
        "removeMember",
        "softDelete",
        "hardDelete",
    ]


def test_random_changes_are_deterministic_and_of_every_kind(small: SyntheticTenant) -> None:
    first, second = GraphEmulator(small, clock=ManualClock()), GraphEmulator(small, clock=ManualClock())
    made = first.state().random_changes(300, seed=5)
    again = second.state().random_changes(300, seed=5)
    assert [change.describe() for change in made] == [change.describe() for change in again]
    actions = {change.action for change in made}
    assert actions >= {"updateUser", "assignLicence", "removeLicence", "addMember", "removeMember", "softDelete"}
    assert actions >= {"addUser", "restore", "hardDelete", "addRoleMember"}


def test_the_history_tells_who_held_a_licence_on_any_past_date(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small, clock=ManualClock())
    state = emulator.state()
    clock = emulator.clock
    start = clock()
    sku = SKUS[0].sku_id
    holders_then = {u["id"] for u in small.users if any(lic["skuId"] == sku for lic in u["assignedLicenses"])}
    state.random_changes(200, seed=9, every_seconds=3600)
    assert clock() == start + 199 * 3600
    assert state.licence_holders_at(sku, start) == holders_then
    now = {u for u, user in state.users.live.items() if any(lic["skuId"] == sku for lic in user["assignedLicenses"])}
    assert state.licence_holders_at(sku, clock()) == now
    middle = start + 100 * 3600
    replayed = GraphEmulator(small, clock=ManualClock()).state()
    replayed.random_changes(101, seed=9)  # the same first 101 changes, made without moving the clock
    expected = {
        user_id
        for user_id, user in replayed.users.live.items()
        if any(licence["skuId"] == sku for licence in user["assignedLicenses"])
    }
    assert state.licence_holders_at(sku, middle) == expected
    group = small.groups[0]["id"]
    assert state.members_at(group, start) == set(small.relations.members[group])
    admins = small.relations.role_members[GLOBAL_ADMINISTRATOR]
    assert state.role_members_at(GLOBAL_ADMINISTRATOR, start) == set(admins)


def test_the_admin_endpoints_and_the_cli_change_a_served_emulator(small: SyntheticTenant, tmp_path: Path) -> None:
    emulator = GraphEmulator(small, clock=ManualClock())
    runner = CliRunner()
    with serve(emulator) as served, httpx.Client() as http:
        result = runner.invoke(main, ["emulator", "change", "--url", served.url, "--random", "20", "--seed", "3"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()  # one per logged change: a soft delete also logs the memberships it ended
        assert len(lines) >= 20 and lines[-1].split()[0] == str(emulator.state().seq)
        target = small.users[0]["id"]
        changes = tmp_path / "changes.json"
        changes.write_text(json.dumps([{"action": "softDelete", "id": target}]), encoding="utf-8")
        result = runner.invoke(
            main,
            [
                "emulator",
                "change",
                "--url",
                served.url,
                "--file",
                str(changes),
                "--advance",
                "86400",
                "--expire-delta-tokens",
                "410",
            ],
        )
        assert result.exit_code == 0, result.output
        assert target in emulator.state().users.deleted
        assert emulator.clock() == ManualClock()() + 86400
        state = http.get(f"{served.url}/_emulator/state").json()
        assert state["deletedUsers"] >= 1 and state["changes"] == emulator.state().seq
        assert state["extractCounts"] == emulator.state().extract_counts()
        assert state["extractCounts"]["users"] == state["users"] and state["faults"] == {}
        refused = runner.invoke(main, ["emulator", "change", "--url", served.url, "--file", str(changes)])
        assert refused.exit_code == 1 and "softDelete" in refused.output
        limits = http.get(f"{served.url}/_emulator/limits").json()
        assert limits["enabled"] is False and limits["overLimit"] == {} and limits["minimumSeconds"] == 0.0
        switched = http.post(f"{served.url}/_emulator/limits", json={"enabled": True}).json()
        assert switched["enabled"] is True and emulator.limiter.enabled
        assert http.post(f"{served.url}/_emulator/delta-replays", json={"rate": 2}).status_code == 400
        assert http.post(f"{served.url}/_emulator/delta-replays", json={"rate": 0.5}).json() == {"rate": 0.5}
    assert runner.invoke(main, ["emulator", "change"]).exit_code == 2
    unreachable = runner.invoke(main, ["emulator", "change", "--url", "http://127.0.0.1:9", "--random", "1"])
    assert unreachable.exit_code == 1


def test_changes_are_seen_by_the_next_request(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), small.tenant_id)
    before = http.get(f"{GRAPH}/users?$select=id&$top=999").json()["value"]
    emulator.state().update_user(before[0]["id"], department="Renamed Dept")
    emulator.state().soft_delete(before[1]["id"])
    after = http.get(f"{GRAPH}/users?$select=id,department&$top=999").json()["value"]
    assert after[0]["department"] == "Renamed Dept" and before[1]["id"] not in {u["id"] for u in after}
    assert http.get(f"{GRAPH}/users/{before[1]['id']}").status_code == 404


def test_only_microsoft_365_groups_wait_in_the_deleted_items(small: SyntheticTenant) -> None:
    state = GraphEmulator(small).state()
    unified = next(g["id"] for g in small.groups if "Unified" in g["groupTypes"])
    security = next(g["id"] for g in small.groups if "Unified" not in g["groupTypes"])
    state.soft_delete(unified)
    state.soft_delete(security)
    assert unified in state.groups.deleted and state.groups.deleted[unified]["deletedDateTime"]
    assert state.object_kind(security) is None  # deleting a security group is for good in Entra ID
    state.restore(unified)
    assert state.groups.live[unified]["deletedDateTime"] is None


def test_a_spoiled_generated_tenant_is_served_spoiled_until_the_first_change() -> None:
    tenant = generate_tenant(43, 50)  # a tenant of its own: this test spoils it
    emulator = GraphEmulator(tenant)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), tenant.tenant_id)
    tenant.users.append(dict(tenant.users[3]))  # a repeated id, as a check's test serves it
    tenant.skus[0]["consumedUnits"] += 1
    ids = [user["id"] for user in http.get(f"{GRAPH}/users?$top=999").json()["value"]]
    assert len(ids) == 51 and ids[-1] == ids[3]
    consumed = http.get(f"{GRAPH}/subscribedSkus").json()["value"][0]["consumedUnits"]
    assert consumed == tenant.skus[0]["consumedUnits"]
    holder = next(
        u for u in tenant.users if any(lic["skuId"] == tenant.skus[0]["skuId"] for lic in u["assignedLicenses"])
    )
    emulator.state().remove_licence(holder["id"], tenant.skus[0]["skuId"])
    assert http.get(f"{GRAPH}/subscribedSkus").json()["value"][0]["consumedUnits"] == consumed - 1
    assert len(http.get(f"{GRAPH}/users?$top=999").json()["value"]) == 50  # the live directory: one per id
