"""Folding the old tool's directory reports into the directory history (``warehouse.history``'s tables).

Each report is a snapshot of the tenant's directory at its ``report_timestamp``. ``fold_report_history``
recomputes, set-based in SQL and for one tenant and report type, the intervals that type's reports give (after a
migration, only those of the new report and of the report before it, whose end it moves; report times are read
from the ledger ``legacy_files``):

- a fact (a user's attributes, a licence held, a group's name and kind, a group membership) seen in the report at
  ``t`` is valid from ``t`` until the next report of the same type (``LEAD`` over the type's distinct timestamps),
  the last report's facts until the Graph-sourced history starts (its first ``valid_from`` in that table), or open
  when it has not;
- a report at or after the start of the Graph history adds nothing (Graph is the record from then on);
- the intervals are stored with ``source = 'legacy:<report type>'``: the fold deletes that source's rows of the
  tenant starting at the reports it recomputes and inserts them again; an interval depends only on its report's
  rows and the next report's time, so re-running changes nothing and files migrated in any order give the same
  intervals; ``graph`` intervals are never touched (``record_history`` closes an open legacy interval when Graph
  history begins later).

What each report type gives (REPORT_FOLDS): the user list (AllUsers) its users and their licences; the per-user
licence reports (License_Analysis, M365_License_Status, License_User_Details, Clean_User_License_Details,
Exchange_License_Validity: the SKUs with Exchange) the licences of each user they list and the user's existence
with the attributes they carry (the state on a date counts a licence only for a user who existed then:
``warehouse.asof``); the group member audit its groups and direct members; the group reports
(Group_Configuration, Group_Attributes_Roles, Dynamic_Group_Configuration, and Teams_Configuration_Analysis: a team
is its Microsoft 365 group) their groups' names and kinds. Not folded: License_Analysis_Summary (tenant-wide
counts per SKU: no history table holds them) and Distribution_Group_Integrity (no object id: keyed by its name or
address, its groups would be counted a second time beside the other group reports' GroupId).

Identities: a legacy report names a user by UPN (Clean_User_License_Details by its address, or only by display
name). The key is the directory user id of the current ``users`` row with that UPN (case-insensitive); else the id
the report itself carries (the old tool wrote the object id); else the lowercased UPN (``不明`` and the other
"no value" texts are none of these); for a display name alone, the id of the one current user with that name.
Groups are keyed by the report's GroupId, members as users (their UPN, else the report's MemberId); a group of the
member audit is known from its members' rows.

Licence names: a licence cell may join several names with ``", "``, ``"; "`` or ``" | "`` (the list separators
of the catalogue; the old tool joined SKU part numbers with ", " in AllUsers and License_Analysis, friendly names
with ", " in M365_License_Status and "; " in License_User_Details), and a name may carry its price (``Microsoft
365 E3 (¥2180)``, dropped). A name is the ``skus`` row whose part number equals it (case-insensitive), else the
lowercased name itself (a friendly name or a SKU no longer subscribed stays visible under its own name). Markers
that are no licence (``ライセンスなし``, ``なし``, ``確認エラー``, the catalogue's placeholders) are not folded.

A key longer than its history column (36 characters: a UPN or licence name no directory id replaced) cannot be
stored: such facts are counted and named in the fold's result (``HistoryFoldResult``), which ``m365 migrate``
prints; their rows stay in the report's own table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from m365_pipeline.legacy.layouts import REPORT_TYPES
from m365_pipeline.legacy.values import PLACEHOLDERS, Kind
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.schema import legacy_files

LEGACY_SOURCE_PREFIX = "legacy:"

Facts = Callable[[sa.FromClause, str, str], sa.Select[Any]]  # (report's rows, tenant, dialect name) -> facts


@dataclass(frozen=True)
class HistoryFold:
    """How one report type's rows become one history table's facts: ``facts(rows, tenant, dialect)`` selects, from
    the rows of the report type's table (all, or those of the reports recomputed), the key columns, the value
    columns and ``t`` (the report timestamp), one row per fact seen in a report (duplicates allowed: they are
    grouped); ``values`` names the value columns."""

    history: sa.Table
    key: tuple[str, ...]
    values: tuple[str, ...]
    facts: Facts


@dataclass(frozen=True)
class HistoryFoldResult:
    """Facts the history could not hold (a key longer than its column): how many, and a few of them named."""

    left_out: int = 0
    examples: tuple[str, ...] = ()

    def __add__(self, other: HistoryFoldResult) -> HistoryFoldResult:
        return HistoryFoldResult(self.left_out + other.left_out, (self.examples + other.examples)[:EXAMPLES])


EXAMPLES = 3
NOTHING_LEFT_OUT = HistoryFoldResult()

_ERRORS = frozenset({"確認エラー", "取得エラー", "取得失敗", "確認失敗", "エラー", "Error", "error"})
_NOT_A_VALUE = PLACEHOLDERS | _ERRORS
"""Texts the old tool wrote where it had no value (a text column keeps them as written; the history does not)."""
_NOT_A_LICENCE = _NOT_A_VALUE | {
    "ライセンスなし",
    "ライセンス無し",
    "ライセンス未割当",
    "ライセンス未割り当て",
    "未割当",
    "未割り当て",
    "ライセンス詳細不明",
}
_LIST_SEPARATORS = (" | ", "; ")  # turned into ", " before a text cell is split


def _known(text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A text attribute, NULL when it is empty or one of the old tool's "no value" texts."""
    trimmed = sa.func.trim(text)
    return sa.case((trimmed.in_(sorted(_NOT_A_VALUE)), sa.null()), else_=sa.func.nullif(trimmed, ""))


