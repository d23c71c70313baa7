"""The emulator's activity logs: sign-ins and directory audits with Graph's documented semantics."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from m365_pipeline.emulator.activity import parse_instant
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline_tests.emulator.helpers import GRAPH, signed_in

NOW = calendar.timegm((2026, 11, 20, 12, 0, 0))
PER_DAY = 2_500
DAY = "createdDateTime ge 2026-11-18T00:00:00Z and createdDateTime lt 2026-11-19T00:00:00Z"


def _client(*, premium: bool = True, per_day: int = PER_DAY) -> httpx.Client:
    tenant = generate_tenant(5, 40)
    emulator = GraphEmulator(
        tenant, clock=lambda: NOW, premium=premium, sign_ins_per_day=per_day, audits_per_day=per_day
    )
    return signed_in(httpx.Client(transport=EmulatorTransport(emulator)), tenant.tenant_id)


def _pages(
    http: httpx.Client, path: str, params: dict[str, str], headers: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    response = http.get(f"{GRAPH}{path}", params=params, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        yield body
        if "@odata.nextLink" not in body:
            return
        response = http.get(body["@odata.nextLink"], headers=headers)


def _all(http: httpx.Client, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    return [item for page in _pages(http, path, params) for item in page["value"]]


def test_a_day_of_sign_ins_pages_by_1000_newest_first_with_both_edges() -> None:
    http = _client()
    pages = list(_pages(http, "/auditLogs/signIns", {"$filter": DAY}))
    events = [event for page in pages for event in page["value"]]

    assert [len(page["value"]) for page in pages] == [1000, 1000, 500]
    assert len(events) == PER_DAY and len({event["id"] for event in events}) == PER_DAY
    assert events[0]["createdDateTime"] == "2026-11-18T23:59:59.9999999Z"
    assert events[-1]["createdDateTime"] == "2026-11-18T00:00:00Z"
    ticks = [parse_instant(event["createdDateTime"].rstrip("Z")) for event in events]
    assert ticks == sorted(ticks, reverse=True)
    digits = {len(event["createdDateTime"].rstrip("Z").partition(".")[2]) for event in events}
    assert {0, 7} <= digits and len(digits) >= 5


def test_the_same_tenant_answers_the_same_events() -> None:
    assert _all(_client(), "/auditLogs/signIns", {"$filter": DAY, "$top": "700"}) == _all(
        _client(), "/auditLogs/signIns", {"$filter": DAY}
    )


def test_filter_bounds_are_exact_to_the_tick() -> None:
    http = _client()
    newest = "createdDateTime ge 2026-11-18T23:59:59.9999999Z and createdDateTime lt 2026-11-19T00:00:00Z"
    assert [event["createdDateTime"] for event in _all(http, "/auditLogs/signIns", {"$filter": newest})] == [
        "2026-11-18T23:59:59.9999999Z"
    ]
    before = "createdDateTime ge 2026-11-17T23:59:59.9999999Z and createdDateTime le 2026-11-18T00:00:00Z"
    assert [event["createdDateTime"] for event in _all(http, "/auditLogs/signIns", {"$filter": before})] == [
        "2026-11-18T00:00:00Z",
        "2026-11-17T23:59:59.9999999Z",
    ]


def test_top_and_the_page_limit() -> None:
    http = _client()
    assert len(http.get(f"{GRAPH}/auditLogs/signIns", params={"$top": "7"}).json()["value"]) == 7
    refused = http.get(f"{GRAPH}/auditLogs/signIns", params={"$top": "1001"})
    assert refused.status_code == 400 and "between 1 and 1000" in refused.json()["error"]["message"]


def test_unknown_enum_members_only_on_request() -> None:
    http = _client()

    def results(headers: dict[str, str] | None) -> set[str]:
        pages = _pages(http, "/auditLogs/signIns", {"$filter": DAY}, headers)
        return {p["result"] for page in pages for e in page["value"] for p in e["appliedConditionalAccessPolicies"]}

    plain = results(None)
    preferred = results({"Prefer": "include-unknown-enum-members"})
    assert "unknownFutureValue" in plain and not any(value.startswith("reportOnly") for value in plain)
    assert "unknownFutureValue" not in preferred and any(value.startswith("reportOnly") for value in preferred)
    answer = http.get(
        f"{GRAPH}/auditLogs/signIns", params={"$top": "1"}, headers={"Prefer": "include-unknown-enum-members"}
    )
    assert answer.headers["Preference-Applied"] == "include-unknown-enum-members"


@pytest.mark.parametrize(("premium", "kept_days"), [(True, 30), (False, 7)])
def test_audits_older_than_the_retention_are_absent(premium: bool, kept_days: int) -> None:
    http = _client(premium=premium, per_day=2)
    events = _all(http, "/auditLogs/directoryAudits", {})
    times = [event["activityDateTime"] for event in events]
    assert times[0] < "2026-11-20T12:00:00.0000001Z"
    oldest = calendar.timegm((2026, 11, 20, 12, 0, 0)) - kept_days * 86400
    assert all(parse_instant(text.rstrip("Z")) >= oldest * 10_000_000 for text in times)
    assert len(events) == 2 * kept_days  # two a day: each day's 00:00:00 and 23:59:59.9999999
    too_old = {"$filter": "activityDateTime lt 2026-10-01T00:00:00Z"}
    assert http.get(f"{GRAPH}/auditLogs/directoryAudits", params=too_old).json()["value"] == []


def test_sign_ins_need_a_premium_tenant() -> None:
    refused = _client(premium=False).get(f"{GRAPH}/auditLogs/signIns")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"


def test_a_filter_on_anything_else_is_refused() -> None:
    refused = _client().get(f"{GRAPH}/auditLogs/signIns", params={"$filter": "userId eq 'x'"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "Request_UnsupportedQuery"
