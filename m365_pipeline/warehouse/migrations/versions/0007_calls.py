"""Teams call records by UTC day of the call's start: the calls, their sessions, the sessions' segments, the
segments' media streams with their quality figures, and the provenance of each loaded day.

Revision ID: 0007_calls
Revises: 0006_dirbatch
Create Date: 2026-12-02
"""

# ruff: noqa: E501 (column comments are the catalog's descriptions, kept whole)

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_calls"
down_revision: str | None = "0006_dirbatch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_media_streams",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the call's start: the daily partition it was loaded with.",
        ),
        sa.Column("call_record_id", sa.String(length=128), nullable=False, comment="The call (call_records.id)."),
        sa.Column("session_position", sa.Integer(), nullable=False, comment="The session (call_sessions.position)."),
        sa.Column("segment_position", sa.Integer(), nullable=False, comment="The segment (call_segments.position)."),
        sa.Column(
            "media_position",
            sa.Integer(),
            nullable=False,
            comment="0-based position of the media in the segment's media.",
        ),
        sa.Column(
            "position", sa.Integer(), nullable=False, comment="0-based position of the stream in the media's streams."
        ),
        sa.Column(
            "media_label",
            sa.Text(),
            nullable=True,
            comment="What the media is: main-audio, main-video, applicationsharing...",
        ),
        sa.Column("stream_id", sa.Text(), nullable=True, comment="Id of the stream."),
        sa.Column("stream_direction", sa.Text(), nullable=True, comment="callerToCallee or calleeToCaller."),
        sa.Column("audio_codec", sa.Text(), nullable=True, comment="Audio codec: opus, satin, silk, g722..."),
        sa.Column("video_codec", sa.Text(), nullable=True, comment="Video codec: h264, av1..."),
        sa.Column("caller_ip_address", sa.Text(), nullable=True, comment="IP address of the caller's network."),
        sa.Column(
            "caller_connection_type", sa.Text(), nullable=True, comment="Caller's connection: wired, wifi, mobile..."
        ),
        sa.Column(
            "start_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the stream started (UTC, to the microsecond).",
        ),
        sa.Column(
            "end_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the stream ended (UTC, to the microsecond).",
        ),
        sa.Column(
            "average_jitter_ms",
            sa.Float(),
            nullable=True,
            comment="Average jitter (RFC 3550), in milliseconds (Graph's ISO 8601 duration, read to the 100 ns tick).",
        ),
        sa.Column(
            "max_jitter_ms",
            sa.Float(),
            nullable=True,
            comment="Maximum jitter, in milliseconds (Graph's ISO 8601 duration, read to the 100 ns tick).",
        ),
        sa.Column(
            "average_audio_network_jitter_ms",
            sa.Float(),
            nullable=True,
            comment="Average audio network jitter, in milliseconds (Graph's ISO 8601 duration, read to the 100 ns tick).",
        ),
        sa.Column(
            "max_audio_network_jitter_ms",
            sa.Float(),
            nullable=True,
            comment="Maximum audio network jitter over 20 s windows, in milliseconds (Graph's ISO 8601 duration, read to the 100 ns tick).",
        ),
        sa.Column(
            "average_round_trip_time_ms",
            sa.Float(),
            nullable=True,
            comment="Average round-trip time, in milliseconds (Graph's ISO 8601 duration, read to the 100 ns tick).",
        ),
        sa.Column(
            "max_round_trip_time_ms",
            sa.Float(),
            nullable=True,
            comment="Maximum round-trip time, in milliseconds (Graph's ISO 8601 duration, read to the 100 ns tick).",
        ),
        sa.Column("average_packet_loss_rate", sa.Float(), nullable=True, comment="Average packet loss rate (0 to 1)."),
        sa.Column("max_packet_loss_rate", sa.Float(), nullable=True, comment="Maximum packet loss rate (0 to 1)."),
        sa.Column(
            "post_fec_packet_loss_rate",
            sa.Float(),
            nullable=True,
            comment="Packet loss rate after forward error correction (0 to 1).",
        ),
        sa.Column(
            "average_audio_degradation",
            sa.Float(),
            nullable=True,
            comment="Average network Mean Opinion Score degradation of the received audio.",
        ),
        sa.Column(
            "average_ratio_of_concealed_samples",
            sa.Float(),
            nullable=True,
            comment="Share of audio frames concealed after packet loss.",
        ),
        sa.Column(
            "max_ratio_of_concealed_samples",
            sa.Float(),
            nullable=True,
            comment="Maximum share of concealed audio samples.",
        ),
        sa.Column(
            "average_bandwidth_estimate",
            sa.BigInteger(),
            nullable=True,
            comment="Average estimated bandwidth, bits per second.",
        ),
        sa.Column("packet_utilization", sa.BigInteger(), nullable=True, comment="Packets of the stream."),
        sa.Column("average_video_frame_rate", sa.Float(), nullable=True, comment="Average video frames per second."),
        sa.Column(
            "average_received_frame_rate", sa.Float(), nullable=True, comment="Average frames per second received."
        ),
        sa.Column(
            "average_video_packet_loss_rate",
            sa.Float(),
            nullable=True,
            comment="Average video packet loss rate (0 to 1).",
        ),
        sa.Column(
            "average_video_frame_loss_percentage",
            sa.Float(),
            nullable=True,
            comment="Average percentage of video frames lost.",
        ),
        sa.Column(
            "average_freeze_duration_ms",
            sa.Float(),
            nullable=True,
            comment="Average video freeze, in milliseconds (Graph's ISO 8601 duration, read to the 100 ns tick).",
        ),
        sa.Column(
            "rms_freeze_duration_ms",
            sa.Float(),
            nullable=True,
            comment="Root mean square of video freezes, in milliseconds (Graph's ISO 8601 duration, read to the 100 ns tick).",
        ),
        sa.Column(
            "low_frame_rate_ratio", sa.Float(), nullable=True, comment="Share of the call below 7.5 frames per second."
        ),
        sa.Column(
            "low_video_processing_capability_ratio",
            sa.Float(),
            nullable=True,
            comment="Share of the call with under 70% of the video processing.",
        ),
        sa.Column(
            "is_audio_fec_used", sa.Boolean(), nullable=True, comment="Whether audio forward error correction was used."
        ),
        sa.Column(
            "was_media_bypassed",
            sa.Boolean(),
            nullable=True,
            comment="Whether the media bypassed the Mediation Server.",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "day",
            "call_record_id",
            "session_position",
            "segment_position",
            "media_position",
            "position",
            name=op.f("pk_call_media_streams"),
        ),
        comment="Media streams of each segment, one per direction, with their quality figures (jitter, loss, round trip).",
    )
    op.create_table(
        "call_record_days",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the call's start: the daily partition it was loaded with.",
        ),
        sa.Column(
            "records", sa.Integer(), nullable=False, comment="Call records of the day loaded (the raw file's rows)."
        ),
        sa.Column("sessions", sa.Integer(), nullable=False, comment="Sessions of those records."),
        sa.Column("segments", sa.Integer(), nullable=False, comment="Segments of those sessions."),
        sa.Column("media_streams", sa.Integer(), nullable=False, comment="Media streams of those segments."),
        sa.Column(
            "raw_path", sa.Text(), nullable=True, comment="The raw file the day was loaded from (in the raw store)."
        ),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False, comment="SHA-256 of that raw file."),
        sa.Column(
            "extracted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the raw file was extracted from Graph (UTC).",
        ),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, comment="When the day was loaded (UTC)."),
        sa.Column("load_id", sa.String(length=64), nullable=False, comment="Id of the load that replaced the day."),
        sa.PrimaryKeyConstraint("tenant_id", "day", name=op.f("pk_call_record_days")),
        comment="Provenance of each loaded day of call records: its raw file, its rows, when it was loaded.",
    )
    op.create_table(
        "call_records",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the call's start: the daily partition it was loaded with.",
        ),
        sa.Column("id", sa.String(length=128), nullable=False, comment="Id of the call record."),
        sa.Column(
            "version", sa.BigInteger(), nullable=True, comment="Version of the record (a higher one holds more data)."
        ),
        sa.Column("call_type", sa.Text(), nullable=True, comment="peerToPeer, groupCall or unknown."),
        sa.Column("modalities", sa.Text(), nullable=False, comment='Modalities used, "; "-joined (audio; video...).'),
        sa.Column(
            "start_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the first user joined (UTC, to the microsecond).",
        ),
        sa.Column(
            "start_date_time",
            sa.String(length=40),
            nullable=False,
            comment="When the first user joined, exactly as Graph wrote it (up to 7 fractional digits).",
        ),
        sa.Column(
            "end_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the last user left (UTC, to the microsecond).",
        ),
        sa.Column(
            "duration_seconds",
            sa.Float(),
            nullable=True,
            comment="Seconds from the first join to the last leave (to the 100 ns tick).",
        ),
        sa.Column(
            "last_modified_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the record was last changed (UTC).",
        ),
        sa.Column(
            "join_web_url",
            sa.Text(),
            nullable=True,
            comment="Meeting URL of the call; null for most peer-to-peer calls.",
        ),
        sa.Column(
            "organizer_id",
            sa.Text(),
            nullable=True,
            comment="Id of the organizer (a user's object id, a phone number...).",
        ),
        sa.Column("organizer_display_name", sa.Text(), nullable=True, comment="Name of the organizer."),
        sa.Column(
            "organizer_kind", sa.Text(), nullable=True, comment="What organized the call: user, phone or application."
        ),
        sa.Column("sessions", sa.Integer(), nullable=False, comment="Sessions of the call (every page merged)."),
        sa.PrimaryKeyConstraint("tenant_id", "day", "id", name=op.f("pk_call_records")),
        comment="Teams calls and meetings of the tenant (Microsoft Graph /communications/callRecords), one row per call.",
    )
    op.create_index(op.f("ix_call_records_tenant_id_id"), "call_records", ["tenant_id", "id"], unique=False)
    op.create_index(
        op.f("ix_call_records_tenant_id_organizer_id"), "call_records", ["tenant_id", "organizer_id"], unique=False
    )
    op.create_table(
        "call_segments",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the call's start: the daily partition it was loaded with.",
        ),
        sa.Column("call_record_id", sa.String(length=128), nullable=False, comment="The call (call_records.id)."),
        sa.Column("session_position", sa.Integer(), nullable=False, comment="The session (call_sessions.position)."),
        sa.Column(
            "position",
            sa.Integer(),
            nullable=False,
            comment="0-based position of the segment in the session's segments.",
        ),
        sa.Column("segment_id", sa.String(length=128), nullable=True, comment="Id of the segment."),
        sa.Column(
            "start_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the segment started (UTC, to the microsecond).",
        ),
        sa.Column(
            "end_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the segment ended (UTC, to the microsecond).",
        ),
        sa.Column(
            "duration_seconds", sa.Float(), nullable=True, comment="Seconds the segment lasted (to the 100 ns tick)."
        ),
        sa.Column("caller_user_id", sa.String(length=36), nullable=True, comment="Object id of the caller's user."),
        sa.Column(
            "caller_display_name", sa.Text(), nullable=True, comment="Name of the caller (user, phone or application)."
        ),
        sa.Column(
            "caller_platform",
            sa.Text(),
            nullable=True,
            comment="Platform of the caller's client: windows, macOS, iOS, android, web...",
        ),
        sa.Column(
            "caller_product_family",
            sa.Text(),
            nullable=True,
            comment="Product of the caller's client: teams, skypeForBusiness...",
        ),
        sa.Column("callee_user_id", sa.String(length=36), nullable=True, comment="Object id of the callee's user."),
        sa.Column(
            "callee_display_name", sa.Text(), nullable=True, comment="Name of the callee (user, phone or application)."
        ),
        sa.Column(
            "callee_platform",
            sa.Text(),
            nullable=True,
            comment="Platform of the callee's client: windows, macOS, iOS, android, web...",
        ),
        sa.Column(
            "callee_product_family",
            sa.Text(),
            nullable=True,
            comment="Product of the callee's client: teams, skypeForBusiness...",
        ),
        sa.Column(
            "media_labels", sa.Text(), nullable=False, comment='Media of the segment, "; "-joined (main-audio...).'
        ),
        sa.Column(
            "failure_stage",
            sa.Text(),
            nullable=True,
            comment="Where it failed (callSetup, midcall); null when it did not.",
        ),
        sa.Column("failure_reason", sa.Text(), nullable=True, comment="Why it failed; null when it did not."),
        sa.PrimaryKeyConstraint(
            "tenant_id", "day", "call_record_id", "session_position", "position", name=op.f("pk_call_segments")
        ),
        comment="Segments of each session (a VoIP session has one; PSTN and relayed calls more).",
    )
    op.create_table(
        "call_sessions",
        sa.Column(
            "tenant_id",
            sa.String(length=36),
            nullable=False,
            comment="Entra ID tenant (directory) id the row belongs to.",
        ),
        sa.Column(
            "day",
            sa.Date(),
            nullable=False,
            comment="UTC date of the call's start: the daily partition it was loaded with.",
        ),
        sa.Column("call_record_id", sa.String(length=128), nullable=False, comment="The call (call_records.id)."),
        sa.Column(
            "position", sa.Integer(), nullable=False, comment="0-based position of the session in the call's sessions."
        ),
        sa.Column("session_id", sa.String(length=128), nullable=True, comment="Id of the session."),
        sa.Column("modalities", sa.Text(), nullable=False, comment='Modalities of the session, "; "-joined.'),
        sa.Column(
            "start_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the session started (UTC, to the microsecond).",
        ),
        sa.Column(
            "end_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the session ended (UTC, to the microsecond).",
        ),
        sa.Column(
            "duration_seconds", sa.Float(), nullable=True, comment="Seconds the session lasted (to the 100 ns tick)."
        ),
        sa.Column("is_test", sa.Boolean(), nullable=True, comment="Whether the session was a test call."),
        sa.Column("caller_user_id", sa.String(length=36), nullable=True, comment="Object id of the caller's user."),
        sa.Column(
            "caller_display_name", sa.Text(), nullable=True, comment="Name of the caller (user, phone or application)."
        ),
        sa.Column(
            "caller_platform",
            sa.Text(),
            nullable=True,
            comment="Platform of the caller's client: windows, macOS, iOS, android, web...",
        ),
        sa.Column(
            "caller_product_family",
            sa.Text(),
            nullable=True,
            comment="Product of the caller's client: teams, skypeForBusiness...",
        ),
        sa.Column("callee_user_id", sa.String(length=36), nullable=True, comment="Object id of the callee's user."),
        sa.Column(
            "callee_display_name", sa.Text(), nullable=True, comment="Name of the callee (user, phone or application)."
        ),
        sa.Column(
            "callee_platform",
            sa.Text(),
            nullable=True,
            comment="Platform of the callee's client: windows, macOS, iOS, android, web...",
        ),
        sa.Column(
            "callee_product_family",
            sa.Text(),
            nullable=True,
            comment="Product of the callee's client: teams, skypeForBusiness...",
        ),
        sa.Column(
            "callee_feedback_rating",
            sa.Text(),
            nullable=True,
            comment="Rating the callee gave the call (excellent ... bad); null when none.",
        ),
        sa.Column(
            "failure_stage",
            sa.Text(),
            nullable=True,
            comment="Where it failed (callSetup, midcall); null when it did not.",
        ),
        sa.Column("failure_reason", sa.Text(), nullable=True, comment="Why it failed; null when it did not."),
        sa.PrimaryKeyConstraint("tenant_id", "day", "call_record_id", "position", name=op.f("pk_call_sessions")),
        comment="Sessions of each call: who called whom, on which client, and whether it failed.",
    )
    op.create_index(
        op.f("ix_call_sessions_tenant_id_caller_user_id"),
        "call_sessions",
        ["tenant_id", "caller_user_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_call_sessions_tenant_id_caller_user_id"), table_name="call_sessions")
    op.drop_table("call_sessions")
    op.drop_table("call_segments")
    op.drop_index(op.f("ix_call_records_tenant_id_organizer_id"), table_name="call_records")
    op.drop_index(op.f("ix_call_records_tenant_id_id"), table_name="call_records")
    op.drop_table("call_records")
    op.drop_table("call_record_days")
    op.drop_table("call_media_streams")
