"""The Graph emulator as a plain function of requests: ``GraphEmulator.handle(EmulatorRequest) -> EmulatorResponse``.

It serves one or several synthetic tenants, as one multi-tenant app registration sees them: the sign-in path
(``/{tenant id or domain}/oauth2/v2.0/token``) picks the tenant, the token carries it, and Graph answers from the
token's tenant only. It answers the sign-in endpoints (OpenID discovery, the client-credentials token) and, under
``/v1.0``, users, groups, subscribedSkus and organization with Graph's semantics: default properties and
``$select``, ``$top``, a small ``$filter``, ``$count`` with ``ConsistencyLevel: eventual``, paging by opaque
``$skiptoken`` in absolute nextLinks, Graph's error envelope, bearer tokens and permissions (``signInActivity``
only for a premium tenant and an app with AuditLog.Read.All), faults injected per ``FaultRates`` and outages of
the sign-in service. The host of a request does not matter, except that absolute URLs in answers are built on it
and that its ``scheme://host[:port]/.default`` is a Graph scope. The transports (``transport.py`` in-process,
``server.py`` on a socket) only translate to and from these objects.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from functools import partial
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from m365_pipeline.emulator.activity import ACTIVITY_OPTIONS, INCLUDE_UNKNOWN_ENUM_MEMBERS, ActivityFeeds, ActivityLog
from m365_pipeline.emulator.drives import OneDrives
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
from m365_pipeline.emulator.odata import (
    ADVANCED_QUERIES_HINT,
    EntityType,
    Filter,
    GraphError,
    PageTokens,
    QueryOptions,
    count_requested,
    page_size,
    parse_filter,
    unsupported_query,
)
from m365_pipeline.emulator.teams import TeamsDirectory
from m365_pipeline.emulator.tenant import (
    GROUP_PROPERTIES,
    ORGANIZATION_PROPERTIES,
    SUBSCRIBED_SKU_PROPERTIES,
    USER_DEFAULT_PROPERTIES,
    USER_PROPERTIES,
    SyntheticTenant,
    guid,
)
from m365_pipeline.emulator.usage_reports import CSV_CONTENT_TYPE, DOWNLOAD_PATH, UsageReports
from m365_pipeline.settings import FaultRates

__all__ = [
    "EMULATOR_CLIENT_ID",
    "EMULATOR_CLIENT_SECRET",
    "EmulatorRequest",
    "EmulatorResponse",
    "GraphEmulator",
    "RegisteredClient",
]

USER = EntityType("microsoft.graph.user", USER_PROPERTIES, USER_DEFAULT_PROPERTIES)
GROUP = EntityType("microsoft.graph.group", GROUP_PROPERTIES, tuple(GROUP_PROPERTIES))
SUBSCRIBED_SKU = EntityType(
    "microsoft.graph.subscribedSku", SUBSCRIBED_SKU_PROPERTIES, tuple(SUBSCRIBED_SKU_PROPERTIES)
)
ORGANIZATION = EntityType("microsoft.graph.organization", ORGANIZATION_PROPERTIES, tuple(ORGANIZATION_PROPERTIES))

REQUEST_LOG_SIZE = 10_000

READ_USERS = frozenset({"User.Read.All", "Directory.Read.All"})
READ_GROUPS = frozenset({"Group.Read.All", "Directory.Read.All"})
READ_ORGANIZATION = frozenset({"Organization.Read.All", "Directory.Read.All"})
READ_AUDIT_LOGS = frozenset({"AuditLog.Read.All"})
READ_REPORTS = frozenset({"Reports.Read.All"})
READ_REPORT_SETTINGS = frozenset({"ReportSettings.Read.All"})
READ_FILES = frozenset({"Files.Read.All", "Sites.Read.All"})
LIST_TEAMS = frozenset({"Team.ReadBasic.All", "TeamSettings.Read.All", "Directory.Read.All"})
READ_TEAM = frozenset({"TeamSettings.Read.All", "Directory.Read.All"})
READ_TEAM_APPS = frozenset({"TeamsAppInstallation.ReadForTeam.All", "Directory.Read.All"})
# A user property Graph serves only to an app with this permission on a tenant with Entra ID P1/P2
SIGN_IN_ACTIVITY = "signInActivity"
SIGN_IN_ACTIVITY_PERMISSION = "AuditLog.Read.All"

GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
SIGN_IN_CONTENT_TYPE = "application/json; charset=utf-8"
DIAGNOSTIC = (
    '{"ServerInfo":{"DataCenter":"Japan East","Slice":"E","Ring":"5","ScaleUnit":"001","RoleInstance":"EMU365"}}'
)
COLLECTION_OPTIONS = ("$select", "$top", "$filter", "$count", "$skiptoken")
NO_FAULTS = FaultRates()


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


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class _Call:
    """One request, taken apart."""

    method: str
    base: str  # scheme://host[:port] of the request, for absolute URLs
    path: str  # as sent, still percent-encoded
    query: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    request_id: str
    client_request_id: str
    received_at: float

    @property
    def host(self) -> str:
        return self.base.split("://", 1)[1]


@dataclass(frozen=True)
class _Route:
    permissions: frozenset[str]
    resource_units: int  # throttling-limits.md's cost before the $select / $top discounts
    answer: Callable[[_Call, QueryOptions], bytes]
    serves_sign_in_activity: bool = False
    honours_unknown_enum_members: bool = False  # Prefer: include-unknown-enum-members


class _Directory:
    """A collection of directory objects (users, groups): lookups by key, cached $filter results and cached
    JSON of each object per $select, so that a 999-object page is a join of bytes, not a serialization."""

    MAX_CACHED_FILTERS = 16
    MAX_CACHED_SELECTS = 4

    def __init__(
        self, name: str, entity: EntityType, items: list[dict[str, Any]], keys: Sequence[str], page_tokens: PageTokens
    ) -> None:
        self.name = name
        self.entity = entity
        self.items = items
        self.page_tokens = page_tokens
        self._by_key: dict[str, dict[str, Any]] = {}
        for item in items:
            for key in keys:
                if isinstance(value := item.get(key), str):
                    self._by_key.setdefault(value.lower(), item)
        self._filtered: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._encoded: OrderedDict[tuple[str, ...], dict[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, key: str) -> dict[str, Any] | None:
        return self._by_key.get(key.lower())

    def matching(self, query_filter: Filter | None) -> list[dict[str, Any]]:
        if query_filter is None:
            return self.items
        with self._lock:
            cached = self._filtered.get(query_filter.key)
            if cached is not None:
                self._filtered.move_to_end(query_filter.key)
                return cached
        matches = query_filter.matcher()
        selected = [item for item in self.items if matches(item)]
        with self._lock:
            self._filtered[query_filter.key] = selected
            if len(self._filtered) > self.MAX_CACHED_FILTERS:
                self._filtered.popitem(last=False)
        return selected

    def encoded(self, items: Sequence[dict[str, Any]], select: tuple[str, ...]) -> list[bytes]:
        with self._lock:
            cache = self._encoded.get(select)
            if cache is None:
                cache = self._encoded[select] = {}
                if len(self._encoded) > self.MAX_CACHED_SELECTS:
                    self._encoded.popitem(last=False)
            else:
                self._encoded.move_to_end(select)
        fragments = []
        for item in items:
            fragment = cache.get(id(item))
            if fragment is None:
                fragment = cache[id(item)] = encode_json({name: item.get(name) for name in select})
            fragments.append(fragment)
        return fragments


class _TenantGraph:
    """One tenant's side of Graph: its directory, its page tokens, its request ids and its faults, each a
    function of the requests made to this tenant alone (another tenant's traffic does not change them)."""

    def __init__(self, tenant: SyntheticTenant, faults: FaultRates) -> None:
        self.tenant = tenant
        self.faults = FaultInjector(faults)
        page_tokens = PageTokens(hashlib.sha256(f"$skiptoken|{tenant.tenant_id}".encode()).digest())
        self.page_tokens = page_tokens
        self.teams = TeamsDirectory(tenant)
        self.drives = OneDrives(tenant, page_tokens)
        self.users = _Directory("users", USER, tenant.users, ("id", "userPrincipalName"), page_tokens)
        self.groups = _Directory("groups", GROUP, tenant.groups, ("id",), page_tokens)
        self.organization = tenant.organization
        self._request_ids = random.Random(tenant.tenant_id)
        self._lock = threading.Lock()

    def request_id(self) -> str:
        with self._lock:
            return guid(self._request_ids.getrandbits(128))


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
    ``sign_ins_per_day`` and ``audits_per_day`` size each tenant's activity logs (``activity.py``).
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
        sign_ins_per_day: int = 2_000,
        audits_per_day: int = 200,
    ) -> None:
        served = [tenants] if isinstance(tenants, SyntheticTenant) else list(tenants)
        if not served:
            raise ValueError("a Graph emulator needs at least one tenant")
        if clients is None:
            clients = {EMULATOR_CLIENT_ID: RegisteredClient(EMULATOR_CLIENT_SECRET, ALL_PERMISSIONS)}
        self._identity = Identity(served, clients, token_lifetime, clock, permissions_by_tenant)
        self.tenants: dict[str, SyntheticTenant] = {tenant.tenant_id: tenant for tenant in served}
        self.tenant = served[0]
        self.premium = premium
        self.filter_per_page = filter_per_page
        # (method, path with query, status) of the latest requests, for tests; bounded for a long `serve_forever`
        self.requests: deque[tuple[str, str, int]] = deque(maxlen=REQUEST_LOG_SIZE)
        self._clock = clock
        self._graphs = {tenant.tenant_id: _TenantGraph(tenant, faults) for tenant in served}
        self._first = self._graphs[self.tenant.tenant_id]
        self._lock = threading.Lock()
        self._sign_in_outage = 0  # token requests still to be answered 503
        self._sign_in_outage_retry_after: int | None = None
        self.activity = ActivityFeeds(sign_ins_per_day, audits_per_day)
        secret = hashlib.sha256("|".join(["reports", *self.tenants]).encode()).digest()
        self.usage_reports = UsageReports(secret, self.tenants)

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
        self, request: EmulatorRequest, url: SplitResult, headers: dict[str, str], graph: _TenantGraph
    ) -> _Call:
        request_id = graph.request_id()
        return _Call(
            method=request.method.upper(),
            base=f"{url.scheme or 'http'}://{url.netloc or headers.get('host', 'localhost')}",
            path=url.path or "/",
            query=url.query,
            headers=headers,
            body=request.body,
            request_id=request_id,
            client_request_id=headers.get("client-request-id") or request_id,
            received_at=self._clock(),
        )

    # --- the sign-in service -------------------------------------------------------------------------------

    def _sign_in(self, call: _Call, segments: list[str]) -> EmulatorResponse:
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

    def _sign_in_answer(self, call: _Call, status: int, payload: Mapping[str, Any]) -> EmulatorResponse:
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

    def _sign_in_refusal(self, call: _Call, error: SignInError) -> EmulatorResponse:
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

    def _sign_in_unavailable(self, call: _Call) -> EmulatorResponse:
        error = SignInError(503, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
        response = self._sign_in_refusal(call, error)
        if self._sign_in_outage_retry_after is not None:
            response.headers["Retry-After"] = str(self._sign_in_outage_retry_after)
        return response

    # --- Graph -------------------------------------------------------------------------------------------

    def _graph(
        self, call: _Call, graph: _TenantGraph, bearer: Grant | GraphError, segments: list[str]
    ) -> EmulatorResponse:
        try:
            if isinstance(bearer, GraphError):
                raise bearer
            grant = bearer
            route = self._route(call, graph, segments)
            if not grant.permissions & route.permissions:
                raise GraphError(
                    403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
                )
            fault = graph.faults.decide()
            if fault is not None and fault.kind is not FaultKind.DROP:
                raise GraphError(
                    fault.status, fault.code, fault.message, fault.headers(grant.client_id, grant.tenant_id)
                )
            options = QueryOptions.parse(call.query)
            if route.serves_sign_in_activity and _selects(options, SIGN_IN_ACTIVITY):
                self._check_sign_in_activity(grant.permissions)
            body = route.answer(call, options)
        except _Redirect as redirect:
            headers = self._graph_headers(call) | {"Location": redirect.location, "Content-Type": "text/plain"}
            return EmulatorResponse(302, headers, b"")
        except GraphError as error:
            return self._graph_error(call, error)
        headers = self._graph_headers(call)
        headers["x-ms-resource-unit"] = str(_resource_units(route, options))
        if (
            route.honours_unknown_enum_members
            and INCLUDE_UNKNOWN_ENUM_MEMBERS in call.headers.get("prefer", "").lower()
        ):
            headers["Preference-Applied"] = INCLUDE_UNKNOWN_ENUM_MEMBERS
        return EmulatorResponse(200, headers, body, drop_after=len(body) // 2 if fault is not None else None)

    def _route(self, call: _Call, graph: _TenantGraph, segments: list[str]) -> _Route:
        resource, rest = (segments[0].lower(), segments[1:]) if segments else ("", [])
        route: _Route | None = None
        if resource in ("users", "groups") and len(rest) <= 1:
            users = resource == "users"
            directory = graph.users if users else graph.groups
            permissions = READ_USERS if users else READ_GROUPS
            cost = 2 if users else 1
            if rest:
                route = _Route(permissions, cost, partial(self._directory_object, directory, rest[0]), users)
            else:
                route = _Route(permissions, cost, partial(self._directory_page, directory), users)
        elif resource == "subscribedskus" and not rest:
            route = _Route(
                READ_ORGANIZATION, 3, partial(self._listing, "subscribedSkus", SUBSCRIBED_SKU, graph.tenant.skus)
            )
        elif resource == "organization" and not rest:
            route = _Route(
                READ_ORGANIZATION, 1, partial(self._listing, "organization", ORGANIZATION, [graph.organization])
            )
        elif resource == "auditlogs" and len(rest) == 1 and (log := self.activity.log(graph.tenant, rest[0])):
            route = _Route(
                READ_AUDIT_LOGS, 1, partial(self._activity_page, log, graph), honours_unknown_enum_members=True
            )
        elif resource == "users" and len(rest) == 2 and rest[1].lower() == "drive":
            route = _Route(
                READ_FILES, 1, lambda call, options: encode_json(graph.drives.drive_of_user(rest[0], call.base))
            )
        elif resource == "drives" and len(rest) == 3 and [part.lower() for part in rest[1:]] == ["root", "delta"]:
            route = _Route(READ_FILES, 1, partial(self._drive_delta, graph, rest[0]))
        elif (
            resource == "drives" and len(rest) == 4 and rest[1].lower() == "items" and rest[3].lower() == "permissions"
        ):
            route = _Route(
                READ_FILES, 1, lambda call, options: encode_json({"value": graph.drives.permissions(rest[0], rest[2])})
            )
        elif resource == "teams" and not rest:
            route = _Route(LIST_TEAMS, 1, partial(self._teams_page, graph))
        elif resource == "teams" and len(rest) == 1:
            route = _Route(READ_TEAM, 1, lambda call, options: encode_json(graph.teams.team(rest[0])))
        elif resource == "teams" and len(rest) == 2 and rest[1].lower() == "installedapps":
            route = _Route(READ_TEAM_APPS, 1, partial(self._team_apps, graph, rest[0]))
        elif resource == "reports" and len(rest) == 1:
            route = _Route(READ_REPORTS, 1, partial(self._report_redirect, graph, rest[0]))
        elif resource == "admin" and [part.lower() for part in rest] == ["reportsettings"]:
            settings = self.usage_reports.settings(graph.tenant.tenant_id)
            route = _Route(READ_REPORT_SETTINGS, 1, lambda call, options: encode_json(settings))
        if route is None:
            unknown = segments[min(len(segments) - 1, 2)] if segments else "v1.0"
            raise GraphError(404, "ResourceNotFound", f"Resource not found for the segment '{unknown}'.")
        if call.method != "GET":
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
        return route

    def _check_sign_in_activity(self, permissions: frozenset[str]) -> None:
        if SIGN_IN_ACTIVITY_PERMISSION not in permissions:
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if not self.premium:
            raise GraphError(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
            )

    def _directory_page(self, directory: _Directory, call: _Call, options: QueryOptions) -> bytes:
        options.allow_only(COLLECTION_OPTIONS)
        select = directory.entity.select(options.get("$select"))
        size = page_size(options.get("$top"))
        counted = count_requested(options.get("$count"))
        raw_filter = options.get("$filter")
        query_filter = parse_filter(raw_filter, directory.entity) if raw_filter is not None else None
        eventual = call.headers.get("consistencylevel", "").strip().lower() == "eventual"
        if counted and not eventual:
            raise unsupported_query(
                "$count=true is not supported because the 'ConsistencyLevel:eventual' header is missing. "
                "Refer to https://aka.ms/graph-docs/advanced-queries for more information"
            )
        if query_filter is not None and query_filter.advanced_operators and not (counted and eventual):
            operator = query_filter.advanced_operators[0]
            raise unsupported_query(
                f"Operator '{operator}' is not supported because the required parameters might be missing. "
                + ADVANCED_QUERIES_HINT
            )
        scope = f"{directory.name}|{query_filter.key if query_filter else ''}"
        token = options.get("$skiptoken")
        offset = directory.page_tokens.offset(scope, token) if token is not None else 0
        matches = directory.matching(query_filter)
        head: dict[str, Any] = {"@odata.context": self._context(call, directory.name, options, select)}
        if counted and token is None:
            head["@odata.count"] = len(matches)
        end = offset + size
        per_page_filter = query_filter.matcher() if self.filter_per_page and query_filter is not None else None
        paged = matches if per_page_filter is None else directory.items
        if end < len(paged):
            carried = options.link_query(without="$skiptoken")
            head["@odata.nextLink"] = (
                f"{call.base}/v1.0/{directory.name}?{carried + '&' if carried else ''}"
                f"$skiptoken={directory.page_tokens.issue(scope, end)}"
            )
        page = paged[offset:end]
        if per_page_filter is not None:
            page = [item for item in page if per_page_filter(item)]
        fragments = directory.encoded(page, select)
        return encode_json(head)[:-1] + b',"value":[' + b",".join(fragments) + b"]}"

    def _activity_page(self, log: ActivityLog, graph: _TenantGraph, call: _Call, options: QueryOptions) -> bytes:
        options.allow_only(ACTIVITY_OPTIONS)
        return self.activity.page(
            log,
            base=call.base,
            options=options,
            prefer=call.headers.get("prefer", ""),
            now=call.received_at,
            premium=self.premium,
            tokens=graph.page_tokens,
        )

    def _drive_delta(self, graph: _TenantGraph, drive_id: str, call: _Call, options: QueryOptions) -> bytes:
        options.allow_only(("$top", "$select"))
        size = page_size(options.get("$top"), default=200, maximum=999)
        return encode_json(graph.drives.delta(drive_id, options.get("token"), call.base, size))

    def _teams_page(self, graph: _TenantGraph, call: _Call, options: QueryOptions) -> bytes:
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
        return encode_json({**head, "value": [graph.teams.basic(team) for team in teams[offset : offset + size]]})

    def _team_apps(self, graph: _TenantGraph, team_id: str, call: _Call, options: QueryOptions) -> bytes:
        options.allow_only(("$expand", "$filter", "$select"))
        expand = (options.get("$expand") or "").strip().lower() == "teamsappdefinition"
        context = f"{call.base}/v1.0/$metadata#teams('{team_id}')/installedApps"
        return encode_json({"@odata.context": context, "value": graph.teams.installed_apps(team_id, expand)})

    def _report_redirect(self, graph: _TenantGraph, segment: str, call: _Call, options: QueryOptions) -> bytes:
        raise _Redirect(self.usage_reports.redirect(graph.tenant.tenant_id, segment, call.received_at))

    def _report_download(self, call: _Call) -> EmulatorResponse:
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

    def _directory_object(self, directory: _Directory, key: str, call: _Call, options: QueryOptions) -> bytes:
        options.allow_only(("$select",))
        select = directory.entity.select(options.get("$select"))
        item = directory.find(key)
        if item is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
            )
        context = self._context(call, directory.name, options, select) + "/$entity"
        return encode_json({"@odata.context": context, **{name: item.get(name) for name in select}})

    def _listing(
        self, name: str, entity: EntityType, items: list[dict[str, Any]], call: _Call, options: QueryOptions
    ) -> bytes:
        """A small collection that only takes ``$select`` (subscribedSkus, organization)."""
        options.allow_only(("$select",))
        select = entity.select(options.get("$select"))
        value = [{prop: item.get(prop) for prop in select} for item in items]
        return encode_json({"@odata.context": self._context(call, name, options, select), "value": value})

    @staticmethod
    def _context(call: _Call, name: str, options: QueryOptions, select: tuple[str, ...]) -> str:
        selected = f"({','.join(select)})" if options.get("$select") else ""
        return f"{call.base}/v1.0/$metadata#{name}{selected}"

    def _graph_headers(self, call: _Call) -> dict[str, str]:
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

    def _graph_error(self, call: _Call, error: GraphError) -> EmulatorResponse:
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


def _selects(options: QueryOptions, name: str) -> bool:
    """Whether ``$select`` names the property ``name`` (in any case, as Graph matches names)."""
    return any(part.strip().lower() == name.lower() for part in (options.get("$select") or "").split(","))


def _resource_units(route: _Route, options: QueryOptions) -> int:
    """The request's cost in throttling-limits.md's resource units, sent back as ``x-ms-resource-unit``."""
    cost = route.resource_units
    if options.get("$select"):
        cost -= 1
    top = options.get("$top")
    if top is not None and top.strip().isdigit() and int(top) < 20:
        cost -= 1
    return max(1, cost)
