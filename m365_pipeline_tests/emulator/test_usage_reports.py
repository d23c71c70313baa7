"""The emulator's usage reports: the 302 to another port, a download that refuses Authorization, concealed names."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlsplit

import httpx

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline_tests.emulator.helpers import GRAPH, ManualClock, request_token, signed_in

REPORT = "reports/getMailboxUsageDetail(period='D30')"


def _rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_report_is_a_302_to_another_port_whose_download_refuses_a_bearer() -> None:
    tenant = generate_tenant(3, 30)
    with serve(GraphEmulator(tenant)) as served, httpx.Client() as http:
        token = request_token(http, tenant.tenant_id, login=served.url).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}

        answer = http.get(f"{served.url}/v1.0/{REPORT}", headers=bearer)

        assert answer.status_code == 302
        location = answer.headers["Location"]
        assert urlsplit(location).port != urlsplit(served.url).port
        assert http.get(location, headers=bearer).status_code == 400
        download = http.get(location)
        assert download.status_code == 200 and download.headers["Content-Type"] == "application/octet-stream"
        rows = _rows(download.content)
    members = [user for user in tenant.users if user["mail"] and user["userType"] == "Member"]
    assert len(rows) == len(members) and {row["Report Period"] for row in rows} == {"30"}


def test_names_are_hashes_until_the_tenant_stops_concealing_them() -> None:
    tenant = generate_tenant(3, 30)
    emulator = GraphEmulator(tenant)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), tenant.tenant_id)

    def names() -> set[str]:
        location = http.get(f"{GRAPH}/{REPORT}").headers["Location"]
        download = httpx.Client(transport=EmulatorTransport(emulator)).get(location)
        return {row["User Principal Name"] for row in _rows(download.content)}

    concealed = names()
    assert http.get(f"{GRAPH}/admin/reportSettings").json()["displayConcealedNames"] is True
    emulator.usage_reports.concealed_names[tenant.tenant_id] = False
    plain = names()

    assert all(len(name) == 32 and name == name.upper() and "@" not in name for name in concealed)
    assert all("@" in name for name in plain) and len(plain) == len(concealed)


def test_a_download_link_expires_and_a_bad_period_is_refused() -> None:
    tenant = generate_tenant(3, 10)
    clock = ManualClock()
    emulator = GraphEmulator(tenant, clock=clock)
    http = signed_in(httpx.Client(transport=EmulatorTransport(emulator)), tenant.tenant_id)
    location = http.get(f"{GRAPH}/{REPORT}").headers["Location"]
    clock.advance(301)

    assert httpx.Client(transport=EmulatorTransport(emulator)).get(location).status_code == 403
    assert http.get(f"{GRAPH}/reports/getMailboxUsageDetail(period='D8')").status_code == 400
