"""The usage reports' published limit (14 requests per 10 minutes per app, tenant and report; graph_api.md): the
emulator enforces it with Retry-After windows, and the client keeps within it. Time is a fake clock shared by the
client and the emulator, so ten minutes pass at once."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.entities.usage_reports import EMAIL_ACTIVITY, MAILBOX_USAGE, UsageReportSpec
from m365_pipeline.graph.throttling import HEADROOM, ClassLimit, ServiceClass, ServiceLimiter, published_limits
from m365_pipeline.raw_store import RawStore
from m365_pipeline.usage.extract import extract_report
from m365_pipeline_tests.emulator.helpers import GRAPH, signed_in
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock

PER_WINDOW, WINDOW = 14, 600.0
EPOCH = 1_750_000_000.0


def _emulator(clock: FakeClock) -> GraphEmulator:
    return GraphEmulator(generate_tenant(5, 30), clock=lambda: EPOCH + clock.elapsed, limits=True)


def test_the_published_usage_report_limit_is_the_emulators() -> None:
    limit = published_limits(8000)[ServiceClass.USAGE_REPORTS]
    assert limit == ClassLimit(PER_WINDOW, WINDOW, per_app=True, counts_units=False)


def test_the_emulator_refuses_the_15th_request_of_a_report_in_10_minutes_until_its_retry_after() -> None:
    clock = FakeClock()
    emulator = _emulator(clock)
    tenant = emulator.tenant.tenant_id
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator), follow_redirects=False), tenant)
    mailbox = f"{GRAPH}/reports/getMailboxUsageDetail(period='D7')"

    assert [http.get(mailbox).status_code for _ in range(PER_WINDOW)] == [302] * PER_WINDOW
    refused = http.get(mailbox)
    retry_after = int(refused.headers["Retry-After"])
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "TooManyRequests"
    assert retry_after == math.ceil(WINDOW / PER_WINDOW)  # one request's worth of the window
    assert http.get(f"{GRAPH}/reports/getEmailActivityUserDetail(period='D7')").status_code == 302  # per report
    clock.advance(retry_after - 1)
    assert http.get(mailbox).status_code == 429  # still inside the window
    clock.advance(1)
    assert http.get(mailbox).status_code == 302
    assert emulator.over_limit(tenant) == {tenant: {"usageReports": 2}}


def _extract(
    emulator: GraphEmulator, clock: FakeClock, tmp_path: Path, reports: list[UsageReportSpec], budget: bool
) -> list[float]:
    """The extraction of ``reports`` in order by the client, with its service limiter on the shared clock (as the
    pipeline builds it, in-process), or with none: the waits the client made."""
    tenant = emulator.tenant.tenant_id
    store = RawStore(str(tmp_path / "raw"))
    limits = published_limits(8000)
    limiter = (
        ServiceLimiter(tenant, "app", limits, lambda key, limit: limit.limiter(key, clock, None)) if budget else None
    )
    with (
        emulator_client(emulator, clock, limiter=limiter) as client,
        httpx.Client(transport=EmulatorTransport(emulator)) as download,
    ):
        for report in reports:
            extract = extract_report(client, download, store, report, tenant, "D7")
            assert extract.stored.rows > 0
    return clock.sleeps


def _report_statuses(emulator: GraphEmulator) -> list[int]:
    return [status for _, path, status in emulator.requests if path.startswith("/v1.0/reports/get")]


def test_the_client_keeps_within_the_enforced_limit_so_nothing_is_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    emulator = _emulator(clock)
    runs = PER_WINDOW + 6

    sleeps = _extract(emulator, clock, tmp_path, [MAILBOX_USAGE, EMAIL_ACTIVITY] * runs, budget=True)

    assert emulator.over_limit() == {}
    assert _report_statuses(emulator) == [302] * 2 * runs
    # each report's 15th request waited for its budget (the window, kept HEADROOM wide) rather than for a 429; the
    # other report's 15th found its own window over by then
    assert sum(sleeps) == pytest.approx(WINDOW / HEADROOM)


def test_without_its_budget_the_client_waits_each_retry_after_and_is_refused_once_per_request_over(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    emulator = _emulator(clock)
    over = 6

    sleeps = _extract(emulator, clock, tmp_path, [MAILBOX_USAGE] * (PER_WINDOW + over), budget=False)

    # each request past the 14th is refused once, then waits its Retry-After and succeeds: a retry sent before its
    # window had passed would have been refused (and counted) again
    tenant = emulator.tenant.tenant_id
    assert emulator.over_limit(tenant) == {tenant: {"usageReports": over}}
    assert _report_statuses(emulator) == [302] * PER_WINDOW + [429, 302] * over
    assert sleeps == [math.ceil(WINDOW / PER_WINDOW)] * over
