"""Fault trials as an operator meets them: `m365 run` killed at random moments, and two runs at once.

After every kill the warehouse is one consistent extract (every licence's user is loaded, every SKU's consumed
units equal its holders), the next `m365 run` marks the dead run failed (so no queue waits on it) and succeeds,
and no temporary file is left. Two concurrent runs that see different tenants (sizes) never leave a mix.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import httpx
import sqlalchemy as sa

from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.consistency import consumed_unit_mismatches, licenses_without_user

PROJECT_ROOT = Path(__file__).resolve().parents[2]
M365 = str(Path(sys.executable).parent / "m365")
# 5,000 users: one page of the authentication-methods registration report, which the client paces at the Entra
# reports' published 5 requests per 10 s (at 20,000 users a run sleeps ~30 s for it, and the test ran past its
# timeout); M365_TEST_KILL_USERS=20000 for the larger tenant
KILL_USERS = int(os.environ.get("M365_TEST_KILL_USERS", "5000"))
KILL_MOMENTS = int(os.environ.get("M365_TEST_KILL_MOMENTS", "10"))
SEED = 11


def _environment(project: Path, **settings: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("M365_", "DAGSTER_"))}
    environ.update({"DAGSTER_HOME": str(project), "M365_DATA_DIR": str(project / "data"), **settings})
    return environ


def _start_run(project: Path, environ: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [M365, "run"],
        cwd=project,
        env=dict(environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _project(tmp_path: Path) -> Path:
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    return tmp_path


def _assert_one_consistent_extract(data_dir: Path, tenant_id: str, sizes: set[int]) -> int:
    """The tenant's tables hold one whole extract (of one of ``sizes`` users, or none yet); returns its size."""
    database = data_dir / "warehouse.db"
    if not database.exists():
        return 0
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("users"):
                return 0
            users = connection.execute(
                sa.select(sa.func.count()).select_from(schema.users).where(schema.users.c.tenant_id == tenant_id)
            ).scalar_one()
            assert users in sizes | {0}, f"{users} users: not one extract"
            assert licenses_without_user(connection, tenant_id) == []
            assert consumed_unit_mismatches(connection, tenant_id) == []
            return int(users)
    finally:
        engine.dispose()


def _leftovers(data_dir: Path) -> list[Path]:
    patterns = ("*.partial", "*.tmp", ".staging/*")
    return [path for pattern in patterns for path in data_dir.rglob(pattern)]


def _unfinished_runs(project: Path) -> list[str]:
    with dg.DagsterInstance.from_config(str(project)) as instance:
        records = instance.get_run_records(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED])
        )
        return [record.dagster_run.run_id for record in records]


def test_sigkill_at_random_moments_leaves_one_consistent_extract_and_the_next_run_recovers(tmp_path: Path) -> None:
    project = _project(tmp_path)
    data_dir = project / "data"
    tenant_id = generate_tenant(SEED, 1).tenant_id
    environ = _environment(project, M365_EMULATOR_SEED=str(SEED), M365_EMULATOR_USERS=str(KILL_USERS))
    started = time.monotonic()
    first = _start_run(project, environ)
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    full_run = time.monotonic() - started
    moments = sorted(random.Random(KILL_USERS).uniform(0.5, full_run) for _ in range(KILL_MOMENTS))

    for moment in moments:
        run = _start_run(project, environ)
        time.sleep(moment)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
        _assert_one_consistent_extract(data_dir, tenant_id, {KILL_USERS})

    recovery = _start_run(project, environ)
    _, stderr = recovery.communicate(timeout=600)

    assert recovery.returncode == 0, stderr[-3000:]
    assert _assert_one_consistent_extract(data_dir, tenant_id, {KILL_USERS}) == KILL_USERS
    assert _unfinished_runs(project) == [], "a killed run still blocks the queue"
    assert _leftovers(data_dir) == []


def test_two_concurrent_runs_seeing_different_tenants_never_mix(tmp_path: Path) -> None:
    project = _project(tmp_path)
    data_dir = project / "data"
    tenant_id = generate_tenant(SEED, 1).tenant_id
    sizes = {3000, 1800}
    # the instance exists before the two runs start, as on any machine that has run once (Dagster's SQLite
    # storage races with itself when two processes create it at the same moment)
    with dg.DagsterInstance.from_config(str(project)):
        pass
    runs = [
        _start_run(project, _environment(project, M365_EMULATOR_SEED=str(SEED), M365_EMULATOR_USERS=str(size)))
        for size in sorted(sizes)
    ]
    outcomes = [run.communicate(timeout=600) for run in runs]

    for run, (_, stderr) in zip(runs, outcomes, strict=True):
        assert run.returncode == 0 or "older than its published extract" in stderr, stderr[-3000:]
    size = _assert_one_consistent_extract(data_dir, tenant_id, sizes)
    assert size in sizes
    reports = sorted((data_dir / "reports" / tenant_id / "EntraIDManagement").glob("AllUsers_*.csv"))
    # each run writes the report of the extract the warehouse holds when its report step runs, unless the other
    # run wrote that one already; never one file for two reports
    assert 1 <= len(reports) <= sum(run.returncode == 0 for run in runs)
    for report in reports:
        assert len(report.read_text(encoding="utf-8-sig").splitlines()) - 1 in sizes
    assert _leftovers(data_dir) == []


def test_runs_of_m365_run_are_listed_on_job_mains_page_in_the_ui(tmp_path: Path) -> None:
    project = _project(tmp_path)
    environ = _environment(project, M365_EMULATOR_USERS="150")
    completed = subprocess.run([M365, "run"], cwd=project, env=environ, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    webserver = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        runs = _job_page_runs(f"http://127.0.0.1:{port}/graphql", deadline=time.monotonic() + 120)
    finally:
        os.killpg(webserver.pid, signal.SIGTERM)
        webserver.wait(timeout=30)

    assert [run["status"] for run in runs] == ["SUCCESS"]


JOB_PAGE_QUERY = """
{ pipelineOrError(params: {pipelineName: "main", repositoryName: "__repository__",
                           repositoryLocationName: "m365_pipeline"}) {
    __typename ... on Pipeline { runs { runId status } } } }
"""


def _job_page_runs(url: str, deadline: float) -> list[dict[str, str]]:
    """The runs the UI shows on job `main`'s page (its own GraphQL query), once the webserver answers."""
    while True:
        try:
            answer = httpx.post(url, json={"query": JOB_PAGE_QUERY}, timeout=10).json()
            job = answer["data"]["pipelineOrError"]
            if job["__typename"] == "Pipeline":
                runs: list[dict[str, str]] = job["runs"]
                return runs
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the webserver did not show job main in time")
        time.sleep(1)
