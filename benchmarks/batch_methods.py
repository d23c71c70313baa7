"""Each user's authentication methods for a 20,000-user tenant through `$batch`, against the least time Graph's
published budget allows for the requests made: issue 6's criterion is at most 1.25x, with no request over the limit.

The emulator is served on loopback in its own process (`m365 emulator serve --limits`: the identity bucket of a
tenant over 500 users, 8,000 resource units per 10 s, enforced with real Retry-After windows). The directory is
extracted first, unpaced and with the limits off (the methods are asked for its users). Then each case starts from
full buckets (`POST /_emulator/limits {"reset": true}`) and runs in a fresh process (a limiter of its own); after
it the emulator says what the requests it served needed at least (`minimumSeconds`, from each bucket's spending)
and how many it refused (`overLimit`):

- ours: `extract_authentication_methods`, 20 users to a `$batch`, the pipeline's limiter with M365_GRAPH_BUDGET=8000;
- unpaced: the same without the client's limiter, paced by the emulator's 429s and their Retry-After alone;
- per-user: one `GET /users/{id}/authentication/methods` per user, 4 at a time, with the pipeline's limiter.

    .venv/bin/python benchmarks/batch_methods.py                  # 20,000 users, the three cases (~3 minutes)
    .venv/bin/python benchmarks/batch_methods.py --users 5000 --cases ours
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from served_emulator import clean_environment, served_emulator

SEED = 365
BUDGET = "8000"  # resource units per 10 s of a tenant over 500 users
TARGET_RATIO = 1.25
CASES = ("ours", "unpaced", "per-user")


def _settings(url: str, folder: str) -> Any:
    from m365_pipeline.settings import load_settings

    return load_settings(
        {
            "M365_EMULATOR_URL": url,
            "M365_EMULATOR_SEED": str(SEED),
            "M365_DATA_DIR": folder,
            "M365_GRAPH_BUDGET": BUDGET,
        }
    )


def extract_directory_unpaced(url: str, raw: str) -> int:
    from m365_pipeline.directory.extract import extract_directory
    from m365_pipeline.emulator.tenant import tenant_id_for_seed
    from m365_pipeline.raw_store import RawStore
    from m365_pipeline.sources import graph_client

    with (
        tempfile.TemporaryDirectory() as folder,
        graph_client(_settings(url, folder), tenant_id_for_seed(SEED), limited=False) as client,
    ):
        extract = extract_directory(client, RawStore(raw), tenant_id_for_seed(SEED))
    return extract.manifest.files["users"].rows


def run_case(case: str, url: str, raw: str) -> None:
    """One case in this (fresh) process; prints its figures as JSON."""
    from m365_pipeline.directory.auth_methods import directory_user_ids, extract_authentication_methods
    from m365_pipeline.emulator.tenant import tenant_id_for_seed
    from m365_pipeline.graph.errors import GraphError
    from m365_pipeline.raw_store import RawStore
    from m365_pipeline.sources import graph_client

    tenant = tenant_id_for_seed(SEED)
    store = RawStore(raw)
    with (
        tempfile.TemporaryDirectory() as folder,
        graph_client(_settings(url, folder), tenant, limited=case != "unpaced") as client,
    ):
        client.get_json("/organization", {"$select": "id"})  # signed in before the clock starts
        started = time.perf_counter()
        if case == "per-user":
            manifest = store.latest_extract(tenant)
            assert manifest is not None

            def methods_of(user_id: str) -> int:
                try:
                    return len(client.get_json(f"/users/{user_id}/authentication/methods")["value"])
                except GraphError as error:
                    if error.status == 404:
                        return 0
                    raise

            with ThreadPoolExecutor(4) as pool:
                ids = list(directory_user_ids(store, manifest))
                methods = sum(pool.map(methods_of, ids))
            users = len(ids)
        else:
            extract = extract_authentication_methods(client, store, tenant)
            methods, users = extract.methods, extract.users_asked
        seconds = time.perf_counter() - started
    print(json.dumps({"users": users, "methods": methods, "seconds": seconds}))


def _limits(http: httpx.Client, url: str, **body: Any) -> dict[str, Any]:
    answer = http.post(f"{url}/_emulator/limits", json=body) if body else http.get(f"{url}/_emulator/limits")
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    arguments = parser.parse_args()
    cases = [case for case in arguments.cases.split(",") if case]
    unknown = set(cases) - set(CASES)
    if unknown:
        raise SystemExit(f"--cases: unknown {', '.join(sorted(unknown))}")

    environment = clean_environment() | {"M365_EMULATOR_SEED": str(SEED)}
    m365 = Path(sys.executable).with_name("m365")
    with (
        tempfile.TemporaryDirectory() as folder,
        served_emulator(
            m365, arguments.users, environment, Path(folder) / "emulator.log", options=["--limits"]
        ) as served,
        httpx.Client(timeout=30.0) as http,
    ):
        raw = str(Path(folder) / "raw")
        _limits(http, served.url, enabled=False)
        started = time.perf_counter()
        users = extract_directory_unpaced(served.url, raw)
        print(
            f"emulator: {arguments.users} users on {served.url}; directory extracted in "
            f"{time.perf_counter() - started:.1f} s (limits off)"
        )
        print(f"{'case':9} {'users':>6} {'methods':>7} {'seconds':>8} {'minimum s':>9} {'ratio':>6} {'over limit':>10}")
        figures: dict[str, float] = {}
        for case in cases:
            _limits(http, served.url, enabled=True, reset=True)
            completed = subprocess.run(
                [sys.executable, __file__, "case", case, served.url, raw],
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            if completed.returncode != 0:
                raise SystemExit(f"case {case} failed: {completed.stderr.strip()[-2000:]}")
            result = json.loads(completed.stdout.strip().splitlines()[-1])
            limits = _limits(http, served.url)
            minimum = float(limits["minimumSeconds"])
            over = sum(count for classes in limits["overLimit"].values() for count in classes.values())
            ratio = result["seconds"] / minimum if minimum > 0 else float("inf")
            figures[case] = result["seconds"]
            print(
                f"{case:9} {result['users']:6d} {result['methods']:7d} {result['seconds']:8.2f} {minimum:9.2f} "
                f"{ratio:6.2f} {over:10d}",
                flush=True,
            )
            if case == "ours":
                verdict = "met" if ratio <= TARGET_RATIO and over == 0 else "NOT met"
                print(f"          criterion (<= {TARGET_RATIO}x the minimum, 0 over the limit): {verdict}")
        if "ours" in figures:
            for case in (case for case in figures if case != "ours"):
                print(f"ours / {case}: {figures['ours'] / figures[case]:.2f} of its time")
        assert users == arguments.users


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "case":
        run_case(*sys.argv[2:5])
    else:
        main()
