"""`m365 emulator serve --tls` as an operator meets it: a real process whose printed settings are all a client
needs to sign in with msal to each seeded tenant over https."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msal
import pytest

from m365_pipeline.emulator.tenant import tenant_id_for_seed

M365 = str(Path(sys.executable).parent / "m365")
PRINTED = ("M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_GRAPH_BASE_URL", "M365_AUTHORITY_HOST")


@contextmanager
def serving(arguments: list[str], tmp_path: Path, until: str) -> Iterator[dict[str, str]]:
    """Start the command (seeds 5 and 6) and yield the ``NAME=value`` lines it printed, up to ``until``."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("M365_", "DAGSTER_"))}
    environ |= {"M365_EMULATOR_SEED": "5,6", "M365_DATA_DIR": str(tmp_path / "data")}
    server = subprocess.Popen(
        [M365, "emulator", "serve", "--port", "0", "--users", "25", *arguments],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        printed: dict[str, str] = {}
        while until not in printed:
            line = server.stdout.readline()
            if not line:
                raise AssertionError(f"the emulator exited: {server.communicate(timeout=10)[1]}")
            name, _, value = line.strip().partition("=")
            printed[name] = value
        yield printed
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def served_tls(tmp_path: Path) -> Iterator[dict[str, str]]:
    with serving(["--tls"], tmp_path, until="SSL_CERT_FILE") as printed:
        yield printed


def test_the_printed_tenant_mode_settings_sign_msal_in_to_every_seeded_tenant(
    served_tls: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert set(served_tls) == {*PRINTED, "SSL_CERT_FILE"}
    assert Path(served_tls["SSL_CERT_FILE"]).parent == tmp_path / "data" / "emulator-tls"
    tenant_ids = served_tls["M365_TENANT_ID"].split(",")
    assert tenant_ids == [tenant_id_for_seed(5), tenant_id_for_seed(6)]
    base_url, authority_host = served_tls["M365_GRAPH_BASE_URL"], served_tls["M365_AUTHORITY_HOST"]
    assert base_url == f"{authority_host}/v1.0" and authority_host.startswith("https://127.0.0.1:")
    monkeypatch.setenv("SSL_CERT_FILE", served_tls["SSL_CERT_FILE"])
    with httpx.Client(timeout=10) as http:
        for tenant_id in tenant_ids:
            app = msal.ConfidentialClientApplication(
                served_tls["M365_CLIENT_ID"],
                client_credential=served_tls["M365_CLIENT_SECRET"],
                authority=f"{authority_host}/{tenant_id}",
                instance_discovery=False,
                http_client=http,
            )
            result = app.acquire_token_for_client(scopes=[f"{authority_host}/.default"])
            assert "access_token" in result, result
            headers = {"Authorization": f"Bearer {result['access_token']}"}
            organization = http.get(f"{base_url}/organization", headers=headers).json()["value"]
            assert [item["id"] for item in organization] == [tenant_id]
            assert len(http.get(f"{base_url}/users", headers=headers).json()["value"]) == 25


def test_over_http_it_prints_the_emulator_mode_settings(tmp_path: Path) -> None:
    with serving([], tmp_path, until="M365_EMULATOR_SEED") as printed:
        assert printed["M365_EMULATOR_SEED"] == "5,6"
        with httpx.Client(timeout=10) as http:
            discovery = http.get(
                f"{printed['M365_EMULATOR_URL']}/{tenant_id_for_seed(6)}/v2.0/.well-known/openid-configuration"
            )
        assert discovery.status_code == 200


def test_a_tls_folder_without_tls_is_refused(tmp_path: Path) -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("M365_", "DAGSTER_"))}
    completed = subprocess.run(
        [M365, "emulator", "serve", "--tls-dir", str(tmp_path)], env=environ, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2 and "--tls-dir needs --tls" in completed.stderr
