"""What Graph serves under ``/v1.0`` for one tenant: the resources, their query options and their paging.

``TenantGraph.route`` maps a path to a ``Route``: the permissions it needs, its throttling class and cost, and the
function that answers it from the tenant's live state (``state.TenantState``). A path Graph does not know is a
400 ``BadRequest`` "Resource not found for the segment ..." (Graph's answer; an unknown id is a 404).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, overload

from m365_pipeline.emulator.auth_methods import authentication_methods, registration_details
from m365_pipeline.emulator.delta import DeltaService
from m365_pipeline.emulator.drives import OneDrives
from m365_pipeline.emulator.faults import FaultInjector
from m365_pipeline.emulator.limits import LimitClass
from m365_pipeline.emulator.odata import (
    ADVANCED_QUERIES_HINT,
    EntityType,
    Filter,
    GraphError,
    PageTokens,
    QueryOptions,
    bad_request,
    count_requested,
    page_size,
    parse_filter,
    unsupported_query,
)
from m365_pipeline.emulator.state import DirectoryObjects, TenantState
from m365_pipeline.emulator.teams import TeamsDirectory
from m365_pipeline.emulator.tenant import (
    APPLICATION_PROPERTIES,
    CONDITIONAL_ACCESS_POLICY_PROPERTIES,
    DIRECTORY_ROLE_PROPERTIES,
    GROUP_PROPERTIES,
    ORGANIZATION_PROPERTIES,
    REFERENCE_TIME,
    ROLE_ASSIGNMENT_PROPERTIES,
    SERVICE_PRINCIPAL_PROPERTIES,
    SUBSCRIBED_SKU_PROPERTIES,
    USER_DEFAULT_PROPERTIES,
    USER_PROPERTIES,
    USER_REGISTRATION_DETAILS_PROPERTIES,
    SyntheticTenant,
    guid,
)
from m365_pipeline.settings import FaultRates

USER = EntityType("microsoft.graph.user", USER_PROPERTIES, USER_DEFAULT_PROPERTIES)
GROUP = EntityType("microsoft.graph.group", GROUP_PROPERTIES, tuple(GROUP_PROPERTIES))
SUBSCRIBED_SKU = EntityType(
    "microsoft.graph.subscribedSku", SUBSCRIBED_SKU_PROPERTIES, tuple(SUBSCRIBED_SKU_PROPERTIES)
)
ORGANIZATION = EntityType("microsoft.graph.organization", ORGANIZATION_PROPERTIES, tuple(ORGANIZATION_PROPERTIES))
DIRECTORY_ROLE = EntityType(
    "microsoft.graph.directoryRole", DIRECTORY_ROLE_PROPERTIES, tuple(DIRECTORY_ROLE_PROPERTIES)
)
ROLE_ASSIGNMENT = EntityType(
    "microsoft.graph.unifiedRoleAssignment", ROLE_ASSIGNMENT_PROPERTIES, tuple(ROLE_ASSIGNMENT_PROPERTIES)
)
REGISTRATION_DETAILS = EntityType(
    "microsoft.graph.userRegistrationDetails",
    USER_REGISTRATION_DETAILS_PROPERTIES,
    tuple(USER_REGISTRATION_DETAILS_PROPERTIES),
)
POLICY = EntityType(
    "microsoft.graph.conditionalAccessPolicy",
    CONDITIONAL_ACCESS_POLICY_PROPERTIES,
    tuple(CONDITIONAL_ACCESS_POLICY_PROPERTIES),
)
APPLICATION = EntityType("microsoft.graph.application", APPLICATION_PROPERTIES, tuple(APPLICATION_PROPERTIES))
SERVICE_PRINCIPAL = EntityType(
    "microsoft.graph.servicePrincipal", SERVICE_PRINCIPAL_PROPERTIES, tuple(SERVICE_PRINCIPAL_PROPERTIES)
)
# Members and owners mix users and groups: $select may name a property of either
DIRECTORY_OBJECT = EntityType(
    "microsoft.graph.directoryObject", GROUP_PROPERTIES | USER_PROPERTIES, ("id", "displayName")
)

READ_USERS = frozenset({"User.Read.All", "Directory.Read.All"})
READ_GROUPS = frozenset({"Group.Read.All", "GroupMember.Read.All", "Directory.Read.All"})
READ_ORGANIZATION = frozenset({"Organization.Read.All", "Directory.Read.All"})
READ_ROLES = frozenset({"RoleManagement.Read.Directory", "Directory.Read.All"})
READ_APPLICATIONS = frozenset({"Application.Read.All", "Directory.Read.All"})
READ_AUDIT = frozenset({"AuditLog.Read.All"})
READ_POLICIES = frozenset({"Policy.Read.All"})
READ_METHODS = frozenset({"UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"})

GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
TEXT_CONTENT_TYPE = "text/plain;charset=utf-8"
COLLECTION_OPTIONS = ("$select", "$top", "$filter", "$count", "$skiptoken", "$expand")
SIGN_IN_ACTIVITY = "signInActivity"
# user-list.md has said that with signInActivity selected or filtered a page holds at most 120 users whatever $top
# asks (later 500, graph_api.md): the default cap, GraphEmulator(sign_in_activity_page_cap=...) sets another
SIGN_IN_ACTIVITY_PAGE_CAP = 120
EXPAND_LIMIT = 100  # $expand returns at most 100 related objects
KNOWN_ROOTS = frozenset(
    {"users", "groups", "subscribedskus", "organization", "directoryroles", "rolemanagement", "reports", "identity"}
    | {"applications", "serviceprincipals"}
)
REPORT_PAGE_SIZE = 1000  # default and maximum page of the authentication methods report (as signIns)


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Call:
    """One request, taken apart."""

    method: str
    base: str  # scheme://host[:port] of the request, for absolute URLs
    path: str  # as sent, still percent-encoded
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    request_id: str
    client_request_id: str
    received_at: float

    @property
    def host(self) -> str:
        return self.base.split("://", 1)[1]

    @property
    def eventual(self) -> bool:
        return self.headers.get("consistencylevel", "").strip().lower() == "eventual"


@dataclass
class Answer:
    body: bytes
    content_type: str = GRAPH_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    permissions: frozenset[str]
    resource_units: int  # throttling-limits.md's cost before the $select / $expand / $top adjustments
    answer: Callable[[Call, QueryOptions], Answer]
    limit: LimitClass = LimitClass.IDENTITY
    serves_sign_in_activity: bool = False


class Directory:
    """Users or groups as they are now: the live objects in order, cached ``$filter`` results and cached JSON
    of each object per ``$select`` (a 999-object page is a join of bytes), dropped whenever the tenant changes."""

    MAX_CACHED_FILTERS = 16
    MAX_CACHED_SELECTS = 4

    def __init__(
        self,
        name: str,
        entity: EntityType,
        generated: list[dict[str, Any]],
        objects: DirectoryObjects,
        state: TenantState,
        page_tokens: PageTokens,
    ) -> None:
        self.name = name
        self.generated = generated
        self.entity = entity
        self.objects = objects
        self.state = state
        self.page_tokens = page_tokens
        self._version = -1
        self._items: list[dict[str, Any]] = []
        self._by_name: dict[str, dict[str, Any]] | None = None
        self._filtered: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._encoded: OrderedDict[tuple[str, ...], dict[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def _fresh(self) -> None:
        """Drop every cache when the tenant changed (called with the lock held)."""
        if self._version != self.state.version:
            with self.state.lock:
                self._version = self.state.version
                # until the first change, the generated list itself: a test that spoils it (a repeated id) is
                # served the spoiled list
                self._items = self.generated if self._version == 0 else list(self.objects.live.values())
            self._by_name = None
            self._filtered.clear()
            self._encoded.clear()

    @property
    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            self._fresh()
            return self._items

    def find(self, key: str) -> dict[str, Any] | None:
        """By id, or (users) by principal name, in any case."""
        found = self.objects.live.get(key.lower())
        if found is not None or self.name != "users":
            return found
        with self._lock:
            self._fresh()
            if self._by_name is None:
                self._by_name = {item["userPrincipalName"].lower(): item for item in self._items}
            return self._by_name.get(key.lower())

    def matching(self, query_filter: Filter | None) -> list[dict[str, Any]]:
        with self._lock:
            self._fresh()
            items = self._items
            if query_filter is None:
                return items
            cached = self._filtered.get(query_filter.key)
            if cached is not None:
                self._filtered.move_to_end(query_filter.key)
                return cached
        matches = query_filter.matcher()
        selected = [item for item in items if matches(item)]
        with self._lock:
            if self._items is items:
                self._filtered[query_filter.key] = selected
                if len(self._filtered) > self.MAX_CACHED_FILTERS:
                    self._filtered.popitem(last=False)
        return selected

    def encoded(self, items: Sequence[dict[str, Any]], select: tuple[str, ...]) -> list[bytes]:
        with self._lock:
            self._fresh()
            cache = self._encoded.get(select)
            if cache is None:
                cache = self._encoded[select] = {}
                if len(self._encoded) > self.MAX_CACHED_SELECTS:
                    self._encoded.popitem(last=False)
            else:
                self._encoded.move_to_end(select)
        fragments = []
        for item in items:
            key = item["id"]
            fragment = cache.get(key)
            if fragment is None:
                fragment = encode_json({name: item.get(name) for name in select})
                if self.objects.live.get(key) is item:  # never cache an object a change has replaced
                    cache[key] = fragment
            fragments.append(fragment)
        return fragments


class TenantGraph:
    """One tenant's side of Graph: its live directory, its page and delta tokens, its request ids and its
    faults, each a function of the requests made to this tenant alone."""

    def __init__(
        self,
        tenant: SyntheticTenant,
        faults: FaultRates,
        clock: Any,
        *,
        filter_per_page: bool = False,
        delta_replays: float = 0.0,
        sign_in_activity_page_cap: int = SIGN_IN_ACTIVITY_PAGE_CAP,
    ) -> None:
        self.tenant = tenant
        self.sign_in_activity_page_cap = sign_in_activity_page_cap
        self.faults = FaultInjector(faults)
        self.state = TenantState(tenant, clock)
        self.filter_per_page = filter_per_page
        self.page_tokens = PageTokens(hashlib.sha256(f"$skiptoken|{tenant.tenant_id}".encode()).digest())
        self.users = Directory("users", USER, tenant.users, self.state.users, self.state, self.page_tokens)
        self.groups = Directory("groups", GROUP, tenant.groups, self.state.groups, self.state, self.page_tokens)
        delta_key = hashlib.sha256(f"$deltatoken|{tenant.tenant_id}".encode()).digest()
        self.delta = DeltaService(self.state, {"users": USER, "groups": GROUP}, delta_key, clock, delta_replays)
        self.organization = tenant.organization
        self.teams = TeamsDirectory(tenant)
        self.drives = OneDrives(tenant, self.page_tokens)
        self.batch_order = random.Random(f"$batch|{tenant.tenant_id}")
        self._request_ids = random.Random(tenant.tenant_id)
        self._lock = threading.Lock()

    def request_id(self) -> str:
        with self._lock:
            return guid(self._request_ids.getrandbits(128))

    # --- routing ---------------------------------------------------------------------------------------

    def route(self, call: Call, segments: list[str]) -> Route:
        # a function may be called with or without its empty parentheses: /users/delta() is /users/delta
        segments = [segment[:-2] if segment.lower() == "delta()" else segment for segment in segments]
        route = self._match(segments, [segment.lower() for segment in segments])
        if call.method != "GET":
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
        return route

    def _match(self, segments: list[str], lowered: list[str]) -> Route:
        size = len(lowered)
        head = lowered[0] if lowered else ""
        if head in ("users", "groups"):
            users = head == "users"
            directory = self.users if users else self.groups
            permissions = READ_USERS if users else READ_GROUPS
            cost = 2 if users else 1
            if size == 1:
                return Route(permissions, cost, partial(self._directory_page, directory), serves_sign_in_activity=users)
            if size == 2 and lowered[1] == "$count":
                return Route(permissions, 1, partial(self._count, directory))
            if size == 2 and lowered[1] == "delta":
                return Route(permissions, cost, partial(self._delta, directory.name))
            if size == 2:
                answer = partial(self._directory_object, directory, segments[1])
                return Route(permissions, 1, answer, serves_sign_in_activity=users)
            if users and size == 3 and lowered[2] == "manager":
                return Route(permissions, 1, partial(self._manager, segments[1]))
            if users and size == 4 and lowered[2:] == ["authentication", "methods"]:
                return Route(READ_METHODS, 1, partial(self._methods, segments[1]))
            relation = {"members": 3, "owners": 1, "transitivemembers": 5}
            if not users and size in (3, 4) and lowered[2] in relation:
                counting = size == 4 and lowered[3] == "$count"
                if size == 3 or counting:
                    answer = partial(self._relation, segments[1], lowered[2], counting)
                    return Route(permissions, relation[lowered[2]], answer)
            raise _unknown_segment(segments[min(size - 1, 2)])
        if head == "subscribedskus" and size == 1:
            return Route(READ_ORGANIZATION, 3, partial(self._listing, "subscribedSkus", SUBSCRIBED_SKU, None))
        if head == "organization" and size == 1:
            return Route(READ_ORGANIZATION, 1, partial(self._listing, "organization", ORGANIZATION, None))
        if head == "directoryroles" and size <= 3:
            if size == 1:
                return Route(READ_ROLES, 1, partial(self._listing, "directoryRoles", DIRECTORY_ROLE, None))
            if size == 2:
                return Route(READ_ROLES, 1, partial(self._role, segments[1]))
            if lowered[2] == "members":
                return Route(READ_ROLES, 1, partial(self._role_members, segments[1]))
            raise _unknown_segment(segments[2])
        if lowered[:3] == ["rolemanagement", "directory", "roleassignments"] and size == 3:
            return Route(READ_ROLES, 1, self._role_assignments)
        if lowered[:3] == ["reports", "authenticationmethods", "userregistrationdetails"] and size <= 4:
            if size == 3:
                return Route(READ_AUDIT, 1, self._registration_page, LimitClass.REPORTS)
            if size == 4:
                return Route(READ_AUDIT, 1, partial(self._registration_one, segments[3]), LimitClass.REPORTS)
        if lowered[:3] == ["identity", "conditionalaccess", "policies"] and size <= 4:
            policies = self.tenant.conditional_access_policies
            if size == 3:
                answer = partial(self._listing, "identity/conditionalAccess/policies", POLICY, policies)
                return Route(READ_POLICIES, 1, answer, LimitClass.CONDITIONAL_ACCESS)
            if size == 4:
                answer = partial(self._one_of, "identity/conditionalAccess/policies", POLICY, policies, segments[3])
                return Route(READ_POLICIES, 1, answer, LimitClass.CONDITIONAL_ACCESS)
        if head in ("applications", "serviceprincipals") and size <= 2:
            name, entity, items = (
                ("applications", APPLICATION, self.tenant.applications)
                if head == "applications"
                else ("servicePrincipals", SERVICE_PRINCIPAL, self.tenant.service_principals)
            )
            if size == 1:
                return Route(READ_APPLICATIONS, 1, partial(self._plain_page, name, entity, items))
            return Route(READ_APPLICATIONS, 1, partial(self._one_of, name, entity, items, segments[1]))
        if head in KNOWN_ROOTS and size > 1:
            raise _unknown_segment(segments[1] if size < 3 else segments[2])
        raise _unknown_segment(segments[0] if segments else "v1.0")

    # --- users and groups ------------------------------------------------------------------------------

    def _directory_page(self, directory: Directory, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(COLLECTION_OPTIONS)
        select = directory.entity.select(options.get("$select"))
        expand = _expand(options, directory)
        size = page_size(options.get("$top"))
        counted = count_requested(options.get("$count"))
        query_filter = _filter(options, directory.entity, call, counted)
        if directory.name == "users" and (
            SIGN_IN_ACTIVITY in select or (query_filter is not None and SIGN_IN_ACTIVITY in query_filter.names())
        ):
            size = min(size, self.sign_in_activity_page_cap)
        scope = f"{directory.name}|{query_filter.key if query_filter else ''}"
        token = options.get("$skiptoken")
        offset = directory.page_tokens.offset(scope, token) if token is not None else 0
        matches = directory.matching(query_filter)
        head: dict[str, Any] = {"@odata.context": _context(call, directory.name, options, select)}
        if counted and token is None:
            head["@odata.count"] = len(matches)
        end = offset + size
        per_page_filter = query_filter.matcher() if self.filter_per_page and query_filter is not None else None
        paged = matches if per_page_filter is None else directory.items
        if end < len(paged):
            head["@odata.nextLink"] = _next_link(call, directory.name, options, directory.page_tokens.issue(scope, end))
        page = paged[offset:end]
        if per_page_filter is not None:
            page = [item for item in page if per_page_filter(item)]
        if expand is not None:
            value = [self._with_manager({name: item.get(name) for name in select}, item, expand) for item in page]
            return Answer(encode_json(head | {"value": value}))
        fragments = directory.encoded(page, select)
        return Answer(encode_json(head)[:-1] + b',"value":[' + b",".join(fragments) + b"]}")

    def _with_manager(self, entry: dict[str, Any], item: dict[str, Any], expand: tuple[str, ...]) -> dict[str, Any]:
        manager = self.state.users.live.get(self.state.managers.get(item["id"], ""))
        if manager is not None:
            entry["manager"] = {"@odata.type": "#microsoft.graph.user"} | {name: manager.get(name) for name in expand}
        return entry

    def _directory_object(self, directory: Directory, key: str, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(("$select", "$expand"))
        select = directory.entity.select(options.get("$select"))
        expand = _expand(options, directory)
        item = directory.find(key)
        if item is None:
            raise _not_found(key)
        context = _context(call, directory.name, options, select) + "/$entity"
        entry = {name: item.get(name) for name in select}
        if expand is not None:
            entry = self._with_manager(entry, item, expand)
        return Answer(encode_json({"@odata.context": context, **entry}))

    def _count(self, directory: Directory, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(("$filter", "$search"))
        if not call.eventual:
            raise bad_request(
                "$count is not currently supported without the 'ConsistencyLevel: eventual' header. "
                + ADVANCED_QUERIES_HINT
            )
        raw = options.get("$filter")
        query_filter = parse_filter(raw, directory.entity) if raw is not None else None
        return Answer(str(len(directory.matching(query_filter))).encode(), TEXT_CONTENT_TYPE)

    def _delta(self, collection: str, call: Call, options: QueryOptions) -> Answer:
        answer = self.delta.answer(
            "users" if collection == "users" else "groups", call.base, options, call.headers.get("prefer", "")
        )
        headers = {"Preference-Applied": "return=minimal"} if answer.minimal else {}
        return Answer(encode_json(answer.payload), headers=headers)

    def _manager(self, user_key: str, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(("$select",))
        user = self.users.find(user_key)
        if user is None:
            raise _not_found(user_key)
        manager = self.state.users.live.get(self.state.managers.get(user["id"], ""))
        if manager is None:
            raise _not_found("manager")
        select = USER.select(options.get("$select"))
        context = f"{call.base}/v1.0/$metadata#directoryObjects/$entity"
        body = {"@odata.context": context, "@odata.type": "#microsoft.graph.user"}
        return Answer(encode_json(body | {name: manager.get(name) for name in select}))

    def _methods(self, user_key: str, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(("$select",))
        user = self.users.find(user_key)
        if user is None:
            raise _not_found(user_key)
        context = f"{call.base}/v1.0/$metadata#users('{user['id']}')/authentication/methods"
        return Answer(encode_json({"@odata.context": context, "value": authentication_methods(user, REFERENCE_TIME)}))

    def _relation(self, group_key: str, relation: str, counting: bool, call: Call, options: QueryOptions) -> Answer:
        group = self.groups.find(group_key)
        if group is None:
            raise _not_found(group_key)
        with self.state.lock:
            if relation == "members":
                ids = list(self.state.members.get(group["id"], {}))
            elif relation == "owners":
                ids = list(self.state.owners.get(group["id"], []))
            else:
                ids = self.state.transitive_members(group["id"])
        objects = [self._directory_object_of(object_id) for object_id in ids]
        items = [item for item in objects if item is not None]
        if counting:
            options.allow_only(())
            if not call.eventual:
                raise bad_request("$count is not currently supported without the 'ConsistencyLevel: eventual' header.")
            return Answer(str(len(items)).encode(), TEXT_CONTENT_TYPE)
        name = {"members": "members", "owners": "owners", "transitivemembers": "transitiveMembers"}[relation]
        return self._typed_page(f"groups('{group['id']}')/{name}", items, call, options)

    def _directory_object_of(self, object_id: str) -> tuple[str, dict[str, Any]] | None:
        user = self.state.users.live.get(object_id)
        if user is not None:
            return "#microsoft.graph.user", user
        group = self.state.groups.live.get(object_id)
        return ("#microsoft.graph.group", group) if group is not None else None

    def _typed_page(
        self, scope: str, items: Sequence[tuple[str, dict[str, Any]] | None], call: Call, options: QueryOptions
    ) -> Answer:
        """A page of members/owners: each object with its ``@odata.type``; ``$select`` over both types."""
        options.allow_only(("$select", "$top", "$skiptoken", "$count"))
        raw = options.get("$select")
        select = DIRECTORY_OBJECT.select(raw) if raw else None
        size = page_size(options.get("$top"))
        token = options.get("$skiptoken")
        offset = self.page_tokens.offset(scope, token) if token is not None else 0
        head: dict[str, Any] = {"@odata.context": f"{call.base}/v1.0/$metadata#directoryObjects"}
        if count_requested(options.get("$count")) and call.eventual and token is None:
            head["@odata.count"] = len(items)
        if offset + size < len(items):
            # Graph's nextLink keeps the request's path (/groups/{id}/members), not the context's name
            head["@odata.nextLink"] = _path_next_link(call, options, self.page_tokens.issue(scope, offset + size))
        value = []
        for entry in items[offset : offset + size]:
            assert entry is not None
            odata_type, item = entry
            names: tuple[str, ...] = select or (
                USER_DEFAULT_PROPERTIES if odata_type.endswith("user") else tuple(GROUP_PROPERTIES)
            )
            value.append({"@odata.type": odata_type} | {prop: item.get(prop) for prop in names if prop in item})
        return Answer(encode_json(head | {"value": value}))

    # --- directory roles -------------------------------------------------------------------------------

    def _find_role(self, key: str) -> dict[str, Any]:
        for role in self.state.directory_roles:
            if key.lower() in (role["id"], role["roleTemplateId"]):
                return role
        raise _not_found(key)

    def _role(self, key: str, call: Call, options: QueryOptions) -> Answer:
        options.allow_only(("$select",))
        role = self._find_role(key)
        select = DIRECTORY_ROLE.select(options.get("$select"))
        context = _context(call, "directoryRoles", options, select) + "/$entity"
        return Answer(encode_json({"@odata.context": context} | {name: role.get(name) for name in select}))

    def _role_members(self, key: str, call: Call, options: QueryOptions) -> Answer:
        role = self._find_role(key)
        with self.state.lock:
            ids = list(self.state.role_members.get(role["roleTemplateId"], {}))
        items = [self._directory_object_of(object_id) for object_id in ids]
        return self._typed_page(f"directoryRoles('{role['id']}')/members", [i for i in items if i], call, options)

    def _role_assignments(self, call: Call, options: QueryOptions) -> Answer:
        """Role assignments; ``$expand=principal`` adds each assignee (user) as a directoryObject."""
        expand = (options.get("$expand") or "").strip().lower()
        if expand not in ("", "principal"):
            raise bad_request(f"Could not find a navigation property named '{expand}' on unifiedRoleAssignment.")
        with self.state.lock:
            assignments: list[dict[str, Any]] = [
                {
                    "id": _assignment_id(template_id, principal_id),
                    "principalId": principal_id,
                    "roleDefinitionId": template_id,
                    "directoryScopeId": "/",
                    "appScopeId": None,
                }
                for template_id, holders in self.state.role_members.items()
                for principal_id in holders
            ]
        expanded: tuple[str, ...] = ()
        if expand:
            expanded = ("principal",)
            for assignment in assignments:
                found = self._directory_object_of(assignment["principalId"])
                if found is not None:
                    odata_type, principal = found
                    assignment["principal"] = {"@odata.type": odata_type} | {
                        name: principal.get(name) for name in ("id", "displayName", "userPrincipalName")
                    }
        name = "roleManagement/directory/roleAssignments"
        return self._plain_page(name, ROLE_ASSIGNMENT, assignments, call, options, expanded=expanded)

    # --- reports ---------------------------------------------------------------------------------------

    def _registration_items(self) -> Sequence[dict[str, Any]]:
        """Each enabled user's details (the report leaves out disabled accounts:
        authenticationmethodsroot-list-userregistrationdetails.md), made only for the users a page shows."""
        admins = self.state.admins()
        enabled = [user for user in self.users.items if user.get("accountEnabled") is not False]
        return _Derived(enabled, lambda user: registration_details(user, admins, REFERENCE_TIME))

    def _registration_page(self, call: Call, options: QueryOptions) -> Answer:
        return self._plain_page(
            "reports/authenticationMethods/userRegistrationDetails",
            REGISTRATION_DETAILS,
            self._registration_items(),
            call,
            options,
            default_size=REPORT_PAGE_SIZE,
            maximum_size=REPORT_PAGE_SIZE,
        )

    def _registration_one(self, user_id: str, call: Call, options: QueryOptions) -> Answer:
        user = self.state.users.live.get(user_id.lower())
        if user is None or user.get("accountEnabled") is False:
            raise _not_found(user_id)
        details = registration_details(user, self.state.admins(), REFERENCE_TIME)
        return self._one_of(
            "reports/authenticationMethods/userRegistrationDetails",
            REGISTRATION_DETAILS,
            [details],
            user_id,
            call,
            options,
        )

    # --- small collections -----------------------------------------------------------------------------

    def _listing(
        self, name: str, entity: EntityType, items: list[dict[str, Any]] | None, call: Call, options: QueryOptions
    ) -> Answer:
        """A small collection that only takes ``$select`` (subscribedSkus, organization...); directoryRoles also
        ``$expand=members`` (at most 100 each, as every $expand)."""
        roles = name == "directoryRoles"
        options.allow_only(("$select", "$expand") if roles else ("$select",))
        expand = (options.get("$expand") or "").strip().lower()
        if expand not in ("", "members"):
            raise bad_request(f"Could not find a navigation property named '{expand}' on '{entity.name}'.")
        if items is None:
            items = {
                "subscribedSkus": self.state.skus,
                "organization": lambda: [self.organization],
                "directoryRoles": lambda: self.state.directory_roles,
            }[name]()
        select = entity.select(options.get("$select"))
        value = [{prop: item.get(prop) for prop in select} for item in items]
        if expand:
            for entry, role in zip(value, items, strict=True):
                with self.state.lock:
                    holders = list(self.state.role_members.get(role["roleTemplateId"], {}))[:EXPAND_LIMIT]
                found = [self._directory_object_of(holder) for holder in holders]
                entry["members"] = [
                    {"@odata.type": odata_type} | {prop: item.get(prop) for prop in USER_DEFAULT_PROPERTIES}
                    for odata_type, item in (pair for pair in found if pair is not None)
                ]
        return Answer(encode_json({"@odata.context": _context(call, name, options, select), "value": value}))

    def _one_of(
        self, name: str, entity: EntityType, items: list[dict[str, Any]], key: str, call: Call, options: QueryOptions
    ) -> Answer:
        options.allow_only(("$select",))
        item = next((item for item in items if item["id"] == key.lower()), None)
        if item is None:
            raise _not_found(key)
        select = entity.select(options.get("$select"))
        context = _context(call, name, options, select) + "/$entity"
        return Answer(encode_json({"@odata.context": context} | {prop: item.get(prop) for prop in select}))

    def _plain_page(
        self,
        name: str,
        entity: EntityType,
        items: Sequence[dict[str, Any]],
        call: Call,
        options: QueryOptions,
        *,
        default_size: int = 100,
        maximum_size: int = 999,
        expanded: tuple[str, ...] = (),
    ) -> Answer:
        """A paged collection with ``$select``, ``$top``, ``$filter`` and ``$count``, without caches; the
        ``expanded`` navigation properties (already in the items) come with each item when present."""
        options.allow_only(("$select", "$top", "$filter", "$count", "$skiptoken") + (("$expand",) if expanded else ()))
        select = entity.select(options.get("$select"))
        size = page_size(options.get("$top"), default_size, maximum_size)
        counted = count_requested(options.get("$count"))
        query_filter = _filter(options, entity, call, counted)
        if query_filter is not None:
            matches = query_filter.matcher()
            items = [item for item in items if matches(item)]
        scope = f"{name}|{query_filter.key if query_filter else ''}"
        token = options.get("$skiptoken")
        offset = self.page_tokens.offset(scope, token) if token is not None else 0
        head: dict[str, Any] = {"@odata.context": _context(call, name, options, select)}
        if counted and token is None:
            head["@odata.count"] = len(items)
        if offset + size < len(items):
            head["@odata.nextLink"] = _next_link(call, name, options, self.page_tokens.issue(scope, offset + size))
        value = [
            {prop: item.get(prop) for prop in select} | {name: item[name] for name in expanded if name in item}
            for item in items[offset : offset + size]
        ]
        return Answer(encode_json(head | {"value": value}))


class _Derived(Sequence[dict[str, Any]]):
    """``derive`` of each of ``items``, computed only for the items read (a page, not the whole list)."""

    def __init__(self, items: list[dict[str, Any]], derive: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self._items = items
        self._derive = derive

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._derive(item) for item in self._items[index]]
        return self._derive(self._items[index])


def _filter(options: QueryOptions, entity: EntityType, call: Call, counted: bool) -> Filter | None:
    raw = options.get("$filter")
    query_filter = parse_filter(raw, entity) if raw is not None else None
    if counted and not call.eventual:
        raise unsupported_query(
            "$count=true is not supported because the 'ConsistencyLevel:eventual' header is missing. "
            "Refer to https://aka.ms/graph-docs/advanced-queries for more information"
        )
    if query_filter is not None and query_filter.advanced_operators and not (counted and call.eventual):
        operator = query_filter.advanced_operators[0]
        raise unsupported_query(
            f"Operator '{operator}' is not supported because the required parameters might be missing. "
            + ADVANCED_QUERIES_HINT
        )
    return query_filter


def _expand(options: QueryOptions, directory: Directory) -> tuple[str, ...] | None:
    """``$expand=manager`` or ``manager($select=a,b)`` on users: the manager's properties to return."""
    raw = options.get("$expand")
    if raw is None:
        return None
    text = raw.strip()
    name, _, inner = text.partition("(")
    if directory.name != "users" or name.strip().lower() != "manager":
        raise bad_request(f"Could not find a property named '{name.strip()}' on type '{directory.entity.name}'.")
    if not inner:
        return USER_DEFAULT_PROPERTIES
    option, _, value = inner.rstrip(")").partition("=")
    if option.strip().lower() != "$select":
        raise bad_request("Only $select is supported inside $expand.")
    return USER.select(value)


def _context(call: Call, name: str, options: QueryOptions, select: tuple[str, ...]) -> str:
    selected = f"({','.join(select)})" if options.get("$select") else ""
    return f"{call.base}/v1.0/$metadata#{name}{selected}"


def _next_link(call: Call, name: str, options: QueryOptions, token: str) -> str:
    carried = options.link_query(without="$skiptoken")
    return f"{call.base}/v1.0/{name}?{carried + '&' if carried else ''}$skiptoken={token}"


def _path_next_link(call: Call, options: QueryOptions, token: str) -> str:
    carried = options.link_query(without="$skiptoken")
    return f"{call.base}{call.path}?{carried + '&' if carried else ''}$skiptoken={token}"


def _assignment_id(template_id: str, principal_id: str) -> str:
    """A role assignment's id: stable for the same role and principal, shaped like Entra ID's."""
    digest = hashlib.sha256(f"{template_id}|{principal_id}".encode()).hexdigest()
    return f"{digest[:22]}-{digest[22:40]}-1"


def _not_found(key: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
    )


def _unknown_segment(segment: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
