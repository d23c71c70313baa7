"""Small helpers shared by the emulator tests: a manual clock and sign-in through the token endpoint."""

from __future__ import annotations

import httpx

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET

GRAPH = "https://graph.emulator.invalid/v1.0"
LOGIN = "https://login.emulator.invalid"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def request_token(
    http: httpx.Client,
    tenant_id: str,
    client_id: str = EMULATOR_CLIENT_ID,
    secret: str = EMULATOR_CLIENT_SECRET,
    *,
    login: str = LOGIN,
    scope: str = GRAPH_SCOPE,
) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope}
    return http.post(f"{login}/{tenant_id}/oauth2/v2.0/token", data=form)


def signed_in(
    http: httpx.Client,
    tenant_id: str,
    client_id: str = EMULATOR_CLIENT_ID,
    secret: str = EMULATOR_CLIENT_SECRET,
    *,
    login: str = LOGIN,
) -> httpx.Client:
    """``http`` with a bearer token of ``client_id`` in its default headers."""
    response = request_token(http, tenant_id, client_id, secret, login=login)
    assert response.status_code == 200, response.text
    http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return http
