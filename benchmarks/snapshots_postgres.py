"""Snapshots of a PostgreSQL warehouse, ours against restic in one run: a full snapshot, an incremental after
changing 2% of the rows scattered, one after changing 2% in clustered runs, one after appending 1%, a restore into
a fresh database and a full verify. Seconds, MB/s (of the database's size), bytes each step added to the store,
and ours / restic ratios; the same steps and table as ``snapshots.py`` (its SQLite twin).

restic backs up what a PostgreSQL administrator would give it: ``pg_dump -Fc -Z0`` piped to
``restic backup --stdin``, and restores with ``restic dump | pg_restore --single-transaction``. Ours captures the
warehouse as the pipeline does: ``pg_dump -Fc -Z0`` plus every table as Parquet for a full, the rows written since
the full for an incremental. Ours takes a new full before each change (not measured), so each incremental holds
exactly that change.

The data: this project's schema (migrated with Alembic) in a database ``m365_snapshot_bench`` (made again each
run, dropped at the end unless ``--keep``), filled with the generated tenants, users, licences and SKUs of
``snapshots.py`` until it reaches ``--size-mb``. Needs a PostgreSQL server (``--admin-url``, a database to create
others from) and its client tools (Debian's postgresql-client), and restic (Debian's package).

    .venv/bin/python benchmarks/snapshots_postgres.py [--size-mb 100] [--admin-url URL] [--keep] [--skip-restic]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import sqlalchemy as sa
from snapshots import (
    BATCH,
    LICENCES_PER_USER,
    MIB,
    SKUS,
    TENANTS,
    USER_COLUMNS,
    Restic,
    Row,
    _sku,
    _tenant,
    _user_rows,
    snapshot_steps,
    table,
    timed,
    verify_step,
)

from m365_pipeline.snapshots import capture
from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.restore import RestoreTarget, restore_snapshot
from m365_pipeline.warehouse.migrate import upgrade_to_head

DATABASE = "m365_snapshot_bench"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _url(admin_url: str, database: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + database


@contextlib.contextmanager
def _databases(admin_url: str, names: list[str], keep: bool) -> Iterator[None]:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                for name in names:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _copy_users(connection: psycopg.Connection, first: int, count: int, rng: random.Random) -> None:
    for start in range(first, first + count, BATCH):
        size = min(BATCH, first + count - start)
        tenant = _tenant(start % TENANTS)
        users = list(_user_rows(tenant, start, size, rng))
        with connection.cursor().copy(f"COPY users ({USER_COLUMNS}) FROM STDIN") as copy:
            for user in users:
                copy.write_row(user)
        with connection.cursor().copy("COPY user_licenses FROM STDIN") as copy:
            for user in users:
                for k in range(LICENCES_PER_USER):
                    copy.write_row((tenant, user[1], _sku(tenant, (int(str(user[1])[:8], 16) + k) % SKUS), "[]"))
        connection.commit()


def make_warehouse(url: str, size_mb: int, rng: random.Random) -> int:
    """A PostgreSQL warehouse of this project's schema of about ``size_mb``; returns its users."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    upgrade_to_head(engine)
    engine.dispose()
    with psycopg.connect(url) as connection:
        for index in range(TENANTS):
            tenant = _tenant(index)
            connection.execute(
                "INSERT INTO tenants VALUES (%s, %s, %s, %s, %s)",
                (tenant, f"Contoso {index}", f"contoso{index}.com", "2026-01-01", "2026-12-01"),
            )
            with connection.cursor().copy("COPY skus FROM STDIN") as copy:
                for k in range(SKUS):
                    copy.write_row(
                        (tenant, _sku(tenant, k), f"SKU_{k}", "contoso", "User", "Enabled", 0, 1000, 0, 0, 0, "[]")
                    )
        connection.commit()
        users = 0
        while _size(connection) < size_mb * MIB:
            _copy_users(connection, users, 5 * BATCH, rng)
            users += 5 * BATCH
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return users


def _size(connection: psycopg.Connection) -> int:
    found = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    assert found is not None
    return int(found[0])


def change_scattered(url: str, share: float, rng: random.Random) -> None:
    """Update ``share`` of the users and of the licences, rows picked at random."""
    with psycopg.connect(url) as connection:
        connection.execute("SELECT setseed(%s)", (rng.random(),))
        connection.execute("UPDATE users SET department = '異動' WHERE random() < %s", (share,))
        connection.execute(
            """UPDATE user_licenses SET disabled_plans = '["EXCHANGE_S_STANDARD"]' WHERE random() < %s""", (share,)
        )


def change_clustered(url: str, share: float, runs: int, rng: random.Random) -> None:
    """Update ``share`` of the users and of the licences in ``runs`` runs of rows consecutive in key order."""
    with psycopg.connect(url) as connection:
        for name, key, column, value in (
            ("users", "tenant_id, id", "job_title", "Reorganized"),
            ("user_licenses", "tenant_id, user_id, sku_id", "disabled_plans", '["TEAMS1"]'),
        ):
            found = connection.execute(f"SELECT count(*) FROM {name}").fetchone()
            assert found is not None
            rows = int(found[0])
            length = int(rows * share / runs)
            for _ in range(runs):
                connection.execute(
                    f"UPDATE {name} SET {column} = %s WHERE ({key}) IN "
                    f"(SELECT {key} FROM {name} ORDER BY {key} OFFSET %s LIMIT %s)",
                    (value, rng.randrange(0, rows - length), length),
                )


