"""The post-check of a restore: the code location's own asset checks that read the warehouse, executed by Dagster
on the restored warehouse before it is released.

Those are the standalone checks (``licenses_have_users``, ``consumed_units_match_assignments`` per tenant and
``rows_reconcile`` per migrated legacy file); the checks an asset computes in its own step (ids unique, source
fully loaded, ...) describe an extract being loaded and need that asset's run. Each runs as a checks-only job with
resources pointed at the restore target (its database, its raw extracts when restored, else the live ones), one
run per partition the restored warehouse holds, like the UI's "Execute checks" on a partition; on ephemeral
instances, so a check of a regression target does not become the live assets' status in the catalog.
"""

import dataclasses
import warnings
from collections.abc import Callable, Collection, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from m365_pipeline.defs.directory.checks import build_directory_checks
from m365_pipeline.defs.legacy.migration import LEGACY_FILES, rows_reconcile
from m365_pipeline.defs.partitions import tenant_partitions
from m365_pipeline.defs.resources import M365Settings, Warehouse
from m365_pipeline.legacy.inbox import partition_key
from m365_pipeline.raw_store import RawStore
from m365_pipeline.settings import Settings, load_settings
from m365_pipeline.snapshots.restore import WAREHOUSE, RestoreTarget
from m365_pipeline.sources import configured_tenants
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.engine import create_warehouse_engine

