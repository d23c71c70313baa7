"""Restore as a job launchable from the UI (Launchpad: its run config), in the order of the old procedure:

1. stop: every running schedule and sensor is paused and the restore refuses to start while another run is in
   progress (a restore beside a run would mix two states); the store takes a lock;
2. the files of the chosen components (warehouse, configuration, artifacts), each chunk authenticated and each file
   checked against its SHA-256 before it takes its name;
3. the warehouse's blocking asset checks, run on the restored warehouse;
4. release: the schedules and sensors paused in step 1 run again, whatever happened in between.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorStatus
from pydantic import Field

from m365_pipeline import snapshot_system as system
from m365_pipeline.defs.resources import M365Settings

RESTORE_JOB = "restore_snapshot"
# Pausing schedules and sensors from inside a run has no public API: the instance's instigator states (internal) are
# what the UI's switches change.
ACTIVE = (InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE, InstigatorStatus.AUTOMATICALLY_RUNNING)
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
PROGRESS_STEPS = 10


class RestoreConfig(dg.Config):
    reference: str = "latest"
    """A tag name (prod-release-v1.2.3-20240624), a snapshot id (8 or more hex digits) or `latest`."""
    target: str
    """Folder to restore into, one subfolder per component (a regression environment, or a copy to inspect)."""
    components: list[str] = Field(default_factory=list)
    """Components to restore (warehouse, config, raw, reports); empty: all."""
    force: bool = False
    """Replace files that exist in the target; without it the restore refuses before writing anything."""


class SystemBusy(dg.Failure):
    pass


@contextmanager
def system_stopped(instance: dg.DagsterInstance, own_run_id: str, log: dg.DagsterLogManager) -> Iterator[list[str]]:
    """Pause every active schedule and sensor, refuse if another run is in progress, and resume them on leaving."""
    paused = [s for s in instance.all_instigator_state() if s.status in ACTIVE]
    for state in paused:
        instance.update_instigator_state(state.with_status(InstigatorStatus.STOPPED))
    names = sorted(state.instigator_name for state in paused)
    try:
        others = [
            record.dagster_run
            for record in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS))
            if record.dagster_run.run_id != own_run_id
        ]
        if others:
            raise SystemBusy(
                f"{len(others)} other run(s) in progress (e.g. {others[0].job_name} {others[0].run_id}): a restore "
                "runs alone; wait for them or cancel them"
            )
        log.info(f"stopped: paused {', '.join(names) or 'no schedule or sensor'}; no other run in progress")
        yield names
    finally:
        for state in paused:
            instance.update_instigator_state(state)
        log.info(f"released: {', '.join(names) or 'nothing'} running again as before")


def build_restore_job() -> dg.JobDefinition:
    @dg.op(name="restore", description="Stop, restore the files, run the warehouse checks on them, release.")
    def restore(context: dg.OpExecutionContext, config: RestoreConfig, settings: M365Settings) -> None:
        unknown = sorted(set(config.components) - set(system.COMPONENTS))
        if unknown:
            raise dg.Failure(f"unknown component(s) {', '.join(unknown)}: expected {', '.join(system.COMPONENTS)}")
        target = Path(config.target)
        with system_stopped(context.instance, context.run_id, context.log):
            repository = system.open_store(settings.current)
            snapshot_id = system.resolve_reference(repository, config.reference)
            plan = system.restore_plan(repository, snapshot_id, tuple(config.components) or system.COMPONENTS)
            context.log.info(f"restoring {snapshot_id[:12]}: {plan.files} file(s), {plan.size} bytes into {target}")
            written = system.restore_into(
                repository, plan, target, force=config.force, progress=_progress_log(context, plan.size)
            )
            database_url = system.restored_database_url(target)
            problems = system.warehouse_problems(database_url) if database_url else []
            for problem in problems[:20]:
                context.log.error(problem)
            context.add_output_metadata(
                {
                    "snapshot_id": snapshot_id,
                    "target": str(target),
                    "files": plan.files,
                    "bytes_written": written,
                    "warehouse_checks": "not restored" if database_url is None else f"{len(problems)} problem(s)",
                }
            )
            if problems:
                raise dg.Failure(
                    f"the restored warehouse fails its checks: {len(problems)} problem(s), e.g. {problems[0]}"
                )

    @dg.job(name=RESTORE_JOB, description="Restore a snapshot or tag into a target folder (launch with its config).")
    def restore_snapshot() -> None:
        restore()

    return restore_snapshot


def _progress_log(context: dg.OpExecutionContext, total: int) -> system.Progress:
    started, done, next_step = time.monotonic(), 0, 1

    def progress(size: int, _what: str) -> None:
        nonlocal done, next_step
        done += size
        if total and done * PROGRESS_STEPS >= next_step * total:
            elapsed = time.monotonic() - started
            eta = elapsed * (total - done) / done if done else 0.0
            context.log.info(f"restored {done * 100 // total}% ({done} of {total} bytes), about {eta:.0f} s left")
            next_step = done * PROGRESS_STEPS // total + 1

    return progress
