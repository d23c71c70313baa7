"""Legacy CSV migration into PostgreSQL: ours vs the old approach vs COPY of an already-clean file (the limit).

    .venv/bin/pip install -e '.[bench]'          # pandas, for the old approach only
    .venv/bin/python benchmarks/legacy_migration.py [--sizes 200000,1000000] [--old-rows 20000] [--profile]

The file is the widest catalogued layout (Group_Attributes_Roles, 29 columns) as the old tool wrote it
(Export-Csv: UTF-8 with BOM, CRLF, every field quoted), with values that vary row to row like a real tenant's
(unique names and ids, counts, booleans, `yyyy/MM/dd H:mm:ss` dates, joined lists, empty fields).

Each case runs in its own subprocess, into its own fresh database, and reports rows/s; the parent reads the
child's peak RSS and CPU time from the kernel (wait4's ru_maxrss, ru_utime + ru_stime), so the memory figures are
exact per case, and the client's CPU seconds show its work apart from the machine's load (the server's is not in
them):
- ours: `migrate_file` (hash, read, type, COPY, reconcile, ledger, commit), at each size;
- old: the old tool's seed 000 approach, pandas.read_csv in chunks of 1,000 rows -> DataFrame.to_sql through
  SQLAlchemy (psycopg 3), on --old-rows rows (it is slow; the ratio is on rows/s);
- old_to_sql: for comparison, the most favourable pandas -> SQLAlchemy path (DataFrame.to_sql, no field mapping);
- copy: `COPY table FROM STDIN` of a clean file (our typed rows exported with COPY TO), streamed in 1 MiB chunks:
  what PostgreSQL itself can take, the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REPORT_TYPE = "group_attributes_roles"
TENANT = "bench-tenant"


# --- the file ---------------------------------------------------------------------------------------------------


def _row(rng: random.Random, n: int) -> list[str]:
    created = datetime(2015, 1, 1) + timedelta(seconds=rng.randrange(10 * 365 * 86400))
    expires = created + timedelta(days=rng.randrange(30, 1000)) if rng.random() < 0.2 else None
    team = rng.random() < 0.4
    members = rng.randrange(0, 5000)
    reasons = rng.sample(
        ["オーナー不在", "外部メンバー", "大規模グループ", "ライセンスエラー", "期限切れ間近"], rng.randrange(0, 3)
    )

    def when(moment: datetime | None) -> str:
        return f"{moment:%Y/%m/%d} {moment.hour}:{moment:%M:%S}" if moment else ""

    return [
        f"プロジェクト{n:07d} チーム",
        rng.choice(["Microsoft 365", "Security", "Distribution", "Mail-enabled Security"]),
        rng.choice(["Security", "NonSecurity", ""]),
        str(team),
        str(rng.random() < 0.5),
        str(rng.random() < 0.7),
        str(members),
        str(rng.randrange(0, 5)),
        str(rng.randrange(0, 3)),
        str(rng.randrange(0, 2)),
        str(rng.randrange(0, 2)),
        rng.choice(["Public", "Private", "HiddenMembership", ""]),
        rng.choice(["クラウド", "オンプレミス同期"]),
        str(rng.random() < 0.7),
        f"project{n:07d}@contoso.onmicrosoft.com",
        f"project{n:07d}",
        str(rng.randrange(0, 6)),
        str(rng.random() < 0.3),
        str(rng.randrange(0, 4)),
        str(rng.random() < 0.05),
        rng.choice(["", "社外秘", "一般"]),
        str(expires is not None),
        when(expires),
        when(expires - timedelta(days=365) if expires else None),
        rng.choice(["", "部門の共有グループ", f"案件{n % 977}の連絡用, 関係者のみ"]),
        when(created),
        rng.choice(["低", "中", "高"]),
        ", ".join(reasons),
        str(uuid.UUID(int=rng.getrandbits(128))),
    ]


def generate(path: Path, rows: int, seed: int = 365) -> None:
    """Write the file as Export-Csv does, streaming."""
    from m365_pipeline.legacy import REPORT_TYPES

    headers = REPORT_TYPES[REPORT_TYPE].variants[0].headers
    rng = random.Random(seed)

    def line(fields: list[str] | tuple[str, ...]) -> str:
        return ",".join('"' + field.replace('"', '""') + '"' for field in fields) + "\r\n"

    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        handle.write(line(headers))
        for n in range(1, rows + 1):
            handle.write(line(_row(rng, n)))


# --- the cases, each in a subprocess -------------------------------------------------------------------------------


def case_ours(url: str, file: Path) -> dict[str, Any]:
    from m365_pipeline.legacy.load import migrate_file
    from m365_pipeline.warehouse.engine import create_warehouse_engine

    engine = create_warehouse_engine(url)
    started = time.perf_counter()
    result = migrate_file(engine, file, TENANT)
    seconds = time.perf_counter() - started
    engine.dispose()
    assert result.rows_quarantined == 0, result.reason
    return {"rows": result.rows_loaded, "seconds": seconds}


def case_old(url: str, file: Path) -> dict[str, Any]:
    """The old tool's data_migration.py as seed 000 describes it: pandas reads the CSV in batches of 1,000 rows,
    maps the fields (dates, numbers and booleans converted by pandas, lists kept as text), and each batch is added
    as ORM objects and committed."""
    import pandas as pd
    from sqlalchemy import orm

    from m365_pipeline.legacy import REPORT_TYPES

    columns = REPORT_TYPES[REPORT_TYPE].columns
    headers = {column.headers[0]: column.name for column in columns}
    kinds = {column.name: column.kind.value for column in columns}
    sql_types = {"integer": sa.BigInteger, "boolean": sa.Boolean, "datetime": sa.DateTime(timezone=True)}

    class Base(orm.DeclarativeBase):
        pass

    model = type(
        "OldGroupAttributesRoles",
        (Base,),
        {
            "__tablename__": "old_group_attributes_roles",
            "id": orm.mapped_column(sa.Integer, primary_key=True),
            **{name: sa.Column(name, sql_types.get(kind, sa.Text)) for name, kind in kinds.items()},
        },
    )
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    started = time.perf_counter()
    rows = 0
    with orm.Session(engine) as session:
        for chunk in pd.read_csv(file, chunksize=1_000, encoding="utf-8-sig", dtype=str, keep_default_na=False):
            frame = chunk.rename(columns=headers)
            for name, kind in kinds.items():
                if kind == "datetime":
                    frame[name] = pd.to_datetime(frame[name], format="%Y/%m/%d %H:%M:%S", errors="coerce")
                    frame[name] = frame[name].dt.tz_localize("Asia/Tokyo")
                elif kind == "integer":
                    frame[name] = pd.to_numeric(frame[name].str.replace(",", ""), errors="coerce").astype("Int64")
                elif kind == "boolean":
                    frame[name] = frame[name].map({"True": True, "False": False})
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            session.add_all([model(**record) for record in records])
            session.commit()
            rows += len(records)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"rows": rows, "seconds": seconds}


def case_old_to_sql(url: str, file: Path) -> dict[str, Any]:
    """The most favourable pandas -> SQLAlchemy path, for comparison: DataFrame.to_sql (Core, batched INSERTs) of
    each 1,000-row chunk as pandas infers it; no field mapping (dates stay text)."""
    import pandas as pd

    engine = sa.create_engine(url)
    started = time.perf_counter()
    rows = 0
    for chunk in pd.read_csv(file, chunksize=1_000, encoding="utf-8-sig"):
        chunk.to_sql("old_group_attributes_roles", engine, if_exists="append", index=False)
        rows += len(chunk)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"rows": rows, "seconds": seconds}


def case_copy(url: str, file: Path) -> dict[str, Any]:
    from m365_pipeline.warehouse.engine import create_warehouse_engine
    from m365_pipeline.warehouse.schema import LEGACY_TABLES

    table = LEGACY_TABLES[REPORT_TYPE]
    engine = create_warehouse_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        driver: Any = connection.connection.driver_connection
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} FROM STDIN") as copy, file.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
            rows = cursor.rowcount
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"rows": rows, "seconds": seconds}


CASES = {"ours": case_ours, "old": case_old, "old_to_sql": case_old_to_sql, "copy": case_copy}


# --- the parent ---------------------------------------------------------------------------------------------------


def _fresh_database(admin_url: str) -> str:
    from m365_pipeline.warehouse.engine import create_warehouse_engine
    from m365_pipeline.warehouse.migrate import upgrade_to_head

    name = f"m365_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    engine = create_warehouse_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    return url


def _drop_database(admin_url: str, url: str) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def _run_case(case: str, url: str, file: Path, profile: Path | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--case", case, "--url", url, "--file", str(file)]
    if profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), *command[1:]]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"case {case} failed ({process.returncode})")
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    figures["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    figures["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # the case's process only, not the server's
    figures["rows_per_s"] = figures["rows"] / figures["seconds"]
    return figures


def _export_clean(url: str, target: Path) -> None:
    """Our typed rows as PostgreSQL's own COPY text: an already-clean file of the same table."""
    from m365_pipeline.warehouse.schema import LEGACY_TABLES

    table = LEGACY_TABLES[REPORT_TYPE]
    engine = sa.create_engine(url)
    with engine.connect() as connection, target.open("wb") as handle:
        driver: Any = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} TO STDOUT") as copy:
            for chunk in copy:
                handle.write(chunk)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200000,1000000", help="rows of the files for ours and COPY")
    parser.add_argument("--old-rows", type=int, default=20_000, help="rows for the old approach (slow)")
    parser.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL to create the databases in")
    parser.add_argument("--workdir", type=Path, help="where the files go (default: a temporary folder)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run ours under cProfile at the smallest size (not measured); print the top",
    )
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(CASES[args.case](args.url, args.file)))
        return

    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        folder = Path(work)
        results: dict[str, dict[str, Any]] = {}
        old_file = folder / f"Group_Attributes_Roles_old_{args.old_rows}.csv"
        generate(old_file, args.old_rows)
        for case in ("old", "old_to_sql"):
            url = _fresh_database(args.admin_url)
            try:
                results[case] = _run_case(case, url, old_file, None)
            finally:
                _drop_database(args.admin_url, url)
        old_file.unlink()
        for size in sizes:
            file = folder / f"Group_Attributes_Roles_20250612_{size:07d}.csv"
            generate(file, size)
            mib = file.stat().st_size / 2**20
            url = _fresh_database(args.admin_url)
            clean = folder / f"clean_{size}.copy"
            try:
                results[f"ours {size}"] = _run_case("ours", url, file, None) | {"file_mib": mib}
                _export_clean(url, clean)
            finally:
                _drop_database(args.admin_url, url)
            if args.profile and size == min(sizes):  # apart from the measured run: cProfile slows it down
                url = _fresh_database(args.admin_url)
                try:
                    _run_case("ours", url, file, folder / "ours.prof")
                finally:
                    _drop_database(args.admin_url, url)
                import pstats

                pstats.Stats(str(folder / "ours.prof")).sort_stats("tottime").print_stats(25)
            file.unlink()
            url = _fresh_database(args.admin_url)
            try:
                results[f"copy {size}"] = _run_case("copy", url, clean, None) | {
                    "file_mib": clean.stat().st_size / 2**20
                }
            finally:
                _drop_database(args.admin_url, url)
            clean.unlink()

    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine is shared: see the README)")
    print(
        f"{'case':<14} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'client CPU s':>13} {'peak RSS MiB':>13} "
        f"{'file MiB':>9}"
    )
    for name, figures in results.items():
        print(
            f"{name:<14} {figures['rows']:>10,} {figures['seconds']:>9.2f} {figures['rows_per_s']:>10,.0f} "
            f"{figures['cpu_seconds']:>13.2f} {figures['peak_rss_mib']:>13.1f} {figures.get('file_mib', 0):>9.0f}"
        )
    largest, smallest = max(sizes), min(sizes)
    ours = results[f"ours {largest}"]["rows_per_s"]
    print(f"\nours / old approach, ORM (rows/s): {ours / results['old']['rows_per_s']:.1f}x   (target >= 10x)")
    print(f"ours / old_to_sql (rows/s):         {ours / results['old_to_sql']['rows_per_s']:.1f}x")
    print(
        f"ours / COPY limit (rows/s):         {ours / results[f'copy {largest}']['rows_per_s']:.2f}x  (target >= 0.3x)"
    )
    growth = results[f"ours {largest}"]["peak_rss_mib"] / results[f"ours {smallest}"]["peak_rss_mib"]
    print(f"ours peak RSS {largest:,} rows / {smallest:,} rows: {growth:.2f}x  (flat: ~1x)")


if __name__ == "__main__":
    main()
