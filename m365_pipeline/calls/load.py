"""Load a day of call records from its raw file into the warehouse, replacing the day in one transaction.

The day's rows of the four call tables are deleted and the raw file's records inserted, streamed a few hundred
records at a time, and the day's provenance row written, all in one transaction: a re-run of a day gives the same
rows, a load killed halfway leaves the day as it was. Loads of the same tenant and day are serialized (a
PostgreSQL advisory lock; SQLite's write lock). Every record's start is checked to belong to the day, to the tick.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from m365_pipeline.activity.timestamps import TICKS_PER_SECOND, datetime_of_ticks, day_of_ticks, graph_ticks
from m365_pipeline.calls.durations import duration_milliseconds
from m365_pipeline.entities.call_records import CALL_RECORDS
from m365_pipeline.raw_store import RawStore, new_extract_id
from m365_pipeline.warehouse.call_tables import (
    CALL_TABLES,
    call_media_streams,
    call_record_days,
    call_records,
    call_segments,
    call_sessions,
)
from m365_pipeline.warehouse.staging import write_rows

TENANT_ID_KEY = "m365.tenant_id"
EXTRACTED_AT_KEY = "m365.extracted_at"
READ_RECORDS = 200  # records read from the raw file at a time: a meeting may hold hundreds of sessions
_MILLISECONDS = {
    "average_jitter_ms": "averageJitter",
    "max_jitter_ms": "maxJitter",
    "average_audio_network_jitter_ms": "averageAudioNetworkJitter",
    "max_audio_network_jitter_ms": "maxAudioNetworkJitter",
    "average_round_trip_time_ms": "averageRoundTripTime",
    "max_round_trip_time_ms": "maxRoundTripTime",
    "average_freeze_duration_ms": "averageFreezeDuration",
    "rms_freeze_duration_ms": "rmsFreezeDuration",
}
_AS_SENT = {
    "audio_codec": "audioCodec",
    "video_codec": "videoCodec",
    "average_packet_loss_rate": "averagePacketLossRate",
    "max_packet_loss_rate": "maxPacketLossRate",
    "post_fec_packet_loss_rate": "postForwardErrorCorrectionPacketLossRate",
    "average_audio_degradation": "averageAudioDegradation",
    "average_ratio_of_concealed_samples": "averageRatioOfConcealedSamples",
    "max_ratio_of_concealed_samples": "maxRatioOfConcealedSamples",
    "average_bandwidth_estimate": "averageBandwidthEstimate",
    "packet_utilization": "packetUtilization",
    "average_video_frame_rate": "averageVideoFrameRate",
    "average_received_frame_rate": "averageReceivedFrameRate",
    "average_video_packet_loss_rate": "averageVideoPacketLossRate",
    "average_video_frame_loss_percentage": "averageVideoFrameLossPercentage",
    "low_frame_rate_ratio": "lowFrameRateRatio",
    "low_video_processing_capability_ratio": "lowVideoProcessingCapabilityRatio",
    "is_audio_fec_used": "isAudioForwardErrorCorrectionUsed",
    "was_media_bypassed": "wasMediaBypassed",
}


class MissingCallDayError(LookupError):
    """The raw store holds no call records file for the day: it was never extracted."""


@dataclass(frozen=True)
class CallDayLoad:
    tenant_id: str
    day: date
    records: int
    sessions: int
    segments: int
    media_streams: int
    raw_path: str
    load_id: str


@dataclass
class _Rows:
    """The rows of a batch of records, one list per table."""

    records: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    streams: list[dict[str, Any]] = field(default_factory=list)

    def by_table(self) -> Iterator[tuple[sa.Table, list[dict[str, Any]]]]:
        yield from zip(CALL_TABLES, (self.records, self.sessions, self.segments, self.streams), strict=True)


def load_call_day(engine: sa.Engine, store: RawStore, tenant: str, day: date) -> CallDayLoad:
    """Replace ``day`` of call records for ``tenant`` in the warehouse with the raw store's file of that day."""
    path = store.path(CALL_RECORDS.name, tenant, day.isoformat())
    if not store.exists(path):
        raise MissingCallDayError(
            f"call records of {day.isoformat()} for tenant {tenant}: the raw store holds no {store.location(path)}; "
            "materialize raw/call_records for the day first"
        )
    where = store.location(path)
    metadata = store.file_metadata(path)
    tenant_id = metadata.get(TENANT_ID_KEY)
    if not tenant_id:
        raise ValueError(f"{where}: no {TENANT_ID_KEY} in the file's metadata")
    extracted_at = metadata.get(EXTRACTED_AT_KEY)
    counts = dict.fromkeys(("records", "sessions", "segments", "streams"), 0)
    load_id = new_extract_id()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            key = zlib.crc32(f"{tenant_id}|call_records|{day}".encode())
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        for table in (*reversed(CALL_TABLES), call_record_days):
            connection.execute(table.delete().where(table.c.tenant_id == tenant_id, table.c.day == day))
        for batch in store.iter_record_batches(path, READ_RECORDS):
            rows = _Rows()
            for record in batch:
                _add_record(rows, tenant_id, day, record, where)
            for table, table_rows in rows.by_table():
                write_rows(connection, table, table_rows)
            for name, table_rows in zip(
                counts, (rows.records, rows.sessions, rows.segments, rows.streams), strict=True
            ):
                counts[name] += len(table_rows)
        connection.execute(
            call_record_days.insert().values(
                tenant_id=tenant_id,
                day=day,
                records=counts["records"],
                sessions=counts["sessions"],
                segments=counts["segments"],
                media_streams=counts["streams"],
                raw_path=where,
                raw_sha256=store.sha256(path),
                extracted_at=datetime.fromisoformat(extracted_at) if extracted_at else None,
                loaded_at=datetime.now(UTC),
                load_id=load_id,
            )
        )
    return CallDayLoad(
        tenant_id, day, counts["records"], counts["sessions"], counts["segments"], counts["streams"], where, load_id
    )