def _user_key(
    tenant_id: str,
    upn: sa.ColumnElement[Any] | None,
    report_id: sa.ColumnElement[Any] | None = None,
    display_name: sa.ColumnElement[Any] | None = None,
) -> sa.ColumnElement[Any]:
    users = schema.users
    candidates: list[sa.ColumnElement[Any]] = []
    if upn is not None:
        candidates.append(
            sa.select(sa.func.min(users.c.id))
            .where(users.c.tenant_id == tenant_id, sa.func.lower(users.c.user_principal_name) == sa.func.lower(upn))
            .scalar_subquery()
        )
    if report_id is not None:
        candidates.append(_known(report_id))
    if upn is not None:
        candidates.append(sa.func.lower(_known(upn)))
    if display_name is not None:  # only a name that one directory user has
        candidates.append(
            sa.select(sa.func.min(users.c.id))
            .where(users.c.tenant_id == tenant_id, users.c.display_name == sa.func.trim(display_name))
            .having(sa.func.count() == 1)
            .scalar_subquery()
        )
    return sa.func.coalesce(*candidates)


def _sku_key(tenant_id: str, name: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    skus = schema.skus
    known = (
        sa.select(sa.func.min(skus.c.sku_id))
        .where(skus.c.tenant_id == tenant_id, sa.func.lower(skus.c.sku_part_number) == sa.func.lower(name))
        .scalar_subquery()
    )
    return sa.func.coalesce(known, sa.func.lower(name))  # ids are compared lowercased (asof)


def _position(dialect: str, text: sa.ColumnElement[Any], part: str) -> sa.ColumnElement[Any]:
    """1-based position of `part` in `text`, 0 when absent."""
    return (sa.func.strpos if dialect == "postgresql" else sa.func.instr)(text, part)


def _licence_name(dialect: str, item: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A licence item without its price: `Microsoft 365 E3 (¥2180)` -> `Microsoft 365 E3`."""
    name = sa.func.trim(item)
    price = _position(dialect, sa.func.replace(sa.func.replace(name, "（", "("), "￥", "¥"), "(¥")
    return sa.case((price > 1, sa.func.trim(sa.func.substr(name, 1, price - 1))), else_=name)


def _text_items(dialect: str, rows: sa.Select[Any], column: str) -> sa.Select[Any]:
    """`rows` with one row per item of its text `column` (items joined with ", ", "; " or " | "), as `item`: a
    recursive CTE that takes one item off the front of the rest of the text per step."""
    source = rows.subquery("cells")
    others = [c for c in source.c if c.name != column]
    joined: sa.ColumnElement[Any] = source.c[column]
    for separator in _LIST_SEPARATORS:
        joined = sa.func.replace(joined, separator, ", ")
    text = sa.Text()
    anchor = sa.select(
        *others, sa.cast(sa.literal(""), text).label("item"), sa.cast(joined + ", ", text).label("rest")
    ).where(source.c[column].is_not(None))
    items = anchor.cte("items", recursive=True)
    previous = items.alias("previous")
    cut = _position(dialect, previous.c.rest, ", ")
    items = items.union_all(
        sa.select(
            *(previous.c[c.name] for c in others),
            sa.cast(sa.func.substr(previous.c.rest, 1, cut - 1), text),
            sa.cast(sa.func.substr(previous.c.rest, cut + 2), text),
        ).where(previous.c.rest != "")
    )
    return sa.select(*(items.c[c.name] for c in others), items.c.item).where(sa.func.trim(items.c.item) != "")


def _json_items(dialect: str, rows: sa.Select[Any], column: str) -> sa.Select[Any]:
    """`rows` with one row per item of its `column` (a JSON array: a list column of a legacy table), as `item`."""
    source = rows.subquery("cells")
    if dialect == "postgresql":
        elements = sa.func.json_array_elements_text(sa.cast(source.c[column], postgresql.JSON))
    else:
        elements = sa.func.json_each(source.c[column])
    items = elements.table_valued("value").alias("items")
    return sa.select(*(c for c in source.c if c.name != column), items.c.value.label("item")).select_from(
        source.join(items, sa.true())
    )


@dataclass(frozen=True)
class _Users:
    """Where a report type names its users and their attributes (columns of its legacy table; None: absent)."""

    report_type: str
    upn: str | None
    report_id: str | None = None
    display_name: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()  # (user_history column, legacy column)
    licences: str | None = None  # the column listing the user's licences

    def key(self, report: sa.FromClause, tenant_id: str) -> sa.ColumnElement[Any]:
        def column(name: str | None) -> sa.ColumnElement[Any] | None:
            return report.c[name] if name else None

        return _user_key(tenant_id, column(self.upn), column(self.report_id), column(self.display_name))

    def users(self, report: sa.FromClause, tenant_id: str, dialect: str) -> sa.Select[Any]:
        values = dict(self.attributes)
        upn = sa.func.lower(_known(report.c[self.upn])) if self.upn else sa.cast(sa.null(), sa.String())

        def attribute(name: str) -> sa.ColumnElement[Any]:
            source = values.get(name)
            if source is None:
                return sa.cast(sa.null(), schema.user_history.c[name].type)
            value = report.c[source]
            return value if isinstance(value.type, sa.Boolean) else _known(value)

        key = self.key(report, tenant_id)
        return sa.select(
            key.label("user_id"),
            report.c.report_timestamp.label("t"),
            upn.label("user_principal_name"),
            *(attribute(name).label(name) for name in _USER_ATTRIBUTES),
        ).where(report.c.tenant_id == tenant_id, key.is_not(None))

    def held_licences(self, report: sa.FromClause, tenant_id: str, dialect: str) -> sa.Select[Any]:
        assert self.licences is not None
        key = self.key(report, tenant_id)
        cells = sa.select(
            key.label("user_id"), report.c.report_timestamp.label("t"), report.c[self.licences].label("names")
        ).where(report.c.tenant_id == tenant_id, key.is_not(None))
        kinds = {column.name: column.kind for column in REPORT_TYPES[self.report_type].columns}
        is_list = kinds[self.licences] is Kind.LIST
        items = (_json_items if is_list else _text_items)(dialect, cells, "names").subquery("named")
        name = _licence_name(dialect, items.c.item)
        return sa.select(items.c.user_id, _sku_key(tenant_id, name).label("sku_id"), items.c.t).where(
            name.not_in(sorted(_NOT_A_LICENCE)), name != ""
        )

    def folds(self) -> tuple[HistoryFold, ...]:
        users = HistoryFold(schema.user_history, ("user_id",), ("user_principal_name", *_USER_ATTRIBUTES), self.users)
        if self.licences is None:
            return (users,)
        return users, HistoryFold(schema.license_history, ("user_id", "sku_id"), (), self.held_licences)


_USER_ATTRIBUTES = ("department", "account_enabled", "user_type", "usage_location")


def _group_key(group_id: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.lower(sa.func.nullif(sa.func.trim(group_id), ""))


_KINDS = {
    "microsoft365": ("microsoft 365", "microsoft365", "unified", "microsoft teams", "teams", "m365"),
    "security": ("security", "セキュリティグループ", "セキュリティ"),
    "distribution": ("distribution", "配布グループ", "配布リスト"),
    "mail_enabled_security": (
        "mail-enabled security",
        "mail_enabled_security",
        "mailenabledsecurity",
        "メール対応セキュリティグループ",
    ),
}


def _group_kind(report: sa.FromClause) -> sa.ColumnElement[Any]:
    """The group's kind as Graph's tables name it, from the report's GroupType (English or Japanese) or, when that
    says nothing, from its SecurityEnabled and MailEnabled (Graph's own rule); NULL when neither tells."""
    group_type = sa.func.lower(sa.func.trim(report.c.group_type))
    whens: list[tuple[sa.ColumnElement[bool], str]] = [(group_type.in_(names), kind) for kind, names in _KINDS.items()]
    if "security_enabled" in report.c and "mail_enabled" in report.c:
        security, mail = report.c.security_enabled, report.c.mail_enabled
        whens += [
            (sa.and_(security.is_(True), mail.is_(True)), "mail_enabled_security"),
            (sa.and_(security.is_(True), mail.is_(False)), "security"),
            (sa.and_(security.is_(False), mail.is_(True)), "distribution"),
        ]
    return sa.case(*whens)


def _groups(id_column: str, name_column: str, kind: Callable[[sa.FromClause], sa.ColumnElement[Any]]) -> HistoryFold:
    """The group_history fold of a report that lists groups: their object id, name and kind."""

    def facts(report: sa.FromClause, tenant_id: str, dialect: str) -> sa.Select[Any]:
        key = _group_key(report.c[id_column])
        return sa.select(
            key.label("group_id"),
            report.c.report_timestamp.label("t"),
            _known(report.c[name_column]).label("display_name"),
            kind(report).label("kind"),
        ).where(report.c.tenant_id == tenant_id, key.is_not(None))

    return HistoryFold(schema.group_history, ("group_id",), ("display_name", "kind"), facts)


def _microsoft365(report: sa.FromClause) -> sa.ColumnElement[Any]:
    return sa.literal("microsoft365", sa.String())


def _group_member_audit(report: sa.FromClause, tenant_id: str, dialect: str) -> sa.Select[Any]:
    upn = report.c.member_principal_name
    member = _user_key(tenant_id, upn, report.c.member_id)
    group = _group_key(report.c.group_id)
    return sa.select(group.label("group_id"), member.label("member_id"), report.c.report_timestamp.label("t")).where(
        report.c.tenant_id == tenant_id,
        group.is_not(None),
        member.is_not(None),
        sa.func.coalesce(report.c.is_owner, sa.false()).is_(False),  # owners are not members by being listed
    )


_GROUPS = _groups("group_id", "display_name", _group_kind)

REPORT_FOLDS: dict[str, tuple[HistoryFold, ...]] = {
    "user_list": _Users(
        "user_list",
        "user_principal_name",
        report_id="id",
        attributes=(
            ("department", "department"),
            ("account_enabled", "account_status"),
            ("usage_location", "usage_location"),
        ),
        licences="license_status",
    ).folds(),
    "user_license_analysis": _Users(
        "user_license_analysis",
        "user_principal_name",
        report_id="user_id",
        attributes=(("account_enabled", "account_enabled"), ("usage_location", "usage_location")),
        licences="license_info",
    ).folds(),
    "m365_license_status": _Users(
        "m365_license_status",
        "user_principal_name",
        report_id="user_id",
        attributes=(
            ("account_enabled", "account_enabled"),
            ("user_type", "user_type"),
            ("usage_location", "usage_location"),
        ),
        licences="license_details",
    ).folds(),
    "license_user_details": _Users(
        "license_user_details",
        "user_principal_name",
        attributes=(("department", "department"), ("account_enabled", "account_enabled")),
        licences="assigned_licenses",
    ).folds(),
    "exchange_license_validity": _Users(  # its ExchangeLicenses: the user's SKUs that include Exchange
        "exchange_license_validity",
        "user_principal_name",
        attributes=(("account_enabled", "account_enabled"), ("usage_location", "usage_location")),
        licences="exchange_licenses",
    ).folds(),
    "clean_user_license_details": _Users(
        "clean_user_license_details", "メールアドレス", display_name="ユーザー名", licences="ライセンス種別"
    ).folds(),
    "group_member_audit": (
        _groups("group_id", "group_name", _group_kind),
        HistoryFold(schema.group_member_history, ("group_id", "member_id"), (), _group_member_audit),
    ),
    "group_configuration": (_GROUPS,),
    "group_attributes_roles": (_GROUPS,),
    "dynamic_group_configuration": (_GROUPS,),
    "teams_configuration_analysis": (_groups("team_id", "team_name", _microsoft365),),  # a team is its M365 group
}
"""The report types folded into the directory history, with the history tables each one feeds."""


def fold_report_history(
    connection: sa.Connection, tenant_id: str, report_type: str, report_timestamp: datetime | None = None
) -> HistoryFoldResult:
    """Recompute the tenant's ``legacy:<report_type>`` intervals from the migrated reports of that type in the
    ledger (``legacy_files``): those of the report at ``report_timestamp`` and of the report before it (whose
    interval it ends), or every one when ``report_timestamp`` is None."""
    if connection.dialect.name == "postgresql":  # SQLite's writer lock already serializes whole transactions
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _fold_lock(tenant_id, report_type)})
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
    result = NOTHING_LEFT_OUT
    for fold in REPORT_FOLDS.get(report_type, ()):
        result += _fold(connection, fold, report, tenant_id, source, reports, affected)
    return result


def _fold_lock(tenant_id: str, report_type: str) -> int:
    """The advisory lock that makes the folds of one tenant's report type take turns: two reports migrated at once
    recompute the same interval when they are neighbours (one ends the other's), and each must see the other's
    ledger row; held until the transaction ends."""
    digest = hashlib.sha256(f"m365-legacy-history:{tenant_id}:{report_type}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _fold(
    connection: sa.Connection,
    fold: HistoryFold,
    report: sa.Table,
    tenant_id: str,
    source: str,
    reports: sa.ColumnElement[bool],
    affected: list[datetime] | None,
) -> HistoryFoldResult:
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
    rows: sa.FromClause = report
    if affected is not None:  # the files of those reports, by the table's primary key (tenant, file, row)
        files = sa.select(ledger.c.sha256).where(reports, ledger.c.report_timestamp.in_(affected))
        rows = sa.select(report).where(report.c.tenant_id == tenant_id, report.c.source_sha256.in_(files)).subquery()
    facts = fold.facts(rows, tenant_id, connection.dialect.name).subquery("facts")
    before_graph = [facts.c.t < sa.literal(graph_start, history.c.valid_from.type)] if graph_start else []
    key = [facts.c[name] for name in fold.key]
    too_long = [sa.func.length(facts.c[name]) > width for name in fold.key if (width := _width(history.c[name]))]
    valid_to: sa.ColumnElement[Any] = snapshots.c.next_t
    if graph_start is not None:
        start = sa.literal(graph_start, history.c.valid_from.type)
        valid_to = sa.case((sa.or_(snapshots.c.next_t.is_(None), snapshots.c.next_t > start), start), else_=valid_to)
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
        .where(*before_graph, *(sa.not_(condition) for condition in too_long))
        .group_by(*key, facts.c.t, snapshots.c.next_t)
    )
    extra = ["soft_deleted"] if "soft_deleted" in history.c and "soft_deleted" not in fold.values else []
    names = ["tenant_id", *fold.key, "valid_from", "source", "valid_to", *fold.values, *extra]
    connection.execute(sa.insert(history).from_select(names, query))
    if not too_long:
        return NOTHING_LEFT_OUT
    left_out = sa.select(*key, facts.c.t).where(*before_graph, sa.or_(*too_long)).distinct().subquery("left_out")
    count = connection.execute(sa.select(sa.func.count()).select_from(left_out)).scalar_one()
    if not count:
        return NOTHING_LEFT_OUT
    examples = connection.execute(
        sa.select(*(left_out.c[name] for name in fold.key)).distinct().order_by(*fold.key).limit(EXAMPLES)
    )
    named = tuple(f"{history.name} {' / '.join(str(value) for value in row)}" for row in examples)
    return HistoryFoldResult(count, named)


def _width(column: sa.Column[Any]) -> int | None:
    return getattr(column.type, "length", None)


def _one_value(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """One value of a fact seen twice in a report (the larger): MAX, booleans through 0/1 (PostgreSQL has no
    MAX(boolean))."""
    if isinstance(column.type, sa.Boolean):
        largest = sa.func.max(sa.case((column.is_(True), 1), (column.is_(False), 0)))
        return sa.case((largest == 1, sa.true()), (largest == 0, sa.false()), else_=sa.null())
    return sa.func.max(column)
