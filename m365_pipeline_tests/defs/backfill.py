"""A backfill of daily partitions launched from the CLI as a user would (``dg launch --partition-range``), in one
run (the assets' BackfillPolicy.single_run)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def launch_days(assets: Sequence[str], days: Sequence[date], tenant_id: str, raw_key: dg.AssetKey) -> set[str]:
    """Launch ``assets`` for ``days`` of ``tenant_id`` through ``dg launch`` against the instance of DAGSTER_HOME;
    asserts it took one successful run, and returns the partitions of ``raw_key`` materialized."""
    dg_command = str(Path(sys.executable).parent / "dg")
    partition_range = f"{days[0]}|{tenant_id}...{days[-1]}|{tenant_id}"
    launched = subprocess.run(
        [dg_command, "launch", "--assets", ",".join(assets), "--partition-range", partition_range],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success
        return set(instance.get_materialized_partitions(raw_key))
