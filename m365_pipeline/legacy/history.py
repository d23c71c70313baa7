"""Folding the old tool's directory reports into the directory history (``warehouse.history``'s tables).

Each report is a snapshot of the tenant's directory at its ``report_timestamp``. ``fold_report_history``
recomputes, set-based in SQL and for one tenant and report type, the intervals that type's reports give (after a
migration, only those of the new report and of the report before it, whose end it moves; report times are read
from the ledger ``legacy_files``):

- a fact (a user's attributes, a licence held, a group membership) seen in the report at ``t`` is valid from
  ``t`` until the next report of the same type (``LEAD`` over the type's distinct timestamps), the last report's
  facts until the Graph-sourced history starts (its first ``valid_from`` in that table), or open when it has not;
- a report at or after the start of the Graph history adds nothing (Graph is the record from then on);
- the intervals are stored with ``source = 'legacy:<report type>'``: the fold deletes that source's rows of the
  tenant starting at the reports it recomputes and inserts them again; an interval depends only on its report's
  rows and the next report's time, so re-running changes nothing and files migrated in any order give the same
  intervals; ``graph`` intervals are never touched (``record_history`` closes an open legacy interval when Graph
  history begins later).

Identities: a legacy report names a user by UPN. The key is the directory user id of the current ``users`` row
with that UPN (case-insensitive); else the id the report itself carries (the old tool wrote the object id); else
the lowercased UPN. A licence is a SKU name: the ``skus`` row whose part number equals it (case-insensitive)
gives its ``sku_id``, else the lowercased name is kept. Groups and members are keyed by the report's GroupId and
the member's key as a user's (its UPN, else the report's MemberId); a group is known from its members' rows
(its name and GroupType), so a group that had no member in a report is absent from that report's state.
A key longer than its history column (36 characters: a UPN or licence name no directory id replaced) is left
out of the history; its rows stay in the report's own table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.schema import legacy_files

LEGACY_SOURCE_PREFIX = "legacy:"


@dataclass(frozen=True)
class HistoryFold:
    """How one report type's rows become one history table's facts: ``facts(report, tenant)`` selects the key
    columns, the value columns and ``t`` (the report timestamp), one row per fact seen in a report (duplicates
    allowed: they are grouped); ``values`` names the value columns."""

    history: sa.Table
    key: tuple[str, ...]
    values: tuple[str, ...]
    facts: Callable[[sa.Table, str], sa.Select[Any]]


def _user_key(report: sa.Table, tenant_id: str, upn: sa.ColumnElement[Any], report_id: Any) -> sa.ColumnElement[Any]:
    users = schema.users
    known = (
        sa.select(sa.func.min(users.c.id))
        .where(users.c.tenant_id == tenant_id, sa.func.lower(users.c.user_principal_name) == sa.func.lower(upn))
        .scalar_subquery()
    )
    own_id = sa.func.nullif(sa.func.trim(report_id), "") if report_id is not None else None
    return sa.func.coalesce(known, *([own_id] if own_id is not None else []), sa.func.lower(upn))


def _sku_key(tenant_id: str, name: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    skus = schema.skus
    known = (
        sa.select(sa.func.min(skus.c.sku_id))
        .where(skus.c.tenant_id == tenant_id, sa.func.lower(skus.c.sku_part_number) == sa.func.lower(name))
        .scalar_subquery()
    )
    return sa.func.coalesce(known, sa.func.lower(sa.func.trim(name)))  # ids are compared lowercased (asof)


def _user_list_users(report: sa.Table, tenant_id: str) -> sa.Select[Any]:
    upn = report.c.user_principal_name
    return sa.select(
        _user_key(report, tenant_id, upn, report.c.id).label("user_id"),
        report.c.report_timestamp.label("t"),
        sa.func.lower(upn).label("user_principal_name"),
        report.c.department.label("department"),
        report.c.account_status.label("account_enabled"),
        report.c.usage_location.label("usage_location"),
    ).where(report.c.tenant_id == tenant_id, upn.is_not(None))


def _user_list_licenses(report: sa.Table, tenant_id: str) -> sa.Select[Any]:
    upn, name = report.c.user_principal_name, report.c.license_status
    return sa.select(
        _user_key(report, tenant_id, upn, report.c.id).label("user_id"),
        _sku_key(tenant_id, name).label("sku_id"),
        report.c.report_timestamp.label("t"),
    ).where(report.c.tenant_id == tenant_id, upn.is_not(None), sa.func.trim(name) != "")


def _group_member_audit(report: sa.Table, tenant_id: str) -> sa.Select[Any]:
    upn = report.c.member_principal_name
    member = sa.func.coalesce(
        _user_key(report, tenant_id, upn, report.c.member_id),
        sa.func.nullif(sa.func.trim(report.c.member_id), ""),
    )
    return sa.select(
        sa.func.lower(report.c.group_id).label("group_id"),
        member.label("member_id"),
        report.c.report_timestamp.label("t"),
    ).where(
        report.c.tenant_id == tenant_id,
        sa.func.nullif(sa.func.trim(report.c.group_id), "").is_not(None),
        sa.or_(upn.is_not(None), sa.func.nullif(sa.func.trim(report.c.member_id), "").is_not(None)),
        sa.func.coalesce(report.c.is_owner, sa.false()).is_(False),  # owners are not members by being listed
    )


def _group_member_audit_groups(report: sa.Table, tenant_id: str) -> sa.Select[Any]:
    group_type = sa.func.lower(sa.func.trim(report.c.group_type))
    return sa.select(
        sa.func.lower(report.c.group_id).label("group_id"),
        report.c.report_timestamp.label("t"),
        report.c.group_name.label("display_name"),
        sa.case(
            (group_type.in_(("microsoft 365", "unified", "microsoft365")), "microsoft365"),
            (group_type.in_(("security", "distribution")), group_type),
            (group_type.in_(("mail-enabled security", "mail_enabled_security")), "mail_enabled_security"),
        ).label("kind"),
    ).where(report.c.tenant_id == tenant_id, sa.func.nullif(sa.func.trim(report.c.group_id), "").is_not(None))


REPORT_FOLDS: dict[str, tuple[HistoryFold, ...]] = {
    "user_list": (
        HistoryFold(
            schema.user_history,
            ("user_id",),
            ("user_principal_name", "department", "account_enabled", "usage_location"),
            _user_list_users,
        ),
        HistoryFold(schema.license_history, ("user_id", "sku_id"), (), _user_list_licenses),
    ),
    "group_member_audit": (
        HistoryFold(schema.group_history, ("group_id",), ("display_name", "kind"), _group_member_audit_groups),
        HistoryFold(schema.group_member_history, ("group_id", "member_id"), (), _group_member_audit),
    ),
}
"""The report types folded into the directory history, with the history tables each one feeds."""


def fold_report_history(
    connection: sa.Connection, tenant_id: str, report_type: str, report_timestamp: datetime | None = None
) -> None:
    """Recompute the tenant's ``legacy:<report_type>`` intervals from the migrated reports of that type in the
    ledger (``legacy_files``): those of the report at ``report_timestamp`` and of the report before it (whose
    interval it ends), or every one when ``report_timestamp`` is None."""
    report = schema.LEGACY_TABLES[report_type]
    source = LEGACY_SOURCE_PREFIX + report_type
    ledger = legacy_files
    reports = sa.and_(
        ledger.c.tenant_id == tenant_id, ledger.c.report_type == report_type, ledger.c.report_timestamp.is_not(None)
    )
    affected: list[datetime] | None = None
    if report_timestamp is not None:
        before = connection.execute(
            sa.select(sa.func.max(ledger.c.report_timestamp)).where(
                reports, ledger.c.report_timestamp < report_timestamp
            )
        ).scalar_one()
        affected = [report_timestamp, *([before] if before is not None else [])]
    for fold in REPORT_FOLDS.get(report_type, ()):
        _fold(connection, fold, report, tenant_id, source, reports, affected)


def _fold(
    connection: sa.Connection,
    fold: HistoryFold,
    report: sa.Table,
    tenant_id: str,
    source: str,
    reports: sa.ColumnElement[bool],
    affected: list[datetime] | None,
) -> None:
    history = fold.history
    ours = sa.and_(history.c.tenant_id == tenant_id, history.c.source == source)
    if affected is None:
        connection.execute(sa.delete(history).where(ours))
    else:
        connection.execute(sa.delete(history).where(ours, history.c.valid_from.in_(affected)))
    graph_start: datetime | None = connection.execute(
        sa.select(sa.func.min(history.c.valid_from)).where(
            history.c.tenant_id == tenant_id, ~history.c.source.startswith(LEGACY_SOURCE_PREFIX)
        )
    ).scalar_one()

    ledger = legacy_files
    timestamps = sa.select(ledger.c.report_timestamp.label("t")).where(reports).distinct().subquery("timestamps")
    snapshots = sa.select(
        timestamps.c.t, sa.func.lead(timestamps.c.t).over(order_by=timestamps.c.t).label("next_t")
    ).subquery("snapshots")
    rows = fold.facts(report, tenant_id)
    if affected is not None:  # the files of those reports, by the table's primary key (tenant, file, row)
        files = sa.select(ledger.c.sha256).where(reports, ledger.c.report_timestamp.in_(affected))
        rows = rows.where(report.c.source_sha256.in_(files))
    facts = rows.subquery("facts")
    valid_to: sa.ColumnElement[Any] = snapshots.c.next_t
    if graph_start is not None:
        start = sa.literal(graph_start, history.c.valid_from.type)
        valid_to = sa.case((sa.or_(snapshots.c.next_t.is_(None), snapshots.c.next_t > start), start), else_=valid_to)
    key = [facts.c[name] for name in fold.key]
    query = (
        sa.select(
            sa.literal(tenant_id, history.c.tenant_id.type),
            *key,
            facts.c.t,
            sa.literal(source, history.c.source.type),
            valid_to,
            *(_one_value(facts.c[name]) for name in fold.values),
            *([sa.false()] if "soft_deleted" in history.c and "soft_deleted" not in fold.values else []),
        )
        .select_from(facts.join(snapshots, snapshots.c.t == facts.c.t))
        .where(
            *([facts.c.t < sa.literal(graph_start, history.c.valid_from.type)] if graph_start else []),
            *(sa.func.length(facts.c[name]) <= _width(history.c[name]) for name in fold.key if _width(history.c[name])),
        )
        .group_by(*key, facts.c.t, snapshots.c.next_t)
    )
    extra = ["soft_deleted"] if "soft_deleted" in history.c and "soft_deleted" not in fold.values else []
    names = ["tenant_id", *fold.key, "valid_from", "source", "valid_to", *fold.values, *extra]
    connection.execute(sa.insert(history).from_select(names, query))


def _width(column: sa.Column[Any]) -> int | None:
    return getattr(column.type, "length", None)


def _one_value(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """One value of a fact seen twice in a report (the larger): MAX, booleans through 0/1 (PostgreSQL has no
    MAX(boolean))."""
    if isinstance(column.type, sa.Boolean):
        largest = sa.func.max(sa.case((column.is_(True), 1), (column.is_(False), 0)))
        return sa.case((largest == 1, sa.true()), (largest == 0, sa.false()), else_=sa.null())
    return sa.func.max(column)
