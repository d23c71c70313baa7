"""Call records as the emulator serves them (callrecords-cloudcommunications-list-callrecords.md,
callrecords-callrecord-get.md, callrecords-callrecord-list-sessions.md, the callRecord, session, segment and
mediaStream resources).

Each tenant holds a fixed number of calls per UTC day, every one a pure function of (tenant, day, position in the
day), made on demand like the activity logs (``activity.ActivityLog``: the newest call of a day starts at
``23:59:59.9999999Z``, the oldest exactly at ``00:00:00Z``, 0 to 7 fractional digits in between). A call is
peer-to-peer (one session between two of the tenant's users) or a group call (a session per participant; about
one in ten is a meeting of more sessions than fit one page). Each session has one or two segments, each segment
an audio (and sometimes a video) media with a stream per direction and its quality figures, durations written
as ISO 8601 (``PT0.0161234S``). A call's id carries its start, so ``GET /communications/callRecords/{id}`` finds
it without an index.

Graph's documented behaviour: the list takes ``$filter`` on ``startDateTime`` (``ge``/``gt``/``le``/``lt`` joined
by ``and``), pages at most 60 records (``Prefer: odata.maxpagesize`` asks fewer) with an opaque ``$skiptoken``,
and never expands sessions. The GET expands ``sessions`` (and ``sessions($expand=segments)``), at most 60 sessions,
the rest behind ``sessions@odata.nextLink`` (``/communications/callRecords/{id}/sessions?$expand=segments&
$skiptoken=...``, itself paged with ``@odata.nextLink``). A record exists once its call has ended and for 30 days
after it started: the list leaves older ones out, the GET answers 404.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from m365_pipeline.emulator.activity import (
    TICKS_PER_DAY,
    TICKS_PER_SECOND,
    ActivityLog,
    LogKind,
    TimeWindow,
    cursor,
    parse_instant,
    parse_time_filter,
    ticks_text,
)
from m365_pipeline.emulator.odata import GraphError, PageTokens, QueryOptions, bad_request, unsupported_query
from m365_pipeline.emulator.tenant import SyntheticTenant, guid

MAX_PAGE = 60  # records of a list page, and sessions of a record or a sessions page
RETENTION_DAYS = 30
LONGEST_CALL_SECONDS = 2 * 3600  # a record is served once this long has passed since its call started
# Graph also takes $select (and $filter on participants_v2/id); the emulator refuses what it does not implement
LIST_OPTIONS = ("$filter", "$skiptoken")
GET_OPTIONS = ("$expand",)
SESSIONS_OPTIONS = ("$expand", "$skiptoken")
_MAX_PAGE_SIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)
_ID = re.compile(r"[0-9a-f]{8}-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{3})[0-9a-f]{9}", re.ASCII)

_CLIENTS = (
    ("windows", "teams", "Microsoft Teams Desktop 1.7.00.7956"),
    ("macOS", "teams", "Microsoft Teams macOS 24215.1007.3082"),
    ("iOS", "teams", "Teams iOS 6.18.1"),
    ("android", "teams", "Teams Android 1416/1.0.0.2024"),
    ("web", "teams", "Teams Web Edge/120"),
)
_DEVICES = (
    ("Headset Microphone (Jabra Evolve2 65)", "Headset Earphone (Jabra Evolve2 65)"),
    ("Microphone", "Speakers"),
)
_NETWORKS = ("wired", "wifi", "mobile")
_AUDIO_CODECS = ("opus", "satin", "silk", "g722")
_FAILURES = (("callSetup", "Media timeout"), ("midcall", "Network connectivity lost"))


def _duration(ticks: int) -> str:
    """ISO 8601 text of a duration of ``ticks`` (100 ns): ``PT0.0161234S``, ``PT1.2S``, ``PT0S``."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    digits = f"{fraction:07d}".rstrip("0")
    return f"PT{seconds}.{digits}S" if digits else f"PT{seconds}S"


def _text(ticks: int) -> str:
    """A timestamp of a session, segment or stream: 7 fractional digits, as Graph writes them there."""
    return ticks_text(ticks, 7)


def _record_id(rng: random.Random, start: int) -> str:
    """A GUID-shaped id whose middle 15 hex digits are the call's start in ticks."""
    ticks = f"{start:015x}"
    return f"{rng.getrandbits(32):08x}-{ticks[0:4]}-{ticks[4:8]}-{ticks[8:12]}-{ticks[12:15]}{rng.getrandbits(36):09x}"


