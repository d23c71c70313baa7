"""`m365 tag ...` and `m365 snapshot ...` through click's runner, against a real store (a folder, and S3 on moto's
server) and a real SQLite warehouse."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from m365_pipeline.cli import main
from m365_pipeline.object_store import s3_filesystem
from m365_pipeline_tests.warehouse.test_migrate import HEAD

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.b64encode(bytes(32)).decode()


class System:
    """A data folder with a migrated SQLite warehouse and a report, and the environment that points at it."""

    def __init__(self, root: Path, **environ: str) -> None:
        self.data = root / "data"
        self.environ = {"M365_DATA_DIR": str(self.data), "M365_SNAPSHOT_KEY": KEY, **environ}
        assert self.m365("warehouse", "upgrade").exit_code == 0
        self.report = self.data / "reports" / "tenant" / "EntraIDManagement" / "AllUsers_20261201_060000.csv"
        self.report.parent.mkdir(parents=True)
        self.report.write_bytes('\ufeff"UserPrincipalName"\r\n"a@contoso.com"\r\n'.encode())

    def m365(self, *arguments: str, **environ: str) -> Result:
        return CliRunner().invoke(main, list(arguments), env={**self.environ, **environ}, catch_exceptions=False)


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.chdir(tmp_path)  # the config component reads dagster.yaml from the working folder
    (tmp_path / "dagster.yaml").write_text("run_queue:\n  max_concurrent_runs: 1\n")
    return System(tmp_path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_without_a_key_a_snapshot_is_a_setting_error(system: System) -> None:
    result = system.m365("snapshot", "create", M365_SNAPSHOT_KEY="")
    assert result.exit_code == 2
    assert "no snapshot key: set M365_SNAPSHOT_KEY" in result.stderr


def test_snapshot_tag_restore_and_verify(system: System, tmp_path: Path) -> None:
    assert system.m365("snapshot", "list").exit_code == 1  # no repository yet
    created = system.m365("snapshot", "create")
    assert created.exit_code == 0, created.output
    assert "(full)" in created.stdout
    assert "snapshot" in created.stderr  # the progress bar (a label alone when stderr is not a terminal)
    assert "warehouse:" in created.stdout

    tagged = system.m365("tag", "create", "--type", "release", "--version", "v1.2.3", "--date", "2026-12-01")
    assert tagged.exit_code == 0, tagged.output
    assert tagged.stdout.startswith("dev-release-v1.2.3-20261201 -> snapshot")

    shown = system.m365("tag", "show", "dev-release-v1.2.3-20261201")
    assert shown.exit_code == 0
    assert f"schema_version: {HEAD}" in shown.stdout
    assert f"{_sha256(system.report)}  reports/tenant/EntraIDManagement/AllUsers_20261201_060000.csv" in shown.stdout

    system.report.write_bytes(system.report.read_bytes() + b'"b@contoso.com"\r\n')
    assert system.m365("snapshot", "create", "--incremental", "--tag", "dev-release-v1.3.0-20261202").exit_code == 0
    listed = system.m365("snapshot", "list")
    assert [line.split()[1] for line in listed.stdout.splitlines()] == ["full", "incremental"]
    assert "tags: dev-release-v1.3.0-20261202" in listed.stdout

    diff = system.m365("tag", "diff", "dev-release-v1.2.3-20261201", "dev-release-v1.3.0-20261202")
    assert diff.exit_code == 0, diff.output
    assert "changed  reports/tenant/EntraIDManagement/AllUsers_20261201_060000.csv" in diff.stdout
    assert f"schema: {HEAD} (unchanged)" in diff.stdout

    target = tmp_path / "restored"
    restored = system.m365("snapshot", "restore", "dev-release-v1.2.3-20261201", "--target", str(target))
    assert restored.exit_code == 0, restored.output
    old_report = target / "reports" / system.report.relative_to(system.data / "reports")
    assert old_report.read_bytes() == system.report.read_bytes()[: -len(b'"b@contoso.com"\r\n')]
    with sqlite3.connect(target / "warehouse.sqlite") as copy:
        assert copy.execute("SELECT version_num FROM m365_alembic_version").fetchone()[0] == HEAD
    refused = system.m365("snapshot", "restore", "latest", "--target", str(target), "--component", "reports")
    assert refused.exit_code == 1
    assert "reports: 1 file(s) exist already" in refused.stderr
    assert old_report.read_bytes() != system.report.read_bytes()  # nothing was written
    forced = system.m365("snapshot", "restore", "latest", "--target", str(target), "--component", "reports", "--force")
    assert forced.exit_code == 0
    assert old_report.read_bytes() == system.report.read_bytes()

    verified = system.m365("snapshot", "verify")
    assert verified.exit_code == 0, verified.output
    assert "2 snapshot(s)" in verified.stdout and "no problem" in verified.stdout
    effective = (target / "config" / "settings.txt").read_text()
    assert "snapshots.key = Secret('********')" in effective
    assert KEY not in effective  # the configuration component never holds a secret
    assert (target / "config" / "dagster.yaml").read_text() == "run_queue:\n  max_concurrent_runs: 1\n"


def test_tag_list_filters_and_delete(system: System) -> None:
    assert system.m365("snapshot", "create", "--component", "config").exit_code == 0
    for name in ("dev-weekly-v0.1.0-20261122", "dev-weekly-v0.1.0-20261129", "prod-release-v1.0.0-20261125"):
        assert system.m365("tag", "create", name).exit_code == 0
    assert system.m365("tag", "create", "dev-weekly-v0.1.0-20261122").exit_code == 1  # exists

    def names(*filters: str) -> list[str]:
        return [line.split()[0] for line in system.m365("tag", "list", *filters).stdout.splitlines()]

    assert names() == ["dev-weekly-v0.1.0-20261122", "prod-release-v1.0.0-20261125", "dev-weekly-v0.1.0-20261129"]
    assert names("--env", "prod") == ["prod-release-v1.0.0-20261125"]
    assert names("--type", "weekly", "--since", "2026-11-23") == ["dev-weekly-v0.1.0-20261129"]
    assert names("--until", "20261125", "--version", "v0.1.0") == ["dev-weekly-v0.1.0-20261122"]
    assert system.m365("tag", "delete", "dev-weekly-v0.1.0-20261122").exit_code == 0
    missing = system.m365("tag", "delete", "dev-weekly-v0.1.0-20261122")
    assert missing.exit_code == 1
    assert "no tag dev-weekly-v0.1.0-20261122" in missing.stderr
    invalid = system.m365("tag", "show", "dev-nightly-1.0-2026")
    assert invalid.exit_code == 2
    assert "type: 'nightly' is not one of" in invalid.stderr


def test_verify_names_a_flipped_bit_and_a_wrong_key(system: System) -> None:
    assert system.m365("snapshot", "create").exit_code == 0
    rotating = system.m365("snapshot", "verify", "--rotate", "7")
    assert rotating.exit_code == 0, rotating.output
    part = dt.date.today().toordinal() % 7
    assert f"today's slice {part}/7" in rotating.stderr and "verify" in rotating.stderr.splitlines()[-1]
    assert system.m365("snapshot", "verify", "--rotate", "7", "--subset", "0/7").exit_code == 2
    wrong = system.m365("snapshot", "verify", M365_SNAPSHOT_KEY=OTHER_KEY)
    assert wrong.exit_code == 2
    assert "wrong repository key" in wrong.stderr
    pack = next(p for p in (system.data / "snapshots" / "packs").rglob("*") if p.is_file())
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0x10
    pack.write_bytes(bytes(data))
    broken = system.m365("snapshot", "verify")
    assert broken.exit_code == 1
    assert f"pack {pack.name}" in broken.stdout
    assert "m365 snapshot verify failed: " in broken.stderr
    assert system.m365("snapshot", "verify", "--subset", "3/2").exit_code == 2


def test_prune_keeps_tagged_snapshots(system: System) -> None:
    for _ in range(3):
        assert system.m365("snapshot", "create", "--component", "config").exit_code == 0
    first = system.m365("snapshot", "list").stdout.splitlines()[0].split()[0]
    assert system.m365("tag", "create", "dev-manual-v0.1.0-20261201", "--snapshot", first).exit_code == 0
    pruned = system.m365("snapshot", "prune", M365_SNAPSHOT_KEEP_DAILY="1", M365_SNAPSHOT_KEEP_WEEKLY="0")
    assert pruned.exit_code == 0, pruned.output
    assert f"keep   {first}  (tagged)" in pruned.stdout
    assert "prune" in pruned.stderr  # the progress bar's label
    assert len(system.m365("snapshot", "list").stdout.splitlines()) == 2  # the tagged one and the newest


def test_a_store_on_s3(tmp_path: Path, s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    system = System(
        tmp_path,
        M365_SNAPSHOT_STORE=f"s3://{s3_bucket}/hot",
        M365_RAW_STORE=f"s3://{s3_bucket}/raw",
        M365_S3_ENDPOINT_URL=s3_endpoint,
    )
    s3 = s3_filesystem(s3_endpoint)
    with s3.open_output_stream(f"{s3_bucket}/raw/users/tenant=t1/x.parquet") as extract:
        extract.write(b"PAR1 an extract PAR1")
    created = system.m365("snapshot", "create")
    assert created.exit_code == 0, created.output
    assert "  raw: 20 B" in created.stdout
    assert system.m365("tag", "create", "test-manual-v0.0.1-20261201").exit_code == 0
    verified = system.m365("snapshot", "verify")
    assert verified.exit_code == 0, verified.output
    assert "1 snapshot(s)" in verified.stdout
    target = tmp_path / "restored"
    assert system.m365("snapshot", "restore", "test-manual-v0.0.1-20261201", "--target", str(target)).exit_code == 0
    assert (target / "reports" / system.report.relative_to(system.data / "reports")).read_bytes() == (
        system.report.read_bytes()
    )
    assert (target / "raw" / "users" / "tenant=t1" / "x.parquet").read_bytes() == b"PAR1 an extract PAR1"


def _add_tenant(system: System, tenant_id: str) -> None:
    with sqlite3.connect(system.data / "warehouse.db") as warehouse:
        warehouse.execute(
            "INSERT INTO tenants (tenant_id, display_name, default_domain, first_seen_at, last_seen_at) "
            "VALUES (?, 'Contoso', 'contoso.com', '2026-12-01 00:00:00', '2026-12-01 00:00:00')",
            (tenant_id,),
        )


def _tenants(database: Path) -> list[str]:
    with sqlite3.connect(database) as warehouse:
        return [row[0] for row in warehouse.execute("SELECT tenant_id FROM tenants ORDER BY tenant_id")]


def test_tag_diff_shows_rows_by_primary_key(system: System) -> None:
    _add_tenant(system, "t1")
    assert system.m365("snapshot", "create", "--tag", "dev-manual-v0.1.0-20261201").exit_code == 0
    _add_tenant(system, "t2")
    assert system.m365("snapshot", "create", "--incremental", "--tag", "dev-manual-v0.1.1-20261202").exit_code == 0
    diff = system.m365("tag", "diff", "dev-manual-v0.1.0-20261201", "dev-manual-v0.1.1-20261202")
    assert diff.exit_code == 0, diff.output
    assert "table tenants: 1 -> 2 rows, +1 -0 ~0" in diff.stdout
    assert "  added    tenants tenant_id=t2" in diff.stdout


def test_live_restore_and_a_single_table(system: System, tmp_path: Path) -> None:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("")
    _add_tenant(system, "t1")
    original_report = system.report.read_bytes()
    assert system.m365("snapshot", "create").exit_code == 0
    _add_tenant(system, "t2")
    system.report.write_bytes(b"changed")

    refused = system.m365("snapshot", "restore", "latest", "--live", DAGSTER_HOME=str(dagster_home))
    assert refused.exit_code == 1
    assert "use force" in refused.stderr
    assert _tenants(system.data / "warehouse.db") == ["t1", "t2"]  # nothing was written

    single = system.m365(
        "snapshot", "restore", "latest", "--live", "--table", "tenants", "--force", DAGSTER_HOME=str(dagster_home)
    )
    assert single.exit_code == 0, single.output
    assert _tenants(system.data / "warehouse.db") == ["t1"]
    assert system.report.read_bytes() == b"changed"  # only the table was restored

    whole = system.m365("snapshot", "restore", "latest", "--live", "--force", DAGSTER_HOME=str(dagster_home))
    assert whole.exit_code == 0, whole.output
    assert system.report.read_bytes() == original_report
    assert "stopped: paused no schedule or sensor; no other run in progress" in whole.stderr
    assert (system.data / "restored-config" / "settings.txt").is_file()
    both = system.m365("snapshot", "restore", "latest", "--live", "--target", str(tmp_path / "x"))
    assert both.exit_code == 2
    assert "give exactly one" in both.stderr


def test_tier_thaw_and_the_operations_log(system: System) -> None:
    assert system.m365("snapshot", "create").exit_code == 0
    assert system.m365("tag", "create", "dev-manual-v0.1.0-20261201").exit_code == 0
    snapshot_id = system.m365("snapshot", "list").stdout.split()[0]
    assert system.m365("snapshot", "tier").stdout.startswith("0 snapshot(s) moved")  # younger than 30 days
    moved = system.m365("snapshot", "tier", "--older-than", "0")
    assert moved.exit_code == 0, moved.output
    assert f"moved  {snapshot_id}" in moved.stdout
    assert system.m365("snapshot", "list").stdout == ""
    assert system.m365("snapshot", "list", "--cold").stdout.startswith(f"{snapshot_id}  cold archive in ")
    assert any((system.data / "cold").iterdir())
    thawed = system.m365("snapshot", "thaw", snapshot_id)
    assert thawed.exit_code == 0, thawed.output
    assert system.m365("snapshot", "list").stdout.split()[0] == snapshot_id
    assert system.m365("snapshot", "thaw", "0000").exit_code == 1

    log = system.m365("snapshot", "log")
    assert log.exit_code == 0
    done = [line.split("  ")[1].strip() for line in log.stdout.splitlines()]
    assert done == ["snapshot", "tag create", "tier move", "tier move", "tier thaw"]
    assert all("  ok  " in line for line in log.stdout.splitlines())
    assert system.m365("snapshot", "log", "--what", "tier thaw").stdout.count("\n") == 1


@pytest.fixture
def second_postgres_url(postgres_url: str) -> Iterator[str]:
    """Another fresh database beside ``postgres_url`` (a restore target), dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    from m365_pipeline_tests.conftest import POSTGRES_ADMIN_URL

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"m365_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_postgresql_warehouse_restores_into_a_fresh_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str, second_postgres_url: str
) -> None:
    import sqlalchemy as sa

    monkeypatch.chdir(tmp_path)
    system = System(tmp_path, M365_DATABASE_URL=postgres_url)
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO tenants (tenant_id, display_name, default_domain, first_seen_at, last_seen_at) "
                "VALUES ('t1', 'Contoso 社', 'contoso.com', now(), now())"
            )
        )
    created = system.m365("snapshot", "create", "--component", "warehouse")
    assert created.exit_code == 0, created.output
    restored = system.m365(
        "snapshot", "restore", "latest", "--target", str(tmp_path / "r"), "--warehouse-url", second_postgres_url
    )
    assert restored.exit_code == 0, restored.output
    query = sa.text("SELECT tenant_id, display_name, first_seen_at FROM tenants ORDER BY tenant_id")
    target = sa.create_engine(second_postgres_url)
    try:
        with engine.connect() as source, target.connect() as copy:
            assert copy.execute(query).all() == source.execute(query).all()
    finally:
        engine.dispose()
        target.dispose()


def test_an_expired_tag_no_longer_pins_its_snapshot(system: System) -> None:
    for _ in range(2):
        assert system.m365("snapshot", "create", "--component", "config").exit_code == 0
    first = system.m365("snapshot", "list").stdout.splitlines()[0].split()[0]
    expired = ("tag", "create", "dev-manual-v0.1.0-20200101", "--snapshot", first, "--keep-until", "2020-01-31")
    assert system.m365(*expired).exit_code == 0
    pruned = system.m365("snapshot", "prune", M365_SNAPSHOT_KEEP_DAILY="1", M365_SNAPSHOT_KEEP_WEEKLY="0")
    assert pruned.exit_code == 0, pruned.output
    assert f"forget {first}" in pruned.stdout
