from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import VERSION_TABLE, current_revision, upgrade_to_head
from m365_pipeline.warehouse.schema import metadata, skus

HEAD = "0008_sites"


def _schema_differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "version_table": VERSION_TABLE})
        return list(compare_metadata(context, metadata))


def _table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_a_new_database_has_no_revision(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    try:
        assert current_revision(engine) is None
        assert _table_names(engine) == set()
    finally:
        engine.dispose()


def test_upgrade_creates_exactly_the_schema_of_the_models(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    try:
        upgrade_to_head(engine)
        assert current_revision(engine) == HEAD
        assert _table_names(engine) == set(metadata.tables) | {VERSION_TABLE}
        assert _schema_differences(engine) == []
    finally:
        engine.dispose()


def test_upgrading_twice_changes_nothing(warehouse_url: str) -> None:
    engine = create_warehouse_engine(warehouse_url)
    try:
        upgrade_to_head(engine)
        with engine.begin() as connection:
            connection.execute(
                sa.insert(skus),
                {"tenant_id": "t1", "sku_id": "05e9a617", "sku_part_number": "X", "service_plan_names": ""},
            )
        upgrade_to_head(engine)
        assert current_revision(engine) == HEAD
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT sku_part_number FROM skus")).scalars().all() == ["X"]
        assert _schema_differences(engine) == []
    finally:
        engine.dispose()


def test_concurrent_upgrades_of_a_new_database_both_succeed(warehouse_url: str) -> None:
    engines = [create_warehouse_engine(warehouse_url) for _ in range(2)]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(upgrade_to_head, engines))
        assert current_revision(engines[0]) == HEAD
        assert _schema_differences(engines[0]) == []
    finally:
        for engine in engines:
            engine.dispose()
