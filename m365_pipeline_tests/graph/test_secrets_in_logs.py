"""No secret and no access token in any log record or error, over a whole extraction that refreshes its token,
retries, and ends with a refused sign-in."""

from __future__ import annotations

import logging

import httpx
import pytest

from m365_pipeline.emulator.app import EMULATOR_CLIENT_SECRET, GraphEmulator
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.entities import USERS
from m365_pipeline.graph.auth import TokenProvider
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphAuthError
from m365_pipeline.settings import FaultRates
from m365_pipeline_tests.graph.emulated import EMULATOR_GRAPH_BASE_URL, emulator_tokens
from m365_pipeline_tests.graph.fake_clock import FakeClock

WRONG_SECRET = "wrong~secret~that-must-not-leak"


class TokenSpy:
    """Passes the real provider's tokens through and remembers them, so the test can look for them."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider
        self.issued: set[str] = set()

    def token(self) -> str:
        token = self.provider.token()
        self.issued.add(token)
        return token

    def invalidate(self) -> None:
        self.provider.invalidate()


def test_no_secret_or_token_reaches_a_log_record_or_an_error(
    small_tenant: SyntheticTenant, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, msal's, httpx's, httpcore's
    emulator = GraphEmulator(small_tenant, FaultRates(throttle=0.1, unavailable=0.1, seed=8))
    with httpx.Client(transport=EmulatorTransport(emulator)) as http:
        tokens = TokenSpy(emulator_tokens(emulator, http))
        client = GraphClient(EMULATOR_GRAPH_BASE_URL, tokens, http, clock=clock, page_size=25)
        ids: list[str] = []
        for number, page in enumerate(client.iter_pages(USERS.path, USERS.params), start=1):
            ids.extend(user["id"] for user in page)
            if number == 3:
                emulator.revoke_tokens()
        refused = emulator_tokens(emulator, http, secret=WRONG_SECRET)
        with pytest.raises(GraphAuthError) as raised:
            refused.token()

    assert len(set(ids)) == 300 and len(tokens.issued) == 2
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) for record in caplog.records]
    assert any("requesting a new token" in line for line in lines)
    assert any("before retry" in line for line in lines)
    assert sum(line.startswith("m365_pipeline.graph DEBUG /users page") for line in lines) == 12
    error_text = f"{raised.value} {raised.value!r} {raised.value.__dict__}"
    assert "AADSTS7000215" in error_text
    for secret in (EMULATOR_CLIENT_SECRET, WRONG_SECRET, *tokens.issued):
        assert not [line for line in lines if secret in line]
        assert secret not in error_text
