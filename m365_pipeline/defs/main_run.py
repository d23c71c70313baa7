"""Run the main job in-process on the current Dagster instance and summarize what it produced."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import dagster as dg

from m365_pipeline.defs.jobs import MAIN_JOB_NAME


@dataclass
class MainRunOutcome:
    success: bool
    run_id: str
    outputs: list[tuple[str, int | None, str | None]] = field(default_factory=list)  # key, rows, path
    failed_checks: list[str] = field(default_factory=list)
    failure_reason: str | None = None

    def summary_lines(self) -> list[str]:
        lines = [f"run {self.run_id}: {'success' if self.success else 'FAILED'}"]
        for key, rows, path in self.outputs:
            where = f" -> {path}" if path else ""
            lines.append(f"  {key}: {rows if rows is not None else '?'} rows{where}")
        lines.extend(f"  check failed: {name}" for name in self.failed_checks)
        return lines


def run_main_job(instance: dg.DagsterInstance | None = None) -> MainRunOutcome:
    from m365_pipeline.definitions import defs

    if instance is None:
        instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def(MAIN_JOB_NAME).execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    outcome = MainRunOutcome(success=result.success, run_id=result.run_id)
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        metadata = materialization.metadata
        rows = metadata.get("dagster/row_count")
        path = metadata.get("path") or metadata.get("database")
        outcome.outputs.append(
            (
                materialization.asset_key.to_user_string(),
                int(str(rows.value)) if rows is not None else None,
                str(path.value) if path is not None else None,
            )
        )
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            outcome.failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    if not result.success:
        failure = next((event for event in result.all_events if event.is_step_failure), None)
        outcome.failure_reason = _failure_reason(failure) if failure else "the run did not succeed"
    return outcome


def _failure_reason(failure: dg.DagsterEvent) -> str:
    """The failed step and the error that failed it, on one line."""
    error = failure.step_failure_data.error
    cause = error.cause if error and error.cls_name == "DagsterExecutionStepExecutionError" else error
    detail = cause.message.split(f"{cause.cls_name}: ", 1)[-1] if cause else failure.message or "failed"
    return " ".join(f"{failure.step_key}: {detail}".split())[:500]
