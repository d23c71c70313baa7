"""`m365 run`: the main job, once per tenant, on the current Dagster instance, summarized in a few lines.

Each tenant is its own run (a partition of job `main`), so one tenant failing does not stop the others. The runs
carry the repository label the UI lists a job's runs by, and the pid of this process: a run whose process died
(killed, out of memory) is marked failed by the next `m365 run` so that no queue waits on it for ever. Every
run's full event log, tracebacks included, is written to a log file whose path a failure prints.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from m365_pipeline.defs.jobs import MAIN_JOB_NAME
from m365_pipeline.liveness import process_alive
from m365_pipeline.settings import Settings, load_settings
from m365_pipeline.sources import configured_tenants

# The UI lists a job's runs by this tag: "<repository>@<code location>" (workspace.yaml names the location).
REPOSITORY_LABEL_TAG = ".dagster/repository"
REPOSITORY_LABEL = "__repository__@m365_pipeline"
PID_TAG = "m365/pid"
HOST_TAG = "m365/host"
LOG_LEVEL = "INFO"


@dataclass
class TenantRun:
    tenant: str
    run_id: str
    success: bool
    log_file: Path
    outputs: list[tuple[str, int | None, str | None]] = field(default_factory=list)  # key, rows, where
    failed_checks: list[str] = field(default_factory=list)
    failure_reason: str | None = None
    # (asset, check) -> "passed", "severity" and the check's metadata values
    check_evaluations: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)


@dataclass
class MainRunOutcome:
    runs: list[TenantRun]
    dead_runs_marked_failed: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(run.success for run in self.runs)

    @property
    def run_id(self) -> str:
        return ", ".join(run.run_id for run in self.runs)

    @property
    def outputs(self) -> list[tuple[str, int | None, str | None]]:
        return [output for run in self.runs for output in run.outputs]

    @property
    def failed_checks(self) -> list[str]:
        return [check for run in self.runs for check in run.failed_checks]

    @property
    def failure_reason(self) -> str | None:
        reasons = [f"tenant {run.tenant}: {run.failure_reason}" for run in self.runs if not run.success]
        return "; ".join(reasons) or None

    def summary_lines(self) -> list[str]:
        lines = [f"marked failed: run {run_id} (its process had died)" for run_id in self.dead_runs_marked_failed]
        for run in self.runs:
            lines.append(f"tenant {run.tenant}: run {run.run_id} {'success' if run.success else 'FAILED'}")
            for key, rows, where in run.outputs:
                shown = f" -> {where}" if where else ""
                lines.append(f"  {key}: {rows if rows is not None else '?'} rows{shown}")
            lines.extend(f"  check failed: {name}" for name in run.failed_checks)
        return lines


def run_main_job(
    instance: dg.DagsterInstance | None = None,
    settings: Settings | None = None,
    tenants: list[str] | None = None,
) -> MainRunOutcome:
    """Run job `main` for each tenant (default: every configured one), one after another."""
    from m365_pipeline.definitions import build_definitions

    settings = settings or load_settings()
    if instance is None:
        instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = build_definitions(settings).resolve_job_def(MAIN_JOB_NAME)
    outcome = MainRunOutcome(runs=[], dead_runs_marked_failed=fail_dead_runs(instance))
    for tenant in tenants or configured_tenants(settings):
        result = job.execute_in_process(
            instance=instance,
            partition_key=tenant,
            raise_on_error=False,
            tags={REPOSITORY_LABEL_TAG: REPOSITORY_LABEL, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()},
            run_config={"loggers": {"progress": {"config": {"log_level": LOG_LEVEL}}}},
        )
        outcome.runs.append(_tenant_run(tenant, result, write_run_log(instance, result.run_id, settings.logs_dir)))
    return outcome


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs of this host still STARTING/STARTED whose `m365 run` process is gone."""
    records = instance.get_run_records(
        dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
            tags={HOST_TAG: socket.gethostname()},
        )
    )
    marked = []
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(PID_TAG, "")
        if pid.isdigit() and not process_alive(int(pid)):
            instance.report_run_failed(run, f"the process that ran it (pid {pid}) died before it ended")
            marked.append(run.run_id)
    return marked


def write_run_log(instance: dg.DagsterInstance, run_id: str, logs_dir: Path) -> Path:
    """Every event of the run, one per line, with the whole error of a failure: the file a failure points at."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    path = logs_dir / f"run-{run_id}.log"
    with path.open("w", encoding="utf-8") as log:
        for entry in instance.all_logs(run_id):
            moment = datetime.fromtimestamp(entry.timestamp, UTC).isoformat(timespec="milliseconds")
            level = logging.getLevelName(entry.level) if isinstance(entry.level, int) else entry.level
            event = entry.dagster_event
            message = entry.user_message or (event.event_type_value if event is not None else "")
            log.write(f"{moment} {level} {entry.step_key or '-'} {message}\n")
            error = event.step_failure_data.error if event is not None and event.is_step_failure else None
            if error is not None:
                log.write(error.to_string() + "\n")
    return path


def _tenant_run(tenant: str, result: dg.ExecuteInProcessResult, log_file: Path) -> TenantRun:
    run = TenantRun(tenant=tenant, run_id=result.run_id, success=result.success, log_file=log_file)
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        metadata = materialization.metadata
        rows = metadata.get("dagster/row_count")
        where = metadata.get("path") or metadata.get("dagster/uri") or metadata.get("database")
        run.outputs.append(
            (
                materialization.asset_key.to_user_string(),
                int(str(rows.value)) if rows is not None else None,
                str(where.value) if where is not None else None,
            )
        )
    for evaluation in result.get_asset_check_evaluations():
        run.check_evaluations[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = {
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            **{name: value.value for name, value in evaluation.metadata.items()},
        }
        if not evaluation.passed:
            run.failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    if not result.success:
        failure = next((event for event in result.all_events if event.is_step_failure), None)
        run.failure_reason = _failure_reason(failure) if failure else "the run did not succeed"
    return run


# what to look at when a step fails with one of these errors
SETTING_HINTS = {
    "GraphUnreachable": "check M365_GRAPH_BASE_URL / M365_AUTHORITY_HOST (or M365_EMULATOR_URL) and the network",
    "GraphAuthError": "check M365_TENANT_ID, M365_CLIENT_ID and the app's secret or certificate",
    "StaleExtractError": "a newer extract was published meanwhile; nothing to do",
}


def _failure_reason(failure: dg.DagsterEvent) -> str:
    """The failed step, the error that failed it and, where known, what to look at, on one line."""
    error = failure.step_failure_data.error
    cause = error.cause if error and error.cls_name == "DagsterExecutionStepExecutionError" else error
    detail = cause.message.split(f"{cause.cls_name}: ", 1)[-1] if cause else failure.message or "failed"
    hint = SETTING_HINTS.get((cause.cls_name if cause else None) or "")
    reason = " ".join(f"{failure.step_key}: {detail}".split())[:500]
    return f"{reason} [{hint}]" if hint else reason
