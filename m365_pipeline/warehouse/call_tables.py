"""The call record tables: Teams calls a UTC day (of the call's start) at a time, on the warehouse's one ``metadata``.

A call (``call_records``) has sessions (``call_sessions``: one per participant of a group call, one for a
peer-to-peer call), a session has segments (``call_segments``), and a segment's media have a stream per direction
(``call_media_streams``) carrying the quality figures. Every row carries the ``day`` of its call, the key a day's
load deletes and re-inserts in one transaction; children are keyed by their 0-based positions in their parent's
list, as Graph answered them. Durations Graph writes in ISO 8601 (jitter, round-trip time, freezes) are numbers
of milliseconds, read to the 100 ns tick; rates and ratios are floats as sent. ``call_record_days`` is the
provenance of every loaded day.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from m365_pipeline.warehouse.schema import (
    EXTRACT_ID_LENGTH,
    GUID_LENGTH,
    PiiClass,
    UtcDateTime,
    _column,
    _tenant_id,
    metadata,
)

ID_LENGTH = 128


def _day() -> sa.Column[Any]:
    return _column(
        "day",
        sa.Date(),
        "UTC date of the call's start: the daily partition it was loaded with.",
        PiiClass.NONE,
        primary_key=True,
    )


def _key(name: str, description: str) -> sa.Column[Any]:
    return _column(name, sa.Integer(), description, PiiClass.NONE, primary_key=True)


def _record_id() -> sa.Column[Any]:
    return _column(
        "call_record_id", sa.String(ID_LENGTH), "The call (call_records.id).", PiiClass.NONE, primary_key=True
    )


def _text(name: str, description: str, pii: PiiClass = PiiClass.NONE) -> sa.Column[Any]:
    return _column(name, sa.Text(), description, pii)


def _moment(name: str, what: str) -> sa.Column[Any]:
    return _column(name, UtcDateTime(), f"{what} (UTC, to the microsecond).", PiiClass.QUASI)


def _number(name: str, description: str) -> sa.Column[Any]:
    return _column(name, sa.Float(), description, PiiClass.NONE)


def _milliseconds(name: str, description: str) -> sa.Column[Any]:
    return _number(name, f"{description}, in milliseconds (Graph's ISO 8601 duration, read to the 100 ns tick).")


def _endpoint(side: str) -> list[sa.Column[Any]]:
    return [
        _column(f"{side}_user_id", sa.String(GUID_LENGTH), f"Object id of the {side}'s user.", PiiClass.QUASI),
        _text(f"{side}_display_name", f"Name of the {side} (user, phone or application).", PiiClass.DIRECT),
        _text(f"{side}_platform", f"Platform of the {side}'s client: windows, macOS, iOS, android, web..."),
        _text(f"{side}_product_family", f"Product of the {side}'s client: teams, skypeForBusiness..."),
    ]


def _failure() -> list[sa.Column[Any]]:
    return [
        _text("failure_stage", "Where it failed (callSetup, midcall); null when it did not."),
        _text("failure_reason", "Why it failed; null when it did not."),
    ]


call_records = sa.Table(
    "call_records",
    metadata,
    _tenant_id(),
    _day(),
    _column("id", sa.String(ID_LENGTH), "Id of the call record.", PiiClass.NONE, primary_key=True),
    _column("version", sa.BigInteger(), "Version of the record (a higher one holds more data).", PiiClass.NONE),
    _text("call_type", "peerToPeer, groupCall or unknown."),
    _column("modalities", sa.Text(), 'Modalities used, "; "-joined (audio; video...).', PiiClass.NONE, nullable=False),
    _column(
        "start_at",
        UtcDateTime(),
        "When the first user joined (UTC, to the microsecond).",
        PiiClass.QUASI,
        nullable=False,
    ),
    _column(
        "start_date_time",
        sa.String(40),
        "When the first user joined, exactly as Graph wrote it (up to 7 fractional digits).",
        PiiClass.QUASI,
        nullable=False,
    ),
    _moment("end_at", "When the last user left"),
    _number("duration_seconds", "Seconds from the first join to the last leave (to the 100 ns tick)."),
    _column("last_modified_at", UtcDateTime(), "When the record was last changed (UTC).", PiiClass.NONE),
    _text("join_web_url", "Meeting URL of the call; null for most peer-to-peer calls.", PiiClass.QUASI),
    _column("organizer_id", sa.Text(), "Id of the organizer (a user's object id, a phone number...).", PiiClass.QUASI),
    _text("organizer_display_name", "Name of the organizer.", PiiClass.DIRECT),
    _text("organizer_kind", "What organized the call: user, phone or application."),
    _column("sessions", sa.Integer(), "Sessions of the call (every page merged).", PiiClass.NONE, nullable=False),
    sa.Index(None, "tenant_id", "id"),
    sa.Index(None, "tenant_id", "organizer_id"),
    comment="Teams calls and meetings of the tenant (Microsoft Graph /communications/callRecords), one row per call.",
)

call_sessions = sa.Table(
    "call_sessions",
    metadata,
    _tenant_id(),
    _day(),
    _record_id(),
    _key("position", "0-based position of the session in the call's sessions."),
    _column("session_id", sa.String(ID_LENGTH), "Id of the session.", PiiClass.NONE),
    _column("modalities", sa.Text(), 'Modalities of the session, "; "-joined.', PiiClass.NONE, nullable=False),
    _moment("start_at", "When the session started"),
    _moment("end_at", "When the session ended"),
    _number("duration_seconds", "Seconds the session lasted (to the 100 ns tick)."),
    _column("is_test", sa.Boolean(), "Whether the session was a test call.", PiiClass.NONE),
    *_endpoint("caller"),
    *_endpoint("callee"),
    _text("callee_feedback_rating", "Rating the callee gave the call (excellent ... bad); null when none."),
    *_failure(),
    sa.Index(None, "tenant_id", "caller_user_id"),
    comment="Sessions of each call: who called whom, on which client, and whether it failed.",
)

call_segments = sa.Table(
    "call_segments",
    metadata,
    _tenant_id(),
    _day(),
    _record_id(),
    _key("session_position", "The session (call_sessions.position)."),
    _key("position", "0-based position of the segment in the session's segments."),
    _column("segment_id", sa.String(ID_LENGTH), "Id of the segment.", PiiClass.NONE),
    _moment("start_at", "When the segment started"),
    _moment("end_at", "When the segment ended"),
    _number("duration_seconds", "Seconds the segment lasted (to the 100 ns tick)."),
    *_endpoint("caller"),
    *_endpoint("callee"),
    _column(
        "media_labels", sa.Text(), 'Media of the segment, "; "-joined (main-audio...).', PiiClass.NONE, nullable=False
    ),
    *_failure(),
    comment="Segments of each session (a VoIP session has one; PSTN and relayed calls more).",
)

call_media_streams = sa.Table(
    "call_media_streams",
    metadata,
    _tenant_id(),
    _day(),
    _record_id(),
    _key("session_position", "The session (call_sessions.position)."),
    _key("segment_position", "The segment (call_segments.position)."),
    _key("media_position", "0-based position of the media in the segment's media."),
    _key("position", "0-based position of the stream in the media's streams."),
    _text("media_label", "What the media is: main-audio, main-video, applicationsharing..."),
    _text("stream_id", "Id of the stream."),
    _text("stream_direction", "callerToCallee or calleeToCaller."),
    _text("audio_codec", "Audio codec: opus, satin, silk, g722..."),
    _text("video_codec", "Video codec: h264, av1..."),
    _text("caller_ip_address", "IP address of the caller's network.", PiiClass.QUASI),
    _text("caller_connection_type", "Caller's connection: wired, wifi, mobile..."),
    _moment("start_at", "When the stream started"),
    _moment("end_at", "When the stream ended"),
    _milliseconds("average_jitter_ms", "Average jitter (RFC 3550)"),
    _milliseconds("max_jitter_ms", "Maximum jitter"),
    _milliseconds("average_audio_network_jitter_ms", "Average audio network jitter"),
    _milliseconds("max_audio_network_jitter_ms", "Maximum audio network jitter over 20 s windows"),
    _milliseconds("average_round_trip_time_ms", "Average round-trip time"),
    _milliseconds("max_round_trip_time_ms", "Maximum round-trip time"),
    _number("average_packet_loss_rate", "Average packet loss rate (0 to 1)."),
    _number("max_packet_loss_rate", "Maximum packet loss rate (0 to 1)."),
    _number("post_fec_packet_loss_rate", "Packet loss rate after forward error correction (0 to 1)."),
    _number("average_audio_degradation", "Average network Mean Opinion Score degradation of the received audio."),
    _number("average_ratio_of_concealed_samples", "Share of audio frames concealed after packet loss."),
    _number("max_ratio_of_concealed_samples", "Maximum share of concealed audio samples."),
    _column(
        "average_bandwidth_estimate", sa.BigInteger(), "Average estimated bandwidth, bits per second.", PiiClass.NONE
    ),
    _column("packet_utilization", sa.BigInteger(), "Packets of the stream.", PiiClass.NONE),
    _number("average_video_frame_rate", "Average video frames per second."),
    _number("average_received_frame_rate", "Average frames per second received."),
    _number("average_video_packet_loss_rate", "Average video packet loss rate (0 to 1)."),
    _number("average_video_frame_loss_percentage", "Average percentage of video frames lost."),
    _milliseconds("average_freeze_duration_ms", "Average video freeze"),
    _milliseconds("rms_freeze_duration_ms", "Root mean square of video freezes"),
    _number("low_frame_rate_ratio", "Share of the call below 7.5 frames per second."),
    _number("low_video_processing_capability_ratio", "Share of the call with under 70% of the video processing."),
    _column("is_audio_fec_used", sa.Boolean(), "Whether audio forward error correction was used.", PiiClass.NONE),
    _column("was_media_bypassed", sa.Boolean(), "Whether the media bypassed the Mediation Server.", PiiClass.NONE),
    comment="Media streams of each segment, one per direction, with their quality figures (jitter, loss, round trip).",
)

call_record_days = sa.Table(
    "call_record_days",
    metadata,
    _tenant_id(),
    _day(),
    _column(
        "records", sa.Integer(), "Call records of the day loaded (the raw file's rows).", PiiClass.NONE, nullable=False
    ),
    _column("sessions", sa.Integer(), "Sessions of those records.", PiiClass.NONE, nullable=False),
    _column("segments", sa.Integer(), "Segments of those sessions.", PiiClass.NONE, nullable=False),
    _column("media_streams", sa.Integer(), "Media streams of those segments.", PiiClass.NONE, nullable=False),
    _text("raw_path", "The raw file the day was loaded from (in the raw store)."),
    _column("raw_sha256", sa.String(64), "SHA-256 of that raw file.", PiiClass.NONE, nullable=False),
    _column("extracted_at", UtcDateTime(), "When the raw file was extracted from Graph (UTC).", PiiClass.NONE),
    _column("loaded_at", UtcDateTime(), "When the day was loaded (UTC).", PiiClass.NONE, nullable=False),
    _column(
        "load_id", sa.String(EXTRACT_ID_LENGTH), "Id of the load that replaced the day.", PiiClass.NONE, nullable=False
    ),
    comment="Provenance of each loaded day of call records: its raw file, its rows, when it was loaded.",
)

CALL_TABLES = (call_records, call_sessions, call_segments, call_media_streams)
