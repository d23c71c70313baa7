"""Raw Graph records (the catalog's camelCase dicts, as read back from the raw Parquet) to warehouse rows.

A record that cannot be loaded faithfully (no id, a bad timestamp, a non-GUID skuId, ...) is quarantined with
every problem it has, and the rest of the batch still loads. A record whose key repeats an earlier record's is
quarantined too: the first one wins. A child row (a user's license) loads only with its parent. Nothing is
dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from m365_pipeline.warehouse.quarantine import QuarantinedRow

LIST_SEPARATOR = "; "

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,7}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_NEVER = "0001-01-01T00:00:00"


@dataclass(frozen=True)
class Normalized:
    rows: list[dict[str, Any]]
    quarantined: list[QuarantinedRow]


def parse_graph_timestamp(value: str | None) -> datetime | None:
    """An aware UTC datetime from a Graph timestamp; None for null and for the "never" sentinel 0001-01-01.

    Graph sends up to 7 fractional digits (100 ns ticks); the 7th is truncated to fit a datetime. Graph
    timestamps are UTC by contract, so a value without an offset is read as UTC.
    """
    if value is None:
        return None
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a Graph timestamp such as 2025-06-24T10:51:08.1234567Z")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if value.startswith(_NEVER) and int(fraction or "0") == 0 and offset in (None, "Z", "+00:00", "-00:00"):
        return None
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=_time_zone(offset),
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{value!r} is not a valid timestamp: {error}") from None


def _time_zone(offset: str | None) -> timezone:
    if offset in (None, "Z"):
        return UTC
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = offset[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def normalize_users(records: Iterable[dict[str, Any]], tenant_id: str, source: str) -> Normalized:
    users = _Batch("users", source, key=("id",))
    for row_number, record in enumerate(records, start=1):
        _add_user(users, row_number, record, tenant_id)
    return users.result()


def normalize_user_licenses(records: Iterable[dict[str, Any]], tenant_id: str, source: str) -> Normalized:
    """One row per user and directly assigned SKU, from the users' ``assignedLicenses``.

    Only users that `normalize_users` loads give license rows, so no license points at a user missing from
    ``users``: the licenses of a rejected user record are quarantined once, with the user's own problems. A
    bad license of a loaded user is quarantined on its own; the user's other licenses still load.
    """
    users = _Batch("users", source, key=("id",))
    licenses = _Batch("user_licenses", source, key=("user_id", "sku_id"))
    for row_number, record in enumerate(records, start=1):
        user_problems = _add_user(users, row_number, record, tenant_id)
        if not user_problems:
            loaded_user = users.rows[-1]
            _add_licenses(licenses, row_number, record, tenant_id, user_id=loaded_user["id"])
        elif record.get("assignedLicenses") not in (None, []):
            licenses.reject(row_number, record, [_user_rejected(user_problems)])
    return licenses.result()


def _add_user(users: _Batch, row_number: int, record: dict[str, Any], tenant_id: str) -> list[tuple[str, str]]:
    """Adds the user row of `record`; returns the problems that kept it out, empty when it loaded."""
    fields = _Fields(record)
    row = {
        "tenant_id": tenant_id,
        "id": fields.guid("id"),
        "user_principal_name": fields.required_text("userPrincipalName"),
        "display_name": fields.text("displayName"),
        "given_name": fields.text("givenName"),
        "surname": fields.text("surname"),
        "mail": fields.text("mail"),
        "job_title": fields.text("jobTitle"),
        "department": fields.text("department"),
        "office_location": fields.text("officeLocation"),
        "usage_location": fields.text("usageLocation"),
        "preferred_language": fields.text("preferredLanguage"),
        "account_enabled": fields.boolean("accountEnabled"),
        "user_type": fields.text("userType"),
        "created_at": fields.timestamp("createdDateTime"),
        "on_premises_sync_enabled": fields.boolean("onPremisesSyncEnabled"),
        "business_phones": LIST_SEPARATOR.join(fields.text_list("businessPhones")),
        "mobile_phone": fields.text("mobilePhone"),
        "last_sign_in_at": fields.timestamp("signInActivity.lastSignInDateTime"),
        "last_non_interactive_sign_in_at": fields.timestamp("signInActivity.lastNonInteractiveSignInDateTime"),
        "last_successful_sign_in_at": fields.timestamp("signInActivity.lastSuccessfulSignInDateTime"),
    }
    return users.add(row_number, record, fields.problems, row)


def _add_licenses(licenses: _Batch, row_number: int, record: dict[str, Any], tenant_id: str, user_id: str) -> None:
    user = _Fields(record)
    assigned_licenses = user.records("assignedLicenses")
    if user.problems:
        licenses.reject(row_number, record, user.problems)
    for index, assigned in enumerate(assigned_licenses):
        fields = _Fields.of(assigned, f"assignedLicenses[{index}].")
        row = {
            "tenant_id": tenant_id,
            "user_id": user_id,
            "sku_id": fields.guid("skuId"),
            "disabled_plans": LIST_SEPARATOR.join(sorted(fields.guid_list("disabledPlans"))),
        }
        licenses.add(row_number, record, fields.problems, row)


def _user_rejected(user_problems: list[tuple[str, str]]) -> tuple[str, str]:
    """The one problem of the licenses of a rejected user record: the user's own problems, field by field."""
    fields = ", ".join(name for name, _ in user_problems)
    details = "; ".join(f"{name}: {reason}" for name, reason in user_problems)
    return fields, f"user record rejected, so its licenses are not loaded: {details}"


