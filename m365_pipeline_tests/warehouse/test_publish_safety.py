"""A publication under kills, concurrency and size: the tenant always holds exactly one extract."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from m365_pipeline.warehouse.consistency import consumed_unit_mismatches, licenses_without_user
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.ledger import published_extract
from m365_pipeline.warehouse.publish import PublishResult, StaleExtractError, TenantPublication
from m365_pipeline.warehouse.schema import TABLES, tenants
from m365_pipeline_tests.warehouse.publishing import (
    OTHER_TENANT,
    SEEN,
    SPE_E3,
    TENANT,
    consistent_extract,
    content,
    extract_id,
    publish,
    tenant_content,
)

REPOSITORY = Path(__file__).resolve().parents[2]

# Publishes extract 2 of TENANT and SIGKILLs itself after staging it, or inside publish() just before the commit
# (every table merged, quarantine, tenant and ledger written).
_KILLED_PUBLICATION = """
import os, signal, sys
import sqlalchemy as sa
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.publish import TenantPublication
from m365_pipeline_tests.warehouse.publishing import SEEN, TENANT, consistent_extract, extract_id

url, moment = sys.argv[1:3]
engine = create_warehouse_engine(url)

def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)

with TenantPublication(engine, TENANT, extract_id(2), "digest-2") as publication:
    for name, rows in consistent_extract(TENANT, range(500, 3000), group_numbers=(7, 8)).items():
        publication.stage(name, rows)
    if moment == "after-staging":
        die()
    sa.event.listen(engine, "commit", die)
    publication.publish(display_name="Killed", default_domain="killed.example", seen_at=SEEN)
sys.exit(3)
"""


@pytest.mark.parametrize("moment", ["after-staging", "before-commit"])
def test_a_publication_killed_before_commit_leaves_the_previous_extract(
    engine: sa.Engine, warehouse_url: str, moment: str
) -> None:
    publish(engine, TENANT, 1, consistent_extract(TENANT, range(1, 1000)))
    before, tenant_before = tenant_content(engine, TENANT), content(engine, tenants)
    engine.dispose()  # nothing of this process holds a connection while the other one writes

    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_PUBLICATION, warehouse_url, moment],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert tenant_content(engine, TENANT) == before
    assert content(engine, tenants) == tenant_before
    with engine.connect() as connection:
        published = published_extract(connection, TENANT)
        assert published is not None and published.extract_id == extract_id(1)
        assert licenses_without_user(connection, TENANT) == []
        assert consumed_unit_mismatches(connection, TENANT) == []
    # Nothing is left locked: the next extract publishes (on PostgreSQL once the server has seen the client go).
    result = publish(engine, TENANT, 3, consistent_extract(TENANT, range(500, 3000)))
    assert result.extract.tables["users"].rows == 2500


def _engines(url: str, count: int) -> Iterator[list[sa.Engine]]:
    engines = [create_warehouse_engine(url) for _ in range(count)]
    try:
        yield engines
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_publications_of_a_tenant_end_with_one_extract(
    engine: sa.Engine, warehouse_url: str, round_: int
) -> None:
    tenant_id = str(uuid.UUID(int=round_ + 1))
    older = consistent_extract(tenant_id, range(1, 1500), group_numbers=(1, 2))
    newer = consistent_extract(tenant_id, range(1000, 3000), group_numbers=(2, 3))
    start = threading.Barrier(2)
    outcomes: dict[int, PublishResult | BaseException] = {}

    def run(worker_engine: sa.Engine, number: int, tables: dict[str, Any]) -> None:
        start.wait()
        if number == 1 and round_ == 1:
            time.sleep(0.05)  # one round where the newer extract is likely first, the older one then refused
        try:
            outcomes[number] = publish(worker_engine, tenant_id, number, tables)
        except BaseException as error:
            outcomes[number] = error

    for engines in _engines(warehouse_url, 2):
        threads = [
            threading.Thread(target=run, args=(engines[0], 1, older)),
            threading.Thread(target=run, args=(engines[1], 2, newer)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    assert isinstance(outcomes[2], PublishResult), outcomes[2]
    assert isinstance(outcomes[1], PublishResult | StaleExtractError), outcomes[1]
    assert tenant_content(engine, tenant_id) == tenant_content_of(newer)
    with engine.connect() as connection:
        published = published_extract(connection, tenant_id)
        assert published is not None and published.extract_id == extract_id(2)
        assert licenses_without_user(connection, tenant_id) == []
        assert consumed_unit_mismatches(connection, tenant_id) == []


def tenant_content_of(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The rows as the warehouse returns them: ordered by key."""
    from m365_pipeline.warehouse.schema import TABLES

    def key(table_name: str) -> Any:
        columns = [column.name for column in TABLES[table_name].primary_key.columns]
        return lambda row: tuple(row[name] for name in columns)

    return {name: sorted(tables[name], key=key(name)) for name in TABLES}


