"""Load a day of an activity log from its raw file into the warehouse, replacing the day in one transaction.

The day's rows (and their child rows) are deleted and the raw file's events inserted, streamed in batches, and
the day's provenance row written, all in one transaction: a re-run of a day gives the same rows, a load killed
halfway leaves the day as it was. Loads of the same tenant, log and day are serialized (a PostgreSQL advisory
lock; SQLite's write lock). Every event is checked to belong to the day, to the 100 ns tick.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from m365_pipeline.activity.extract import ACTIVITY_LOGS
from m365_pipeline.activity.timestamps import datetime_of_ticks, day_of_ticks, graph_ticks
from m365_pipeline.raw_store import RawStore, new_extract_id
from m365_pipeline.warehouse.activity_tables import ACTIVITY_TABLES, activity_days
from m365_pipeline.warehouse.staging import write_rows

TENANT_ID_KEY = "m365.tenant_id"
EXTRACTED_AT_KEY = "m365.extracted_at"


class MissingDayError(LookupError):
    """The raw store holds no file for the day: it was never extracted."""


@dataclass(frozen=True)
class DayLoad:
    log: str
    tenant_id: str
    day: date
    events: int
    child_rows: int
    raw_path: str
    raw_sha256: str
    load_id: str


def load_day(engine: sa.Engine, store: RawStore, log: str, tenant: str, day: date) -> DayLoad:
    """Replace ``day`` of ``log`` for ``tenant`` in the warehouse with the raw store's file of that day."""
    path = store.path(ACTIVITY_LOGS[log].name, tenant, day.isoformat())
    if not store.exists(path):
        raise MissingDayError(
            f"{log} of {day.isoformat()} for tenant {tenant}: the raw store holds no {store.location(path)}; "
            f"materialize raw/{log} for the day first"
        )
    metadata = store.file_metadata(path)
    tenant_id = metadata.get(TENANT_ID_KEY)
    if not tenant_id:
        raise ValueError(f"{store.location(path)}: no {TENANT_ID_KEY} in the file's metadata")
    digest = store.sha256(path)
    extracted_at = metadata.get(EXTRACTED_AT_KEY)
    main, child = ACTIVITY_TABLES[log]
    load_id = new_extract_id()
    normalize = _NORMALIZERS[log]
    counts = {"events": 0, "children": 0}
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            key = zlib.crc32(f"{tenant_id}|{log}|{day}".encode())
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        for table in (child, main):
            connection.execute(table.delete().where(table.c.tenant_id == tenant_id, table.c.day == day))
        connection.execute(
            activity_days.delete().where(
                activity_days.c.tenant_id == tenant_id, activity_days.c.log == log, activity_days.c.day == day
            )
        )
        for batch in store.iter_record_batches(path):
            rows, children = normalize(tenant_id, day, batch, store.location(path))
            write_rows(connection, main, rows)
            write_rows(connection, child, children)
            counts["events"] += len(rows)
            counts["children"] += len(children)
        connection.execute(
            activity_days.insert().values(
                tenant_id=tenant_id,
                log=log,
                day=day,
                events=counts["events"],
                raw_path=store.location(path),
                raw_sha256=digest,
                extracted_at=datetime.fromisoformat(extracted_at) if extracted_at else None,
                loaded_at=datetime.now(UTC),
                load_id=load_id,
            )
        )
    return DayLoad(log, tenant_id, day, counts["events"], counts["children"], store.location(path), digest, load_id)


def _moment(record: dict[str, Any], name: str, day: date, where: str) -> tuple[datetime, str]:
    text = record.get(name)
    if not isinstance(text, str):
        raise ValueError(f"{where}: event {record.get('id')!r} has no {name}")
    ticks = graph_ticks(text)
    if day_of_ticks(ticks) != day:
        raise ValueError(f"{where}: event {record.get('id')!r} at {text} does not belong to {day.isoformat()}")
    return datetime_of_ticks(ticks), text


def _joined(values: Iterable[str] | None) -> str:
    return "; ".join(values or [])


