"""Delta query for ``/users/delta`` and ``/groups/delta``, as graph_api.md and Graph's delta-query docs describe it.

A round starts without a token and pages with ``@odata.nextLink`` (``$skiptoken``) to a last page that carries
``@odata.deltaLink`` (``$deltatoken``). The tokens are opaque and signed; they carry the first call's parameters
(``$select``, ``$filter``), the change sequence number the round reports from, and the emulator time the round began.
The first round returns every object, soft-deleted ones as ``@removed {"reason": "changed"}``; a later round
returns the objects changed since its token (from the tenant's change log): current ones (with
``Prefer: return=minimal``, only their changed tracked properties), ``@removed`` ``changed`` (soft-deleted,
restorable) or ``deleted`` (gone). Groups with ``members`` selected carry ``members@delta``; a group whose members
do not fit in a page continues on the next page, so a large group appears several times.

Tokens expire after 7 days of emulator time (400 ``syncStateNotFound``). ``DeltaService.expire_tokens`` forces
expiry of every token issued so far, answered as that 400 or as 410 Gone with a ``Location`` to restart from.
With a replay rate, pages come shuffled and repeat objects already sent (the same object twice, out of order).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import random
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload
from urllib.parse import quote

from m365_pipeline.emulator.odata import EntityType, GraphError, QueryOptions, bad_request
from m365_pipeline.emulator.state import Change, TenantState

TOKEN_LIFETIME = 7 * 86400.0  # directory objects keep their sync state 7 days
USERS_PER_PAGE = 200
GROUPS_PER_PAGE = 100
MEMBERS_PER_PAGE = 500  # member references one page carries over all its groups
MAX_FILTER_IDS = 50
DELTA_OPTIONS = ("$select", "$filter", "$deltatoken", "$skiptoken")
SYNC_STATE_NOT_FOUND = (
    "The sync state generation is not found. The delta token is expired and data must be synchronized again."
)
RESYNC_REQUIRED = (
    "Resync required. Replace any local items with the server's items to avoid duplicates. "
    "Then, use the Location header to resync."
)
_ID_EQ = re.compile(r"\s*id\s+eq\s+'([^']+)'\s*", re.IGNORECASE)
ALWAYS_ANNOUNCED = frozenset({"addUser", "addGroup", "softDelete", "hardDelete", "restore"})

Collection = Literal["users", "groups"]


@dataclass(frozen=True)
class DeltaAnswer:
    payload: dict[str, Any]
    minimal: bool


class DeltaService:
    """The delta side of one tenant; thread-safe."""

    def __init__(
        self,
        state: TenantState,
        entities: dict[Collection, EntityType],
        key: bytes,
        clock: Callable[[], float],
        replay_rate: float = 0.0,
    ) -> None:
        self._state = state
        self._entities = entities
        self._key = key
        self._clock = clock
        self.replay_rate = replay_rate
        self._replays = random.Random(key)
        self._epoch = 0
        self._expiry_status = 400
        self._lock = threading.Lock()

    def expire_tokens(self, status: Literal[400, 410] = 400) -> None:
        """Every token issued so far is answered as expired: 400 syncStateNotFound, or 410 Gone whose
        ``Location`` restarts the round (a URL with an empty ``$deltatoken``)."""
        with self._lock:
            self._epoch += 1
            self._expiry_status = status

    def answer(self, collection: Collection, base: str, options: QueryOptions, prefer: str) -> DeltaAnswer:
        for name in options.values:
            if name.startswith("$") and name not in DELTA_OPTIONS:
                raise bad_request(f"The query parameter '{name}' is not supported with delta query.")
        link = f"{base}/v1.0/{collection}/delta"
        minimal = "return=minimal" in prefer.replace(" ", "").lower()
        token_text = options.get("$skiptoken")
        if token_text is None:
            token_text = options.get("$deltatoken")
            if token_text is not None and token_text.strip().lower() == "latest":
                token = self._fresh(collection, options)
                token.update(p="d", s=self._state.seq)
                payload = self._head(collection, base, token) | {"value": []}
                payload["@odata.deltaLink"] = f"{link}?$deltatoken={self._sign(token)}"
                return DeltaAnswer(payload, minimal)
        if not token_text:  # no token, or the empty one a 410's Location names: a new round
            token = self._fresh(collection, options)
        else:
            token = self._read(collection, token_text, link, options)
        return DeltaAnswer(self._page(collection, base, link, token, minimal), minimal)

    # --- tokens ----------------------------------------------------------------------------------------

    def _fresh(self, collection: Collection, options: QueryOptions) -> dict[str, Any]:
        entity = self._entities[collection]
        raw_select = options.get("$select")
        members = False
        if raw_select is not None and collection == "groups":
            names = [name.strip() for name in raw_select.split(",") if name.strip()]
            members = any(name.lower() == "members" for name in names)
            raw_select = ",".join(name for name in names if name.lower() != "members") or None
        select = list(entity.select(raw_select)) if raw_select is not None else list(entity.default_select)
        if "id" not in select:
            select.insert(0, "id")
        with self._lock:
            epoch = self._epoch
        return {
            "c": collection,
            "f": select,
            "m": members,
            "i": _filter_ids(options.get("$filter")),
            "p": "i",
            "s": self._state.seq,
            "u": None,
            "o": 0,
            "k": 0,
            "t": self._clock(),
            "e": epoch,
        }

    def _sign(self, token: dict[str, Any]) -> str:
        payload = json.dumps(token, separators=(",", ":")).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + payload).rstrip(b"=").decode("ascii")

    def _read(self, collection: Collection, text: str, link: str, options: QueryOptions) -> dict[str, Any]:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        mac, payload = raw[:12], raw[12:]
        if not payload or not hmac.compare_digest(mac, hmac.new(self._key, payload, hashlib.sha256).digest()[:12]):
            raise bad_request("The delta token or skip token is not valid.")
        token: dict[str, Any] = json.loads(payload)
        if token["c"] != collection:
            raise bad_request(f"The token was issued for /{token['c']}/delta.")
        with self._lock:
            expired_by_force = token["e"] < self._epoch
            status = self._expiry_status
        if expired_by_force and status == 410:
            select = ",".join(token["f"] + (["members"] if token["m"] else []))
            location = f"{link}?$select={quote(select, safe=',')}&$deltatoken="
            raise GraphError(410, "resyncRequired", RESYNC_REQUIRED, {"Location": location})
        if expired_by_force or self._clock() - token["t"] > TOKEN_LIFETIME:
            raise GraphError(400, "syncStateNotFound", SYNC_STATE_NOT_FOUND)
        if token["p"] == "d" and token["u"] is None:
            # a deltaLink being followed: this round reports the changes up to now, whatever comes later
            token = token | {"u": self._state.seq, "t": self._clock()}
        return token

    # --- pages -----------------------------------------------------------------------------------------

    def _head(self, collection: Collection, base: str, token: dict[str, Any]) -> dict[str, Any]:
        names = token["f"] + (["members"] if token["m"] else [])
        return {"@odata.context": f"{base}/v1.0/$metadata#{collection}({','.join(names)})"}

    def _page(
        self, collection: Collection, base: str, link: str, token: dict[str, Any], minimal: bool
    ) -> dict[str, Any]:
        state = self._state
        with state.lock:
            if token["p"] == "i":
                targets = self._initial_targets(collection, token)
            else:
                targets = self._changed_targets(collection, token)
            entries, offset, member_offset, done = self._fill(collection, targets, token, minimal)
            replay = self._replay(collection, targets, token, minimal)
        entries = self._disorder(entries + replay)
        payload = self._head(collection, base, token) | {"value": entries}
        if done:
            end_seq = token["s"] if token["p"] == "i" else token["u"]
            following = token | {"p": "d", "s": end_seq, "u": None, "o": 0, "k": 0, "t": self._clock()}
            payload["@odata.deltaLink"] = f"{link}?$deltatoken={self._sign(following)}"
        else:
            payload["@odata.nextLink"] = f"{link}?$skiptoken={self._sign(token | {'o': offset, 'k': member_offset})}"
        return payload

    def _initial_targets(self, collection: Collection, token: dict[str, Any]) -> Sequence[_Target]:
        objects = self._state.users if collection == "users" else self._state.groups
        ids = [*objects.live, *objects.deleted]
        if token["i"] is not None:
            wanted = set(token["i"])
            ids = [object_id for object_id in ids if object_id in wanted]
        return _FirstRoundTargets(ids)

    def _changed_targets(self, collection: Collection, token: dict[str, Any]) -> Sequence[_Target]:
        kind = "user" if collection == "users" else "group"
        touched: dict[str, _Target] = {}
        changes: list[Change] = self._state.changes_since(token["s"], token["u"])
        for change in changes:
            if change.kind != kind:
                continue
            target = touched.pop(change.object_id, None) or _Target(change.object_id, set(), set())
            touched[change.object_id] = target  # re-inserted: ordered by the latest change
            assert target.properties is not None
            if change.action in ALWAYS_ANNOUNCED:
                target.announced = True
            if change.related is not None and change.action in ("addMember", "removeMember"):
                target.members.add(change.related)
            else:
                target.properties.update(change.properties)
        targets = list(touched.values())
        if token["i"] is not None:
            wanted = set(token["i"])
            targets = [target for target in targets if target.object_id in wanted]
        tracked = set(token["f"])
        return [
            target
            for target in targets
            if target.announced or (target.properties or set()) & tracked or (token["m"] and target.members)
        ]

    def _fill(
        self, collection: Collection, targets: Sequence[_Target], token: dict[str, Any], minimal: bool
    ) -> tuple[list[dict[str, Any]], int, int, bool]:
        per_page = USERS_PER_PAGE if collection == "users" else GROUPS_PER_PAGE
        budget = MEMBERS_PER_PAGE
        entries: list[dict[str, Any]] = []
        offset, member_offset = token["o"], token["k"]
        while offset < len(targets) and len(entries) < per_page:
            target = targets[offset]
            entry = self._entry(collection, target, token, minimal and token["p"] == "d")
            if not token["m"] or "@removed" in entry:
                entries.append(entry)
                offset, member_offset = offset + 1, 0
                continue
            taken, total = self._references(target, member_offset, budget)
            entries.append(entry | {"members@delta": taken})
            budget -= len(taken)
            if member_offset + len(taken) < total:
                member_offset += len(taken)
                return entries, offset, member_offset, False  # the group goes on on the next page
            offset, member_offset = offset + 1, 0
            if budget <= 0:
                break
        return entries, offset, member_offset, offset >= len(targets)

    def _entry(self, collection: Collection, target: _Target, token: dict[str, Any], minimal: bool) -> dict[str, Any]:
        """The object's entry, without its members."""
        state = self._state
        objects = state.users if collection == "users" else state.groups
        current = objects.live.get(target.object_id)
        if current is None:
            reason = "changed" if target.object_id in objects.deleted else "deleted"
            return {"id": target.object_id, "@removed": {"reason": reason}}
        names = token["f"]
        if minimal and target.properties is not None and not target.announced:
            names = [name for name in names if name == "id" or name in target.properties]
        return {name: current.get(name) for name in names}

    def _references(self, target: _Target, start: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """``members@delta`` references from ``start`` on (at most ``limit``), and how many there are in all: in
        a first round every member; in a later one the members changed, plus every member of an object that
        (re)appeared in it."""
        state = self._state
        held = state.members.get(target.object_id, {})
        first = target.properties is None
        if first:
            total = len(held)
            chosen: list[str] = list(itertools.islice(held, start, start + limit))
        else:
            reported = (dict.fromkeys(held) if target.announced else {}) | dict.fromkeys(target.members)
            total = len(reported)
            chosen = sorted(reported)[start : start + limit]
        references = []
        for member_id in chosen:
            reference: dict[str, Any] = {
                "@odata.type": f"#microsoft.graph.{state.object_kind(member_id) or 'user'}",
                "id": member_id,
            }
            if member_id not in held:
                reference["@removed"] = {"reason": "deleted"}
            references.append(reference)
        return references, total

    def _replay(
        self, collection: Collection, targets: Sequence[_Target], token: dict[str, Any], minimal: bool
    ) -> list[dict[str, Any]]:
        """An object of an earlier page sent again, as Graph may (the replay switch)."""
        if not self.replay_rate or token["o"] == 0:
            return []
        with self._lock:
            roll, pick = self._replays.random(), self._replays.random()
        if roll >= self.replay_rate:
            return []
        target = targets[min(int(pick * token["o"]), len(targets) - 1)]
        return [self._entry(collection, target, token, minimal and token["p"] == "d")]

    def _disorder(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.replay_rate or not entries:
            return entries
        with self._lock:
            rolls = self._replays.random(), self._replays.random()
            if rolls[0] < self.replay_rate:
                entries = [*entries, dict(entries[int(rolls[1] * len(entries))])]
            if rolls[1] < self.replay_rate:
                self._replays.shuffle(entries)
        return entries


class _Target:
    """An object a page reports: for a later round, the properties and the members its changes touched
    (``properties`` None: the first round, which reports everything)."""

    __slots__ = ("announced", "members", "object_id", "properties")

    def __init__(self, object_id: str, properties: set[str] | None, members: set[str]) -> None:
        self.object_id = object_id
        self.properties = properties
        self.members = members
        self.announced = False


class _FirstRoundTargets(Sequence[_Target]):
    """Every object of a first round, made into a target only when a page reaches it."""

    def __init__(self, ids: list[str]) -> None:
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> _Target: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[_Target]: ...

    def __getitem__(self, index: int | slice) -> _Target | Sequence[_Target]:
        if isinstance(index, slice):
            return [_Target(object_id, None, set()) for object_id in self._ids[index]]
        return _Target(self._ids[index], None, set())


def _filter_ids(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    clauses = re.split(r"\s+or\s+", raw.strip(), flags=re.IGNORECASE)
    ids = []
    for clause in clauses:
        match = _ID_EQ.fullmatch(clause)
        if match is None:
            raise bad_request("Delta query only supports $filter of the form id eq '...' (or several with or).")
        ids.append(match.group(1).lower())
    if len(ids) > MAX_FILTER_IDS:
        raise bad_request(f"Delta query supports at most {MAX_FILTER_IDS} ids in $filter.")
    return ids
