"""The emulator's own endpoints, outside Graph (``/_emulator/...``, no token): what ``m365 emulator change`` and
tests of a served emulator use to change a tenant, move the clock, force delta-token expiry, switch the limits and
read the over-limit counters. Bodies and answers are JSON; ``tenant`` (optional) names a tenant id, else the first.

- ``POST /_emulator/change`` ``{"tenant"?, "changes": [{"action": ..., ...}]}`` or ``{"tenant"?, "random": N,
  "seed": S, "everySeconds"?: X}``: applies the changes in order; answers ``{"applied": [change...], "now"}``.
  Actions (and their fields): addUser (properties), updateUser (id, properties), addGroup (properties),
  updateGroup (id, properties), softDelete (id), hardDelete (id), restore (id), assignLicence (id, skuId),
  removeLicence (id, skuId), addRoleMember (roleTemplateId, principalId), removeRoleMember (roleTemplateId,
  principalId), addMember (groupId, memberId), removeMember (groupId, memberId). A change that cannot apply is a
  400 naming it; the changes before it stay applied.
- ``POST /_emulator/clock`` ``{"advanceSeconds": X}``: moves the emulator's time forward; answers ``{"now"}``.
- ``POST /_emulator/expire-delta-tokens`` ``{"tenant"?, "status": 400|410}``.
- ``POST /_emulator/delta-replays`` ``{"rate": 0.3}``: the share of delta pages shuffled and replayed (0: off).
- ``GET /_emulator/limits``: ``{"enabled", "overLimit": {tenant: {class: count}}, "minimumSeconds"}``, the last the
  least time the published budgets allow for the requests the tenant was served (``Limiter.minimum_seconds_spent``);
  ``POST`` ``{"enabled"?, "reset"?: true}`` switches the limits and/or starts afresh (full buckets, counters 0).
- ``GET /_emulator/state?tenant=``: counts of the live directory, the change log's length, the faults injected so
  far by kind, and how many records a complete extract of the directory holds per raw entity (``extractCounts``).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from m365_pipeline.emulator.state import ChangeError, TenantState

if TYPE_CHECKING:
    from m365_pipeline.emulator.app import GraphEmulator


def answer_admin(
    emulator: GraphEmulator, method: str, segments: list[str], query: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    try:
        document = json.loads(body) if body.strip() else {}
        if not isinstance(document, dict):
            raise ValueError("the body must be a JSON object")
        tenant = document.get("tenant") or next(iter(parse_qs(query).get("tenant", [])), None)
        endpoint = "/".join(segments)
        if (method, endpoint) == ("POST", "change"):
            return 200, _change(emulator, emulator.state(tenant), document)
        if (method, endpoint) == ("POST", "clock"):
            return 200, {"now": _stamp(emulator.advance_clock(float(document.get("advanceSeconds", 0))))}
        if (method, endpoint) == ("POST", "expire-delta-tokens"):
            status = int(document.get("status", 400))
            if status not in (400, 410):
                raise ValueError("status must be 400 or 410")
            emulator.expire_delta_tokens(400 if status == 400 else 410, tenant)
            return 200, {"expired": True, "status": status}
        if (method, endpoint) == ("POST", "delta-replays"):
            rate = float(document["rate"])
            if not 0 <= rate <= 1:
                raise ValueError("rate must be between 0 and 1")
            emulator.set_delta_replays(rate)
            return 200, {"rate": rate}
        if endpoint == "limits" and method in ("GET", "POST"):
            if method == "POST":
                if "enabled" in document:
                    emulator.limiter.enabled = bool(document["enabled"])
                if document.get("reset"):
                    emulator.limiter.reset()
            return 200, {
                "enabled": emulator.limiter.enabled,
                "overLimit": emulator.over_limit(tenant),
                "minimumSeconds": emulator.limiter.minimum_seconds_spent(emulator.state(tenant).tenant_id),
            }
        if (method, endpoint) == ("GET", "state"):
            state = emulator.state(tenant)
            with state.lock:
                return 200, {
                    "tenant": state.tenant_id,
                    "now": _stamp(state.now()),
                    "users": len(state.users.live),
                    "deletedUsers": len(state.users.deleted),
                    "groups": len(state.groups.live),
                    "deletedGroups": len(state.groups.deleted),
                    "changes": state.seq,
                    "faults": {
                        kind.value: count for kind, count in emulator.faults_for(state.tenant_id).counts.items()
                    },
                    "extractCounts": state.extract_counts(),
                }
        return 404, {"error": {"code": "NotFound", "message": f"no emulator endpoint {method} /_emulator/{endpoint}"}}
    except (ChangeError, KeyError, ValueError, TypeError) as error:
        return 400, {"error": {"code": "BadRequest", "message": str(error).strip("'\"")}}


def _change(emulator: GraphEmulator, state: TenantState, document: dict[str, Any]) -> dict[str, Any]:
    if "random" in document:
        changes = state.random_changes(
            int(document["random"]), int(document.get("seed", 0)), float(document.get("everySeconds", 0))
        )
        return {"applied": [change.describe() for change in changes], "now": _stamp(emulator.clock())}
    start = state.seq
    for number, change in enumerate(document.get("changes") or []):
        try:
            apply_change(state, change)
        except (ChangeError, KeyError, TypeError) as error:
            raise ChangeError(f"change {number} ({change.get('action')}): {str(error).strip(chr(39))}") from None
    applied = [change.describe() for change in state.changes_since(start)]
    return {"applied": applied, "now": _stamp(emulator.clock())}


def apply_change(state: TenantState, change: dict[str, Any]) -> None:
    """One change of the admin API's JSON form (see the module's docstring)."""
    action = change["action"]
    properties = change.get("properties") or {}
    if action == "addUser":
        state.add_user(**properties)
    elif action == "updateUser":
        state.update_user(change["id"], **properties)
    elif action == "addGroup":
        state.add_group(**properties)
    elif action == "updateGroup":
        state.update_group(change["id"], **properties)
    elif action == "softDelete":
        state.soft_delete(change["id"])
    elif action == "hardDelete":
        state.hard_delete(change["id"])
    elif action == "restore":
        state.restore(change["id"])
    elif action == "assignLicence":
        state.assign_licence(change["id"], change["skuId"])
    elif action == "removeLicence":
        state.remove_licence(change["id"], change["skuId"])
    elif action == "addRoleMember":
        state.add_role_member(change["roleTemplateId"], change["principalId"])
    elif action == "removeRoleMember":
        state.remove_role_member(change["roleTemplateId"], change["principalId"])
    elif action == "addMember":
        state.add_member(change["groupId"], change["memberId"])
    elif action == "removeMember":
        state.remove_member(change["groupId"], change["memberId"])
    else:
        raise ChangeError(f"unknown action '{action}'")


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