def test_postgresql_publications_of_a_tenant_queue_from_the_start(migrated_postgres_url: str) -> None:
    for first_engine, second_engine in _engines(migrated_postgres_url, 2):
        entered = threading.Event()

        def second(second_engine: sa.Engine = second_engine, entered: threading.Event = entered) -> None:
            with TenantPublication(second_engine, TENANT, extract_id(2), "d2") as publication:
                entered.set()
                for name, rows in consistent_extract(TENANT, range(5, 9)).items():
                    publication.stage(name, rows)
                publication.publish(display_name="Contoso", default_domain="contoso.com", seen_at=SEEN)

        with TenantPublication(first_engine, TENANT, extract_id(1), "d1") as publication:
            waiting = threading.Thread(target=second)
            waiting.start()
            for name, rows in consistent_extract(TENANT, range(1, 4)).items():
                publication.stage(name, rows)
            assert not entered.wait(timeout=1.0), "the second publication entered while the first held the tenant"
            publication.publish(display_name="Contoso", default_domain="contoso.com", seen_at=SEEN)
        waiting.join(timeout=60)

        assert entered.is_set()
        with first_engine.connect() as connection:
            published = published_extract(connection, TENANT)
        assert published is not None and published.extract_id == extract_id(2)


def test_a_tenant_staging_does_not_block_another_tenants_publication(engine: sa.Engine) -> None:
    with TenantPublication(engine, TENANT, extract_id(1), "d1") as publication:
        for name, rows in consistent_extract(TENANT, range(1, 100)).items():
            publication.stage(name, rows)
        # a staging that held the database's write lock would make this wait out the busy timeout and fail
        publish(engine, OTHER_TENANT, 1, consistent_extract(OTHER_TENANT, range(1, 10)))
        publication.publish(display_name="Contoso", default_domain="contoso.com", seen_at=SEEN)
    assert len(content(engine, tenants)) == 2


def _licenses(first: int, last: int) -> Iterator[dict[str, Any]]:
    """Licence rows of users `first` to `last` - 1: a narrow table, since tracemalloc slows every allocation (the
    driver's too) by an order of magnitude and what is measured is the staging path, not the row width."""
    for number in range(first, last):
        yield {"tenant_id": TENANT, "user_id": str(uuid.UUID(int=number)), "sku_id": SPE_E3, "disabled_plans": ""}


def _peak_while_publishing(engine: sa.Engine, rows: int, number: int) -> int:
    """Python's peak allocation while `rows` licences are staged in batches of 5,000 and published."""
    tracemalloc.start()
    try:
        with TenantPublication(engine, TENANT, extract_id(number), f"d{number}") as publication:
            for first in range(1, rows + 1, 5_000):
                publication.stage("user_licenses", _licenses(first, min(first + 5_000, rows + 1)))
            for name in TABLES:
                if name != "user_licenses":
                    publication.stage(name, [])
            result = publication.publish(display_name="Contoso", default_domain="contoso.com", seen_at=SEEN)
        assert result.extract.tables["user_licenses"].rows == rows
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_rows(engine: sa.Engine) -> None:
    small = _peak_while_publishing(engine, 50_000, 1)
    large = _peak_while_publishing(engine, 200_000, 2)

    assert large < 1.3 * small + 1_000_000, (small, large)
    assert large < 40_000_000, large
