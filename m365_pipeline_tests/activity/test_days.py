"""Activity logs by UTC day, from the emulator through the raw store into the warehouse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from m365_pipeline.activity.extract import (
    DIRECTORY_AUDIT_LOG,
    SIGN_IN_LOG,
    RetentionError,
    extract_days,
)
from m365_pipeline.activity.load import duplicate_ids_across_days, load_day, loaded_events
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.graph.throttling import HEADROOM, ServiceLimiter, published_limits
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse.activity_tables import activity_days, sign_in_policies, sign_ins
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
PER_DAY = 1_500
DAYS = [date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19)]


@pytest.fixture
def emulator() -> GraphEmulator:
    tenant = generate_tenant(11, 30)
    return GraphEmulator(tenant, clock=lambda: NOW.timestamp(), sign_ins_per_day=PER_DAY, audits_per_day=40)


@pytest.fixture
def warehouse(tmp_path: Path, migrated_sqlite: Callable[[Path], str]) -> sa.Engine:
    return create_warehouse_engine(migrated_sqlite(tmp_path / "warehouse.db"))


def _sign_ins_of(engine: sa.Engine, day: date) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        query = sa.select(sign_ins).where(sign_ins.c.day == day).order_by(sign_ins.c.id)
        return [tuple(row) for row in connection.execute(query)]


def test_three_days_extracted_at_the_logs_rate_and_loaded_with_boundaries_in_their_day(
    emulator: GraphEmulator, warehouse: sa.Engine, tmp_path: Path
) -> None:
    clock = FakeClock()
    store = RawStore(str(tmp_path / "raw"))
    tenant = emulator.tenant.tenant_id
    limiter = ServiceLimiter(tenant, "app", published_limits(3500), lambda key, limit: limit.limiter(key, clock, None))

    client = emulator_client(emulator, clock, limiter=limiter)
    extracts = extract_days(client, store, SIGN_IN_LOG, tenant, DAYS, NOW)

    assert [(extract.day, extract.rows, extract.pages) for extract in extracts] == [(day, PER_DAY, 2) for day in DAYS]
    # six requests: five at once, the sixth once the first is a window old (10 s, kept with the headroom)
    assert clock.sleeps == pytest.approx([10.0 / HEADROOM])
    for day in DAYS:
        load = load_day(warehouse, store, "sign_ins", tenant, day)
        assert load.events == PER_DAY and load.tenant_id == tenant
    with warehouse.connect() as connection:
        by_text = dict(connection.execute(sa.select(sign_ins.c.created_date_time, sign_ins.c.day)).all())
        assert by_text["2026-11-18T23:59:59.9999999Z"] == date(2026, 11, 18)
        assert by_text["2026-11-19T00:00:00Z"] == date(2026, 11, 19)
        newest = connection.execute(
            sa.select(sign_ins.c.created_at).where(sign_ins.c.created_date_time == "2026-11-18T23:59:59.9999999Z")
        ).scalar_one()
        assert newest == datetime(2026, 11, 18, 23, 59, 59, 999999, tzinfo=UTC)
        assert [loaded_events(connection, "sign_ins", tenant, day) for day in DAYS] == [PER_DAY] * 3
        assert duplicate_ids_across_days(connection, "sign_ins", tenant) == []
        results = set(connection.execute(sa.select(sign_in_policies.c.result)).scalars())
        assert "reportOnlySuccess" in results and "unknownFutureValue" not in results
        provenance = connection.execute(sa.select(activity_days.c.day, activity_days.c.events)).all()
        assert sorted(provenance) == [(day, PER_DAY) for day in DAYS]


def test_a_day_extracted_and_loaded_again_gives_the_same_rows(
    emulator: GraphEmulator, warehouse: sa.Engine, tmp_path: Path
) -> None:
    clock = FakeClock()
    store = RawStore(str(tmp_path / "raw"))
    tenant = emulator.tenant.tenant_id
    client = emulator_client(emulator, clock)
    day = DAYS[1]
    extract_days(client, store, SIGN_IN_LOG, tenant, [day], NOW)
    load_day(warehouse, store, "sign_ins", tenant, day)
    first = _sign_ins_of(warehouse, day)

    extract_days(client, store, SIGN_IN_LOG, tenant, [day], NOW)
    load_day(warehouse, store, "sign_ins", tenant, day)

    assert _sign_ins_of(warehouse, day) == first and len(first) == PER_DAY
    assert list((tmp_path / "raw" / "sign_ins" / f"tenant={tenant}").iterdir()) == [
        tmp_path / "raw" / "sign_ins" / f"tenant={tenant}" / f"{day}.parquet"
    ]
    with warehouse.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(sign_ins)).scalar_one() == PER_DAY


def test_a_day_older_than_the_retention_is_an_error_and_stores_nothing(emulator: GraphEmulator, tmp_path: Path) -> None:
    clock = FakeClock()
    store = RawStore(str(tmp_path / "raw"))
    days = [date(2026, 10, 20), DAYS[-1]]

    with pytest.raises(RetentionError, match=r"older than the tenant's retention of 30 days"):
        extract_days(emulator_client(emulator, clock), store, SIGN_IN_LOG, "t", days, NOW)

    assert not (tmp_path / "raw" / "sign_ins").exists()


def test_a_tenant_without_premium_keeps_audits_seven_days(tmp_path: Path) -> None:
    tenant = generate_tenant(12, 20)
    for sku in tenant.skus:
        sku["servicePlans"] = [plan for plan in sku["servicePlans"] if not plan["servicePlanName"].startswith("AAD_")]
    emulator = GraphEmulator(tenant, clock=lambda: NOW.timestamp(), premium=False, audits_per_day=10)
    clock = FakeClock()
    store = RawStore(str(tmp_path / "raw"))
    client = emulator_client(emulator, clock)

    (extract,) = extract_days(client, store, DIRECTORY_AUDIT_LOG, "t", [date(2026, 11, 14)], NOW)
    assert extract.rows == 10
    with pytest.raises(RetentionError, match=r"7 days \(Entra ID Free"):
        extract_days(client, store, DIRECTORY_AUDIT_LOG, "t", [date(2026, 11, 13)], NOW)


def test_the_day_not_over_is_refused(emulator: GraphEmulator, tmp_path: Path) -> None:
    clock = FakeClock()
    with pytest.raises(RetentionError, match="not over yet"):
        extract_days(
            emulator_client(emulator, clock),
            RawStore(str(tmp_path)),
            SIGN_IN_LOG,
            "t",
            [date(2026, 11, 20)],
            NOW,
        )


def test_a_day_loads_and_reloads_on_postgresql(
    emulator: GraphEmulator, tmp_path: Path, migrated_postgres_url: str
) -> None:
    engine = create_warehouse_engine(migrated_postgres_url)
    clock = FakeClock()
    store = RawStore(str(tmp_path / "raw"))
    tenant = emulator.tenant.tenant_id
    day = DAYS[0]
    extract_days(emulator_client(emulator, clock), store, SIGN_IN_LOG, tenant, [day], NOW)

    first = load_day(engine, store, "sign_ins", tenant, day)
    rows = _sign_ins_of(engine, day)
    again = load_day(engine, store, "sign_ins", tenant, day)

    assert first.events == again.events == PER_DAY and _sign_ins_of(engine, day) == rows
    with engine.connect() as connection:
        edge = connection.execute(
            sa.select(sign_ins.c.day).where(sign_ins.c.created_date_time == f"{day}T23:59:59.9999999Z")
        ).scalar_one()
    assert edge == day
    engine.dispose()
