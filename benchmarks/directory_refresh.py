"""A directory refresh after 1% of users changed: the incremental (delta) refresh against a full refresh, in the
same run (issue 6: at 100,000 users the delta refresh takes at most 10% of the full one).

The emulator serves the tenant on loopback in its own process (``m365 emulator serve``). The warehouse (SQLite
under a temporary folder by default; ``--database-url`` for PostgreSQL) is first loaded the way ``m365 run`` does
(``extract_directory`` into the raw store, ``publish_directory`` to the warehouse: untimed). Then, twice, 1% of
the users are changed through the emulator's change API (``POST /_emulator/change``: departments and job titles,
accounts disabled) and the directory refreshed:

1. in full, as the main job does (the same two domain functions): the whole directory extracted and published;
2. incrementally, as the ``warehouse/directory_delta`` asset does (``refresh_directory``: one users and one groups
   delta round from the links the full refresh left, applied set-based in one transaction each).

With ``--verify``, a last full publication of the emulator's state as it is then must find nothing to change in
the tables the delta refresh keeps (users, licences, groups, direct members): the delta refresh was exact.

    .venv/bin/python benchmarks/directory_refresh.py                  # 50,000 users: about 5 minutes quiet
    .venv/bin/python benchmarks/directory_refresh.py --users 100000   # the issue's size: about 10 minutes quiet
    .venv/bin/python benchmarks/directory_refresh.py --users 20000 --verify --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
from served_emulator import clean_environment, served_emulator

from m365_pipeline.directory.delta import refresh_directory
from m365_pipeline.directory.extract import extract_directory
from m365_pipeline.directory.publish import DirectoryPublication, publish_directory
from m365_pipeline.emulator.tenant import tenant_id_for_seed
from m365_pipeline.raw_store import RawStore
from m365_pipeline.settings import load_settings
from m365_pipeline.sources import graph_client
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import upgrade_to_head

M365 = Path(sys.executable).with_name("m365")
SEED = 365
TARGET_RATIO = 0.10
DELTA_TABLES = ("users", "user_licenses", "groups", "group_members")


def change_users(url: str, user_ids: list[str], share: float, rng: random.Random) -> int:
    """Change ``share`` of the users through the emulator's change API; returns how many were changed."""
    chosen = rng.sample(user_ids, round(len(user_ids) * share))
    changes = []
    for number, user_id in enumerate(chosen):
        if number % 10 == 9:
            changes.append({"action": "updateUser", "id": user_id, "properties": {"accountEnabled": False}})
        else:
            properties = {"department": rng.choice(["Sales", "営業部", "Finance"]), "jobTitle": f"Title {number}"}
            changes.append({"action": "updateUser", "id": user_id, "properties": properties})
    answer = httpx.post(f"{url}/_emulator/change", json={"changes": changes}, timeout=120.0)
    answer.raise_for_status()
    return len(changes)


def leftovers_after(check: DirectoryPublication) -> dict[str, tuple[int, int, int]]:
    """What a full publication still changed in the tables the delta refresh keeps: (inserted, updated, deleted)."""
    return {
        name: (table.inserted, table.updated, table.deleted)
        for name, table in check.tables.items()
        if name in DELTA_TABLES and (table.inserted, table.updated, table.deleted) != (0, 0, 0)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--users",
        type=int,
        default=50_000,
        help="users in the tenant (default 50,000; the issue's 100,000 takes about 10 minutes on a quiet machine)",
    )
    parser.add_argument("--share", type=float, default=0.01, help="share of the users changed before each refresh")
    parser.add_argument("--database-url", help="the warehouse (default: SQLite in a temporary folder)")
    parser.add_argument("--verify", action="store_true", help="check the delta refresh with a third full one")
    args = parser.parse_args()
    rng = random.Random(7)
    tenant = tenant_id_for_seed(SEED)
    with tempfile.TemporaryDirectory(prefix="directory-refresh-") as temporary:
        work = Path(temporary)
        env = {**clean_environment(), "M365_EMULATOR_SEED": str(SEED), "M365_DATA_DIR": str(work / "data")}
        if args.database_url:
            env["M365_DATABASE_URL"] = args.database_url
        with served_emulator(M365, args.users, env, work / "emulator.log") as served:
            settings = load_settings({**env, "M365_EMULATOR_URL": served.url})
            engine = create_warehouse_engine(settings.database_url)
            upgrade_to_head(engine)
            store = RawStore(settings.raw_store)

            def full_refresh() -> DirectoryPublication:
                with graph_client(settings, tenant) as client:
                    manifest = extract_directory(client, store, tenant).manifest
                return publish_directory(engine, store, manifest)

            started = time.perf_counter()
            first = full_refresh()
            print(f"first load: {args.users:,} users in {time.perf_counter() - started:.1f} s", flush=True)
            manifest = store.latest_extract(tenant)
            assert manifest is not None
            user_ids = store.read_arrow_column(manifest.files["users"].path, "id").to_pylist()

            changed = change_users(served.url, user_ids, args.share, rng)
            started = time.perf_counter()
            full = full_refresh()
            full_seconds = time.perf_counter() - started
            users = full.tables["users"]
            print(
                f"full refresh after {changed:,} users changed: {full_seconds:.1f} s "
                f"(users: {users.updated:,} updated, {users.inserted:,} inserted)",
                flush=True,
            )

            changed = change_users(served.url, user_ids, args.share, rng)
            started = time.perf_counter()
            with graph_client(settings, tenant) as client:
                rounds = refresh_directory(client, engine, first.tenant_id)
            delta_seconds = time.perf_counter() - started
            described = "; ".join(f"{r.resource}: {r.changed:,} written, {r.pages} pages" for r in rounds)
            print(f"delta refresh after {changed:,} users changed: {delta_seconds:.2f} s ({described})", flush=True)

            leftovers = leftovers_after(full_refresh()) if args.verify else None
            engine.dispose()
    ratio = delta_seconds / full_seconds
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"delta / full = {ratio:.3f} ({verdict} the target of {TARGET_RATIO})")
    if leftovers:
        print(f"NOT EXACT: a full publication after the delta refresh still changed {leftovers}")
        return 1
    if leftovers is not None:
        print("exact: a full publication after the delta refresh changed nothing in " + ", ".join(DELTA_TABLES))
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