def _sign_ins(
    tenant_id: str, day: date, batch: list[dict[str, Any]], where: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, policies = [], []
    for record in batch:
        created_at, created_text = _moment(record, "createdDateTime", day, where)
        status = record.get("status") or {}
        device = record.get("deviceDetail") or {}
        location = record.get("location") or {}
        rows.append(
            {
                "tenant_id": tenant_id,
                "day": day,
                "id": record["id"],
                "created_at": created_at,
                "created_date_time": created_text,
                "user_id": record.get("userId"),
                "user_principal_name": record.get("userPrincipalName"),
                "user_display_name": record.get("userDisplayName"),
                "app_id": record.get("appId"),
                "app_display_name": record.get("appDisplayName"),
                "ip_address": record.get("ipAddress"),
                "client_app_used": record.get("clientAppUsed"),
                "correlation_id": record.get("correlationId"),
                "conditional_access_status": record.get("conditionalAccessStatus"),
                "is_interactive": record.get("isInteractive"),
                "error_code": status.get("errorCode"),
                "failure_reason": status.get("failureReason"),
                "risk_detail": record.get("riskDetail"),
                "risk_level_aggregated": record.get("riskLevelAggregated"),
                "risk_level_during_sign_in": record.get("riskLevelDuringSignIn"),
                "risk_state": record.get("riskState"),
                "risk_event_types": _joined(record.get("riskEventTypes")),
                "resource_display_name": record.get("resourceDisplayName"),
                "resource_id": record.get("resourceId"),
                "device_operating_system": device.get("operatingSystem"),
                "device_browser": device.get("browser"),
                "device_id": device.get("deviceId"),
                "device_is_compliant": device.get("isCompliant"),
                "device_is_managed": device.get("isManaged"),
                "city": location.get("city"),
                "state": location.get("state"),
                "country_or_region": location.get("countryOrRegion"),
            }
        )
        for position, policy in enumerate(record.get("appliedConditionalAccessPolicies") or []):
            policies.append(
                {
                    "tenant_id": tenant_id,
                    "day": day,
                    "sign_in_id": record["id"],
                    "position": position,
                    "policy_id": policy.get("id"),
                    "display_name": policy.get("displayName"),
                    "result": policy.get("result"),
                    "enforced_grant_controls": _joined(policy.get("enforcedGrantControls")),
                    "enforced_session_controls": _joined(policy.get("enforcedSessionControls")),
                }
            )
    return rows, policies


def _directory_audits(
    tenant_id: str, day: date, batch: list[dict[str, Any]], where: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, targets = [], []
    for record in batch:
        activity_at, activity_text = _moment(record, "activityDateTime", day, where)
        initiator = record.get("initiatedBy") or {}
        user = initiator.get("user") or {}
        app = initiator.get("app") or {}
        details = record.get("additionalDetails")
        rows.append(
            {
                "tenant_id": tenant_id,
                "day": day,
                "id": record["id"],
                "activity_at": activity_at,
                "activity_date_time": activity_text,
                "activity_display_name": record.get("activityDisplayName"),
                "category": record.get("category"),
                "operation_type": record.get("operationType"),
                "result": record.get("result"),
                "result_reason": record.get("resultReason"),
                "logged_by_service": record.get("loggedByService"),
                "correlation_id": record.get("correlationId"),
                "initiated_by_user_id": user.get("id"),
                "initiated_by_user_principal_name": user.get("userPrincipalName"),
                "initiated_by_user_display_name": user.get("displayName"),
                "initiated_by_ip_address": user.get("ipAddress"),
                "initiated_by_app_id": app.get("appId"),
                "initiated_by_app_display_name": app.get("displayName"),
                "additional_details": _json(
                    {item.get("key"): item.get("value") for item in details} if details is not None else None
                ),
            }
        )
        for position, target in enumerate(record.get("targetResources") or []):
            targets.append(
                {
                    "tenant_id": tenant_id,
                    "day": day,
                    "audit_id": record["id"],
                    "position": position,
                    "target_id": target.get("id"),
                    "target_type": target.get("type"),
                    "display_name": target.get("displayName"),
                    "user_principal_name": target.get("userPrincipalName"),
                    "modified_properties": _json(target.get("modifiedProperties")),
                }
            )
    return rows, targets


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_NORMALIZERS = {"sign_ins": _sign_ins, "directory_audits": _directory_audits}


def duplicate_ids_across_days(connection: sa.Connection, log: str, tenant_id: str) -> list[str]:
    """Ids the tenant's table holds on more than one day (a backfill that loaded an event twice)."""
    main = ACTIVITY_TABLES[log][0]
    query = (
        sa.select(main.c.id)
        .where(main.c.tenant_id == tenant_id)
        .group_by(main.c.id)
        .having(sa.func.count(sa.distinct(main.c.day)) > 1)
        .order_by(main.c.id)
    )
    return list(connection.execute(query).scalars())


def incomplete_days(connection: sa.Connection, log: str, tenant_id: str) -> list[str]:
    """The tenant's loaded days whose rows are not the events their load recorded (rows deleted or added since),
    described as ``<day>: <rows> of <events>``."""
    main = ACTIVITY_TABLES[log][0]
    rows = (
        sa.select(main.c.day, sa.func.count().label("rows"))
        .where(main.c.tenant_id == tenant_id)
        .group_by(main.c.day)
        .subquery()
    )
    query = (
        sa.select(activity_days.c.day, activity_days.c.events, sa.func.coalesce(rows.c.rows, 0))
        .select_from(activity_days.outerjoin(rows, rows.c.day == activity_days.c.day))
        .where(activity_days.c.tenant_id == tenant_id, activity_days.c.log == log)
        .where(activity_days.c.events != sa.func.coalesce(rows.c.rows, 0))
        .order_by(activity_days.c.day)
    )
    return [f"{day}: {found} of {events}" for day, events, found in connection.execute(query)]


def loaded_events(connection: sa.Connection, log: str, tenant_id: str, day: date) -> int:
    main = ACTIVITY_TABLES[log][0]
    query = sa.select(sa.func.count()).where(main.c.tenant_id == tenant_id, main.c.day == day)
    return int(connection.execute(query).scalar_one())
