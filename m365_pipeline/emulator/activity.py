"""Entra activity logs as the emulator serves them: ``/auditLogs/signIns`` and ``/auditLogs/directoryAudits``.

Each log holds a fixed number of events per UTC day, and every event is a pure function of (tenant, log, day,
position in the day), so any page is made on demand: no day is ever held in memory, and the same tenant always
answers the same events. Position 0 of a day is its newest event, stamped ``23:59:59.9999999Z``; the last is
stamped exactly ``00:00:00Z``; in between, timestamps fall monotonically with 0 to 7 fractional digits (100 ns
ticks, truncated, so no event leaves its day).

Graph's documented behaviour (signin-list.md, directoryaudit-list.md, concepts/throttling and the reporting
retention page): newest first, default and maximum page 1,000 (``$top`` above is a 400), ``$filter`` on the
timestamp with ``ge``/``gt``/``le``/``lt`` joined by ``and``, opaque ``$skiptoken`` in absolute nextLinks; only
events inside the tenant's retention (7 days free, 30 days with Entra ID P1/P2) exist, older ones are simply
absent (an empty page, not an error); sign-ins need P1/P2 at all (403
``Authentication_RequestFromNonPremiumTenantOrB2CTenant``). Evolvable enum members (those Graph lists after
``unknownFutureValue``) come as ``unknownFutureValue`` unless the request sends
``Prefer: include-unknown-enum-members``, which the answer then echoes in ``Preference-Applied``.

Paging keeps a cursor (the last event served) rather than an offset, so events that happen while a client pages
never shift or repeat what it reads.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from m365_pipeline.emulator.odata import GraphError, PageTokens, QueryOptions, bad_request, unsupported_query
from m365_pipeline.emulator.tenant import SyntheticTenant, guid

TICKS_PER_SECOND = 10_000_000
SECONDS_PER_DAY = 86_400
TICKS_PER_DAY = SECONDS_PER_DAY * TICKS_PER_SECOND
MAX_PAGE = 1_000
FREE_RETENTION_DAYS = 7
PREMIUM_RETENTION_DAYS = 30
INCLUDE_UNKNOWN_ENUM_MEMBERS = "include-unknown-enum-members"
UNKNOWN_FUTURE_VALUE = "unknownFutureValue"
ACTIVITY_OPTIONS = ("$top", "$filter", "$skiptoken")

_INDEX_BITS = 40  # a cursor is (day << 40) | position within the day

# Members Graph lists after unknownFutureValue (sent only on request)
_EVOLVABLE_POLICY_RESULTS = ("reportOnlySuccess", "reportOnlyFailure", "reportOnlyNotApplied", "reportOnlyInterrupted")
_EVOLVABLE_RISK_DETAILS = ("userChangedPasswordOnPremises", "adminDismissedRiskForSignIn", "adminConfirmedAccountSafe")

_APPS = (
    ("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online", "Exchange Online"),
    ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams", "Microsoft Teams Services"),
    ("00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online", "SharePoint Online"),
    ("de8bc8b5-d9f9-48b1-a8ad-b748da725064", "Graph Explorer", "Microsoft Graph"),
    ("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome", "Office 365"),
)
_CLIENTS = ("Browser", "Mobile Apps and Desktop clients", "Exchange ActiveSync", "IMAP4", "Authenticated SMTP")
_SYSTEMS = (("Windows 10", "Edge 120.0.0"), ("MacOs", "Safari 17.1"), ("Ios", "Mobile Safari"), ("Android", "Chrome"))
_PLACES = (
    ("Chiyoda", "Tokyo", "JP", 35.694, 139.754),
    ("Osaka", "Osaka", "JP", 34.693, 135.502),
    ("Seattle", "Washington", "US", 47.606, -122.332),
    ("London", "England", "GB", 51.507, -0.128),
)
_POLICIES = (
    ("5f3c0d1e-4a8b-4c55-9d0e-0e6a3a1b2c01", "Require MFA for administrators", ["mfa"]),
    ("5f3c0d1e-4a8b-4c55-9d0e-0e6a3a1b2c02", "Block legacy authentication", ["block"]),
    ("5f3c0d1e-4a8b-4c55-9d0e-0e6a3a1b2c03", "Require compliant device (report-only)", ["compliantDevice"]),
)
_POLICY_RESULTS = ("success", "failure", "notApplied", "notEnabled")
_FAILURES = ((50126, "Error validating credentials due to invalid username or password."), (50076, "MFA required."))
_AUDITS = (
    ("UserManagement", "Update user", "Update", "Core Directory", "User"),
    ("UserManagement", "Add user", "Add", "Core Directory", "User"),
    ("GroupManagement", "Add member to group", "Assign", "Core Directory", "Group"),
    ("ApplicationManagement", "Consent to application", "Assign", "Core Directory", "ServicePrincipal"),
    ("UserManagement", "Reset password (by admin)", "Update", "Self-service Password Management", "User"),
    ("RoleManagement", "Add member to role", "Assign", "Core Directory", "Role"),
)


@dataclass(frozen=True)
class LogKind:
    name: str  # as in the path: signIns, directoryAudits
    time_property: str
    premium_only: bool
    make: Callable[[random.Random, SyntheticTenant, str, bool], dict[str, Any]]


def ticks_text(ticks: int, digits: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS[.f{digits}]Z`` of an instant in 100 ns ticks since the epoch."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    days, second_of_day = divmod(seconds, SECONDS_PER_DAY)
    year, month, day = _civil_from_days(days)
    hours, rest = divmod(second_of_day, 3600)
    text = f"{year:04d}-{month:02d}-{day:02d}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if digits:
        text += "." + f"{fraction:07d}"[:digits]
    return text + "Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) of a day number since 1970-01-01 (Howard Hinnant's algorithm)."""
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + 3 if month_index < 10 else month_index - 9
    return year_of_era + era * 400 + (month <= 2), month, day


