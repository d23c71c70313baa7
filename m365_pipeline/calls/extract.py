"""A UTC day of call records, from Graph into the raw store: one Parquet file per tenant and day of the calls' start.

The list asks for exactly the day's window (``startDateTime ge`` its midnight, ``lt`` the next) and follows every
nextLink as given; it never carries sessions, so each record is then read whole (``GET .../callRecords/{id}?
$expand=sessions($expand=segments)``) and the pages behind its ``sessions@odata.nextLink`` merged into it. Records
are written as they arrive, in row groups bounded by their sessions (a meeting may hold hundreds): never a whole
day in memory. A record listed twice (a page repeated) is stored once. Every record's start is checked, to the
100 ns tick, to lie inside the day. The file replaces the day's previous one whole.

Graph keeps a call record for 30 days after the call, whatever the licence, and answers an older window with
nothing: a day not wholly inside those 30 days is refused up front (``RetentionError``), as is a day not over.
Requests spend the call records budget (``graph.throttling``) in the client.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from m365_pipeline.activity.extract import PREFER_UNKNOWN_ENUM_MEMBERS, ActivityLogSpec, Retention, check_in_window
from m365_pipeline.activity.timestamps import TICKS_PER_DAY, day_filter_bound, day_start_ticks
from m365_pipeline.entities.call_records import CALL_RECORDS
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.organization import TenantIdentity, fetch_tenant
from m365_pipeline.raw_store import RawStore, StoredFile

CALL_RECORD_LOG = ActivityLogSpec(CALL_RECORDS.name, CALL_RECORDS, "startDateTime")
RETENTION = Retention(30, "Graph keeps call records 30 days after the call, whatever the licence")
EXPAND_SESSIONS = {"$expand": "sessions($expand=segments)"}
# A row group is written once its records hold this many sessions: a group of meetings stays a few MiB
ROW_GROUP_SESSIONS = 2_000


@dataclass(frozen=True)
class CallDayExtract:
    tenant: str
    day: date
    stored: StoredFile
    list_pages: int
    sessions: int
    session_pages: int  # sessions@odata.nextLink pages followed beyond each record's first

    @property
    def records(self) -> int:
        return self.stored.rows


@dataclass
class _Counts:
    list_pages: int = 0
    records: int = 0
    sessions: int = 0
    session_pages: int = 0


def extract_call_days(
    client: GraphClient,
    store: RawStore,
    tenant: str,
    days: list[date],
    now: datetime,
    on_page: Callable[[date, int, int], None] | None = None,
) -> list[CallDayExtract]:
    """Extract each of ``days`` (a backfill's); every day is checked against the 30 days before the first is
    extracted, so a range reaching too far back fails at once and stores nothing."""
    for day in days:
        RETENTION.check(CALL_RECORD_LOG, day, now)
    identity = fetch_tenant(client)
    extracts = []
    for day in days:

        def progress(pages: int, records: int, current: date = day) -> None:
            if on_page is not None:
                on_page(current, pages, records)

        extracts.append(extract_call_day(client, store, tenant, identity, day, progress))
    return extracts


def extract_call_day(
    client: GraphClient,
    store: RawStore,
    tenant: str,
    identity: TenantIdentity,
    day: date,
    on_page: Callable[[int, int], None] | None = None,
) -> CallDayExtract:
    """Store the call records of ``day`` (UTC, by start) for ``tenant``, replacing what the store held for it."""
    metadata = {
        **identity.as_file_metadata(),
        "m365.log": CALL_RECORD_LOG.name,
        "m365.day": day.isoformat(),
        "m365.extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    schema = CALL_RECORDS.arrow_schema.with_metadata({key.encode(): value.encode() for key, value in metadata.items()})
    with store.staging() as folder:
        local = folder / f"{CALL_RECORDS.name}-{day.isoformat()}.parquet"
        counts = _write_day(client, day, schema, local, on_page)
        stored = store.put(local, CALL_RECORDS.name, tenant, day.isoformat())
    return CallDayExtract(tenant, day, stored, counts.list_pages, counts.sessions, counts.session_pages)


def fetch_record(client: GraphClient, record_id: str) -> tuple[dict[str, Any], int]:
    """The record with every session (and its segments), and how many sessions pages followed its first."""
    record = client.get_json(
        f"{CALL_RECORDS.path}/{quote(record_id, safe='')}", EXPAND_SESSIONS, PREFER_UNKNOWN_ENUM_MEMBERS
    )
    sessions = list(record.get("sessions") or [])
    link = record.get("sessions@odata.nextLink")
    pages = 0
    while isinstance(link, str):
        page = client.get_json(link, None, PREFER_UNKNOWN_ENUM_MEMBERS)
        value = page.get("value")
        if not isinstance(value, list):
            raise ValueError(f"call record {record_id}: a sessions page has no 'value' list ({link})")
        sessions.extend(value)
        pages += 1
        link = page.get("@odata.nextLink")
    record["sessions"] = sessions
    return record, pages


def _write_day(
    client: GraphClient,
    day: date,
    schema: pa.Schema,
    destination: Path,
    on_page: Callable[[int, int], None] | None,
) -> _Counts:
    start = day_start_ticks(day)
    window = (start, start + TICKS_PER_DAY)
    bound = CALL_RECORD_LOG.time_property
    params = {
        "$filter": f"{bound} ge {day_filter_bound(day)} and {bound} lt {day_filter_bound(day + timedelta(days=1))}"
    }
    counts = _Counts()
    seen: set[str] = set()
    held: list[dict[str, Any]] = []
    held_sessions = 0
    partial = destination.with_name(destination.name + ".partial")
    with pq.ParquetWriter(partial, schema) as writer:
        for page in client.iter_pages(CALL_RECORDS.path, params, PREFER_UNKNOWN_ENUM_MEMBERS, paged=False):
            counts.list_pages += 1
            for listed in page:
                check_in_window(CALL_RECORD_LOG, day, listed, window)
                record_id = listed.get("id")
                if not isinstance(record_id, str) or not record_id:
                    raise ValueError(f"call records of {day}: list page {counts.list_pages} has a record without an id")
                if record_id in seen:
                    continue
                seen.add(record_id)
                record, session_pages = fetch_record(client, record_id)
                check_in_window(CALL_RECORD_LOG, day, record, window)
                held.append(record)
                held_sessions += len(record["sessions"])
                counts.records += 1
                counts.sessions += len(record["sessions"])
                counts.session_pages += session_pages
                if held_sessions >= ROW_GROUP_SESSIONS:
                    writer.write_table(_table(held, schema, counts.records))
                    held, held_sessions = [], 0
            if on_page is not None:
                on_page(counts.list_pages, counts.records)
        if held:
            writer.write_table(_table(held, schema, counts.records))
    os.replace(partial, destination)
    return counts


def _table(records: list[dict[str, Any]], schema: pa.Schema, through: int) -> pa.Table:
    try:
        return pa.Table.from_pylist(records, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        first = through - len(records) + 1
        raise ValueError(
            f"call records {first} to {through} of the day do not fit the entity's Arrow schema: {error}"
        ) from None
