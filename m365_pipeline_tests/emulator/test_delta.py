"""Delta query on users and groups: rounds, @removed, members@delta split over pages, replays, minimal answers,
tracked properties, and tokens that expire (after 7 days, or forced: 400 and 410 forms)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.delta import SYNC_STATE_NOT_FOUND
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline_tests.emulator.helpers import GRAPH, ManualClock, signed_in

USER_SELECT = "displayName,department,accountEnabled,assignedLicenses,userType"


@pytest.fixture(scope="module")
def small() -> SyntheticTenant:
    return generate_tenant(31, 900)


def delta_round(http: httpx.Client, url: str, headers: dict[str, str] | None = None) -> tuple[list[Any], str, int]:
    """Every entry of one round, its deltaLink and its page count."""
    entries: list[Any] = []
    pages = 0
    while True:
        response = http.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        entries += body["value"]
        pages += 1
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return entries, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


class Replica:
    """What a client keeps: objects by id (merged properties) and group members, from delta entries."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = {}

    def apply(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            if "@removed" in entry:
                self.objects.pop(entry["id"], None)
                self.members.pop(entry["id"], None)
                continue
            entry = dict(entry)
            references = entry.pop("members@delta", None)
            self.objects.setdefault(entry["id"], {}).update(entry)
            if references is not None:
                held = self.members.setdefault(entry["id"], set())
                for reference in references:
                    if "@removed" in reference:
                        held.discard(reference["id"])
                    else:
                        held.add(reference["id"])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def client(emulator: GraphEmulator, tenant: SyntheticTenant) -> httpx.Client:
    return signed_in(httpx.Client(transport=EmulatorTransport(emulator)), tenant.tenant_id)


def test_a_first_round_pages_to_a_delta_link_and_reports_soft_deleted_users(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    state = emulator.state()
    gone = small.users[5]["id"]
    state.soft_delete(gone)
    http = client(emulator, small)
    entries, link, pages = delta_round(http, f"{GRAPH}/users/delta?$select={USER_SELECT}")
    assert pages == 5 and "$deltatoken=" in link
    assert [entry["id"] for entry in entries] == [u["id"] for u in small.users if u["id"] != gone] + [gone]
    assert entries[-1] == {"id": gone, "@removed": {"reason": "changed"}}
    assert set(entries[0]) == {"id", *USER_SELECT.split(",")}


def test_incremental_rounds_reproduce_the_tenant_exactly_despite_replays(
    small: SyntheticTenant, clock: ManualClock
) -> None:
    emulator = GraphEmulator(small, clock=clock, delta_replays=0.5, token_lifetime=30 * 86400)
    state = emulator.state()
    http = client(emulator, small)
    users, groups = Replica(), Replica()
    entries, user_link, _ = delta_round(http, f"{GRAPH}/users/delta?$select={USER_SELECT}")
    users.apply(entries)
    entries, group_link, _ = delta_round(http, f"{GRAPH}/groups/delta?$select=displayName,members")
    groups.apply(entries)
    ids = [entry["id"] for entry in entries]
    assert len(ids) > len(set(ids))  # large groups split over pages, plus replays
    for seed in (1, 2, 3):
        state.random_changes(150, seed, every_seconds=600)
        entries, user_link, _ = delta_round(http, user_link)
        users.apply(entries)
        entries, group_link, _ = delta_round(http, group_link)
        groups.apply(entries)
    assert any(change.action == "hardDelete" for change in state.log)
    fields = ["id", *USER_SELECT.split(",")]
    assert users.objects == {key: {name: user[name] for name in fields} for key, user in state.users.live.items()}
    assert set(groups.objects) == set(state.groups.live)
    assert groups.members == {key: set(held) for key, held in state.members.items() if key in state.groups.live}


def test_latest_token_returns_only_a_delta_link_and_later_changes(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    http = client(emulator, small)
    body = http.get(f"{GRAPH}/users/delta?$select=displayName&$deltatoken=latest").json()
    assert body["value"] == [] and "@odata.deltaLink" in body
    user = small.users[7]["id"]
    emulator.state().update_user(user, displayName="Renamed")
    entries, _, _ = delta_round(http, body["@odata.deltaLink"])
    assert entries == [{"id": user, "displayName": "Renamed"}]


def test_minimal_answers_and_tracked_properties(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    state = emulator.state()
    http = client(emulator, small)
    _, link, _ = delta_round(http, f"{GRAPH}/users/delta?$select=displayName,department,jobTitle")
    first, second, third = (small.users[index]["id"] for index in (1, 2, 3))
    state.update_user(first, department="Finance")
    state.update_user(second, mobilePhone="+81 90 0000 0000")  # not tracked: not reported
    state.hard_delete(third)
    response = http.get(link, headers={"Prefer": "return=minimal"})
    assert response.headers["Preference-Applied"] == "return=minimal"
    assert response.json()["value"] == [
        {"id": first, "department": "Finance"},
        {"id": third, "@removed": {"reason": "deleted"}},
    ]


def test_group_membership_changes_arrive_as_members_delta(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    state = emulator.state()
    http = client(emulator, small)
    _, link, _ = delta_round(http, f"{GRAPH}/groups/delta?$select=displayName,members")
    group = small.groups[4]["id"]
    leaving = next(iter(state.members[group]))
    joining = next(u["id"] for u in small.users if u["id"] not in state.members[group])
    state.remove_member(group, leaving)
    state.add_member(group, joining)
    entries, _, _ = delta_round(http, link)
    (entry,) = entries
    assert entry["id"] == group and entry["displayName"] == small.groups[4]["displayName"]
    assert sorted(entry["members@delta"], key=lambda reference: reference["id"]) == sorted(
        [
            {"@odata.type": "#microsoft.graph.user", "id": leaving, "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.user", "id": joining},
        ],
        key=lambda reference: reference["id"],
    )


def test_tokens_expire_after_seven_days_of_emulator_time(small: SyntheticTenant, clock: ManualClock) -> None:
    emulator = GraphEmulator(small, clock=clock, token_lifetime=30 * 86400)
    http = client(emulator, small)
    _, link, _ = delta_round(http, f"{GRAPH}/users/delta?$select=displayName")
    emulator.advance_clock(6 * 86400)
    _, link, _ = delta_round(http, link)
    emulator.advance_clock(7 * 86400 + 1)
    response = http.get(link)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "syncStateNotFound"
    assert response.json()["error"]["message"] == SYNC_STATE_NOT_FOUND


def test_forced_expiry_in_the_400_form(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    http = client(emulator, small)
    _, link, _ = delta_round(http, f"{GRAPH}/users/delta?$select=displayName")
    emulator.expire_delta_tokens(400)
    assert http.get(link).json()["error"]["code"] == "syncStateNotFound"
    entries, _, _ = delta_round(http, f"{GRAPH}/users/delta?$select=displayName")  # a new round works
    assert len(entries) == len(small.users)


def test_forced_expiry_in_the_410_form_points_to_a_new_round(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small)
    http = client(emulator, small)
    first = http.get(f"{GRAPH}/groups/delta?$select=displayName,members").json()
    emulator.expire_delta_tokens(410)
    gone = http.get(first["@odata.nextLink"])
    assert gone.status_code == 410
    location = gone.headers["Location"]
    assert location.endswith("$deltatoken=") and "$select=id,displayName,members" in location
    entries, _, _ = delta_round(http, location)
    assert {entry["id"] for entry in entries} == {group["id"] for group in small.groups}


def test_options_delta_does_not_take_are_refused(small: SyntheticTenant) -> None:
    http = client(GraphEmulator(small), small)
    for option in ("$top=5", "$orderby=displayName", "$expand=manager"):
        assert http.get(f"{GRAPH}/users/delta?{option}").status_code == 400
    ids = [small.users[0]["id"], small.users[1]["id"]]
    body = http.get(f"{GRAPH}/users/delta?$filter=id eq '{ids[0]}' or id eq '{ids[1]}'").json()
    assert [entry["id"] for entry in body["value"]] == ids