def _days_from_civil(year: int, month: int, day: int) -> int:
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


_LITERAL = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})?)?", re.ASCII
)
_CONDITION = re.compile(r"\s*(\w+)\s+(ge|gt|le|lt)\s+('?)([^\s']+)\3\s*", re.ASCII)


def parse_instant(text: str) -> int:
    """A DateTimeOffset literal of ``$filter`` (or a date: midnight UTC) in ticks since the epoch."""
    match = _LITERAL.fullmatch(text)
    if match is None:
        raise bad_request(
            f"The DateTimeOffset text '{text}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?'"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    seconds = _days_from_civil(int(year), int(month), int(day)) * SECONDS_PER_DAY
    seconds += int(hour or 0) * 3600 + int(minute or 0) * 60 + int(second or 0)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        seconds += sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * TICKS_PER_SECOND + int((fraction or "").ljust(7, "0"))


@dataclass(frozen=True)
class TimeWindow:
    """[start, end) in ticks; the whole timeline when unbounded."""

    start: int = 0
    end: int = 1 << 62

    @property
    def key(self) -> str:
        return f"{self.start}-{self.end}"


def parse_time_filter(text: str | None, time_property: str) -> TimeWindow:
    """``<time_property> ge|gt|le|lt <instant>`` conditions joined by ``and``; anything else is refused."""
    window = TimeWindow()
    if text is None:
        return window
    start, end = window.start, window.end
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _CONDITION.fullmatch(part)
        if match is None or match.group(1).lower() != time_property.lower():
            raise unsupported_query(f"Invalid filter clause: the emulator filters on {time_property} only ('{part}').")
        instant = parse_instant(match.group(4))
        operator = match.group(2)
        if operator == "ge":
            start = max(start, instant)
        elif operator == "gt":
            start = max(start, instant + 1)
        elif operator == "lt":
            end = min(end, instant)
        else:
            end = min(end, instant + 1)
    return TimeWindow(start, end)


class ActivityLog:
    """One tenant's log of one kind: ``per_day`` events every UTC day, made on demand."""

    def __init__(self, tenant: SyntheticTenant, kind: LogKind, per_day: int) -> None:
        if per_day < 2:
            raise ValueError(f"an activity log needs at least 2 events a day (the day's two edges), got {per_day}")
        self.tenant = tenant
        self.kind = kind
        self.per_day = per_day
        self._seed = hashlib.sha256(f"{tenant.tenant_id}|{kind.name}".encode()).hexdigest()

    def ticks(self, day: int, position: int) -> int:
        """When event ``position`` (0: the newest) of ``day`` (days since the epoch) happened, in ticks."""
        return self.stamp(day, position)[0]

    def stamp(self, day: int, position: int) -> tuple[int, int]:
        """(ticks since the epoch, fractional digits written) of event ``position`` of ``day``. Truncating to
        fewer digits never goes below the next event's time, so times never rise with the position."""
        within = self._within(position)
        digits = self._digits(day, position)
        truncated = within - within % 10 ** (7 - digits)
        if position < self.per_day - 1 and truncated < self._within(position + 1):
            truncated, digits = within, 7
        return day * TICKS_PER_DAY + truncated, digits

    def _within(self, position: int) -> int:
        last = self.per_day - 1
        return (last - position) * (TICKS_PER_DAY - 1) // last

    def _digits(self, day: int, position: int) -> int:
        if position == 0:
            return 7
        if position == self.per_day - 1:
            return 0
        roll = (day * 2_654_435_761 + position * 40_503) % 20
        if roll == 0:
            return 0
        return roll if roll < 7 else 7

    def event(self, day: int, position: int, include_unknown: bool) -> dict[str, Any]:
        rng = random.Random(f"{self._seed}|{day}|{position}")
        at = ticks_text(*self.stamp(day, position))
        return self.kind.make(rng, self.tenant, at, include_unknown)

    def positions(self, day: int, window: TimeWindow) -> range:
        """The positions of ``day`` whose time lies in ``window`` (times fall as positions rise)."""
        return range(self._first_before(day, window.end), self._first_before(day, window.start))

    def _first_before(self, day: int, instant: int) -> int:
        low, high = 0, self.per_day
        while low < high:
            middle = (low + high) // 2
            if self.ticks(day, middle) < instant:
                high = middle
            else:
                low = middle + 1
        return low

    def newest_first(self, window: TimeWindow, after: int | None) -> Iterator[tuple[int, int]]:
        """(day, position) of every event in ``window``, newest first, starting after the cursor ``after``."""
        if window.end <= window.start:
            return
        first_day = window.start // TICKS_PER_DAY
        last_day = (window.end - 1) // TICKS_PER_DAY
        start_day, start_position = (last_day, 0) if after is None else divmod_cursor(after)
        if after is not None:
            start_position += 1
        for day in range(min(start_day, last_day), first_day - 1, -1):
            positions = self.positions(day, window)
            begin = max(positions.start, start_position) if day == start_day else positions.start
            for position in range(begin, positions.stop):
                yield day, position


def cursor(day: int, position: int) -> int:
    return (day << _INDEX_BITS) | position


def divmod_cursor(value: int) -> tuple[int, int]:
    return value >> _INDEX_BITS, value & ((1 << _INDEX_BITS) - 1)


class ActivityFeeds:
    """The activity logs of every tenant an emulator serves, and their paging."""

    def __init__(self, sign_ins_per_day: int, audits_per_day: int) -> None:
        self.per_day = {SIGN_INS.name.lower(): sign_ins_per_day, DIRECTORY_AUDITS.name.lower(): audits_per_day}
        self._logs: dict[tuple[str, str], ActivityLog] = {}

    def log(self, tenant: SyntheticTenant, name: str) -> ActivityLog | None:
        kind = _KINDS.get(name.lower())
        if kind is None:
            return None
        key = (tenant.tenant_id, kind.name)
        if key not in self._logs:
            self._logs[key] = ActivityLog(tenant, kind, self.per_day[kind.name.lower()])
        return self._logs[key]

    @staticmethod
    def page(
        log: ActivityLog,
        *,
        base: str,
        options: QueryOptions,
        prefer: str,
        now: float,
        premium: bool,
        tokens: PageTokens,
    ) -> bytes:
        """The JSON of one page."""
        if log.kind.premium_only and not premium:
            raise GraphError(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
            )
        size = _page_size(options.get("$top"))
        window = parse_time_filter(options.get("$filter"), log.kind.time_property)
        now_ticks = int(now * TICKS_PER_SECOND)
        retention = PREMIUM_RETENTION_DAYS if premium else FREE_RETENTION_DAYS
        kept = TimeWindow(max(window.start, now_ticks - retention * TICKS_PER_DAY), min(window.end, now_ticks + 1))
        scope = f"{log.kind.name}|{window.key}"
        token = options.get("$skiptoken")
        after = tokens.offset(scope, token) if token is not None else None
        include_unknown = INCLUDE_UNKNOWN_ENUM_MEMBERS in {part.strip().lower() for part in prefer.split(",")}
        events: list[bytes] = []
        last: tuple[int, int] | None = None
        more = False
        for day, position in log.newest_first(kept, after):
            if len(events) == size:
                more = True
                break
            events.append(_encode(log.event(day, position, include_unknown)))
            last = (day, position)
        head = f'{{"@odata.context":"{base}/v1.0/$metadata#auditLogs/{log.kind.name}"'
        if more and last is not None:
            link_query = options.link_query(without="$skiptoken")
            carried = f"{link_query}&" if link_query else ""
            next_link = (
                f"{base}/v1.0/auditLogs/{log.kind.name}?{carried}$skiptoken={tokens.issue(scope, cursor(*last))}"
            )
            head += f',"@odata.nextLink":"{next_link}"'
        return (head + ',"value":[').encode() + b",".join(events) + b"]}"


def _page_size(raw: str | None) -> int:
    if raw is None:
        return MAX_PAGE
    text = raw.strip()
    size = int(text) if text.isdigit() else 0
    if not 1 <= size <= MAX_PAGE:
        raise bad_request(f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_PAGE} inclusive.")
    return size


def _encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _pick(rng: random.Random, items: tuple[Any, ...]) -> Any:
    return items[int(rng.random() * len(items))]


def _sign_in(rng: random.Random, tenant: SyntheticTenant, at: str, include_unknown: bool) -> dict[str, Any]:
    user = tenant.users[int(rng.random() * len(tenant.users))] if tenant.users else None
    app_id, app_name, resource_name = _pick(rng, _APPS)
    failed = rng.random() < 0.08
    error_code, failure = _pick(rng, _FAILURES) if failed else (0, None)
    operating_system, browser = _pick(rng, _SYSTEMS)
    city, state, country, latitude, longitude = _pick(rng, _PLACES)
    policies = []
    for policy_id, name, grants in _POLICIES:
        result = _pick(rng, _POLICY_RESULTS)
        if rng.random() < 0.2:
            evolvable = _pick(rng, _EVOLVABLE_POLICY_RESULTS)
            result = evolvable if include_unknown else UNKNOWN_FUTURE_VALUE
        policies.append(
            {
                "id": policy_id,
                "displayName": name,
                "enforcedGrantControls": grants if result in ("success", "failure") else [],
                "enforcedSessionControls": [],
                "result": result,
            }
        )
    risk_detail = "none"
    if rng.random() < 0.03:
        risk_detail = _pick(rng, _EVOLVABLE_RISK_DETAILS) if include_unknown else UNKNOWN_FUTURE_VALUE
    statuses = {policy["result"] for policy in policies}
    return {
        "id": guid(rng.getrandbits(128)),
        "createdDateTime": at,
        "userDisplayName": user["displayName"] if user else None,
        "userPrincipalName": user["userPrincipalName"] if user else None,
        "userId": user["id"] if user else None,
        "appId": app_id,
        "appDisplayName": app_name,
        "ipAddress": f"203.0.113.{int(rng.random() * 254) + 1}",
        "clientAppUsed": _pick(rng, _CLIENTS),
        "correlationId": guid(rng.getrandbits(128)),
        "conditionalAccessStatus": "failure"
        if "failure" in statuses
        else "success"
        if "success" in statuses
        else "notApplied",
        "isInteractive": rng.random() < 0.6,
        "riskDetail": risk_detail,
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "low" if rng.random() < 0.05 else "none",
        "riskState": "none",
        "riskEventTypes": [],
        "resourceDisplayName": resource_name,
        "resourceId": app_id,
        "status": {"errorCode": error_code, "failureReason": failure, "additionalDetails": None},
        "deviceDetail": {
            "deviceId": "",
            "displayName": None,
            "operatingSystem": operating_system,
            "browser": browser,
            "isCompliant": None,
            "isManaged": None,
            "trustType": None,
        },
        "location": {
            "city": city,
            "state": state,
            "countryOrRegion": country,
            "geoCoordinates": {"altitude": None, "latitude": latitude, "longitude": longitude},
        },
        "appliedConditionalAccessPolicies": policies,
    }


def _directory_audit(rng: random.Random, tenant: SyntheticTenant, at: str, include_unknown: bool) -> dict[str, Any]:
    users = tenant.users
    actor = users[int(rng.random() * len(users))] if users else None
    target = users[int(rng.random() * len(users))] if users else None
    category, activity, operation, service, target_type = _pick(rng, _AUDITS)
    modified = []
    if operation == "Update":
        modified.append(
            {"displayName": "AccountEnabled", "oldValue": "[true]", "newValue": f"[{str(rng.random() < 0.5).lower()}]"}
        )
    return {
        "id": f"Directory_{guid(rng.getrandbits(128))}",
        "category": category,
        "correlationId": guid(rng.getrandbits(128)),
        "result": "success" if rng.random() < 0.95 else "failure",
        "resultReason": "",
        "activityDisplayName": activity,
        "activityDateTime": at,
        "loggedByService": service,
        "operationType": operation,
        "initiatedBy": {
            "user": {
                "id": actor["id"] if actor else None,
                "displayName": actor["displayName"] if actor else None,
                "userPrincipalName": actor["userPrincipalName"] if actor else None,
                "ipAddress": f"198.51.100.{int(rng.random() * 254) + 1}",
            },
            "app": None,
        },
        "targetResources": [
            {
                "id": target["id"] if target else guid(rng.getrandbits(128)),
                "displayName": target["displayName"] if target else None,
                "type": target_type,
                "userPrincipalName": target["userPrincipalName"] if target else None,
                "modifiedProperties": modified,
            }
        ],
        "additionalDetails": [{"key": "User-Agent", "value": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}],
    }


SIGN_INS = LogKind("signIns", "createdDateTime", True, _sign_in)
DIRECTORY_AUDITS = LogKind("directoryAudits", "activityDateTime", False, _directory_audit)
_KINDS = {kind.name.lower(): kind for kind in (SIGN_INS, DIRECTORY_AUDITS)}
