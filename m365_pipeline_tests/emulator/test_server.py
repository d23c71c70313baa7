"""The emulator on a real loopback socket."""

from __future__ import annotations

import httpx
import pytest

from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.server import serve
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.entities import USERS
from m365_pipeline.settings import FaultRates
from m365_pipeline_tests.emulator.helpers import signed_in


def test_a_client_signs_in_and_pages_every_user_over_keep_alive(
    emulator: GraphEmulator, tenant: SyntheticTenant
) -> None:
    with serve(emulator) as served, httpx.Client(timeout=10) as http:
        base = served.url
        assert base.startswith("http://127.0.0.1:") and served.certificate is None
        signed_in(http, tenant.tenant_id, login=base)
        ids: list[str] = []
        url: str | None = f"{base}/v1.0/users?$select={','.join(USERS.select)}&$top=999"
        while url:
            response = http.get(url)
            assert response.status_code == 200 and response.http_version == "HTTP/1.1"
            assert "connection" not in response.headers
            ids += [user["id"] for user in response.json()["value"]]
            url = response.json().get("@odata.nextLink")
            assert url is None or url.startswith(f"{base}/v1.0/users?")
    assert ids == [user["id"] for user in tenant.users]
    assert [(method, status) for method, _, status in emulator.requests] == [("POST", 200)] + [("GET", 200)] * 21


def test_errors_arrive_with_graphs_headers(emulator: GraphEmulator) -> None:
    with serve(emulator) as served, httpx.Client(timeout=10) as http:
        response = http.get(f"{served.url}/v1.0/users", headers={"client-request-id": "abc-123"})
    assert response.status_code == 401
    assert response.headers["client-request-id"] == "abc-123"
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_a_drop_cuts_the_body_and_httpx_raises(tenant: SyntheticTenant) -> None:
    emulator = GraphEmulator(tenant, FaultRates(drop=1.0))
    with serve(emulator) as served, httpx.Client(timeout=10) as http:
        base = served.url
        signed_in(http, tenant.tenant_id, login=base)
        received = 0
        with pytest.raises(httpx.RemoteProtocolError), http.stream("GET", f"{base}/v1.0/users?$top=999") as response:
            announced = int(response.headers["content-length"])
            for chunk in response.iter_raw():
                received += len(chunk)
        assert received == announced // 2 > 0
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"{base}/v1.0/users")


def test_the_server_and_its_connections_stop_on_exit(emulator: GraphEmulator, tenant: SyntheticTenant) -> None:
    with httpx.Client(timeout=2) as http:
        with serve(emulator) as served:
            base = served.url
            signed_in(http, tenant.tenant_id, login=base)
            assert http.get(f"{base}/v1.0/organization").status_code == 200
        with pytest.raises(httpx.TransportError):
            http.get(f"{base}/v1.0/organization")
