"""Extract every user from an emulator served on loopback, three ways in one run, and print objects/s and ratios.

1. ours:  m365_pipeline's GraphClient (token cache, retries, rate limiter, paging).
2. sdk:   msgraph-sdk-python (Kiota), the official SDK: `pip install -e '.[bench]'` installs it.
3. bare:  an httpx loop over the nextLinks that only parses JSON: the limit for any Python client.

The emulator runs in a separate process so that the clients do not share its interpreter lock. Every way makes
the same requests ($select of the catalog's user properties, $top=999) against the same server.

    .venv/bin/python benchmarks/graph_extract.py [--users 100000] [--rounds 5] [--sdk-rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphEmulator
from m365_pipeline.emulator.server import serve_forever
from m365_pipeline.emulator.tenant import generate_tenant, tenant_id_for_seed
from m365_pipeline.graph.catalog import USERS
from m365_pipeline.graph.client import graph_client_for
from m365_pipeline.settings import load_settings

HOST = "127.0.0.1"
SEED = 2026


def _serve(users: int, port: int) -> None:
    serve_forever(GraphEmulator(generate_tenant(SEED, users)), HOST, port)


def _wait_until_up(base_url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base_url}/v1.0/organization", timeout=2.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"the emulator did not come up at {base_url} within {timeout:.0f} s")


def _token(base_url: str, tenant_id: str) -> str:
    answer = httpx.post(
        f"{base_url}/{tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": EMULATOR_CLIENT_ID,
            "client_secret": EMULATOR_CLIENT_SECRET,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _first_url(base_url: str) -> str:
    return str(httpx.URL(f"{base_url}/v1.0/users", params={"$select": ",".join(USERS.select), "$top": "999"}))


def extract_ours(base_url: str, tenant_id: str) -> int:
    """Exactly what the pipeline builds from its settings for an emulator on a socket (rate limiter included)."""
    settings = load_settings({"M365_EMULATOR_URL": base_url, "M365_EMULATOR_SEED": str(SEED)})
    with graph_client_for(settings) as client:
        return sum(len(page) for page in client.iter_pages(USERS.path, USERS.params))


def extract_bare(base_url: str, tenant_id: str) -> int:
    headers = {"Authorization": f"Bearer {_token(base_url, tenant_id)}"}
    count = 0
    url: str | None = _first_url(base_url)
    with httpx.Client(timeout=60.0, headers=headers) as http:
        while url:
            page = http.get(url).json()
            count += len(page["value"])
            url = page.get("@odata.nextLink")
    return count


def extract_sdk(base_url: str, tenant_id: str) -> int:
    return asyncio.run(_extract_sdk(base_url, tenant_id))


async def _extract_sdk(base_url: str, tenant_id: str) -> int:
    from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
    from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
        BaseBearerTokenAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

    token = _token(base_url, tenant_id)

    class EmulatorTokens(AccessTokenProvider):  # type: ignore[misc]
        async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
            return token

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return AllowedHostsValidator([HOST])

    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(EmulatorTokens()))
    adapter.base_url = f"{base_url}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=list(USERS.select), top=999)
    configuration = UsersRequestBuilder.UsersRequestBuilderGetRequestConfiguration(query_parameters=query)
    page = await client.users.get(request_configuration=configuration)
    count = 0
    while page is not None:
        count += len(page.value or [])
        page = await client.users.with_url(page.odata_next_link).get() if page.odata_next_link else None
    return count


def _timed(name: str, extract: Callable[[str, str], int], base_url: str, tenant_id: str) -> float:
    started = time.perf_counter()
    objects = extract(base_url, tenant_id)
    elapsed = time.perf_counter() - started
    print(f"  {name:5} {objects} users in {elapsed:7.2f} s = {objects / elapsed:9,.0f} objects/s", flush=True)
    return objects / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of ours and bare, interleaved")
    parser.add_argument("--sdk-rounds", type=int, default=1, help="the SDK needs minutes per round")
    parser.add_argument("--port", type=int, default=18365)
    arguments = parser.parse_args()

    tenant_id = tenant_id_for_seed(SEED)
    base_url = f"http://{HOST}:{arguments.port}"
    server = multiprocessing.Process(target=_serve, args=(arguments.users, arguments.port), daemon=True)
    server.start()
    try:
        _wait_until_up(base_url)
        print(f"emulator: {arguments.users} users on {base_url}; median of the rounds reported")
        extract_bare(base_url, tenant_id)  # warm-up: the emulator encodes each user once per $select, then caches
        rates: dict[str, list[float]] = {"bare": [], "ours": [], "sdk": []}
        for _ in range(arguments.rounds):  # interleaved, so that drift in the server or machine hits both alike
            rates["bare"].append(_timed("bare", extract_bare, base_url, tenant_id))
            rates["ours"].append(_timed("ours", extract_ours, base_url, tenant_id))
        for _ in range(arguments.sdk_rounds):
            rates["sdk"].append(_timed("sdk", extract_sdk, base_url, tenant_id))
        medians = {name: statistics.median(values) for name, values in rates.items()}
    finally:
        server.terminate()
        server.join()
    print()
    for name, rate in medians.items():
        print(f"{name:5} {rate:10,.0f} objects/s")
    print(f"ours / sdk  = {medians['ours'] / medians['sdk']:.2f}x")
    print(f"ours / bare = {medians['ours'] / medians['bare']:.2f} (1.00 is the limit)")


if __name__ == "__main__":
    main()
