"""A day of sign-ins from Graph to Parquet: peak RSS at 1,000,000 sign-ins against 100,000, and the rate reached
under the Entra logs' limit as the emulator enforces it.

Each size runs in two fresh processes: the emulator serving a tenant with that many sign-ins a day (on loopback,
so the client shares neither its memory nor its interpreter lock), and the extraction of yesterday, whose own peak
resident set (``ru_maxrss``) is the figure. The memory cases run without the logs' limit (1,000 pages at 5 per
10 s would take 33 minutes and measure nothing more); ``--limited-pages`` pages are then extracted from an
emulator served with Graph's published limits ENFORCED (``GraphEmulator(limits=True)``: a request over the logs'
5 per 10 s is answered 429 with Retry-After, and counted), by the client as the pipeline runs it (the logs'
limiter of the activity assets). The rate is compared with the 500 sign-ins/s the limit allows (5 requests of
1,000 per 10 s), and the emulator's over-limit counter is read afterwards (``GET /_emulator/limits``): it must be 0.

    .venv/bin/python benchmarks/sign_ins.py                  # 100,000 and 1,000,000, then 20 pages limited
    .venv/bin/python benchmarks/sign_ins.py --sizes 100000 --limited-pages 0
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from served_emulator import HOST, clean_environment, free_port

SEED, USERS = 365, 500
TARGET_RATIO = 1.2
TARGET_LIMITED_RATIO = 0.9
LIMIT_ROWS_PER_SECOND = 5 * 1_000 / 10


def serve(per_day: int, port: int, limits: bool) -> None:
    from m365_pipeline.emulator.app import GraphEmulator
    from m365_pipeline.emulator.server import serve_forever
    from m365_pipeline.emulator.tenant import generate_tenant

    tenant = generate_tenant(SEED, USERS)
    emulator = GraphEmulator(tenant, sign_ins_per_day=per_day, audits_per_day=2, limits=limits)
    serve_forever(emulator, HOST, port, on_ready=lambda served: print(served.url, flush=True))


def extract(url: str, day: date, limited_pages: int, own_limiter: bool) -> None:
    from m365_pipeline.activity.extract import SIGN_IN_LOG, extract_day
    from m365_pipeline.emulator.tenant import tenant_id_for_seed
    from m365_pipeline.graph.organization import fetch_tenant
    from m365_pipeline.raw_store import RawStore
    from m365_pipeline.settings import load_settings
    from m365_pipeline.sources import graph_client

    class _PagesDone(Exception):
        pass

    tenant = tenant_id_for_seed(SEED)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"M365_EMULATOR_URL": url, "M365_EMULATOR_SEED": str(SEED), "M365_DATA_DIR": folder})
        store = RawStore(str(Path(folder) / "raw"))
        progress = {"pages": 0, "rows": 0}

        def on_page(pages: int, rows: int) -> None:
            progress.update(pages=pages, rows=rows)
            if limited_pages and pages >= limited_pages:
                raise _PagesDone

        # the memory cases measure the extraction alone, the peer keeps no logs' budget of its own
        with graph_client(settings, tenant, limited=bool(limited_pages) and own_limiter) as client:
            identity = fetch_tenant(client)
            started = time.perf_counter()
            try:
                result = extract_day(client, store, SIGN_IN_LOG, tenant, identity, day, on_page)
                rows, size = result.rows, result.stored.bytes
            except _PagesDone:
                rows, size = progress["rows"], 0
            seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps({"rows": rows, "pages": progress["pages"], "seconds": seconds, "peak_kib": peak_kib, "bytes": size})
    )


def _case(per_day: int, limited_pages: int, own_limiter: bool = True) -> dict[str, Any]:
    """One extraction from a freshly served emulator; under its enforced limits when ``limited_pages``, with the
    requests it refused as over the limits (``over_limit``). ``own_limiter=False`` is the peer: a client that
    keeps no logs budget of its own and relies on the 429s' Retry-After alone."""
    port = free_port()
    python = sys.executable
    script = str(Path(__file__).resolve())
    env = clean_environment()
    limits = "1" if limited_pages else "0"
    command = [python, script, "serve", str(per_day), str(port), limits]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
    try:
        url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}/v1.0/organization", timeout=2.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the emulator did not come up at {url}") from None
                time.sleep(0.2)
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
        completed = subprocess.run(
            [python, script, "extract", url, yesterday.isoformat(), str(limited_pages), str(int(own_limiter))],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(completed.stderr[-2000:])
        case: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        limits_state = httpx.get(f"{url}/_emulator/limits", timeout=10.0).json()
        case["limits_enforced"] = limits_state["enabled"]
        case["over_limit"] = {
            f"{limit_class}": count
            for classes in limits_state["overLimit"].values()
            for limit_class, count in classes.items()
        }
        return case
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="sign-ins per day, comma-separated")
    parser.add_argument("--limited-pages", type=int, default=20, help="pages under the logs' limit (0: skip)")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    peaks: dict[int, float] = {}
    print("| sign-ins | pages | seconds | sign-ins/s | Parquet MiB | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for size in sizes:
        case = _case(size, 0)
        peaks[size] = case["peak_kib"] / 1024
        print(
            f"| {case['rows']:,} | {case['pages']:,} | {case['seconds']:.1f} | {case['rows'] / case['seconds']:,.0f} "
            f"| {case['bytes'] / 2**20:.1f} | {peaks[size]:.0f} |",
            flush=True,
        )
    if len(sizes) > 1:
        ratio = peaks[sizes[-1]] / peaks[sizes[0]]
        verdict = "meets" if ratio <= TARGET_RATIO else "FAILS"
        print(f"\npeak RSS at {sizes[-1]:,} / at {sizes[0]:,}: {ratio:.2f} ({verdict} the target <= {TARGET_RATIO})")
    if arguments.limited_pages:
        per_day = max(sizes[0], arguments.limited_pages * 1_000)
        print("\nunder the logs' limit enforced by the emulator (5 requests per 10 s; 429 with Retry-After beyond):")
        print("| client | sign-ins | pages | seconds | sign-ins/s | of the 500/s allowed | refused by the emulator |")
        print("|---|---|---|---|---|---|---|")
        ours = _limited_row("ours (its service limiter, graph/throttling.py)", per_day, arguments.limited_pages, True)
        _limited_row("peer: no limiter of its own, Retry-After alone", per_day, arguments.limited_pages, False)
        ratio, refused = ours
        verdict = "meets" if ratio >= TARGET_LIMITED_RATIO and refused == 0 else "FAILS"
        print(
            f"\nours: {ratio:.2f} of the rate allowed, {refused} refused ({verdict} the target: >= "
            f"{TARGET_LIMITED_RATIO}, 0 refused)"
        )


def _limited_row(name: str, per_day: int, pages: int, own_limiter: bool) -> tuple[float, int]:
    case = _case(per_day, pages, own_limiter)
    if not case["limits_enforced"]:
        raise SystemExit("the emulator did not enforce its limits")
    rate = case["rows"] / case["seconds"]
    refused = sum(case["over_limit"].values())
    classes = f" {case['over_limit']}" if refused else ""
    print(
        f"| {name} | {case['rows']:,} | {case['pages']} | {case['seconds']:.1f} | {rate:,.0f} "
        f"| {rate / LIMIT_ROWS_PER_SECOND:.2f} | {refused}{classes} |",
        flush=True,
    )
    return rate / LIMIT_ROWS_PER_SECOND, refused


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")
    elif len(sys.argv) > 1 and sys.argv[1] == "extract":
        extract(sys.argv[2], date.fromisoformat(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1")
    else:
        main()
