"""Restore as a job launchable from the UI (Launchpad: its run config). The domain's restore runs the old
procedure's steps in order (stop, database, files, configuration, integrity, post_check, release); this layer
supplies the steps only Dagster can do:

- stop: every running schedule and sensor is paused, and the restore refuses to start while another run is in
  progress (a restore beside a run would mix two states);
- post_check: the code location's warehouse checks executed by Dagster on the restored warehouse
  (restore_checks.py); a failed blocking check fails the restore, marked failed, and names the check;
- release: the schedules and sensors paused at stop run again, whatever happened in between.
"""

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster._core.scheduler.instigation import InstigatorStatus
from pydantic import Field

from m365_pipeline import snapshot_system as system
from m365_pipeline.defs.resources import M365Settings
from m365_pipeline.defs.snapshots.progress_log import progress_log
from m365_pipeline.defs.snapshots.restore_checks import PostCheck

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


class RestoreConfig(dg.Config):
    reference: str = "latest"
    """A tag name (prod-release-v1.2.3-20240624), a snapshot id (8 or more hex digits) or `latest`."""
    target: str = ""
    """Folder to restore into, one subfolder per component (a regression environment); empty with `live`."""
    live: bool = False
    """Restore into the running system itself (its warehouse, raw store and reports)."""
    warehouse_url: str = ""
    """Restore the warehouse into this database instead (e.g. a fresh PostgreSQL database), without a password:
    the run's config is kept in Dagster's storage; libpq reads the password from PGPASSWORD or ~/.pgpass."""
    components: list[str] = Field(default_factory=list)
    """Components to restore (warehouse, config, raw, reports); empty: every one the target has a place for."""
    tables: list[str] = Field(default_factory=list)
    """Restore only these warehouse tables (each replaced in one transaction)."""
    force: bool = False
    """Replace existing files and a non-empty warehouse; without it the restore refuses before writing anything."""


class SystemBusy(dg.Failure):
    pass


@contextmanager
def system_stopped(
    instance: dg.DagsterInstance, own_run_id: str | None, log: Callable[[str], None]
) -> Iterator[list[str]]:
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
        log(f"stopped: paused {', '.join(names) or 'no schedule or sensor'}; no other run in progress")
        yield names
    finally:
        for state in paused:
            instance.update_instigator_state(state)
        log(f"released: {', '.join(names) or 'nothing'} running again as before")


def build_restore_job() -> dg.JobDefinition:
    @dg.op(name="restore", description="Stop, restore, check the restored warehouse, release (the old procedure).")
    def restore(context: dg.OpExecutionContext, config: RestoreConfig, settings: M365Settings) -> None:
        current = settings.current
        if config.warehouse_url and sa.make_url(config.warehouse_url).password is not None:
            raise dg.Failure(
                "warehouse_url holds a password, which the run's config keeps in Dagster's storage: give the URL "
                "without it, and the password in the environment (PGPASSWORD or ~/.pgpass, read by libpq)"
            )
        repository = system.open_store(current)
        snapshot_id = system.resolve_reference(repository, config.reference)
        target = system.restore_target(
            current,
            repository.manifest(snapshot_id),
            folder=Path(config.target) if config.target else None,
            warehouse_url=config.warehouse_url or None,
            live=config.live,
        )
        context.log.info(f"restoring {snapshot_id[:12]} into {'the live system' if config.live else config.target}")
        post_check = PostCheck(current, context.log.info, config.components, config.tables)
        restored = progress_log(context.log.info, "restored", "bytes")
        with ExitStack() as stopped:

            def stop() -> None:
                stopped.enter_context(system_stopped(context.instance, context.run_id, context.log.info))

            report = system.restore_snapshot(
                repository,
                snapshot_id,
                target,
                components=config.components or ([system.WAREHOUSE] if config.tables else None),
                only_tables=config.tables or None,
                force=config.force,
                hooks=system.restore_hooks(
                    stop=stop,
                    release=stopped.close,
                    progress=lambda update: restored(update.done_bytes, update.total_bytes),
                    post_check=post_check,
                ),
            )
        context.add_output_metadata(
            {
                "snapshot_id": snapshot_id,
                "target": "live" if config.live else config.target,
                "files": report.files,
                "bytes": report.bytes,
                "tables": dg.MetadataValue.json(report.tables),
                "steps_seconds": dg.MetadataValue.json({step: round(s, 2) for step, s in report.steps}),
                "asset_checks": dg.MetadataValue.json(post_check.summary()),
                "asset_checks_passed": sum(outcome.passed for outcome in post_check.outcomes),
            }
        )

    @dg.job(name=RESTORE_JOB, description="Restore a snapshot or tag into a target or the live system (see config).")
    def restore_snapshot() -> None:
        restore()

    return restore_snapshot
