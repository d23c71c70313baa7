"""Snapshots, ours against restic, on the same warehouse-like data in one run: a full snapshot, an incremental
after changing 2% of the rows scattered, one after changing 2% in clustered runs, one after appending 1%, a
restore and a full verify (`restic check --read-data` against our check with read_data). Seconds, MB/s (of the
warehouse file), bytes each step added to the store, and ours / restic ratios.

The data is an SQLite warehouse of this project's schema (migrated with Alembic), in WAL mode as the pipeline's
is, filled with generated tenants, users, licences, groups and SKUs until the file reaches --size-mb. Every change
is written through a connection closed afterwards, so its log is checkpointed into the file and restic, which
backs up that file (nothing writes it while it runs), sees the whole database. Ours captures it as the pipeline
does: the database file (read in place under a read transaction) plus every table as Parquet, and for an
incremental only the rows changed by primary key.
Our incrementals are differential (against the last full), so before each change ours takes a new full
(not measured) and each incremental holds exactly that change.

restic is Debian's package: `apt-get install -y restic` (0.14 on bookworm; repository format 2, zstd compression
`auto`, its default). The default size (100 MB) runs in about a minute on this 2-core machine; the issue's
~500 MB is `--size-mb 500` (about 2 minutes quiet, 5 under heavy load).

    .venv/bin/python benchmarks/snapshots.py [--size-mb 100] [--work DIR] [--keep] [--skip-restic]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from m365_pipeline.snapshots import capture
from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.check import check
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.restore import RestoreTarget, restore_snapshot
from m365_pipeline.warehouse.migrate import upgrade_to_head

TENANTS = 4
SKUS = 25
LICENCES_PER_USER = 2
BATCH = 20_000
DEPARTMENTS = ["Sales", "Engineering", "営業部", "経理部", "人事部", "Legal", "Support", "Marketing"]
MIB = 1024 * 1024


@dataclass
class Measure:
    seconds: float
    stored: int
    """Bytes the step added to the store (0 for restore and verify)."""


@dataclass
class Row:
    step: str
    data_bytes: int
    ours: Measure
    restic: Measure | None
    restic_data_bytes: int | None = None
    """What restic read when it differs from ours (a verify reads each tool's own store)."""


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _tenant(index: int) -> str:
    return f"{index:08x}-0000-4000-8000-{index:012x}"


def _user_rows(tenant: str, first: int, count: int, rng: random.Random) -> Iterator[tuple[object, ...]]:
    for number in range(first, first + count):
        created = dt.datetime(2018, 1, 1) + dt.timedelta(minutes=number * 7 % 3_000_000)
        signed_in = created + dt.timedelta(days=rng.randrange(0, 1500))
        upn = f"user{number:08d}@contoso{tenant[:4]}.onmicrosoft.com"
        yield (
            tenant,
            f"{number:08x}-1111-4111-8111-{rng.getrandbits(48):012x}",
            upn,
            f"User {number} 社員",
            f"Given{number % 997}",
            f"Surname{number % 1409}",
            upn,
            f"Title {number % 61}",
            DEPARTMENTS[number % len(DEPARTMENTS)],
            f"Building {number % 17}",
            "JP",
            "ja-JP",
            number % 13 != 0,
            "Member",
            created.strftime("%Y-%m-%d %H:%M:%S.000000"),
            number % 3 == 0,
            f'["+81 3 {number % 10000:04d} {number % 9973:04d}"]',
            None,
            signed_in.strftime("%Y-%m-%d %H:%M:%S.000000"),
            signed_in.strftime("%Y-%m-%d %H:%M:%S.000000"),
            signed_in.strftime("%Y-%m-%d %H:%M:%S.000000"),
        )


USER_COLUMNS = (
    "tenant_id, id, user_principal_name, display_name, given_name, surname, mail, job_title, department, "
    "office_location, usage_location, preferred_language, account_enabled, user_type, created_at, "
    "on_premises_sync_enabled, business_phones, mobile_phone, last_sign_in_at, last_non_interactive_sign_in_at, "
    "last_successful_sign_in_at"
)
USER_INSERT = f"INSERT INTO users ({USER_COLUMNS}) VALUES ({', '.join('?' * 21)})"
LICENCE_INSERT = "INSERT INTO user_licenses VALUES (?, ?, ?, ?)"


def _sku(tenant: str, index: int) -> str:
    return f"{index:08x}-2222-4222-8222-{tenant[-12:]}"


def _insert_users(connection: sqlite3.Connection, first: int, count: int, rng: random.Random) -> None:
    for start in range(first, first + count, BATCH):
        size = min(BATCH, first + count - start)
        tenant = _tenant(start % TENANTS)
        users = list(_user_rows(tenant, start, size, rng))
        connection.executemany(USER_INSERT, users)
        licences = [
            (tenant, user[1], _sku(tenant, (int(str(user[1])[:8], 16) + k) % SKUS), "[]")
            for user in users
            for k in range(LICENCES_PER_USER)
        ]
        connection.executemany(LICENCE_INSERT, licences)
        connection.commit()


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to the warehouse, committed and closed at the end (the last connection closed checkpoints
    the write-ahead log into the file and removes it)."""
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        yield connection


def make_warehouse(path: Path, size_mb: int, rng: random.Random) -> int:
    """An SQLite warehouse of this project's schema of about ``size_mb``; returns its users."""
    engine = sa.create_engine(f"sqlite:///{path}")
    upgrade_to_head(engine)
    engine.dispose()
    with _writing(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        for index in range(TENANTS):
            tenant = _tenant(index)
            connection.execute(
                "INSERT INTO tenants VALUES (?, ?, ?, ?, ?)",
                (
                    tenant,
                    f"Contoso {index}",
                    f"contoso{index}.com",
                    "2026-01-01 00:00:00.000000",
                    "2026-12-01 00:00:00.000000",
                ),
            )
            connection.executemany(
                "INSERT INTO skus VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (tenant, _sku(tenant, k), f"SKU_{k}", "contoso", "User", "Enabled", 0, 1000, 0, 0, 0, "[]")
                    for k in range(SKUS)
                ],
            )
        users = 0
        while path.stat().st_size < size_mb * MIB:
            _insert_users(connection, users, BATCH, rng)
            users += BATCH
    return users


def change_scattered(path: Path, share: float, rng: random.Random) -> None:
    """Update ``share`` of the users and of the licences, rows picked at random."""
    with _writing(path) as connection:
        for table, column, value in (
            ("users", "department", "異動"),
            ("user_licenses", "disabled_plans", '["EXCHANGE_S_STANDARD"]'),
        ):
            (rows,) = connection.execute(f"SELECT max(rowid) FROM {table}").fetchone()
            picked = rng.sample(range(1, rows + 1), int(rows * share))
            connection.executemany(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", [(value, r) for r in picked])


def change_clustered(path: Path, share: float, runs: int, rng: random.Random) -> None:
    """Update ``share`` of the users and of the licences in ``runs`` runs of consecutive rows."""
    with _writing(path) as connection:
        for table, column, value in (
            ("users", "job_title", "Reorganized"),
            ("user_licenses", "disabled_plans", '["TEAMS1"]'),
        ):
            (rows,) = connection.execute(f"SELECT max(rowid) FROM {table}").fetchone()
            length = int(rows * share / runs)
            for _ in range(runs):
                start = rng.randrange(1, rows - length)
                connection.execute(
                    f"UPDATE {table} SET {column} = ? WHERE rowid BETWEEN ? AND ?", (value, start, start + length - 1)
                )


def append(path: Path, share: float, users: int, rng: random.Random) -> int:
    added = int(users * share)
    with _writing(path) as connection:
        _insert_users(connection, users, added, rng)
    return users + added


class Restic:
    def __init__(self, repository: Path, password: str) -> None:
        self.repository, self.password = repository, password
        self._environment = {**os.environ, "RESTIC_REPOSITORY": str(repository), "RESTIC_PASSWORD": password}
        self.run("init", "--repository-version", "2")

    def run(self, *arguments: str, stdin: IO[bytes] | None = None) -> None:
        completed = subprocess.run(
            ["restic", "--quiet", *arguments], env=self._environment, stdin=stdin, capture_output=True, check=False
        )
        if completed.returncode != 0:
            error = completed.stderr.decode(errors="replace").strip()[-500:]
            raise RuntimeError(f"restic {' '.join(arguments)} failed: {error}")


def timed(action: Callable[[], object], store: Path | None) -> Measure:
    """``action`` timed, started once the writes before it are on disk (``os.sync``): neither tool pays for
    flushing the change, the generation or the other tool's store."""
    before = folder_size(store) if store else 0
    os.sync()
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    return Measure(seconds, folder_size(store) - before if store else 0)


def snapshot_steps(
    repository: Repository,
    sources: capture.Sources,
    restic_backup: Callable[[], None] | None,
    data_bytes: Callable[[], int],
    changes: list[tuple[str, Callable[[], object]]],
    work: Path,
) -> list[Row]:
    """A full snapshot, then each change's incremental, ours (store ``work / "ours"``) and restic's (``work /
    "restic"``). Ours are differential: before each change ours takes a new full (not measured), so each
    incremental holds exactly that change; restic's last backup is already that state."""

    def step(name: str, kind: str) -> Row:
        print(f"{name} ...", file=sys.stderr)
        data = data_bytes()
        ours = timed(lambda: capture.create_snapshot(repository, sources, kind=kind), work / "ours")
        theirs = timed(restic_backup, work / "restic") if restic_backup else None
        return Row(name, data, ours, theirs)

    rows = [step("full snapshot", "full")]
    for name, change in changes:
        capture.create_snapshot(repository, sources, kind="full")  # the base of this change's incremental
        change()
        rows.append(step(name, "incremental"))
    return rows


def verify_step(repository: Repository, restic: Restic | None, work: Path) -> Row:
    """A full verify of each store (ours ``work / "ours"``; ``restic check --read-data``), and their sizes."""
    print("verify ...", file=sys.stderr)

    def ours_check() -> None:
        report = check(repository.backend, repository.keys, read_data=True)
        assert report.ok, report.problems

    ours_verify = timed(ours_check, None)
    theirs_verify = timed(lambda: restic.run("check", "--read-data"), None) if restic else None
    restic_store = folder_size(work / "restic") if restic else None
    print(f"store sizes: ours {folder_size(work / 'ours') / MIB:.1f} MiB", file=sys.stderr, end="")
    print(f", restic {folder_size(work / 'restic') / MIB:.1f} MiB" if restic else "", file=sys.stderr)
    return Row("full verify of the store", folder_size(work / "ours"), ours_verify, theirs_verify, restic_store)


def run(size_mb: int, work: Path, with_restic: bool) -> list[Row]:
    rng = random.Random(2026)
    source = work / "source" / "warehouse.db"
    source.parent.mkdir(parents=True)
    print(f"generating an SQLite warehouse of {size_mb} MB ...", file=sys.stderr)
    users = make_warehouse(source, size_mb, rng)
    print(f"  {users:,} users, {source.stat().st_size / MIB:.0f} MiB", file=sys.stderr)

    ours_store = work / "ours"
    repository = Repository.init(LocalBackend(ours_store), RepositoryKeys(os.urandom(32)))
    sources = capture.Sources(warehouse_url=f"sqlite:///{source}", label="bench")
    restic = Restic(work / "restic", base64.b64encode(os.urandom(24)).decode()) if with_restic else None

    def restic_backup() -> None:
        assert restic is not None
        restic.run("backup", str(source.parent))

    changes: list[tuple[str, Callable[[], object]]] = [
        ("incremental: 2% of rows changed, scattered", lambda: change_scattered(source, 0.02, rng)),
        ("incremental: 2% of rows changed, 20 clustered runs", lambda: change_clustered(source, 0.02, 20, rng)),
        ("incremental: 1% of rows appended", lambda: append(source, 0.01, users, rng)),
    ]
    rows = snapshot_steps(
        repository, sources, restic_backup if restic else None, lambda: source.stat().st_size, changes, work
    )
    latest = max(repository.snapshot_ids(), key=lambda i: repository.manifest(i).created_at)

    print("restore ...", file=sys.stderr)
    restored = work / "restored"
    target = RestoreTarget(warehouse_url=f"sqlite:///{restored / 'ours' / 'warehouse.db'}")
    (restored / "ours").mkdir(parents=True)
    ours_restore = timed(lambda: restore_snapshot(repository, latest, target, components=["warehouse"]), None)
    theirs_restore = None
    if restic:
        theirs_restore = timed(lambda: restic.run("restore", "latest", "--target", str(restored / "restic")), None)
        restic_copy = next((restored / "restic").rglob("warehouse.db"))
        assert restic_copy.read_bytes() == source.read_bytes(), "restic restored another file"
    with sqlite3.connect(restored / "ours" / "warehouse.db") as copy, sqlite3.connect(source) as original:
        for table in ("users", "user_licenses"):
            query = f"SELECT count(*), sum(length(tenant_id || {'id' if table == 'users' else 'user_id'})) FROM {table}"
            assert copy.execute(query).fetchone() == original.execute(query).fetchone(), f"{table} differs"
    rows.append(Row("restore (the last incremental's warehouse)", source.stat().st_size, ours_restore, theirs_restore))

    rows.append(verify_step(repository, restic, work))
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| step | data MiB | ours s | ours MB/s | ours stored MiB | restic s | restic MB/s | restic stored MiB "
        "| speed ours/restic | stored ours/restic |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        data = f"{row.data_bytes / MIB:.0f}"
        if row.restic_data_bytes is not None:
            data += f" / {row.restic_data_bytes / MIB:.0f}"
        ours_speed = row.data_bytes / 1e6 / row.ours.seconds
        cells = [
            row.step,
            data,
            f"{row.ours.seconds:.1f}",
            f"{ours_speed:.1f}",
            f"{row.ours.stored / MIB:.2f}",
        ]
        if row.restic is None:
            cells += ["", "", "", "", ""]
        else:
            theirs_speed = (row.restic_data_bytes or row.data_bytes) / 1e6 / row.restic.seconds
            stored = f"{row.ours.stored / row.restic.stored:.2f}" if row.restic.stored else ""
            cells += [
                f"{row.restic.seconds:.1f}",
                f"{theirs_speed:.1f}",
                f"{row.restic.stored / MIB:.2f}",
                f"{ours_speed / theirs_speed:.2f}",
                stored,
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=100, help="size of the generated warehouse (default 100)")
    parser.add_argument("--work", type=Path, help="folder for the data and both stores (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--skip-restic", action="store_true", help="measure ours alone")
    arguments = parser.parse_args()
    if not arguments.skip_restic and shutil.which("restic") is None:
        parser.error("restic is not installed: apt-get install -y restic (or --skip-restic)")
    work = arguments.work or Path(tempfile.mkdtemp(prefix="m365-snapshot-bench-"))
    try:
        rows = run(arguments.size_mb, work, not arguments.skip_restic)
        print(table(rows))
    finally:
        if not arguments.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
