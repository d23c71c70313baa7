"""The emulator's call records: the list by startDateTime window and its paging, the record with its sessions and
segments expanded and paged, the 30 days of retention, and the call records limits."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.entities.call_records import CALL_RECORDS, CallRecord
from m365_pipeline_tests.emulator.helpers import GRAPH, ManualClock, signed_in

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC).timestamp()
RECORDS = f"{GRAPH}/communications/callRecords"
DAY_18 = "startDateTime ge 2026-11-18T00:00:00Z and startDateTime lt 2026-11-19T00:00:00Z"


@pytest.fixture(scope="module")
def small() -> SyntheticTenant:
    return generate_tenant(21, 40)


def _client(emulator: GraphEmulator, tenant: SyntheticTenant) -> httpx.Client:
    return signed_in(httpx.Client(transport=EmulatorTransport(emulator)), tenant.tenant_id)


def _listed(http: httpx.Client, url: str, params: dict[str, str] | None = None, prefer: str = "") -> list[dict]:
    records: list[dict] = []
    next_url: str | None = url
    while next_url is not None:
        page = http.get(next_url, params=params, headers={"Prefer": prefer} if prefer else {}).json()
        records += page["value"]
        next_url, params = page.get("@odata.nextLink"), None
    return records


def test_the_list_holds_exactly_the_window_asked_for_edges_included_paged_without_sessions(
    small: SyntheticTenant,
) -> None:
    http = _client(GraphEmulator(small, clock=lambda: NOW, calls_per_day=25), small)

    first = http.get(RECORDS, params={"$filter": DAY_18}).json()
    records = _listed(http, RECORDS, {"$filter": DAY_18}, prefer="odata.maxpagesize=7")

    assert len(first["value"]) == 25 and "@odata.nextLink" not in first  # at most 60 a page by default
    assert [record["id"] for record in records] == [record["id"] for record in first["value"]]
    starts = [record["startDateTime"] for record in records]
    assert starts[0] == "2026-11-18T23:59:59.9999999Z" and starts[-1] == "2026-11-18T00:00:00Z"
    assert all(start.startswith("2026-11-18T") for start in starts)
    assert all("sessions" not in record and record["organizer_v2"]["identity"]["user"] for record in records)
    users = {user["id"] for user in small.users}
    assert {record["organizer_v2"]["id"] for record in records} <= users
    assert {record["type"] for record in records} == {"peerToPeer", "groupCall"}
    edge = http.get(RECORDS, params={"$filter": "startDateTime ge 2026-11-18T23:59:59.9999999Z"}).json()["value"]
    assert [record["startDateTime"] for record in edge][-1] == "2026-11-18T23:59:59.9999999Z"


def test_a_record_expands_its_sessions_and_segments_sixty_at_a_time(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small, clock=lambda: NOW, calls_per_day=30)
    http = _client(emulator, small)
    truth = {
        record["id"]: emulator.call_records[small.tenant_id].record(record["id"], NOW)
        for record in _listed(http, RECORDS, {"$filter": DAY_18})
    }
    meeting = next(record_id for record_id, record in truth.items() if len(record["sessions"]) > 60)
    whole = truth[meeting]["sessions"]

    answer = http.get(f"{RECORDS}/{meeting}", params={"$expand": "sessions($expand=segments)"}).json()
    sessions, link = list(answer["sessions"]), answer["sessions@odata.nextLink"]
    while link:
        page = http.get(link).json()
        sessions += page["value"]
        link = page.get("@odata.nextLink")
    plain = http.get(f"{RECORDS}/{meeting}").json()
    shallow = http.get(f"{RECORDS}/{meeting}", params={"$expand": "sessions"}).json()

    assert len(answer["sessions"]) == 60 and sessions == whole
    assert all(session["segments"][0]["media"][0]["streams"] for session in sessions)
    assert "sessions" not in plain and plain["startDateTime"] == truth[meeting]["startDateTime"]
    assert "segments" not in shallow["sessions"][0] and len(shallow["sessions"]) == 60
    unsupported = http.get(f"{RECORDS}/{meeting}", params={"$expand": "participants_v2"})
    assert unsupported.status_code == 400


def test_records_are_kept_thirty_days_and_unknown_ids_are_not_found(small: SyntheticTenant) -> None:
    clock = ManualClock(NOW)
    emulator = GraphEmulator(small, clock=clock, calls_per_day=5)
    http = _client(emulator, small)
    (oldest,) = http.get(
        RECORDS, params={"$filter": "startDateTime ge 2026-11-18T00:00:00Z and startDateTime le 2026-11-18T00:00:00Z"}
    ).json()["value"]
    assert http.get(f"{RECORDS}/{oldest['id']}").status_code == 200

    clock.advance(30 * 86_400)
    http = _client(emulator, small)  # a new token: the first one expired meanwhile

    assert http.get(f"{RECORDS}/{oldest['id']}").status_code == 404
    assert http.get(RECORDS, params={"$filter": DAY_18}).json()["value"] == []
    assert http.get(f"{RECORDS}/{oldest['id'][:-1]}0").status_code == 404
    assert http.get(f"{RECORDS}/not-a-call").status_code == 404


def test_one_record_and_the_list_each_allow_forty_requests_in_twenty_seconds(small: SyntheticTenant) -> None:
    clock = ManualClock(NOW)
    emulator = GraphEmulator(small, clock=clock, calls_per_day=5, limits=True)
    http = _client(emulator, small)
    record_id = http.get(RECORDS, params={"$filter": DAY_18}).json()["value"][0]["id"]

    assert {http.get(f"{RECORDS}/{record_id}").status_code for _ in range(40)} == {200}
    refused = http.get(f"{RECORDS}/{record_id}")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert {http.get(RECORDS).status_code for _ in range(39)} == {200}  # the list's 40th went first
    assert http.get(RECORDS).status_code == 429
    clock.advance(1)
    assert http.get(f"{RECORDS}/{record_id}").status_code == 200
    assert emulator.over_limit() == {small.tenant_id: {"callRecord": 2}}


def test_an_app_makes_at_most_1500_call_records_requests_in_twenty_seconds(small: SyntheticTenant) -> None:
    clock = ManualClock(NOW)
    emulator = GraphEmulator(small, clock=clock, calls_per_day=5, limits=True)
    http = _client(emulator, small)
    unknown = [f"00000000-0000-4000-8000-{number:012x}" for number in range(1501)]

    statuses = [http.get(f"{RECORDS}/{record_id}").status_code for record_id in unknown]

    assert set(statuses[:1500]) == {404} and statuses[1500] == 429
    assert emulator.over_limit() == {small.tenant_id: {"callRecords": 1}}


def test_every_emulated_record_validates_against_the_call_record_spec(small: SyntheticTenant) -> None:
    emulator = GraphEmulator(small, clock=lambda: NOW, calls_per_day=20)
    feed = emulator.call_records[small.tenant_id]
    http = _client(emulator, small)

    for listed in _listed(http, RECORDS, {"$filter": DAY_18}):
        record = CALL_RECORDS.validate(feed.record(listed["id"], NOW))
        assert isinstance(record, CallRecord) and record.sessions
        assert record.sessions[0].segments and record.sessions[0].segments[0].media
