"""The `m365` command as a newcomer meets it: a real process, exit codes, one-line reasons."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from m365_pipeline_tests.emulator.test_serve_command import serving
from m365_pipeline_tests.warehouse.test_migrate import HEAD

PROJECT_ROOT = Path(__file__).resolve().parents[1]
M365 = str(Path(sys.executable).parent / "m365")


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("M365_", "DAGSTER_"))}
    environ.update(env)
    return subprocess.run([M365, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=240)


def test_m365_run_from_a_project_root_writes_the_report_and_records_the_run(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")

    completed = _run(["run"], tmp_path, M365_EMULATOR_USERS="150")

    assert completed.returncode == 0, completed.stderr[-3000:]
    (report,) = (tmp_path / "data" / "reports").glob("*/EntraIDManagement/AllUsers_*.csv")
    assert str(report) in completed.stdout
    with report.open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 150
    assert (tmp_path / "history" / "runs.db").is_file(), "the run was not kept in the instance under DAGSTER_HOME"


def test_a_bad_setting_exits_2_with_a_one_line_reason_naming_it(tmp_path: Path) -> None:
    completed = _run(["run"], tmp_path, M365_TENANT_ID="t", M365_CLIENT_SECRET="very-secret-value")

    assert completed.returncode == 2
    assert "M365_CLIENT_ID" in completed.stderr
    assert "very-secret-value" not in completed.stderr + completed.stdout


def test_settings_masks_secrets_and_passwords(tmp_path: Path) -> None:
    completed = _run(
        ["settings"],
        tmp_path,
        M365_TENANT_ID="00000000-0000-0000-0000-00000000000a",
        M365_CLIENT_ID="c",
        M365_CLIENT_SECRET="very-secret-value",
        M365_DATABASE_URL="postgresql://user:db-password@db/m365",
    )

    assert completed.returncode == 0, completed.stderr
    assert "credentials.client_id = c" in completed.stdout
    assert "very-secret-value" not in completed.stdout
    assert "db-password" not in completed.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_pipeline_extracts_from_an_emulator_served_on_loopback(tmp_path: Path) -> None:
    port = _free_port()
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("M365_", "DAGSTER_"))}
    server = subprocess.Popen(
        [M365, "emulator", "serve", "--port", str(port), "--users", "130"],
        env={**environ, "M365_EMULATOR_SEED": "11"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_port(port, server)
        completed = _run(["run"], tmp_path, M365_EMULATOR_URL=f"http://127.0.0.1:{port}", M365_EMULATOR_SEED="11")
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert completed.returncode == 0, completed.stderr[-3000:]
    (report,) = (tmp_path / "data" / "reports").glob("*/EntraIDManagement/AllUsers_*.csv")
    with report.open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 130


def _wait_for_port(port: int, server: subprocess.Popen[str]) -> None:
    for _ in range(200):
        if server.poll() is not None:
            raise AssertionError(f"the emulator exited: {server.stderr.read() if server.stderr else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"the emulator did not listen on port {port}")


def test_a_failed_run_exits_1_with_graphs_reason_and_the_next_run_recovers(tmp_path: Path) -> None:
    failing = _run(["run"], tmp_path, M365_EMULATOR_USERS="90", M365_EMULATOR_FAULTS="503=1", M365_MAX_RETRIES="0")

    assert failing.returncode == 1
    reason = failing.stderr.strip().splitlines()[-1]
    assert reason.startswith("m365 run failed: tenant ")
    assert "503" in reason and "request-id" in reason
    log_file = Path(reason.rsplit("(all events: ", 1)[1].rstrip(")"))
    log = log_file.read_text(encoding="utf-8")
    assert "GraphRetriesExhausted" in log and "Stack Trace:" in log, "the log file lacks the failure's traceback"
    assert len(failing.stderr.splitlines()) < 10, "Dagster's tracebacks reached the terminal"
    assert not list((tmp_path / "data" / "raw").rglob("*.parquet")), "a failed extraction left a file behind"

    recovered = _run(["run"], tmp_path, M365_EMULATOR_USERS="90")

    assert recovered.returncode == 0, recovered.stderr[-3000:]
    (report,) = (tmp_path / "data" / "reports").glob("*/EntraIDManagement/AllUsers_*.csv")
    with report.open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 90


def test_the_emulator_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    completed = _run(["emulator", "serve", "--host", "0.0.0.0"], tmp_path)

    assert completed.returncode == 2
    assert "0.0.0.0 is not a loopback address" in completed.stderr


def test_warehouse_upgrade_migrates_and_an_unreachable_database_fails_in_one_line(tmp_path: Path) -> None:
    migrated = _run(["warehouse", "upgrade"], tmp_path, M365_DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}")

    assert migrated.returncode == 0, migrated.stderr
    assert f"is at revision {HEAD}" in migrated.stdout

    unreachable = _run(["warehouse", "upgrade"], tmp_path, M365_DATABASE_URL="postgresql://nobody:pw1@127.0.0.1:1/x")

    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("m365: OperationalError: ") and unreachable.stderr.count("\n") == 1
    assert "pw1" not in unreachable.stderr


def test_tenant_mode_runs_end_to_end_against_the_emulator_served_over_https(tmp_path: Path) -> None:
    """msal, the certificate check, two tenants of one app: the production path, over a real socket."""
    with serving(["--tls"], tmp_path / "emulator", until="SSL_CERT_FILE") as printed:
        completed = _run(["run"], tmp_path, M365_DATA_DIR=str(tmp_path / "data"), **printed)

    assert completed.returncode == 0, completed.stderr[-3000:]
    reports = sorted((tmp_path / "data" / "reports").glob("*/EntraIDManagement/AllUsers_*.csv"))
    assert sorted(report.parts[-3] for report in reports) == sorted(printed["M365_TENANT_ID"].split(","))
    for report in reports:
        with report.open(encoding="utf-8-sig", newline="") as handle:
            assert len(list(csv.DictReader(handle))) == 25


def test_an_unreachable_emulator_fails_in_seconds_naming_the_host_and_what_to_check(tmp_path: Path) -> None:
    closed_port = _free_port()

    completed = _run(["run"], tmp_path, M365_EMULATOR_URL=f"http://127.0.0.1:{closed_port}", M365_EMULATOR_SEED="11")

    assert completed.returncode == 1
    (reason,) = [line for line in completed.stderr.splitlines() if line.startswith("m365 run failed: ")]
    assert f"127.0.0.1:{closed_port}" in reason and "M365_EMULATOR_URL" in reason and "raw_directory" in reason
    assert "gave up after 2 attempts" in reason, "a refused connection was retried like a throttled request"
