"""The Graph emulator as a plain function of requests: ``GraphEmulator.handle(EmulatorRequest) -> EmulatorResponse``.

It serves one or several synthetic tenants, as one multi-tenant app registration sees them: the sign-in path
(``/{tenant id or domain}/oauth2/v2.0/token``) picks the tenant, the token carries it, and Graph answers from the
token's tenant only. It answers the sign-in endpoints (OpenID discovery, the client-credentials token), Graph's
resources under ``/v1.0`` (``routes.py``: users, groups and their members, subscribedSkus, organization,
directory roles and role assignments, authentication methods and their report, conditional access policies,
applications and service principals; delta queries, ``delta.py``), JSON batching (``POST /v1.0/$batch``,
``batch.py``) and, outside Graph, the emulator's own admin endpoints (``/_emulator/...``, ``admin.py``: tenant
changes, the clock, forced delta-token expiry, the over-limit counters).

Graph's semantics: Graph's error envelope, bearer tokens and permissions (``signInActivity`` only for a premium
tenant and an app with AuditLog.Read.All), faults injected per ``FaultRates``, outages of the sign-in service and,
when ``limits`` is on, the published throttling limits per service class (``limits.py``). The host of a request
does not matter, except that absolute URLs in answers are built on it and that its ``scheme://host[:port]/.default``
is a Graph scope. The transports (``transport.py`` in-process, ``server.py`` on a socket) only translate to and
from these objects.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from functools import partial
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from m365_pipeline.emulator.activity import ACTIVITY_OPTIONS, INCLUDE_UNKNOWN_ENUM_MEMBERS, ActivityFeeds, ActivityLog
from m365_pipeline.emulator.admin import answer_admin
from m365_pipeline.emulator.batch import answer_batch
from m365_pipeline.emulator.call_records import CallRecordFeed, CallRequest
from m365_pipeline.emulator.clock import EmulatorClock
from m365_pipeline.emulator.faults import FaultInjector, FaultKind
from m365_pipeline.emulator.identity import (
    ALL_PERMISSIONS,
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    Grant,
    Identity,
    RegisteredClient,
    SignInError,
)
from m365_pipeline.emulator.limits import LimitClass, Limiter, minimum_seconds, resource_units
from m365_pipeline.emulator.odata import GraphError, QueryOptions, page_size
from m365_pipeline.emulator.routes import (
    GRAPH_CONTENT_TYPE,
    SIGN_IN_ACTIVITY_PAGE_CAP,
    Answer,
    Call,
    Route,
    TenantGraph,
    encode_json,
)
from m365_pipeline.emulator.sites import Sites
from m365_pipeline.emulator.state import TenantState
from m365_pipeline.emulator.tenant import SyntheticTenant
from m365_pipeline.emulator.usage_reports import CSV_CONTENT_TYPE, DOWNLOAD_PATH, UsageReports
from m365_pipeline.settings import FaultRates

__all__ = [
    "EMULATOR_CLIENT_ID",
    "EMULATOR_CLIENT_SECRET",
    "EmulatorRequest",
    "EmulatorResponse",
    "GraphEmulator",
    "RegisteredClient",
    "encode_json",
]

REQUEST_LOG_SIZE = 10_000
DRIVE_DELTA_PAGE_SIZE = 200
"""Items on a page of a drive's delta when the request sets no ``$top`` (tests set fewer to spread drives over
pages)."""

READ_AUDIT_LOGS = frozenset({"AuditLog.Read.All"})
READ_REPORTS = frozenset({"Reports.Read.All"})
READ_REPORT_SETTINGS = frozenset({"ReportSettings.Read.All"})
READ_FILES = frozenset({"Files.Read.All", "Sites.Read.All"})
READ_SITES = frozenset({"Sites.Read.All"})
LIST_TEAMS = frozenset({"Team.ReadBasic.All", "TeamSettings.Read.All", "Directory.Read.All"})
READ_TEAM = frozenset({"TeamSettings.Read.All", "Directory.Read.All"})
READ_TEAM_APPS = frozenset({"TeamsAppInstallation.ReadForTeam.All", "Directory.Read.All"})
READ_CALL_RECORDS = frozenset({"CallRecords.Read.All"})
# A user property Graph serves only to an app with this permission on a tenant with Entra ID P1/P2
SIGN_IN_ACTIVITY = "signInActivity"
SIGN_IN_ACTIVITY_PERMISSION = "AuditLog.Read.All"

SIGN_IN_CONTENT_TYPE = "application/json; charset=utf-8"
DIAGNOSTIC = (
    '{"ServerInfo":{"DataCenter":"Japan East","Slice":"E","Ring":"5","ScaleUnit":"001","RoleInstance":"EMU365"}}'
)
NO_FAULTS = FaultRates()
ADMIN_PREFIX = "_emulator"  # the emulator's own endpoints, outside Graph's /v1.0
THROTTLE_WARNING_SHARE = 0.8  # past this share of a budget, answers carry x-ms-throttle-limit-percentage


@dataclass
class EmulatorRequest:
    method: str
    url: str  # the full URL, query string included, as sent
    headers: Mapping[str, str]  # names are matched case-insensitively
    body: bytes = b""


@dataclass
class EmulatorResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    drop_after: int | None = None  # not None: the connection must die after this many body bytes

    def json(self) -> Any:
        return json.loads(self.body)


class GraphEmulator:
    """A Microsoft Graph (and its sign-in service) for one or several synthetic tenants. ``handle`` is
    thread-safe.

    ``tenants`` is one tenant or a sequence of them; ``tenants`` (the attribute) maps each id to its tenant and
    ``tenant`` is the first. The app registrations in ``clients`` are multi-tenant: each signs in to every
    tenant. ``permissions_by_tenant`` maps a tenant id to the permissions its administrator consented to (an
    empty set: every Graph call there is a 403 Authorization_RequestDenied); unnamed tenants consented to all of
    each client's permissions. Faults follow ``faults`` in each tenant separately.

    ``premium=False`` is a tenant without a Microsoft Entra ID P1/P2 licence: Graph refuses any request that
    selects ``signInActivity``. ``filter_per_page=True`` applies ``$filter`` to each page of the collection after
    paging, as Graph does for some queries: pages come short or empty, and still carry a nextLink.
    ``sign_in_activity_page_cap`` is the most users a page holds when signInActivity is selected or filtered.

    ``limits=True`` enforces Graph's published throttling limits (``limits.py``; off by default so that the bundled
    run stays fast; ``over_limit`` counts the refusals). ``delta_replays`` is the share of delta pages shuffled and
    replayed. The clock is the emulator's (``advance_clock`` moves it): tokens, delta-token expiry and the times of
    the tenant's changes (``state(tenant_id)``, the change API) all follow it.
    ``sign_ins_per_day`` and ``audits_per_day`` size each tenant's activity logs (``activity.py``),
    ``calls_per_day`` its call records (``call_records.py``).
    """

    def __init__(
        self,
        tenants: SyntheticTenant | Sequence[SyntheticTenant],
        faults: FaultRates = NO_FAULTS,
        *,
        clients: Mapping[str, RegisteredClient] | None = None,
        token_lifetime: float = 3600.0,
        clock: Callable[[], float] = time.time,
        premium: bool = True,
        filter_per_page: bool = False,
        permissions_by_tenant: Mapping[str, frozenset[str]] | None = None,
        limits: bool = False,
        delta_replays: float = 0.0,
        sign_in_activity_page_cap: int = SIGN_IN_ACTIVITY_PAGE_CAP,
        sign_ins_per_day: int = 2_000,
        audits_per_day: int = 200,
        calls_per_day: int = 20,
        drive_delta_page_size: int = DRIVE_DELTA_PAGE_SIZE,
    ) -> None:
        served = [tenants] if isinstance(tenants, SyntheticTenant) else list(tenants)
        if not served:
            raise ValueError("a Graph emulator needs at least one tenant")
        if clients is None:
            clients = {EMULATOR_CLIENT_ID: RegisteredClient(EMULATOR_CLIENT_SECRET, ALL_PERMISSIONS)}
        self.clock = EmulatorClock(clock)
        self._identity = Identity(served, clients, token_lifetime, self.clock, permissions_by_tenant)
        self.tenants: dict[str, SyntheticTenant] = {tenant.tenant_id: tenant for tenant in served}
        self.tenant = served[0]
        self.premium = premium
        self.drive_delta_page_size = drive_delta_page_size
        self.limiter = Limiter(self.clock, enabled=limits)
        # (method, path with query, status) of the latest requests, for tests; bounded for a long `serve_forever`
        self.requests: deque[tuple[str, str, int]] = deque(maxlen=REQUEST_LOG_SIZE)
        self._graphs = {
            tenant.tenant_id: TenantGraph(
                tenant,
                faults,
                self.clock,
                filter_per_page=filter_per_page,
                delta_replays=delta_replays,
                sign_in_activity_page_cap=sign_in_activity_page_cap,
            )
            for tenant in served
        }
        self._first = self._graphs[self.tenant.tenant_id]
        self._sites: dict[str, Sites] = {}  # by tenant id, made on first use
        self._lock = threading.Lock()
        self._sign_in_outage = 0  # token requests still to be answered 503
        self._sign_in_outage_retry_after: int | None = None
        self.activity = ActivityFeeds(sign_ins_per_day, audits_per_day)
        self.call_records = {tenant.tenant_id: CallRecordFeed(tenant, calls_per_day) for tenant in served}
        secret = hashlib.sha256("|".join(["reports", *self.tenants]).encode()).digest()
        self.usage_reports = UsageReports(secret, self.tenants)

    @property
    def filter_per_page(self) -> bool:
        return self._first.filter_per_page

    def state(self, tenant_id: str | None = None) -> TenantState:
        """A tenant's live directory and its change API (the first tenant's when none is named)."""
        return self._graph_of(tenant_id).state

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's time forward (tokens, delta-token expiry and change times follow it)."""
        return self.clock.advance(seconds)

    def expire_delta_tokens(self, status: Literal[400, 410] = 400, tenant_id: str | None = None) -> None:
        """Every delta and skip token issued so far in the tenant (every tenant when none is named) is answered
        as expired: 400 ``syncStateNotFound``, or 410 Gone with a ``Location`` that starts a new round. Drive
        delta links know only the 410 form (driveitem-delta.md): they get it whichever ``status`` is asked."""
        for graph in self._graphs.values() if tenant_id is None else [self._graph_of(tenant_id)]:
            graph.delta.expire_tokens(status)
            graph.drives.expire_tokens()

    def sites(self, tenant_id: str | None = None) -> Sites:
        """A tenant's SharePoint sites and libraries (the first tenant's when none is named)."""
        graph = self._graph_of(tenant_id)
        with self._lock:
            if graph.tenant.tenant_id not in self._sites:
                self._sites[graph.tenant.tenant_id] = Sites(graph.tenant, graph.page_tokens, graph.drives)
            return self._sites[graph.tenant.tenant_id]

    def set_delta_replays(self, rate: float) -> None:
        """From now on, each delta page is shuffled, repeats one of its objects and replays one of an earlier
        page, each with probability ``rate`` (0 turns it off)."""
        for graph in self._graphs.values():
            graph.delta.replay_rate = rate

    def over_limit(self, tenant_id: str | None = None) -> dict[str, dict[str, int]]:
        """Requests refused by the throttling limits: tenant id -> class ("identity", "reports",
        "conditionalAccess") -> count."""
        return self.limiter.over_limit(tenant_id)

    def minimum_seconds(self, urls: Sequence[str], tenant_id: str | None = None) -> float:
        """The least time the published budgets allow for GET requests to ``urls`` (relative to /v1.0, as in a
        $batch, e.g. ``/users/{id}/authentication/methods``) made by one app in the tenant, from full buckets."""
        graph = self._graph_of(tenant_id)
        costs = []
        for url in urls:
            path, _, query = url.lstrip("/").partition("?")
            segments = [unquote(segment) for segment in path.split("/") if segment]
            call = Call("GET", "http://localhost", "/v1.0/" + path, query, {}, b"", "", "", 0.0)
            route = graph.route(call, segments)
            options = QueryOptions.parse(query)
            costs.append((route.limit, _limit_key(route, segments), _cost(route, options)))
        return minimum_seconds(costs, len(graph.tenant.users))

    def _graph_of(self, tenant_id: str | None) -> TenantGraph:
        if tenant_id is None:
            return self._first
        graph = self._graphs.get(tenant_id)
        if graph is None:
            raise KeyError(f"the emulator serves no tenant {tenant_id}")
        return graph

    @property
    def faults(self) -> FaultInjector:
        """The first tenant's faults (``faults_for`` gives any tenant's)."""
        return self._first.faults

    def faults_for(self, tenant_id: str) -> FaultInjector:
        return self._graphs[tenant_id].faults

    def handle(self, request: EmulatorRequest) -> EmulatorResponse:
        url = urlsplit(request.url)
        headers = {name.lower(): value for name, value in request.headers.items()}
        segments = [unquote(segment) for segment in (url.path or "/").split("/") if segment]
        if segments and segments[0] == ADMIN_PREFIX:
            status, payload = answer_admin(self, request.method.upper(), segments[1:], url.query, request.body)
            return EmulatorResponse(status, {"Content-Type": "application/json"}, encode_json(payload))
        if url.path.startswith(DOWNLOAD_PATH):
            call = self._take_apart(request, url, headers, self._first)
            response = self._report_download(call)
        elif segments and segments[0].lower() == "v1.0":
            # The token decides the tenant; a request without a valid one is answered (401) as the first's
            try:
                bearer: Grant | GraphError = self._identity.authenticate(headers.get("authorization"))
            except GraphError as refusal:
                bearer = refusal
            graph = self._graphs[bearer.tenant_id] if isinstance(bearer, Grant) else self._first
            call = self._take_apart(request, url, headers, graph)
            response = self._graph(call, graph, bearer, segments[1:])
        else:
            tenant = self._identity.find_tenant(segments[0]) if segments else None
            call = self._take_apart(request, url, headers, self._graphs[tenant.tenant_id] if tenant else self._first)
            response = self._sign_in(call, segments)
        with self._lock:
            self.requests.append((call.method, call.path + (f"?{call.query}" if call.query else ""), response.status))
        return response

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far: the next Graph call with one of them gets a 401."""
        self._identity.revoke_all()

    def sign_in_outage(self, token_requests: int, *, retry_after: int | None = None) -> None:
        """Answer the next ``token_requests`` token requests 503 ``temporarily_unavailable`` (with Retry-After
        when given), as the sign-in service does while it is unavailable."""
        with self._lock:
            self._sign_in_outage = token_requests
            self._sign_in_outage_retry_after = retry_after

    def _in_sign_in_outage(self) -> bool:
        with self._lock:
            if self._sign_in_outage <= 0:
                return False
            self._sign_in_outage -= 1
            return True

    def _take_apart(
        self, request: EmulatorRequest, url: SplitResult, headers: dict[str, str], graph: TenantGraph
    ) -> Call:
        request_id = graph.request_id()
        return Call(
            method=request.method.upper(),
            base=f"{url.scheme or 'http'}://{url.netloc or headers.get('host', 'localhost')}",
            path=url.path or "/",
            query=url.query,
            headers=headers,
            body=request.body,
            request_id=request_id,
            client_request_id=headers.get("client-request-id") or request_id,
            received_at=self.clock(),
        )

    # --- the sign-in service -------------------------------------------------------------------------------

    def _sign_in(self, call: Call, segments: list[str]) -> EmulatorResponse:
        lowered = [segment.lower() for segment in segments]
        try:
            if lowered[1:] == ["v2.0", ".well-known", "openid-configuration"] and call.method == "GET":
                tenant = self._identity.tenant_named(segments[0])
                return self._sign_in_answer(call, 200, self._identity.openid_configuration(tenant, call.host))
            if lowered[1:] == ["oauth2", "v2.0", "token"]:
                if self._in_sign_in_outage():
                    return self._sign_in_unavailable(call)
                tenant = self._identity.tenant_named(segments[0])
                if call.method != "POST":
                    raise SignInError(400, "invalid_request", 900561, "The endpoint only accepts POST requests.")
                form = dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
                return self._sign_in_answer(call, 200, self._identity.issue_token(tenant, form, call.base))
        except SignInError as error:
            return self._sign_in_refusal(call, error)
        return self._graph_error(call, GraphError(404, "ResourceNotFound", f"No resource at '{call.path}'."))

    def _sign_in_answer(self, call: Call, status: int, payload: Mapping[str, Any]) -> EmulatorResponse:
        headers = {
            "Content-Type": SIGN_IN_CONTENT_TYPE,
            "Cache-Control": "no-store, no-cache",
            "Pragma": "no-cache",
            "Date": formatdate(call.received_at, usegmt=True),
            "request-id": call.request_id,
            "x-ms-request-id": call.request_id,
            "client-request-id": call.client_request_id,
        }
        return EmulatorResponse(status, headers, encode_json(payload))

    def _sign_in_refusal(self, call: Call, error: SignInError) -> EmulatorResponse:
        moment = datetime.fromtimestamp(call.received_at, UTC)
        description = (
            f"AADSTS{error.aadsts}: {error.description}\r\nTrace ID: {call.request_id}\r\n"
            f"Correlation ID: {call.client_request_id}\r\nTimestamp: {moment:%Y-%m-%d %H:%M:%S}Z"
        )
        payload = {
            "error": error.error,
            "error_description": description,
            "error_codes": [error.aadsts],
            "timestamp": f"{moment:%Y-%m-%d %H:%M:%S}Z",
            "trace_id": call.request_id,
            "correlation_id": call.client_request_id,
            "error_uri": f"https://{call.host}/error?code={error.aadsts}",
        }
        return self._sign_in_answer(call, error.status, payload)

    def _sign_in_unavailable(self, call: Call) -> EmulatorResponse:
        error = SignInError(503, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
        response = self._sign_in_refusal(call, error)
        if self._sign_in_outage_retry_after is not None:
            response.headers["Retry-After"] = str(self._sign_in_outage_retry_after)
        return response

    # --- Graph -------------------------------------------------------------------------------------------

    def _graph(
        self, call: Call, graph: TenantGraph, bearer: Grant | GraphError, segments: list[str]
    ) -> EmulatorResponse:
        try:
            if isinstance(bearer, GraphError):
                raise bearer
            if segments and segments[0].lower() == "$batch" and len(segments) == 1:
                return self._batch(call, graph, bearer)
            return self._graph_request(call, graph, bearer, segments)
        except _Redirect as redirect:
            headers = self._graph_headers(call) | {"Location": redirect.location, "Content-Type": "text/plain"}
            return EmulatorResponse(302, headers, b"")
        except GraphError as error:
            return self._graph_error(call, error)

    def _graph_request(self, call: Call, graph: TenantGraph, grant: Grant, segments: list[str]) -> EmulatorResponse:
        """One Graph request (on its own or inside a $batch), or the GraphError that refuses it."""
        route = self._service_route(call, graph, segments) or graph.route(call, segments)
        if not grant.permissions & route.permissions:
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        fault = graph.faults.decide()
        if fault is not None and fault.kind is not FaultKind.DROP:
            raise GraphError(fault.status, fault.code, fault.message, fault.headers(grant.client_id, grant.tenant_id))
        options = QueryOptions.parse(call.query)
        cost = _cost(route, options)
        decision = self.limiter.take(
            grant.tenant_id, grant.client_id, route.limit, cost, len(graph.tenant.users), _limit_key(route, segments)
        )
        limit_headers: dict[str, str] = {}
        if route.limit is LimitClass.IDENTITY:
            limit_headers["x-ms-resource-unit"] = str(cost)
        if self.limiter.enabled and decision.used > THROTTLE_WARNING_SHARE:
            limit_headers["x-ms-throttle-limit-percentage"] = f"{min(decision.used, 1.8):.1f}"
        if not decision.allowed:
            raise _throttled(route.limit, decision.retry_after, grant, limit_headers)
        narrow = _narrow_limit(route, segments)
        if narrow is not None:
            narrow_class, key = narrow
            refusal = self.limiter.take(grant.tenant_id, grant.client_id, narrow_class, 1, len(graph.tenant.users), key)
            if not refusal.allowed:
                raise _throttled(narrow_class, refusal.retry_after, grant, limit_headers)
        if route.serves_sign_in_activity and _selects(options, SIGN_IN_ACTIVITY):
            self._check_sign_in_activity(grant.permissions)
        answer: Answer = route.answer(call, options)
        headers = self._graph_headers(call) | {"Content-Type": answer.content_type} | answer.headers | limit_headers
        body = answer.body
        return EmulatorResponse(200, headers, body, drop_after=len(body) // 2 if fault is not None else None)

    def _batch(self, call: Call, graph: TenantGraph, grant: Grant) -> EmulatorResponse:
        if call.method != "POST":
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
        fault = graph.faults.decide()
        if fault is not None and fault.kind is not FaultKind.DROP:
            raise GraphError(fault.status, fault.code, fault.message, fault.headers(grant.client_id, grant.tenant_id))

        def inner(method: str, url: str, headers: dict[str, str], body: bytes) -> EmulatorResponse:
            path, _, query = url.partition("?")
            inner_call = Call(
                method=method,
                base=call.base,
                path="/v1.0" + path,
                query=query,
                headers={name.lower(): value for name, value in headers.items()},
                body=body,
                request_id=graph.request_id(),
                client_request_id=call.client_request_id,
                received_at=self.clock(),
            )
            segments = [unquote(segment) for segment in path.split("/") if segment]
            try:
                response = self._graph_request(inner_call, graph, grant, segments)
                response.drop_after = None  # a response inside a batch cannot lose its connection
            except GraphError as error:
                response = self._graph_error(inner_call, error)
            with self._lock:
                self.requests.append((method, f"$batch:{url}", response.status))
            return response

        body = answer_batch(call.body, call.headers.get("content-type", ""), inner, graph.batch_order)
        headers = self._graph_headers(call) | {"Content-Type": GRAPH_CONTENT_TYPE}
        return EmulatorResponse(200, headers, body, drop_after=len(body) // 2 if fault is not None else None)

    def _check_sign_in_activity(self, permissions: frozenset[str]) -> None:
        if SIGN_IN_ACTIVITY_PERMISSION not in permissions:
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if not self.premium:
            raise GraphError(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
            )

    def _service_route(self, call: Call, graph: TenantGraph, segments: list[str]) -> Route | None:
        """The activity logs, usage reports, OneDrive, SharePoint sites and Teams (``activity.py``,
        ``usage_reports.py``, ``drives.py``, ``sites.py``, ``teams.py``); None for the directory's paths
        (``routes.py``)."""
        resource, rest = (segments[0].lower(), segments[1:]) if segments else ("", [])
        lowered = [part.lower() for part in rest]
        if call.method != "GET":
            return None
        if resource == "auditlogs" and len(rest) == 1 and (log := self.activity.log(graph.tenant, rest[0])):
            return Route(READ_AUDIT_LOGS, 1, partial(self._activity_page, log, graph), LimitClass.REPORTS)
        if resource == "users" and len(rest) == 2 and lowered[1] == "drive":
            return Route(READ_FILES, 1, _json(lambda call: graph.drives.drive_of_user(rest[0], call.base)))
        if resource == "drives" and len(rest) == 3 and lowered[1:] == ["root", "delta"]:
            return Route(READ_FILES, 1, partial(self._drive_delta, graph, rest[0]))
        if resource == "drives" and len(rest) == 4 and lowered[1] == "items" and lowered[3] == "permissions":
            return Route(READ_FILES, 1, _json(lambda call: {"value": graph.drives.permissions(rest[0], rest[2])}))
        if resource == "sites" and lowered == ["getallsites"]:
            sites = self.sites(graph.tenant.tenant_id)
            return Route(
                READ_SITES, 1, lambda call, options: Answer(encode_json(sites.page_of_sites(call.base, options)))
            )
        if resource == "sites" and len(rest) == 2 and lowered[1] == "drives":
            sites = self.sites(graph.tenant.tenant_id)
            return Route(
                READ_FILES,
                1,
                lambda call, options: Answer(encode_json(sites.page_of_drives(rest[0], call.base, options))),
            )
        if resource == "teams" and not rest:
            return Route(LIST_TEAMS, 1, partial(self._teams_page, graph), LimitClass.TEAMS)
        if resource == "teams" and len(rest) == 1:
            return Route(READ_TEAM, 1, _json(lambda call: graph.teams.team(rest[0])), LimitClass.TEAMS)
        if resource == "teams" and len(rest) == 2 and lowered[1] == "installedapps":
            return Route(READ_TEAM_APPS, 1, partial(self._team_apps, graph, rest[0]), LimitClass.TEAMS)
        if resource == "communications" and lowered[:1] == ["callrecords"] and len(rest) <= 3:
            return self._call_record_route(graph, rest, lowered)
        if resource == "reports" and len(rest) == 1:
            return Route(READ_REPORTS, 1, partial(self._report_redirect, graph, rest[0]), LimitClass.USAGE_REPORTS)
        if resource == "admin" and lowered == ["reportsettings"]:
            settings = self.usage_reports.settings(graph.tenant.tenant_id)
            return Route(READ_REPORT_SETTINGS, 1, _json(lambda call: settings))
        return None

    def _call_record_route(self, graph: TenantGraph, rest: list[str], lowered: list[str]) -> Route | None:
        """``/communications/callRecords``, ``.../{id}`` and ``.../{id}/sessions`` (``call_records.py``)."""
        feed = self.call_records[graph.tenant.tenant_id]

        def answer(call: Call, options: QueryOptions) -> Answer:
            prefer = call.headers.get("prefer", "")
            request = CallRequest(call.base, options, prefer, call.received_at, graph.page_tokens)
            if len(rest) == 1:
                return Answer(encode_json(feed.list_page(request)))
            if len(rest) == 2:
                return Answer(encode_json(feed.get(rest[1], request)))
            return Answer(encode_json(feed.sessions_page(rest[1], request)))

        if len(rest) == 3 and lowered[2] != "sessions":
            return None
        return Route(READ_CALL_RECORDS, 1, answer, LimitClass.CALL_RECORDS)

    def _activity_page(self, log: ActivityLog, graph: TenantGraph, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(ACTIVITY_OPTIONS)
        prefer = call.headers.get("prefer", "")
        body = self.activity.page(
            log,
            base=call.base,
            options=options,
            prefer=prefer,
            now=call.received_at,
            premium=self.premium,
            tokens=graph.page_tokens,
        )
        applied = INCLUDE_UNKNOWN_ENUM_MEMBERS in prefer.lower()
        return Answer(body, headers={"Preference-Applied": INCLUDE_UNKNOWN_ENUM_MEMBERS} if applied else {})

    def _drive_delta(self, graph: TenantGraph, drive_id: str, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(("$top", "$select"))
        size = page_size(options.get("$top"), default=self.drive_delta_page_size, maximum=999)
        return Answer(encode_json(graph.drives.delta(drive_id, options.get("token"), call.base, size)))

    def _teams_page(self, graph: TenantGraph, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(("$top", "$skiptoken", "$select"))
        size = page_size(options.get("$top"))
        token = options.get("$skiptoken")
        offset = graph.page_tokens.offset("teams", token) if token is not None else 0
        teams = graph.teams.teams
        head: dict[str, Any] = {"@odata.context": f"{call.base}/v1.0/$metadata#teams"}
        if offset + size < len(teams):
            carried = options.link_query(without="$skiptoken")
            head["@odata.nextLink"] = (
                f"{call.base}/v1.0/teams?{carried + '&' if carried else ''}"
                f"$skiptoken={graph.page_tokens.issue('teams', offset + size)}"
            )
        value = [graph.teams.basic(team) for team in teams[offset : offset + size]]
        return Answer(encode_json({**head, "value": value}))

    def _team_apps(self, graph: TenantGraph, team_id: str, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(("$expand", "$filter", "$select"))
        expand = (options.get("$expand") or "").strip().lower() == "teamsappdefinition"
        context = f"{call.base}/v1.0/$metadata#teams('{team_id}')/installedApps"
        return Answer(encode_json({"@odata.context": context, "value": graph.teams.installed_apps(team_id, expand)}))

    def _report_redirect(self, graph: TenantGraph, segment: str, call: Call, options: QueryOptions) -> Answer:
        raise _Redirect(self.usage_reports.redirect(graph.tenant.tenant_id, segment, call.received_at))

    def _report_download(self, call: Call) -> EmulatorResponse:
        """The download host: CSV for a valid token, and never to a request that carries an Authorization header."""
        headers = {"Date": formatdate(call.received_at, usegmt=True), "request-id": call.request_id}
        if "authorization" in call.headers:
            message = b"The report download does not accept an Authorization header: request it without one."
            return EmulatorResponse(400, headers | {"Content-Type": "text/plain"}, message)
        try:
            csv = self.usage_reports.download(call.path.removeprefix(DOWNLOAD_PATH), call.received_at)
        except GraphError as error:
            return EmulatorResponse(error.status, headers | {"Content-Type": "text/plain"}, error.message.encode())
        return EmulatorResponse(200, headers | {"Content-Type": CSV_CONTENT_TYPE}, csv)

    def _graph_headers(self, call: Call) -> dict[str, str]:
        return {
            "Content-Type": GRAPH_CONTENT_TYPE,
            "Cache-Control": "no-cache",
            "Date": formatdate(call.received_at, usegmt=True),
            "OData-Version": "4.0",
            "Strict-Transport-Security": "max-age=31536000",
            "Vary": "Accept-Encoding",
            "request-id": call.request_id,
            "client-request-id": call.client_request_id,
            "x-ms-ags-diagnostic": DIAGNOSTIC,
        }

    def _graph_error(self, call: Call, error: GraphError) -> EmulatorResponse:
        moment = datetime.fromtimestamp(call.received_at, UTC)
        envelope = {
            "error": {
                "code": error.code,
                "message": error.message,
                "innerError": {
                    "date": f"{moment:%Y-%m-%dT%H:%M:%S}",
                    "request-id": call.request_id,
                    "client-request-id": call.client_request_id,
                },
            }
        }
        headers = self._graph_headers(call) | error.headers
        return EmulatorResponse(error.status, headers, encode_json(envelope))


class _Redirect(Exception):
    """A Graph answer that is a 302 to ``location`` (a usage report's download)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _json(value_of: Callable[[Call], Any]) -> Callable[[Call, QueryOptions], Answer]:
    """An answer that takes no query options: the JSON of ``value_of(call)``."""

    def answer(call: Call, options: QueryOptions) -> Answer:
        return Answer(encode_json(value_of(call)))

    return answer


def _selects(options: QueryOptions, name: str) -> bool:
    """Whether ``$select`` names the property ``name`` (in any case, as Graph matches names)."""
    return any(part.strip().lower() == name.lower() for part in (options.get("$select") or "").split(","))


def _cost(route: Route, options: QueryOptions) -> int:
    """An identity request's cost in throttling-limits.md's resource units (sent back as ``x-ms-resource-unit``);
    a request of another class costs one request."""
    if route.limit is not LimitClass.IDENTITY:
        return 1
    top = options.get("$top")
    return resource_units(
        route.resource_units,
        select=bool(options.get("$select")),
        expand=bool(options.get("$expand")),
        small_top=top is not None and top.strip().isdigit() and int(top) < 20,
    )


def _limit_key(route: Route, segments: list[str]) -> str:
    """Usage reports are limited per report; every other class has one bucket."""
    return segments[-1].split("(")[0].lower() if route.limit is LimitClass.USAGE_REPORTS else ""


def _narrow_limit(route: Route, segments: list[str]) -> tuple[LimitClass, str] | None:
    """The narrower published limit a request also spends from: one team (4 per second), one call record or the
    list of them (40 per 20 s)."""
    if route.limit is LimitClass.TEAMS and len(segments) >= 2:
        return LimitClass.TEAM, segments[1].lower()
    if route.limit is LimitClass.CALL_RECORDS:
        return LimitClass.CALL_RECORD, segments[2].lower() if len(segments) >= 3 else "list"
    return None


def _throttled(limit_class: LimitClass, retry_after: float | None, grant: Grant, headers: dict[str, str]) -> GraphError:
    refusal = dict(headers)
    if retry_after is not None:
        refusal["Retry-After"] = str(int(retry_after))
    if limit_class is LimitClass.CONDITIONAL_ACCESS:
        return GraphError(
            429, "Request_ThrottledTemporarily", "Your request is throttled temporarily. Try again later.", refusal
        )
    refusal["x-ms-throttle-scope"] = f"Tenant_Application/ReadOnly/{grant.client_id}/{grant.tenant_id}"
    refusal["x-ms-throttle-information"] = (
        "ResourceUnitLimitExceeded" if limit_class is LimitClass.IDENTITY else "RequestLimitExceeded"
    )
    return GraphError(429, "TooManyRequests", "Too many requests.", refusal)