def normalize_skus(records: Iterable[dict[str, Any]], tenant_id: str, source: str) -> Normalized:
    batch = _Batch("skus", source, key=("sku_id",))
    for row_number, record in enumerate(records, start=1):
        fields = _Fields(record)
        plan_names = [
            fields.child(plan, f"servicePlans[{index}].").required_text("servicePlanName")
            for index, plan in enumerate(fields.records("servicePlans"))
        ]
        row = {
            "tenant_id": tenant_id,
            "sku_id": fields.guid("skuId"),
            "sku_part_number": fields.required_text("skuPartNumber"),
            "account_name": fields.text("accountName"),
            "applies_to": fields.text("appliesTo"),
            "capability_status": fields.text("capabilityStatus"),
            "consumed_units": fields.integer("consumedUnits"),
            "prepaid_enabled": fields.integer("prepaidUnits.enabled"),
            "prepaid_locked_out": fields.integer("prepaidUnits.lockedOut"),
            "prepaid_suspended": fields.integer("prepaidUnits.suspended"),
            "prepaid_warning": fields.integer("prepaidUnits.warning"),
            "service_plan_names": LIST_SEPARATOR.join(name for name in plan_names if name is not None),
        }
        batch.add(row_number, record, fields.problems, row)
    return batch.result()


def normalize_groups(records: Iterable[dict[str, Any]], tenant_id: str, source: str) -> Normalized:
    batch = _Batch("groups", source, key=("id",))
    for row_number, record in enumerate(records, start=1):
        fields = _Fields(record)
        group_types = fields.text_list("groupTypes")
        mail_enabled = fields.required_boolean("mailEnabled")
        security_enabled = fields.required_boolean("securityEnabled")
        kind = group_kind(group_types, mail_enabled, security_enabled)
        if kind is None and mail_enabled is not None and security_enabled is not None:
            fields.problem(
                "groupTypes, mailEnabled, securityEnabled",
                "neither a Microsoft 365 group (Unified) nor mail- or security-enabled: no known kind",
            )
        row = {
            "tenant_id": tenant_id,
            "id": fields.guid("id"),
            "display_name": fields.text("displayName"),
            "description": fields.text("description"),
            "mail": fields.text("mail"),
            "mail_enabled": mail_enabled,
            "security_enabled": security_enabled,
            "mail_nickname": fields.text("mailNickname"),
            "group_types": LIST_SEPARATOR.join(group_types),
            "kind": kind,
            "is_dynamic": "DynamicMembership" in group_types,
            "membership_rule": fields.text("membershipRule"),
            "visibility": fields.text("visibility"),
            "created_at": fields.timestamp("createdDateTime"),
            "on_premises_sync_enabled": fields.boolean("onPremisesSyncEnabled"),
        }
        batch.add(row_number, record, fields.problems, row)
    return batch.result()


def group_kind(group_types: list[str], mail_enabled: bool | None, security_enabled: bool | None) -> str | None:
    """The old tool's group kind; None when the flags fit none of them."""
    if "Unified" in group_types:
        return "microsoft365"
    if security_enabled and mail_enabled:
        return "mail_enabled_security"
    if security_enabled:
        return "security"
    if mail_enabled:
        return "distribution"
    return None