def append(url: str, share: float, users: int, rng: random.Random) -> int:
    added = int(users * share)
    with psycopg.connect(url) as connection:
        _copy_users(connection, users, added, rng)
    return users + added


class PostgresRestic(Restic):
    def backup_dump(self, url: str) -> None:
        with subprocess.Popen(["pg_dump", "-Fc", "-Z0", f"--dbname={url}"], stdout=subprocess.PIPE) as dump:
            self.run("backup", "--stdin", "--stdin-filename", "warehouse.pgdump", stdin=dump.stdout)
        if dump.returncode != 0:
            raise RuntimeError(f"pg_dump exited with {dump.returncode}")

    def restore_dump(self, url: str) -> None:
        environment = {**os.environ, "RESTIC_REPOSITORY": str(self.repository), "RESTIC_PASSWORD": self.password}
        with subprocess.Popen(
            ["restic", "--quiet", "dump", "latest", "warehouse.pgdump"], stdout=subprocess.PIPE, env=environment
        ) as dumped:
            subprocess.run(
                ["pg_restore", "--single-transaction", "--no-owner", f"--dbname={url}"], stdin=dumped.stdout, check=True
            )
        if dumped.returncode != 0:
            raise RuntimeError(f"restic dump exited with {dumped.returncode}")


def _same_rows(url: str, other: str) -> None:
    with psycopg.connect(url) as source, psycopg.connect(other) as copy:
        for name, key in (("users", "id"), ("user_licenses", "user_id || sku_id")):
            query = f"SELECT count(*), sum(length(tenant_id || {key})), max(md5(tenant_id || {key})) FROM {name}"
            assert source.execute(query).fetchone() == copy.execute(query).fetchone(), f"{name} differs in {other}"


def run(size_mb: int, work: Path, admin_url: str, with_restic: bool) -> list[Row]:
    rng = random.Random(2026)
    source = _url(admin_url, DATABASE)
    print(f"generating a PostgreSQL warehouse of {size_mb} MB ...", file=sys.stderr)
    users = make_warehouse(source, size_mb, rng)
    with psycopg.connect(source) as connection:
        print(f"  {users:,} users, {_size(connection) / MIB:.0f} MiB", file=sys.stderr)

    ours_store = work / "ours"
    repository = Repository.init(LocalBackend(ours_store), RepositoryKeys(os.urandom(32)))
    sources = capture.Sources(warehouse_url=source, label="bench")
    restic = PostgresRestic(work / "restic", os.urandom(18).hex()) if with_restic else None

    def data_bytes() -> int:
        with psycopg.connect(source) as connection:
            return _size(connection)

    changes: list[tuple[str, Callable[[], object]]] = [
        ("incremental: 2% of rows changed, scattered", lambda: change_scattered(source, 0.02, rng)),
        ("incremental: 2% of rows changed, 20 clustered runs", lambda: change_clustered(source, 0.02, 20, rng)),
        ("incremental: 1% of rows appended", lambda: append(source, 0.01, users, rng)),
    ]
    backup = (lambda: restic.backup_dump(source)) if restic else None
    rows = snapshot_steps(repository, sources, backup, data_bytes, changes, work)
    latest = max(repository.snapshot_ids(), key=lambda i: repository.manifest(i).created_at)

    print("restore ...", file=sys.stderr)
    ours_target, restic_target = _url(admin_url, f"{DATABASE}_ours"), _url(admin_url, f"{DATABASE}_restic")
    target = RestoreTarget(warehouse_url=ours_target)
    ours_restore = timed(lambda: restore_snapshot(repository, latest, target, components=["warehouse"]), None)
    _same_rows(source, ours_target)
    theirs_restore = None
    if restic:
        theirs_restore = timed(lambda: restic.restore_dump(restic_target), None)
        _same_rows(source, restic_target)
    rows.append(Row("restore (the last incremental's warehouse)", data_bytes(), ours_restore, theirs_restore))

    rows.append(verify_step(repository, restic, work))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=100, help="size of the generated database (default 100)")
    parser.add_argument("--admin-url", default=ADMIN_URL, help=f"a database to create the others from ({ADMIN_URL})")
    parser.add_argument("--work", type=Path, help="folder for both stores (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and the databases")
    parser.add_argument("--skip-restic", action="store_true", help="measure ours alone")
    arguments = parser.parse_args()
    if not arguments.skip_restic and shutil.which("restic") is None:
        parser.error("restic is not installed: apt-get install -y restic (or --skip-restic)")
    if shutil.which("pg_dump") is None:
        parser.error("pg_dump is not installed: apt-get install -y postgresql-client")
    work = arguments.work or Path(tempfile.mkdtemp(prefix="m365-snapshot-pg-bench-"))
    names = [DATABASE, f"{DATABASE}_ours", f"{DATABASE}_restic"]
    try:
        with _databases(arguments.admin_url, names, arguments.keep):
            rows = run(arguments.size_mb, work, arguments.admin_url, not arguments.skip_restic)
        print(table(rows))
    finally:
        if not arguments.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
