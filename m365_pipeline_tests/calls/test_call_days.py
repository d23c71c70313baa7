"""Call records by UTC day, from the emulator through the raw store into the warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from m365_pipeline.activity.extract import RetentionError
from m365_pipeline.calls.durations import duration_ticks
from m365_pipeline.calls.extract import extract_call_days
from m365_pipeline.calls.load import duplicate_record_ids, incomplete_call_days, load_call_day
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import generate_tenant
from m365_pipeline.emulator.transport import EmulatorTransport
from m365_pipeline.raw_store import RawStore
from m365_pipeline.warehouse.call_tables import (
    CALL_TABLES,
    call_media_streams,
    call_record_days,
    call_records,
    call_sessions,
)
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
PER_DAY = 40
DAYS = [date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19)]


@pytest.fixture(scope="module")
def emulator() -> GraphEmulator:
    return GraphEmulator(generate_tenant(11, 30), clock=lambda: NOW.timestamp(), calls_per_day=PER_DAY)


@pytest.fixture
def warehouse(tmp_path: Path, migrated_sqlite: Callable[[Path], str]) -> sa.Engine:
    return create_warehouse_engine(migrated_sqlite(tmp_path / "warehouse.db"))


def _truth(emulator: GraphEmulator, record_id: str) -> dict[str, Any]:
    """The whole record as the emulator holds it (every session), for comparison."""
    return emulator.call_records[emulator.tenant.tenant_id].record(record_id, NOW.timestamp())


def _rows(engine: sa.Engine, day: date) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(
                    sa.select(table).where(table.c.day == day).order_by(*table.primary_key.columns)
                )
            ]
            for table in CALL_TABLES
        }


def test_three_days_extracted_and_loaded_with_boundaries_in_their_day_and_every_session_merged(
    emulator: GraphEmulator, warehouse: sa.Engine, tmp_path: Path
) -> None:
    store = RawStore(str(tmp_path / "raw"))
    tenant = emulator.tenant.tenant_id

    extracts = extract_call_days(emulator_client(emulator, FakeClock()), store, tenant, DAYS, NOW)

    assert [(extract.day, extract.records) for extract in extracts] == [(day, PER_DAY) for day in DAYS]
    assert sum(extract.session_pages for extract in extracts) > 0  # some meeting's sessions spanned pages
    loads = [load_call_day(warehouse, store, tenant, day) for day in DAYS]
    assert [load.records for load in loads] == [PER_DAY] * 3
    with warehouse.connect() as connection:
        by_text = dict(connection.execute(sa.select(call_records.c.start_date_time, call_records.c.day)).all())
        for day in DAYS:
            assert by_text[f"{day}T23:59:59.9999999Z"] == day
            assert by_text[f"{day}T00:00:00Z"] == day
        newest = connection.execute(
            sa.select(call_records.c.start_at).where(call_records.c.start_date_time == "2026-11-18T23:59:59.9999999Z")
        ).scalar_one()
        assert newest == datetime(2026, 11, 18, 23, 59, 59, 999999, tzinfo=UTC)
        counted = dict(connection.execute(sa.select(call_records.c.id, call_records.c.sessions)).all())
        meetings = [record_id for record_id, sessions in counted.items() if sessions > 60]
        assert meetings, "the emulated days hold no meeting of more than one page of sessions"
        for record_id in meetings:
            stored = connection.execute(
                sa.select(call_sessions.c.session_id)
                .where(call_sessions.c.call_record_id == record_id)
                .order_by(call_sessions.c.position)
            ).scalars()
            assert list(stored) == [session["id"] for session in _truth(emulator, record_id)["sessions"]]
        assert duplicate_record_ids(connection, tenant) == []
        assert incomplete_call_days(connection, tenant) == []
        provenance = connection.execute(sa.select(call_record_days.c.day, call_record_days.c.records)).all()
        assert sorted(provenance) == [(day, PER_DAY) for day in DAYS]


def test_the_quality_figures_are_the_emulators_read_exactly(
    emulator: GraphEmulator, warehouse: sa.Engine, tmp_path: Path
) -> None:
    store = RawStore(str(tmp_path / "raw"))
    tenant = emulator.tenant.tenant_id
    day = DAYS[0]
    extract_call_days(emulator_client(emulator, FakeClock()), store, tenant, [day], NOW)
    load_call_day(warehouse, store, tenant, day)
    with warehouse.connect() as connection:
        record_id = connection.execute(
            sa.select(call_records.c.id).where(call_records.c.start_date_time == f"{day}T00:00:00Z")
        ).scalar_one()
        stored = connection.execute(
            sa.select(call_media_streams)
            .where(call_media_streams.c.call_record_id == record_id)
            .order_by(*call_media_streams.primary_key.columns)
        ).all()
    expected = [
        (stream, media["label"])
        for session in _truth(emulator, record_id)["sessions"]
        for segment in session["segments"]
        for media in segment["media"]
        for stream in media["streams"]
    ]
    assert len(stored) == len(expected) > 0
    for row, (stream, label) in zip(stored, expected, strict=True):
        assert row.media_label == label and row.stream_id == stream["streamId"]
        assert row.average_jitter_ms == duration_ticks(stream["averageJitter"]) / 10_000
        assert row.max_round_trip_time_ms == duration_ticks(stream["maxRoundTripTime"]) / 10_000
        assert row.average_packet_loss_rate == stream["averagePacketLossRate"]
        assert row.post_fec_packet_loss_rate == stream["postForwardErrorCorrectionPacketLossRate"]
        assert row.average_bandwidth_estimate == stream["averageBandwidthEstimate"]
        assert row.average_audio_degradation == stream.get("averageAudioDegradation")


def test_a_day_extracted_and_loaded_again_gives_the_same_rows(
    emulator: GraphEmulator, warehouse: sa.Engine, tmp_path: Path
) -> None:
    store = RawStore(str(tmp_path / "raw"))
    tenant = emulator.tenant.tenant_id
    client = emulator_client(emulator, FakeClock())
    day = DAYS[1]
    extract_call_days(client, store, tenant, [day], NOW)
    load_call_day(warehouse, store, tenant, day)
    first = _rows(warehouse, day)

    extract_call_days(client, store, tenant, [day], NOW)
    again = load_call_day(warehouse, store, tenant, day)

    assert _rows(warehouse, day) == first and len(first["call_records"]) == PER_DAY
    assert again.media_streams == len(first["call_media_streams"]) > 0
    folder = tmp_path / "raw" / "call_records" / f"tenant={tenant}"
    assert list(folder.iterdir()) == [folder / f"{day}.parquet"]


def test_a_day_older_than_thirty_days_is_an_error_and_stores_nothing(emulator: GraphEmulator, tmp_path: Path) -> None:
    days = [date(2026, 10, 20), DAYS[-1]]

    with pytest.raises(RetentionError, match=r"call_records of 2026-10-20: older than the tenant's retention of 30"):
        extract_call_days(emulator_client(emulator, FakeClock()), RawStore(str(tmp_path / "raw")), "t", days, NOW)

    assert not (tmp_path / "raw").exists()


def test_a_day_loads_and_reloads_on_postgresql(
    emulator: GraphEmulator, tmp_path: Path, migrated_postgres_url: str
) -> None:
    engine = create_warehouse_engine(migrated_postgres_url)
    store = RawStore(str(tmp_path / "raw"))
    tenant = emulator.tenant.tenant_id
    day = DAYS[2]
    extract_call_days(emulator_client(emulator, FakeClock()), store, tenant, [day], NOW)

    first = load_call_day(engine, store, tenant, day)
    rows = _rows(engine, day)
    again = load_call_day(engine, store, tenant, day)

    assert first.records == again.records == PER_DAY and _rows(engine, day) == rows
    with engine.connect() as connection:
        edge = connection.execute(
            sa.select(call_records.c.day).where(call_records.c.start_date_time == f"{day}T23:59:59.9999999Z")
        ).scalar_one()
        assert edge == day
        assert incomplete_call_days(connection, tenant) == []
    engine.dispose()


def test_a_changed_day_fails_the_completeness_check(
    emulator: GraphEmulator, warehouse: sa.Engine, tmp_path: Path
) -> None:
    store = RawStore(str(tmp_path / "raw"))
    tenant = emulator.tenant.tenant_id
    day = DAYS[0]
    extract_call_days(emulator_client(emulator, FakeClock()), store, tenant, [day], NOW)
    load = load_call_day(warehouse, store, tenant, day)
    with warehouse.begin() as connection:
        victim = connection.execute(sa.select(call_sessions.c.call_record_id, call_sessions.c.position).limit(1)).one()
        connection.execute(
            call_sessions.delete().where(
                call_sessions.c.call_record_id == victim[0], call_sessions.c.position == victim[1]
            )
        )
    with warehouse.connect() as connection:
        assert incomplete_call_days(connection, tenant) == [
            f"{day}: call_sessions {load.sessions - 1} of {load.sessions}"
        ]


class _RepeatingList(httpx.BaseTransport):
    """Forwards to ``inner``; every page of the call records list comes back with its first record twice."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.repeated = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.lower().endswith("/communications/callrecords"):
            return response
        page = json.loads(response.read())
        page["value"] = page["value"][:1] + page["value"]
        self.repeated += 1
        return httpx.Response(response.status_code, headers={"Content-Type": "application/json"}, json=page)


def test_a_record_listed_twice_is_stored_and_loaded_once(
    emulator: GraphEmulator, warehouse: sa.Engine, tmp_path: Path
) -> None:
    store = RawStore(str(tmp_path / "raw"))
    tenant = emulator.tenant.tenant_id
    repeating = _RepeatingList(EmulatorTransport(emulator))
    client = emulator_client(emulator, FakeClock(), transport=repeating)

    (extract,) = extract_call_days(client, store, tenant, [DAYS[0]], NOW)
    load = load_call_day(warehouse, store, tenant, DAYS[0])

    assert repeating.repeated == extract.list_pages > 0
    assert extract.records == load.records == PER_DAY