@dataclass
class _Batch:
    """The rows and quarantined records of one normalization; the first record with a given key wins."""

    entity: str
    source: str
    key: tuple[str, ...]
    rows: list[dict[str, Any]] = field(init=False, default_factory=list)
    quarantined: list[QuarantinedRow] = field(init=False, default_factory=list)
    _first_row_of_key: dict[tuple[Any, ...], int] = field(init=False, default_factory=dict)

    def add(
        self, row_number: int, record: dict[str, Any], problems: list[tuple[str, str]], row: dict[str, Any]
    ) -> list[tuple[str, str]]:
        """Adds `row` unless it has problems or repeats a key; returns the problems that kept it out."""
        key = tuple(row[name] for name in self.key)
        first = self._first_row_of_key.get(key)
        if not problems and first is not None:
            problems = [(", ".join(self.key), f"same key {key} as row {first}")]
        if problems:
            self.reject(row_number, record, problems)
            return problems
        self._first_row_of_key[key] = row_number
        self.rows.append(row)
        return []

    def reject(self, row_number: int, record: dict[str, Any], problems: list[tuple[str, str]]) -> None:
        self.quarantined.append(
            QuarantinedRow(
                entity=self.entity,
                source=self.source,
                row_number=row_number,
                field=", ".join(name for name, _ in problems),
                reason="; ".join(reason for _, reason in problems),
                raw=record,
            )
        )

    def result(self) -> Normalized:
        return Normalized(rows=self.rows, quarantined=self.quarantined)


class _Fields:
    """Reads the fields of one raw record, noting every problem instead of stopping at the first."""

    def __init__(
        self, record: Mapping[str, Any], prefix: str = "", problems: list[tuple[str, str]] | None = None
    ) -> None:
        self._record = record
        self._prefix = prefix
        self.problems: list[tuple[str, str]] = [] if problems is None else problems

    @classmethod
    def of(cls, record: Any, prefix: str) -> _Fields:
        """The fields of a nested object, with problems of their own."""
        return cls({}).child(record, prefix)

    def child(self, record: Any, prefix: str) -> _Fields:
        """The fields of a nested object; its problems are this record's problems."""
        if not isinstance(record, Mapping):
            self.problem(prefix.rstrip("."), f"expected an object, got {record!r}")
            record = {}
        return _Fields(record, self._prefix + prefix, self.problems)

    def problem(self, path: str, reason: str) -> None:
        self.problems.append((self._prefix + path, reason))

    def _value(self, path: str) -> Any:
        value: Any = self._record
        for part in path.split("."):
            if value is None:
                return None
            if not isinstance(value, Mapping):
                self.problem(path, f"expected an object on the way to {path}, got {value!r}")
                return None
            value = value.get(part)
        return value

    def _typed(self, path: str, expected: type, description: str, required: bool = False) -> Any:
        value = self._value(path)
        if value is None:
            if required:
                self.problem(path, "missing")
            return None
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            self.problem(path, f"expected {description}, got {value!r}")
            return None
        return value

    def text(self, path: str) -> str | None:
        value: str | None = self._typed(path, str, "text")
        return value

    def required_text(self, path: str) -> str | None:
        value: str | None = self._typed(path, str, "text", required=True)
        if value == "":
            self.problem(path, "empty")
        return value

    def boolean(self, path: str) -> bool | None:
        value: bool | None = self._typed(path, bool, "true or false")
        return value

    def required_boolean(self, path: str) -> bool | None:
        value: bool | None = self._typed(path, bool, "true or false", required=True)
        return value

    def integer(self, path: str) -> int | None:
        value: int | None = self._typed(path, int, "an integer")
        return value

    def guid(self, path: str) -> str | None:
        value = self.required_text(path)
        return self._checked_guid(path, value) if value else None

    def timestamp(self, path: str) -> datetime | None:
        value = self._value(path)
        try:
            return parse_graph_timestamp(value)
        except ValueError as error:
            self.problem(path, str(error))
            return None

    def _list(self, path: str, check: Callable[[Any], bool], description: str) -> list[Any]:
        value = self._typed(path, list, "a list")
        if value is None:
            return []
        bad = [item for item in value if not check(item)]
        if bad:
            self.problem(path, f"expected a list of {description}, got {bad[0]!r} in it")
            return []
        return value

    def text_list(self, path: str) -> list[str]:
        return self._list(path, lambda item: isinstance(item, str), "text")

    def guid_list(self, path: str) -> list[str]:
        items = self._list(path, lambda item: isinstance(item, str) and _GUID.fullmatch(item) is not None, "GUIDs")
        return [item.lower() for item in items]

    def records(self, path: str) -> list[Any]:
        return self._typed(path, list, "a list") or []

    def _checked_guid(self, path: str, value: str) -> str | None:
        if _GUID.fullmatch(value) is None:
            self.problem(path, f"{value!r} is not a GUID")
            return None
        return value.lower()
