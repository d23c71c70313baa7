"""The whole directory extracted exactly under faults, in 20 seeded runs (issue 6's "Faults" criterion).

Each run serves the emulator (``m365 emulator serve`` in its own process, on loopback) with one fault seed of
``--faults`` (default: 8% 429 with a Retry-After drawn from 0-2 s, 2% 429 without one, 2% 503, 1% connections
dropped halfway through a body: 10% 429 in all) and extracts the tenant's whole directory through the pipeline's
own path (``sources.graph_client`` on the served emulator, ``directory.extract.extract_directory``), waiting
every Retry-After for real. The extract is exact when, for every raw entity (users, groups, their members,
transitive members and owners, SKUs, roles and assignments, registration details, conditional access,
applications and service principals):

- its record count equals what the emulator says a complete extract holds (``GET /_emulator/state``
  ``extractCounts``, counted from the emulator's own state);
- no record key is there twice or missing (the raw ``ids_unique`` check);
- the file is byte for byte the file a fault-free extraction of the same tenant writes (in-process, first).

    .venv/bin/python benchmarks/directory_faults.py            # 20 seeds at 20,000 users, 4 at a time
    .venv/bin/python benchmarks/directory_faults.py --seeds 1-3 --users 2000
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from served_emulator import clean_environment, served_emulator

from m365_pipeline.directory.extract import DIRECTORY_ENTITIES, duplicate_or_missing_keys, extract_directory, record_key
from m365_pipeline.emulator.tenant import tenant_id_for_seed
from m365_pipeline.raw_store import ExtractManifest, RawStore
from m365_pipeline.settings import load_settings
from m365_pipeline.sources import graph_client

M365 = Path(sys.executable).with_name("m365")
DEFAULT_FAULTS = "429=0.08,retry_after=0-2,429_bare=0.02,503=0.02,drop=0.01"
TENANT_SEED = 365


@dataclass(frozen=True)
class SeedResult:
    seed: int
    seconds: float
    faults: dict[str, int]
    problems: list[str]  # empty: exact


def extract_once(env: dict[str, str], raw: Path) -> ExtractManifest:
    settings = load_settings(env)
    tenant = tenant_id_for_seed(TENANT_SEED)
    with graph_client(settings, tenant) as client:
        return extract_directory(client, RawStore(str(raw)), tenant).manifest


def problems_of(
    manifest: ExtractManifest, raw: Path, reference: ExtractManifest, expected: dict[str, int]
) -> list[str]:
    store = RawStore(str(raw))
    problems = []
    for entity in DIRECTORY_ENTITIES:
        stored = manifest.files[entity]
        if stored.rows != expected[entity]:
            problems.append(f"{entity}: {stored.rows} records, the emulator holds {expected[entity]}")
        duplicates, missing = duplicate_or_missing_keys(store, stored.path, record_key(entity))
        if duplicates or missing:
            problems.append(f"{entity}: {len(duplicates)} keys twice (e.g. {duplicates[:3]}), {missing} without key")
        if stored.sha256 != reference.files[entity].sha256:
            problems.append(f"{entity}: differs from the fault-free extract")
    return problems


def run_seed(seed: int, users: int, faults: str, work: Path, reference: ExtractManifest) -> SeedResult:
    folder = work / f"seed-{seed}"
    folder.mkdir()
    env = {
        **clean_environment(),
        "M365_EMULATOR_SEED": str(TENANT_SEED),
        "M365_EMULATOR_FAULTS": f"{faults},seed={seed}",
    }
    with served_emulator(M365, users, env, folder / "emulator.log") as served:
        started = time.perf_counter()
        manifest = extract_once(
            {**env, "M365_EMULATOR_URL": served.url, "M365_DATA_DIR": str(folder / "data")}, folder / "raw"
        )
        seconds = time.perf_counter() - started
        state = httpx.get(f"{served.url}/_emulator/state").json()
    problems = problems_of(manifest, folder / "raw", reference, state["extractCounts"])
    return SeedResult(seed, seconds, state["faults"], problems)


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seeds", type=seed_range, default=seed_range("1-20"), help="fault seeds, e.g. 1-20")
    parser.add_argument("--faults", default=DEFAULT_FAULTS, help="M365_EMULATOR_FAULTS without the seed")
    parser.add_argument("--parallel", type=int, default=4, help="runs at a time (each waits its Retry-Afters)")
    args = parser.parse_args()
    logging.getLogger("m365_pipeline").setLevel(logging.ERROR)  # each retry's warning; the counts are printed
    with tempfile.TemporaryDirectory(prefix="directory-faults-") as temporary:
        work = Path(temporary)
        started = time.perf_counter()
        reference_env = {
            **clean_environment(),
            "M365_EMULATOR_SEED": str(TENANT_SEED),
            "M365_EMULATOR_USERS": str(args.users),
            "M365_DATA_DIR": str(work / "reference-data"),
        }
        reference = extract_once(reference_env, work / "reference-raw")
        rows = sum(file.rows for file in reference.files.values())
        print(
            f"fault-free extract (in-process): {args.users:,} users, {rows:,} records in "
            f"{time.perf_counter() - started:.1f} s; faults per run: {args.faults}",
            flush=True,
        )
        lock = threading.Lock()
        results: list[SeedResult] = []

        def one(seed: int) -> None:
            result = run_seed(seed, args.users, args.faults, work, reference)
            with lock:
                results.append(result)
                faults = ", ".join(f"{kind} {count}" for kind, count in sorted(result.faults.items()))
                verdict = "exact" if not result.problems else "NOT EXACT: " + "; ".join(result.problems)
                print(f"seed {seed:2}: {result.seconds:6.1f} s, faults injected: {faults}; {verdict}", flush=True)

        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            for future in [pool.submit(one, seed) for seed in args.seeds]:
                future.result()
    exact = sum(1 for result in results if not result.problems)
    injected = sum(sum(result.faults.values()) for result in results)
    print(f"{exact} of {len(results)} seeded runs exact; {injected:,} faults injected in all")
    return 0 if exact == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
