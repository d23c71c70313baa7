"""The production Dagster instance of README.md (dagster-postgres) runs a real materialization."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import redis
import sqlalchemy as sa

from m365_pipeline.defs.main_run import run_main_job
from m365_pipeline.emulator.tenant import tenant_id_for_seed
from m365_pipeline_tests.defs.conftest import SLICE_SEED, SLICE_USERS

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _documented_instance_yaml() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- production-instance -->\n```yaml\n(.*?)```", readme, flags=re.DOTALL)
    assert match, "README.md lost its production instance configuration"
    return match.group(1)


def test_materialization_on_the_documented_postgres_instance(
    embedded_default: Path, postgres_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production's parts together: dagster-postgres, a PostgreSQL warehouse and the Redis Graph budget."""
    libpq_url = postgres_url.replace("postgresql+psycopg://", "postgresql+psycopg2://")
    monkeypatch.setenv("DAGSTER_PG_URL", libpq_url)
    monkeypatch.setenv("M365_DATABASE_URL", postgres_url)
    monkeypatch.setenv("M365_REDIS_URL", redis_url)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(_documented_instance_yaml(), encoding="utf-8")

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        outcome = run_main_job(instance)
        assert outcome.success, outcome.failure_reason
        report_event = instance.get_latest_materialization_event(dg.AssetKey(["reports", "entra_id", "user_list"]))

    assert report_event is not None and report_event.run_id == outcome.run_id
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        status = connection.execute(
            sa.text("SELECT status FROM runs WHERE run_id = :run_id"), {"run_id": outcome.run_id}
        ).scalar_one()
        materializations = connection.execute(
            sa.text(
                "SELECT count(*) FROM event_logs"
                " WHERE run_id = :run_id AND dagster_event_type = 'ASSET_MATERIALIZATION'"
            ),
            {"run_id": outcome.run_id},
        ).scalar_one()
        users = connection.execute(sa.text("SELECT count(*) FROM users")).scalar_one()
    engine.dispose()
    budget = redis.Redis.from_url(redis_url)
    tenant_id = tenant_id_for_seed(SLICE_SEED)
    assert budget.exists(f"m365_pipeline:graph:resource_units:{tenant_id}:emulator:in-process"), (
        "Graph calls bypassed Redis"
    )
    budget.close()
    assert status == "SUCCESS"
    assert materializations == 29  # every raw entity (11), warehouse table (17) and the report index
    assert users == SLICE_USERS
