"""A UTC day of an Entra activity log, from Graph into the raw store: one Parquet file per tenant, log and day.

The request asks for exactly the day's window (``ge`` its midnight, ``lt`` the next), 1,000 events a page with
``Prefer: include-unknown-enum-members``, and follows every nextLink as given, each request spending the logs'
budget first (the client's limiter, ``graph.throttling``). Pages are streamed into the file as they arrive (never
a whole day in memory); every event's
timestamp is checked, to the 100 ns tick, to lie inside the day. The file replaces the day's previous one in the
store whole, so a re-run gives one file per day, never two.

Graph keeps these logs for a while only (7 days without Entra ID P1/P2, 30 with) and answers a window older
than that with nothing at all: a day not wholly inside the tenant's retention is refused up front
(``RetentionError``) instead of being stored as an empty day.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from m365_pipeline.activity.timestamps import TICKS_PER_DAY, day_filter_bound, day_start_ticks, graph_ticks
from m365_pipeline.entities import SUBSCRIBED_SKUS, EntitySpec
from m365_pipeline.entities.directory_audits import DIRECTORY_AUDITS
from m365_pipeline.entities.sign_ins import SIGN_INS
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.organization import TenantIdentity, fetch_tenant
from m365_pipeline.raw_store import RawStore, StoredFile

PAGE_SIZE = 1_000
# Pages are written in row groups of this many events: a row group per page would make the writer's footer (which
# it holds until the file is closed) grow by ~35 KiB a page, 35 MiB for a million sign-ins; ten pages a group keep
# both the footer and the pages held small.
ROW_GROUP_EVENTS = 10_000
PREFER_UNKNOWN_ENUM_MEMBERS = {"Prefer": "include-unknown-enum-members"}
PREMIUM_PLANS = frozenset({"AAD_PREMIUM", "AAD_PREMIUM_P2"})
FREE_RETENTION_DAYS = 7
PREMIUM_RETENTION_DAYS = 30


@dataclass(frozen=True)
class ActivityLogSpec:
    name: str  # the raw asset's and the raw store's name
    entity: EntitySpec
    time_property: str  # what the day is a window of


SIGN_IN_LOG = ActivityLogSpec("sign_ins", SIGN_INS, "createdDateTime")
DIRECTORY_AUDIT_LOG = ActivityLogSpec("directory_audits", DIRECTORY_AUDITS, "activityDateTime")
ACTIVITY_LOGS = {log.name: log for log in (SIGN_IN_LOG, DIRECTORY_AUDIT_LOG)}


class RetentionError(ValueError):
    """The day is older than the tenant keeps its activity logs: Graph would answer it with nothing."""


class EventOutsideDayError(ValueError):
    """Graph answered an event outside the window asked for."""


@dataclass(frozen=True)
class Retention:
    days: int
    licence: str  # what decides it, for messages

    @classmethod
    def of_skus(cls, skus: list[dict[str, Any]]) -> Retention:
        """30 days when an active subscription carries Entra ID P1 or P2, else 7 (Entra ID Free)."""
        for sku in skus:
            if sku.get("capabilityStatus") not in ("Enabled", "Warning"):
                continue
            for plan in sku.get("servicePlans") or []:
                if plan.get("servicePlanName") in PREMIUM_PLANS and plan.get("provisioningStatus") == "Success":
                    return cls(PREMIUM_RETENTION_DAYS, f"Entra ID P1/P2 ({sku.get('skuPartNumber')})")
        return cls(FREE_RETENTION_DAYS, "Entra ID Free (no active subscription with AAD_PREMIUM)")

    def check(self, log: ActivityLogSpec, day: date, now: datetime) -> None:
        """Refuse a day Graph no longer holds whole, or one not over yet."""
        oldest = now.astimezone(UTC) - timedelta(days=self.days)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if start < oldest:
            raise RetentionError(
                f"{log.name} of {day.isoformat()}: older than the tenant's retention of {self.days} days "
                f"({self.licence}); Graph keeps events from {oldest:%Y-%m-%dT%H:%M}Z on, so the day can no longer "
                "be extracted whole"
            )
        if start + timedelta(days=1) > now:
            raise RetentionError(
                f"{log.name} of {day.isoformat()}: the day is not over yet (now {now:%Y-%m-%dT%H:%M}Z)"
            )


def tenant_retention(client: GraphClient) -> Retention:
    skus = client.get_json(SUBSCRIBED_SKUS.path, SUBSCRIBED_SKUS.params, cost=SUBSCRIBED_SKUS.resource_unit_cost)
    return Retention.of_skus(list(skus.get("value") or []))


@dataclass(frozen=True)
class DayExtract:
    log: str
    tenant: str
    day: date
    stored: StoredFile
    pages: int

    @property
    def rows(self) -> int:
        return self.stored.rows


def extract_days(
    client: GraphClient,
    store: RawStore,
    log: ActivityLogSpec,
    tenant: str,
    days: list[date],
    now: datetime,
    on_page: Callable[[date, int, int], None] | None = None,
) -> list[DayExtract]:
    """Extract each of ``days`` (a backfill's); every day is checked against the tenant's retention before the
    first is extracted, so a range reaching too far back fails at once and stores nothing."""
    identity = fetch_tenant(client)
    retention = tenant_retention(client)
    for day in days:
        retention.check(log, day, now)
    extracts = []
    for day in days:

        def progress(pages: int, rows: int, current: date = day) -> None:
            if on_page is not None:
                on_page(current, pages, rows)

        extracts.append(extract_day(client, store, log, tenant, identity, day, progress))
    return extracts


def extract_day(
    client: GraphClient,
    store: RawStore,
    log: ActivityLogSpec,
    tenant: str,
    identity: TenantIdentity,
    day: date,
    on_page: Callable[[int, int], None] | None = None,
) -> DayExtract:
    """Store ``log``'s events of ``day`` (UTC) for ``tenant``, replacing whatever the store held for that day."""
    metadata = {
        **identity.as_file_metadata(),
        "m365.log": log.name,
        "m365.day": day.isoformat(),
        "m365.extracted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    schema = log.entity.arrow_schema.with_metadata({key.encode(): value.encode() for key, value in metadata.items()})
    with store.staging() as folder:
        local = folder / f"{log.name}-{day.isoformat()}.parquet"
        pages = _write_day(client, log, day, schema, local, on_page)
        stored = store.put(local, log.name, tenant, day.isoformat())
    return DayExtract(log.name, tenant, day, stored, pages)


def _write_day(
    client: GraphClient,
    log: ActivityLogSpec,
    day: date,
    schema: pa.Schema,
    destination: Path,
    on_page: Callable[[int, int], None] | None,
) -> int:
    start = day_start_ticks(day)
    window = (start, start + TICKS_PER_DAY)
    following = day + timedelta(days=1)
    params: dict[str, str] | None = {
        "$filter": f"{log.time_property} ge {day_filter_bound(day)} and {log.time_property} lt "
        f"{day_filter_bound(following)}",
        "$top": str(PAGE_SIZE),
    }
    url: str | None = log.entity.path
    pages = rows = 0
    partial = destination.with_name(destination.name + ".partial")
    held: list[pa.RecordBatch] = []
    with pq.ParquetWriter(partial, schema) as writer:
        while url is not None:
            body = client.get_json(url, params, PREFER_UNKNOWN_ENUM_MEMBERS)
            events = body.get("value")
            if not isinstance(events, list):
                raise ValueError(f"GET {log.entity.path}: the answer has no 'value' list")
            pages += 1
            for event in events:
                check_in_window(log, day, event, window)
            if events:
                held.append(_record_batch(log, events, pages))
                rows += len(events)
                if sum(batch.num_rows for batch in held) >= ROW_GROUP_EVENTS:
                    writer.write_table(pa.Table.from_batches(held))
                    held = []
            if on_page is not None:
                on_page(pages, rows)
            next_link = body.get("@odata.nextLink")
            url, params = (next_link, None) if isinstance(next_link, str) else (None, None)
        if held:
            writer.write_table(pa.Table.from_batches(held))
    os.replace(partial, destination)
    return pages


def check_in_window(log: ActivityLogSpec, day: date, event: dict[str, Any], window: tuple[int, int]) -> None:
    text = event.get(log.time_property)
    if not isinstance(text, str):
        raise EventOutsideDayError(f"{log.name} of {day}: event {event.get('id')!r} has no {log.time_property}")
    ticks = graph_ticks(text)
    if not window[0] <= ticks < window[1]:
        raise EventOutsideDayError(
            f"{log.name} of {day}: Graph answered event {event.get('id')!r} at {text}, outside the day asked for"
        )


def _record_batch(log: ActivityLogSpec, events: list[dict[str, Any]], page: int) -> pa.RecordBatch:
    try:
        return pa.RecordBatch.from_pylist(events, schema=log.entity.arrow_schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(f"{log.name} page {page} does not fit the entity's Arrow schema: {error}") from None


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