def _instant(text: str | None) -> tuple[datetime | None, int | None]:
    if text is None:
        return None, None
    ticks = graph_ticks(text)
    return datetime_of_ticks(ticks), ticks


def _seconds(start: int | None, end: int | None) -> float | None:
    return None if start is None or end is None else (end - start) / TICKS_PER_SECOND


def _span(item: dict[str, Any]) -> dict[str, Any]:
    start_at, start = _instant(item.get("startDateTime"))
    end_at, end = _instant(item.get("endDateTime"))
    return {"start_at": start_at, "end_at": end_at, "duration_seconds": _seconds(start, end)}


def _joined(values: Iterable[str] | None) -> str:
    return "; ".join(values or [])


def _who(identity_set: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
    """(kind, identity) of an identitySet: the user, the phone or the application it holds."""
    for kind in ("user", "phone", "application"):
        identity = (identity_set or {}).get(kind)
        if identity:
            return kind, identity
    return None, {}


def _endpoint(side: str, endpoint: dict[str, Any] | None) -> dict[str, Any]:
    kind, identity = _who((endpoint or {}).get("identity"))
    agent = (endpoint or {}).get("userAgent") or {}
    return {
        f"{side}_user_id": identity.get("id") if kind == "user" else None,
        f"{side}_display_name": identity.get("displayName"),
        f"{side}_platform": agent.get("platform"),
        f"{side}_product_family": agent.get("productFamily"),
    }


def _failure(item: dict[str, Any]) -> dict[str, Any]:
    failure = item.get("failureInfo") or {}
    return {"failure_stage": failure.get("stage"), "failure_reason": failure.get("reason")}


def _add_record(rows: _Rows, tenant_id: str, day: date, record: dict[str, Any], where: str) -> None:
    text = record.get("startDateTime")
    if not isinstance(text, str):
        raise ValueError(f"{where}: call record {record.get('id')!r} has no startDateTime")
    start = graph_ticks(text)
    if day_of_ticks(start) != day:
        raise ValueError(f"{where}: call record {record.get('id')!r} at {text} does not belong to {day.isoformat()}")
    end_at, end = _instant(record.get("endDateTime"))
    kind, organizer = _who((record.get("organizer_v2") or {}).get("identity"))
    sessions = record.get("sessions") or []
    key = {"tenant_id": tenant_id, "day": day, "call_record_id": record["id"]}
    rows.records.append(
        {
            "tenant_id": tenant_id,
            "day": day,
            "id": record["id"],
            "version": record.get("version"),
            "call_type": record.get("type"),
            "modalities": _joined(record.get("modalities")),
            "start_at": datetime_of_ticks(start),
            "start_date_time": text,
            "end_at": end_at,
            "duration_seconds": _seconds(start, end),
            "last_modified_at": _instant(record.get("lastModifiedDateTime"))[0],
            "join_web_url": record.get("joinWebUrl"),
            "organizer_id": (record.get("organizer_v2") or {}).get("id") or organizer.get("id"),
            "organizer_display_name": organizer.get("displayName"),
            "organizer_kind": kind,
            "sessions": len(sessions),
        }
    )
    for session_position, session in enumerate(sessions):
        callee = session.get("callee") or {}
        rows.sessions.append(
            {
                **key,
                "position": session_position,
                "session_id": session.get("id"),
                "modalities": _joined(session.get("modalities")),
                **_span(session),
                "is_test": session.get("isTest"),
                **_endpoint("caller", session.get("caller")),
                **_endpoint("callee", callee),
                "callee_feedback_rating": (callee.get("feedback") or {}).get("rating"),
                **_failure(session),
            }
        )
        for segment_position, segment in enumerate(session.get("segments") or []):
            media = segment.get("media") or []
            rows.segments.append(
                {
                    **key,
                    "session_position": session_position,
                    "position": segment_position,
                    "segment_id": segment.get("id"),
                    **_span(segment),
                    **_endpoint("caller", segment.get("caller")),
                    **_endpoint("callee", segment.get("callee")),
                    "media_labels": _joined(item.get("label") or "" for item in media),
                    **_failure(segment),
                }
            )
            segment_key = {**key, "session_position": session_position, "segment_position": segment_position}
            for media_position, item in enumerate(media):
                network = item.get("callerNetwork") or {}
                for position, stream in enumerate(item.get("streams") or []):
                    span = _span(stream)
                    rows.streams.append(
                        {
                            **segment_key,
                            "media_position": media_position,
                            "position": position,
                            "media_label": item.get("label"),
                            "stream_id": stream.get("streamId"),
                            "stream_direction": stream.get("streamDirection"),
                            "caller_ip_address": network.get("ipAddress"),
                            "caller_connection_type": network.get("connectionType"),
                            "start_at": span["start_at"],
                            "end_at": span["end_at"],
                            **{
                                column: duration_milliseconds(stream.get(name))
                                for column, name in _MILLISECONDS.items()
                            },
                            **{column: stream.get(name) for column, name in _AS_SENT.items()},
                        }
                    )


def duplicate_record_ids(connection: sa.Connection, tenant_id: str) -> list[str]:
    """Call record ids the tenant's table holds on more than one day (a backfill that loaded a call twice)."""
    query = (
        sa.select(call_records.c.id)
        .where(call_records.c.tenant_id == tenant_id)
        .group_by(call_records.c.id)
        .having(sa.func.count(sa.distinct(call_records.c.day)) > 1)
        .order_by(call_records.c.id)
    )
    return list(connection.execute(query).scalars())


def incomplete_call_days(connection: sa.Connection, tenant_id: str) -> list[str]:
    """The tenant's loaded days whose rows are not what their load recorded, described as ``<day>: <table>
    <rows> of <recorded>`` (rows deleted or added since)."""
    recorded = {
        call_records: call_record_days.c.records,
        call_sessions: call_record_days.c.sessions,
        call_segments: call_record_days.c.segments,
        call_media_streams: call_record_days.c.media_streams,
    }
    problems = []
    for table, expected in recorded.items():
        counts = (
            sa.select(table.c.day, sa.func.count().label("rows"))
            .where(table.c.tenant_id == tenant_id)
            .group_by(table.c.day)
            .subquery()
        )
        found = sa.func.coalesce(counts.c.rows, 0)
        query = (
            sa.select(call_record_days.c.day, expected, found)
            .select_from(call_record_days.outerjoin(counts, counts.c.day == call_record_days.c.day))
            .where(call_record_days.c.tenant_id == tenant_id, expected != found)
            .order_by(call_record_days.c.day)
        )
        problems += [f"{day}: {table.name} {rows} of {wanted}" for day, wanted, rows in connection.execute(query)]
    return sorted(problems)