def _start_of(record_id: str) -> int | None:
    match = _ID.fullmatch(record_id.lower())
    return int("".join(match.groups()), 16) if match else None


def _identity(user: dict[str, Any], tenant: SyntheticTenant) -> dict[str, Any]:
    return {"user": {"id": user["id"], "displayName": user["displayName"], "tenantId": tenant.tenant_id}}


def _endpoint(rng: random.Random, user: dict[str, Any], tenant: SyntheticTenant, feedback: bool) -> dict[str, Any]:
    platform, family, header = _CLIENTS[int(rng.random() * len(_CLIENTS))]
    endpoint: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
        "name": f"machine-{rng.getrandbits(24):06x}",
        "userAgent": {
            "@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
            "headerValue": header,
            "platform": platform,
            "productFamily": family,
        },
        "identity": _identity(user, tenant),
    }
    if feedback:
        endpoint["feedback"] = {"rating": ("excellent", "good", "fair", "poor", "bad")[int(rng.random() * 5)]}
    return endpoint


def _stream(rng: random.Random, direction: str, start: int, end: int, video: bool) -> dict[str, Any]:
    jitter = 10_000 + int(rng.random() * 600_000)  # 1 ms to 61 ms
    round_trip = 100_000 + int(rng.random() * 12_000_000)  # 10 ms to 1.21 s
    loss = round(rng.random() * 0.08, 4)
    stream: dict[str, Any] = {
        "streamId": str(rng.getrandbits(31)),
        "streamDirection": direction,
        "startDateTime": _text(start),
        "endDateTime": _text(end),
        "averageAudioDegradation": round(rng.random() * 2.5, 2) if not video else None,
        "averageAudioNetworkJitter": _duration(jitter // 2) if not video else None,
        "averageBandwidthEstimate": 500_000 + int(rng.random() * 50_000_000),
        "averageJitter": _duration(jitter),
        "averagePacketLossRate": loss,
        "averageRatioOfConcealedSamples": round(rng.random() * 0.05, 4) if not video else None,
        "averageRoundTripTime": _duration(round_trip),
        "isAudioForwardErrorCorrectionUsed": rng.random() < 0.3 if not video else None,
        "maxJitter": _duration(jitter * 3),
        "maxPacketLossRate": round(min(1.0, loss * 3), 4),
        "maxRatioOfConcealedSamples": round(rng.random() * 0.2, 4) if not video else None,
        "maxRoundTripTime": _duration(round_trip * 2),
        "packetUtilization": int(rng.random() * 90_000),
        "postForwardErrorCorrectionPacketLossRate": round(loss / 2, 5),
        "wasMediaBypassed": False,
    }
    if video:
        stream |= {
            "videoCodec": "h264",
            "averageVideoFrameRate": round(15 + rng.random() * 15, 2),
            "averageReceivedFrameRate": round(15 + rng.random() * 15, 2),
            "averageVideoPacketLossRate": round(rng.random() * 0.05, 4),
            "averageVideoFrameLossPercentage": round(rng.random() * 3, 2),
            "averageFreezeDuration": _duration(int(rng.random() * 5_000_000)),
            "rmsFreezeDuration": _duration(int(rng.random() * 8_000_000)),
            "lowFrameRateRatio": round(rng.random() * 0.1, 4),
            "lowVideoProcessingCapabilityRatio": round(rng.random() * 0.05, 4),
        }
    else:
        stream["audioCodec"] = _AUDIO_CODECS[int(rng.random() * len(_AUDIO_CODECS))]
    return stream


def _media(rng: random.Random, label: str, start: int, end: int) -> dict[str, Any]:
    video = label == "main-video"
    capture, render = _DEVICES[int(rng.random() * len(_DEVICES))]
    return {
        "label": label,
        "callerNetwork": {
            "ipAddress": f"10.{int(rng.random() * 255)}.{int(rng.random() * 255)}.{int(rng.random() * 254) + 1}",
            "subnet": "10.0.0.0",
            "connectionType": _NETWORKS[int(rng.random() * len(_NETWORKS))],
            "linkSpeed": 54_000_000,
        },
        "calleeNetwork": {"ipAddress": "52.114.0.1", "subnet": "52.114.0.0", "connectionType": "wired"},
        "callerDevice": {"captureDeviceName": capture, "renderDeviceName": render},
        "calleeDevice": {"captureDeviceName": None, "renderDeviceName": None},
        "streams": [
            _stream(rng, "callerToCallee", start, end, video),
            _stream(rng, "calleeToCaller", start, end, video),
        ],
    }


def _session(
    rng: random.Random, tenant: SyntheticTenant, caller: dict[str, Any], callee: dict[str, Any], start: int, end: int
) -> dict[str, Any]:
    modalities = ["audio", "video"] if rng.random() < 0.4 else ["audio"]
    failed = rng.random() < 0.05
    segments = []
    cuts = [start, end] if rng.random() < 0.8 else [start, start + (end - start) // 3, end]
    for first, last in pairwise(cuts):
        labels = ["main-audio", "main-video"] if "video" in modalities else ["main-audio"]
        segments.append(
            {
                "id": guid(rng.getrandbits(128)),
                "startDateTime": _text(first),
                "endDateTime": _text(last),
                "caller": _endpoint(rng, caller, tenant, feedback=False),
                "callee": _endpoint(rng, callee, tenant, feedback=False),
                "media": [_media(rng, label, first, last) for label in labels],
            }
        )
    session: dict[str, Any] = {
        "id": guid(rng.getrandbits(128)),
        "modalities": modalities,
        "startDateTime": _text(start),
        "endDateTime": _text(end),
        "isTest": False,
        "caller": _endpoint(rng, caller, tenant, feedback=False),
        "callee": _endpoint(rng, callee, tenant, feedback=rng.random() < 0.3),
        "segments": segments,
    }
    if failed:
        stage, reason = _FAILURES[int(rng.random() * len(_FAILURES))]
        session["failureInfo"] = {"stage": stage, "reason": reason}
    return session


def _call_record(rng: random.Random, tenant: SyntheticTenant, at: str, include_unknown: bool) -> dict[str, Any]:
    start = parse_instant(at)
    record_id = _record_id(rng, start)
    users = tenant.users
    if len(users) < 2:
        raise ValueError("call records need a tenant of at least 2 users")
    group = rng.random() < 0.5
    meeting = group and rng.random() < 0.2
    participants = 2 if not group else 61 + int(rng.random() * 90) if meeting else 3 + int(rng.random() * 10)
    people = [users[int(rng.random() * len(users))] for _ in range(participants)]
    length = 30 * TICKS_PER_SECOND + int(rng.random() * (LONGEST_CALL_SECONDS - 60) * TICKS_PER_SECOND)
    end = start + length
    organizer = people[0]
    if group:
        sessions = [_session(rng, tenant, person, organizer, start, end) for person in people]
    else:
        sessions = [_session(rng, tenant, organizer, people[1], start, end)]
    modalities = sorted({modality for session in sessions for modality in session["modalities"]})
    record: dict[str, Any] = {
        "id": record_id,
        "version": 1 + int(rng.random() * 3),
        "type": "groupCall" if group else "peerToPeer",
        "modalities": modalities,
        "lastModifiedDateTime": _text(end + 600 * TICKS_PER_SECOND),
        "startDateTime": at,
        "endDateTime": _text(end),
        "joinWebUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{record_id[:8]}%40thread.v2"
        if group
        else None,
        "organizer_v2": {"id": organizer["id"], "identity": _identity(organizer, tenant)},
        "sessions": sessions,
    }
    return record


CALL_RECORDS = LogKind("callRecords", "startDateTime", False, _call_record)


def page_size(prefer: str) -> int:
    """The page size ``Prefer: odata.maxpagesize`` asks for, at most (and by default) 60."""
    match = _MAX_PAGE_SIZE.search(prefer)
    if match is None:
        return MAX_PAGE
    size = int(match.group(1))
    if size < 1:
        raise bad_request(f"Invalid odata.maxpagesize '{match.group(1)}': must be at least 1.")
    return min(size, MAX_PAGE)


def _expand(options: QueryOptions) -> tuple[bool, bool]:
    """(sessions, their segments) of ``$expand``: ``sessions`` or ``sessions($expand=segments)``."""
    text = (options.get("$expand") or "").replace(" ", "").lower()
    if text in ("", "sessions", "sessions($expand=segments)"):
        return text.startswith("sessions"), text.endswith("segments)")
    raise unsupported_query(
        f"The emulator expands only sessions and sessions($expand=segments) of a call record, not '{text}'."
    )


@dataclass(frozen=True)
class CallRequest:
    """What an answer depends on: the host answers are built on, the query, the Prefer header, the time."""

    base: str
    options: QueryOptions
    prefer: str
    now: float
    tokens: PageTokens


class CallRecordFeed:
    """The call records of one tenant: ``per_day`` calls every UTC day, made on demand."""

    def __init__(self, tenant: SyntheticTenant, per_day: int) -> None:
        self.log = ActivityLog(tenant, CALL_RECORDS, per_day)

    def kept(self, now: float) -> TimeWindow:
        """The starts of the calls Graph holds records of at ``now``: ended, and at most 30 days old."""
        now_ticks = int(now * TICKS_PER_SECOND)
        return TimeWindow(
            now_ticks - RETENTION_DAYS * TICKS_PER_DAY, now_ticks - LONGEST_CALL_SECONDS * TICKS_PER_SECOND
        )

    def list_page(self, request: CallRequest) -> dict[str, Any]:
        base, options, tokens = request.base, request.options, request.tokens
        options.allow_only(LIST_OPTIONS)
        size = page_size(request.prefer)
        window = parse_time_filter(options.get("$filter"), self.log.kind.time_property)
        kept = self.kept(request.now)
        served = TimeWindow(max(window.start, kept.start), min(window.end, kept.end))
        scope = f"callRecords|{window.key}"
        token = options.get("$skiptoken")
        after = tokens.offset(scope, token) if token is not None else None
        records: list[dict[str, Any]] = []
        last: tuple[int, int] | None = None
        more = False
        for day, position in self.log.newest_first(served, after):
            if len(records) == size:
                more = True
                break
            record = self.log.event(day, position, False)
            del record["sessions"]  # the list never expands relationships
            records.append(record)
            last = (day, position)
        page: dict[str, Any] = {"@odata.context": f"{base}/v1.0/$metadata#communications/callRecords"}
        if more and last is not None:
            carried = options.link_query(without="$skiptoken")
            page["@odata.nextLink"] = (
                f"{base}/v1.0/communications/callRecords?{carried + '&' if carried else ''}"
                f"$skiptoken={tokens.issue(scope, cursor(*last))}"
            )
        page["value"] = records
        return page

    def record(self, record_id: str, now: float) -> dict[str, Any]:
        """The whole record (every session), or 404 for an id never issued or a call past its retention."""
        start = _start_of(record_id)
        kept = self.kept(now)
        if start is not None and kept.start <= start < kept.end:
            day = start // TICKS_PER_DAY
            for position in self.log.positions(day, TimeWindow(start, start + 1)):
                record = self.log.event(day, position, False)
                if record["id"] == record_id.lower():
                    return record
        raise GraphError(404, "NotFound", f"The call record '{record_id}' was not found.")

    def get(self, record_id: str, request: CallRequest) -> dict[str, Any]:
        request.options.allow_only(GET_OPTIONS)
        sessions, segments = _expand(request.options)
        record = self.record(record_id, request.now)
        every = record.pop("sessions")
        base = request.base
        answer: dict[str, Any] = {
            "@odata.context": f"{base}/v1.0/$metadata#communications/callRecords/$entity",
            **record,
        }
        if sessions:
            size = page_size(request.prefer)
            answer["sessions"] = [_shown(session, segments) for session in every[:size]]
            if len(every) > size:
                answer["sessions@odata.nextLink"] = self._sessions_link(record["id"], segments, size, request)
        return answer

    def sessions_page(self, record_id: str, request: CallRequest) -> dict[str, Any]:
        options, tokens = request.options, request.tokens
        options.allow_only(SESSIONS_OPTIONS)
        expand = (options.get("$expand") or "").strip().lower()
        if expand not in ("", "segments"):
            raise unsupported_query(f"The sessions of a call record expand only segments, not '{expand}'.")
        record = self.record(record_id, request.now)
        token = options.get("$skiptoken")
        offset = tokens.offset(f"sessions|{record['id']}", token) if token is not None else 0
        size = page_size(request.prefer)
        every = record["sessions"]
        page: dict[str, Any] = {
            "@odata.context": f"{request.base}/v1.0/$metadata#communications/callRecords('{record['id']}')/sessions",
            "value": [_shown(session, expand == "segments") for session in every[offset : offset + size]],
        }
        if offset + size < len(every):
            page["@odata.nextLink"] = self._sessions_link(record["id"], expand == "segments", offset + size, request)
        return page

    @staticmethod
    def _sessions_link(record_id: str, segments: bool, offset: int, request: CallRequest) -> str:
        expand = "$expand=segments&" if segments else ""
        token = request.tokens.issue(f"sessions|{record_id}", offset)
        return f"{request.base}/v1.0/communications/callRecords/{record_id}/sessions?{expand}$skiptoken={token}"


def _shown(session: dict[str, Any], segments: bool) -> dict[str, Any]:
    return session if segments else {key: value for key, value in session.items() if key != "segments"}
