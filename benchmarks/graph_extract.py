"""Extract every user from an emulator served on loopback, three ways in one run, and print objects/s and ratios.

1. ours:  m365_pipeline's GraphClient (token cache, retries, rate limiter, paging).
2. sdk:   msgraph-sdk-python (Kiota), the official SDK: `pip install -e '.[bench]'` installs it.
3. bare:  an httpx loop over the nextLinks that only parses JSON: the limit for any Python client.

The emulator runs in a separate process (`m365 emulator serve`) so that the clients do not share its interpreter
lock. Every way makes the same requests ($select of the users entity spec, $top=999) against the same
server.

    .venv/bin/python benchmarks/graph_extract.py [--users 100000] [--rounds 5] [--sdk-rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from served_emulator import HOST, clean_environment, served_emulator

from m365_pipeline.emulator.identity import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET
from m365_pipeline.emulator.tenant import tenant_id_for_seed
from m365_pipeline.entities import ENTITIES
from m365_pipeline.settings import load_settings
from m365_pipeline.sources import graph_client

SEED = 2026
USERS = ENTITIES["users"]


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
    with graph_client(settings, tenant_id) as client:
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
    arguments = parser.parse_args()

    tenant_id = tenant_id_for_seed(SEED)
    environment = clean_environment() | {"M365_EMULATOR_SEED": str(SEED)}
    m365 = Path(sys.executable).with_name("m365")
    with (
        tempfile.TemporaryDirectory() as folder,
        served_emulator(m365, arguments.users, environment, Path(folder) / "emulator.log") as served,
    ):
        base_url = served.url
        print(f"emulator: {arguments.users} users on {base_url}; median of the rounds reported")
        extract_bare(base_url, tenant_id)  # warm-up: the emulator encodes each user once per $select, then caches
        rates: dict[str, list[float]] = {"bare": [], "ours": [], "sdk": []}
        for _ in range(arguments.rounds):  # interleaved, so that drift in the server or machine hits both alike
            rates["bare"].append(_timed("bare", extract_bare, base_url, tenant_id))
            rates["ours"].append(_timed("ours", extract_ours, base_url, tenant_id))
        for _ in range(arguments.sdk_rounds):
            rates["sdk"].append(_timed("sdk", extract_sdk, base_url, tenant_id))
    medians = {name: statistics.median(values) for name, values in rates.items() if values}
    print()
    for name, rate in medians.items():
        print(f"{name:5} {rate:10,.0f} objects/s")
    for way, peer, note in (("ours", "sdk", "x"), ("ours", "bare", " (1.00 is the limit)")):
        if way in medians and peer in medians:
            print(f"{way} / {peer:4} = {medians[way] / medians[peer]:.2f}{note}")
        else:
            print(f"{way} / {peer:4} = n/a (no round of {way if way not in medians else peer})")


if __name__ == "__main__":
    main()