CHECKS_JOB = "restored_warehouse_checks"
PARTITION_TAG = "dagster/partition"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RUNS_PER_INSTANCE = 500


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    check: str
    """``asset:check``, e.g. ``warehouse/user_licenses:licenses_have_users``."""
    partition: str
    passed: bool
    blocking: bool
    metadata: dict[str, Any]
    error: str = ""
    """Why the check could not run (then it did not pass)."""

    def __str__(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({self.error})" if self.error else "FAILED"
        return f"{self.check} [{self.partition}] {verdict}"


class RestoredChecksFailed(RuntimeError):
    def __init__(self, failed: Sequence[CheckOutcome]) -> None:
        self.failed = list(failed)
        super().__init__(
            f"the restored warehouse fails {len(failed)} blocking asset check(s): "
            + "; ".join(f"{outcome} {_examples(outcome)}" for outcome in failed[:5])
        )


def _examples(outcome: CheckOutcome) -> str:
    shown = {name: value for name, value in outcome.metadata.items() if name not in ("tenant_id", "sha256")}
    return str(shown) if shown else ""


class TargetSettings(M365Settings):
    """The run's settings with the warehouse and the raw store of the restore target."""

    database_url: str
    raw_store_location: str

    @cached_property
    def current(self) -> Settings:
        return dataclasses.replace(load_settings(), database_url=self.database_url, raw_store=self.raw_store_location)


class TargetWarehouse(Warehouse):
    """The restored warehouse as it was restored: checked, not migrated (that is the released system's first run)."""

    @cached_property
    def engine(self) -> sa.Engine:
        return create_warehouse_engine(self.settings.current.database_url)


def warehouse_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    """The blocking checks of the code location that read nothing but the warehouse (and the extract's tenant id)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned asset checks, as definitions.py says
        return [*build_directory_checks(tenant_partitions(configured_tenants(settings))), rows_reconcile]


def run_restored_checks(settings: Settings, target: RestoreTarget, log: Callable[[str], None]) -> list[CheckOutcome]:
    """Run the warehouse's checks on ``target``'s warehouse; every outcome, logged as it comes."""
    if target.warehouse_url is None:
        return []
    raw = _raw_store(settings, target)
    resources = TargetSettings(database_url=target.warehouse_url, raw_store_location=raw)
    outcomes: list[CheckOutcome] = []
    with _Instances() as instances:
        for check in warehouse_checks(settings):
            job = dg.Definitions(
                asset_checks=[check],
                jobs=[dg.define_asset_job(CHECKS_JOB, selection=dg.AssetSelection.checks(check))],
                resources={"settings": resources, "warehouse": TargetWarehouse(settings=resources)},
            ).resolve_job_def(CHECKS_JOB)
            store = RawStore(raw, s3_endpoint_url=settings.s3_endpoint_url)
            for key in _partitions(check, target.warehouse_url, store):
                for outcome in _execute(job, check, key, instances.next()):
                    log(str(outcome))
                    outcomes.append(outcome)
    return outcomes


class _Instances:
    """Ephemeral instances for the check runs, each shared by ``RUNS_PER_INSTANCE`` runs: creating one per run
    took most of a run's time (0.12 s a partition against 0.05 s shared), and an instance's in-memory event log
    grows with every run, so it is renewed. Use as a context manager."""

    def __init__(self) -> None:
        self._instance: dg.DagsterInstance | None = None
        self._runs = 0

    def next(self) -> dg.DagsterInstance:
        """The instance for the next run."""
        if self._instance is None or self._runs == RUNS_PER_INSTANCE:
            self._dispose()
            self._instance, self._runs = dg.DagsterInstance.ephemeral(), 0
        self._runs += 1
        return self._instance

    def __enter__(self) -> "_Instances":
        return self

    def __exit__(self, *_: object) -> None:
        self._dispose()

    def _dispose(self) -> None:
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None


class PostCheck:
    """The restore's post_check: runs the checks, keeps their outcomes, and raises RestoredChecksFailed (naming
    the checks) when a blocking one fails, which marks the restore failed."""

    def __init__(
        self, settings: Settings, log: Callable[[str], None], components: Collection[str], tables: Collection[str]
    ) -> None:
        """The components and tables asked for (none: every one); without the warehouse there is nothing to check."""
        self._settings, self._log = settings, log
        self._checks_warehouse = not components or WAREHOUSE in components or bool(tables)
        self.outcomes: list[CheckOutcome] = []

    def __call__(self, target: RestoreTarget) -> None:
        if not self._checks_warehouse:
            return
        self.outcomes = run_restored_checks(self._settings, target, self._log)
        failed = [outcome for outcome in self.outcomes if outcome.blocking and not outcome.passed]
        if failed:
            raise RestoredChecksFailed(failed)

    def summary(self) -> list[dict[str, Any]]:
        return [
            {"check": o.check, "partition": o.partition, "passed": o.passed, "blocking": o.blocking, "error": o.error}
            for o in self.outcomes
        ]


def _raw_store(settings: Settings, target: RestoreTarget) -> str:
    """The restored raw extracts when the restore brought them, else the live raw store."""
    restored = target.folders.get("raw")
    if restored is not None and Path(restored).is_dir() and any(Path(restored).iterdir()):
        return str(restored)
    return settings.raw_store


def _partitions(check: dg.AssetChecksDefinition, database_url: str, raw: RawStore) -> list[str]:
    """The partitions of ``check`` the restored warehouse holds: its tenants (those with an extract to name their
    directory id), or its migrated legacy files. Read before any check runs: a check's connection may switch the
    database's journal mode, which waits for every other connection to close."""
    engine = create_warehouse_engine(database_url)
    try:
        with engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names())
            if check.partitions_def == LEGACY_FILES:
                if schema.legacy_files.name not in present:
                    return []
                ledger = connection.execute(sa.select(schema.legacy_files.c.tenant_id, schema.legacy_files.c.sha256))
                return sorted(partition_key(tenant_id, sha256) for tenant_id, sha256 in ledger)
            if schema.tenants.name not in present:
                return []
            held = set(connection.execute(sa.select(schema.tenants.c.tenant_id)).scalars())
    finally:
        engine.dispose()
    assert check.partitions_def is not None
    return [
        tenant
        for tenant in check.partitions_def.get_partition_keys()
        if (extract := raw.latest_extract(tenant)) is not None and extract.tenant_id in held
    ]


def _execute(
    job: dg.JobDefinition, check: dg.AssetChecksDefinition, key: str, instance: dg.DagsterInstance
) -> list[CheckOutcome]:
    result = job.execute_in_process(
        instance=instance, tags={PARTITION_TAG: key}, run_config=QUIET, raise_on_error=False
    )
    blocking = {spec.key: spec.blocking for spec in check.check_specs}
    outcomes = [
        CheckOutcome(
            check=evaluation.asset_check_key.to_user_string(),
            partition=key,
            passed=evaluation.passed,
            blocking=blocking[evaluation.asset_check_key] and evaluation.severity == dg.AssetCheckSeverity.ERROR,
            metadata={name: value.value for name, value in evaluation.metadata.items()},
        )
        for evaluation in result.get_asset_check_evaluations()
    ]
    if not outcomes:  # the check raised before it could say
        failure = next((event for event in result.all_events if event.is_step_failure), None)
        error = failure.step_failure_data.error if failure is not None else None
        outcomes = [
            CheckOutcome(
                check=spec.key.to_user_string(),
                partition=key,
                passed=False,
                blocking=spec.blocking,
                metadata={},
                error=error.message.strip() if error is not None else "the check did not run",
            )
            for spec in check.check_specs
        ]
    return outcomes
