"""Delta sync of users and groups (``/users/delta``, ``/groups/delta``) into the warehouse, one round at a time.

A round starts at the deltaLink the warehouse holds for the tenant (table ``delta_links``), or with a full
round when there is none; it follows ``@odata.nextLink`` to the page with ``@odata.deltaLink`` and applies every
page as it arrives, inside ONE transaction that also stores the new deltaLink and records the history
(``warehouse.history``). A failure or a kill anywhere rolls the whole round back: the tables and the link stay
as the previous round left them, and the next round starts from there again.

Graph's rules it follows (reference/graph_api.md, concepts/delta-query-*.md):

- ``@removed: {"reason": "changed"}`` is a soft deletion (restorable): the row stays, ``deleted_at`` is set;
  ``"deleted"`` removes the object with its licences and memberships. A removal may name an id never seen.
- An object may come several times, late or out of order: pages are applied in order, the last state wins;
  an update may carry only the changed properties, so only those are written (a restored object comes back
  with its properties and loses its ``deleted_at``).
- ``members@delta`` of one group may be split over several pages: each entry adds or (``@removed``) removes
  one membership, so the pieces merge by themselves. A restored group comes back with all its members, and
  changes made just before its deletion were never reported: its known members are replaced.
- 400 ``syncStateNotFound`` (expired token) and 410 Gone (forced reset): the round restarts as a full round,
  which REPLACES the known set: whatever the full round does not list is removed at its end, so deletions no
  delta reported are applied too.

Where a round starts: a full publication stores the links its extract took before it began
(``store_delta_links``), so the first round after it replays only what changed since; ``refresh_directory``
(the ``warehouse/directory_delta`` asset) runs a users round and a groups round. A round that changed the tables
records its history and an entry in the extract ledger (like a publication: readers of the ledger see the change,
and an older full extract is refused as stale).

A page is applied in batches of objects that each appear once (a repeated object starts the next batch, so page
order holds): one read of the rows the batch touches, then only what differs is written, one statement or one
executemany per kind of write, never a round trip per object. Memory holds one page at a time (and, in a full
round, the ids seen go to a TEMP table, not to Python).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from m365_pipeline.entities.types import parse_graph_timestamp
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.raw_store import new_extract_id
from m365_pipeline.warehouse import schema, staging
from m365_pipeline.warehouse.consistency import count_tenant_rows
from m365_pipeline.warehouse.history import record_history
from m365_pipeline.warehouse.ledger import PublishedExtract, TableCounts, record_extract
from m365_pipeline.warehouse.normalize import LIST_SEPARATOR, group_kind
from m365_pipeline.warehouse.publish import tenant_lock_key

logger = logging.getLogger("m365_pipeline.directory")

Record = dict[str, Any]
Converter = Callable[[Any], Any]

SYNC_STATE_NOT_FOUND = "syncStateNotFound"
PAIRS_PER_STATEMENT = 2_000  # (group, member) pairs in one statement: 4,000 parameters, within every driver's limit


def _text_list(value: Any) -> str:
    return LIST_SEPARATOR.join(value) if value else ""


def _timestamp(value: Any) -> datetime | None:
    return parse_graph_timestamp(value)


def _same(value: Any) -> Any:
    return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


@dataclass(frozen=True)
class DeltaResource:
    """A delta-tracked collection: its path, what it selects, and how a Graph property maps to a column."""

    name: str  # the delta_links.resource and the current table
    path: str
    select: tuple[str, ...]
    columns: dict[str, tuple[str, Converter]]  # Graph property -> (column, converter)
    required: tuple[str, ...]  # columns a new row cannot be inserted without

    @property
    def first_url(self) -> str:
        return f"{self.path}?$select={','.join(self.select)}"


USERS = DeltaResource(
    name="users",
    path="/users/delta",
    select=(
        "id",
        "userPrincipalName",
        "displayName",
        "givenName",
        "surname",
        "mail",
        "jobTitle",
        "department",
        "officeLocation",
        "usageLocation",
        "preferredLanguage",
        "accountEnabled",
        "userType",
        "createdDateTime",
        "onPremisesSyncEnabled",
        "businessPhones",
        "mobilePhone",
        "assignedLicenses",
    ),
    columns={
        "userPrincipalName": ("user_principal_name", _same),
        "displayName": ("display_name", _same),
        "givenName": ("given_name", _same),
        "surname": ("surname", _same),
        "mail": ("mail", _same),
        "jobTitle": ("job_title", _same),
        "department": ("department", _same),
        "officeLocation": ("office_location", _same),
        "usageLocation": ("usage_location", _same),
        "preferredLanguage": ("preferred_language", _same),
        "accountEnabled": ("account_enabled", _same),
        "userType": ("user_type", _same),
        "createdDateTime": ("created_at", _timestamp),
        "onPremisesSyncEnabled": ("on_premises_sync_enabled", _same),
        "businessPhones": ("business_phones", _text_list),
        "mobilePhone": ("mobile_phone", _same),
    },
    required=("user_principal_name", "business_phones"),
)

GROUPS = DeltaResource(
    name="groups",
    path="/groups/delta",
    select=(
        "id",
        "displayName",
        "description",
        "mail",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
        "groupTypes",
        "visibility",
        "createdDateTime",
        "membershipRule",
        "onPremisesSyncEnabled",
        "members",
    ),
    columns={
        "displayName": ("display_name", _same),
        "description": ("description", _same),
        "mail": ("mail", _same),
        "mailEnabled": ("mail_enabled", _same),
        "mailNickname": ("mail_nickname", _same),
        "securityEnabled": ("security_enabled", _same),
        "groupTypes": ("group_types", _text_list),
        "visibility": ("visibility", _same),
        "createdDateTime": ("created_at", _timestamp),
        "membershipRule": ("membership_rule", _same),
        "onPremisesSyncEnabled": ("on_premises_sync_enabled", _same),
    },
    required=("mail_enabled", "security_enabled", "group_types", "kind", "is_dynamic"),
)

DELTA_RESOURCES = (USERS, GROUPS)


@dataclass(frozen=True)
class DeltaRound:
    resource: str
    full: bool  # a full round (first sync, or a resync after an expired or reset token)
    resynced: bool  # Graph refused the stored link (400 syncStateNotFound or 410 Gone)
    pages: int
    changed: int  # objects written (created, updated or restored)
    soft_deleted: int
    deleted: int  # removed by @removed deleted, or (full round) by their absence
    membership_changes: int
    delta_link: str
    table_changes: dict[str, dict[str, int]]  # per table the round changed: rows inserted, updated, deleted


class DeltaLinkMissing(GraphError):
    """The last page of a delta round carried neither a nextLink nor a deltaLink."""


def stored_delta_link(connection: sa.Connection, tenant_id: str, resource: str) -> str | None:
    links = schema.delta_links
    return connection.execute(
        sa.select(links.c.delta_link).where(links.c.tenant_id == tenant_id, links.c.resource == resource)
    ).scalar_one_or_none()


def sync_delta(
    client: GraphClient,
    engine: sa.Engine,
    tenant_id: str,
    resource: DeltaResource,
    *,
    at: datetime | None = None,
    full: bool = False,
) -> DeltaRound:
    """Apply one delta round of ``resource`` to ``tenant_id``'s tables (see the module docstring). ``at`` is
    when the state was observed (history intervals start there); ``full`` forces a full round."""
    at = at or datetime.now(UTC)
    with engine.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": tenant_lock_key(tenant_id)})
        link = None if full else stored_delta_link(connection, tenant_id, resource.name)
        applier = _Applier(connection, tenant_id, resource, at)
        resynced = False
        try:
            result = applier.round(client, link)
        except GraphError as error:
            if link is None or not _sync_state_lost(error):
                raise
            logger.warning(
                "%s delta of tenant %s: Graph refused the stored link (%s %s): full resync",
                resource.name,
                tenant_id,
                error.status,
                error.code,
            )
            resynced = True
            applier = _Applier(connection, tenant_id, resource, at)
            result = applier.round(client, None)
        _store_link(connection, tenant_id, resource.name, result.delta_link, at)
        changes = {name: {kind: n for kind, n in counts.items() if n} for name, counts in result.tables.items()}
        changes = {name: counts for name, counts in changes.items() if counts}
        if changes:
            tables = ["users", "user_licenses"] if resource is USERS else ["groups", "group_members"]
            record_history(connection, tenant_id, at, current_tables=tables)
            _record_in_ledger(connection, tenant_id, result.delta_link, changes)
        applier.drop_temporary()
    return DeltaRound(
        resource=resource.name,
        full=result.full,
        resynced=resynced,
        pages=result.pages,
        changed=result.changed,
        soft_deleted=result.soft_deleted,
        deleted=result.deleted,
        membership_changes=result.membership_changes,
        delta_link=result.delta_link,
        table_changes=changes,
    )


def refresh_directory(
    client: GraphClient, engine: sa.Engine, tenant_id: str, *, at: datetime | None = None
) -> list[DeltaRound]:
    """The directory's incremental refresh: one users round and one groups round (each its own transaction),
    from the links the last full publication or round left."""
    at = at or datetime.now(UTC)
    return [sync_delta(client, engine, tenant_id, resource, at=at) for resource in DELTA_RESOURCES]


def _record_in_ledger(connection: sa.Connection, tenant_id: str, link: str, changes: dict[str, dict[str, int]]) -> None:
    """A round that changed the tables is recorded in the extract ledger like a publication (its id sorts by
    time): what reads the ledger sees the warehouse changed (a report is written again), and a full extract
    taken before the round is refused as stale rather than rolling the tables back."""
    tables = {
        name: TableCounts(
            rows=count_tenant_rows(connection, schema.TABLES[name], tenant_id),
            inserted=counts.get("inserted", 0),
            updated=counts.get("updated", 0),
            deleted=counts.get("deleted", 0),
            quarantined=0,
        )
        for name, counts in changes.items()
    }
    published_at = datetime.now(UTC)
    digest = hashlib.sha256(f"delta|{link}".encode()).hexdigest()
    record_extract(connection, PublishedExtract(tenant_id, new_extract_id(published_at), digest, published_at, tables))


def _sync_state_lost(error: GraphError) -> bool:
    return error.status == 410 or (error.status == 400 and error.code == SYNC_STATE_NOT_FOUND)


def iter_delta_pages(client: GraphClient, url: str) -> Iterator[Record]:
    """Each page's answer (with ``value``), following nextLinks as given, until the one with the deltaLink."""
    while True:
        page = client.get_json(url)
        if not isinstance(page.get("value"), list):
            raise GraphError(200, "UnexpectedResponse", "a delta page has no 'value' list", url=url)
        yield page
        next_link = page.get("@odata.nextLink")
        if isinstance(next_link, str):
            url = next_link
            continue
        if not isinstance(page.get("@odata.deltaLink"), str):
            raise DeltaLinkMissing(
                200, "UnexpectedResponse", "a delta page has neither nextLink nor deltaLink", url=url
            )
        return


def latest_delta_link(client: GraphClient, resource: DeltaResource) -> str:
    """A deltaLink for "from now on" (``$deltaToken=latest``): no objects, only the link."""
    link = ""
    for page in iter_delta_pages(client, f"{resource.first_url}&$deltaToken=latest"):
        link = page.get("@odata.deltaLink") or link
    return link


def changes_since(client: GraphClient, link: str) -> tuple[bool, str]:
    """Whether anything changed since ``link`` (any object or removal in the round), and the round's new link.
    Reads the pages without applying them (a sensor's look; the run it requests applies the changes)."""
    changed = False
    new_link = link
    for page in iter_delta_pages(client, link):
        changed = changed or bool(page["value"])
        new_link = page.get("@odata.deltaLink") or new_link
    return changed, new_link


@dataclass
class _Counts:
    full: bool
    delta_link: str = ""
    pages: int = 0
    changed: int = 0
    soft_deleted: int = 0
    deleted: int = 0
    membership_changes: int = 0
    # per table: rows inserted, updated and deleted (what the round really changed, for the extract ledger)
    tables: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


@dataclass
class _Batch:
    """Consecutive objects of one page in which no object appears twice, so their changes commute and apply
    together, set-based: a repeated object (or a membership naming an object deleted before it) starts the next
    batch, which keeps page order where it matters."""

    upserts: dict[str, dict[str, Any]] = field(default_factory=dict)  # object id -> the columns it carries
    soft_deleted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    licences: dict[str, list[Record]] = field(default_factory=dict)  # user id -> its assignedLicenses
    members: dict[tuple[str, str], str | None] = field(default_factory=dict)  # (group, member) -> type; None: removed
    ids: set[str] = field(default_factory=set)

    def takes(self, object_id: str, removal: str | None, member_ids: set[str]) -> bool:
        if object_id in self.ids:
            return False
        if removal == "deleted" and any(object_id == member for _, member in self.members):
            return False
        return not member_ids & set(self.deleted)


class _Applier:
    """Applies the pages of one round to the tenant's tables on ``connection`` (inside the round's transaction),
    a batch of objects at a time: one read of the rows the batch touches, then only the rows that differ written,
    each kind of write in one statement (or one executemany)."""

    def __init__(self, connection: sa.Connection, tenant_id: str, resource: DeltaResource, at: datetime) -> None:
        self.connection = connection
        self.tenant_id = tenant_id
        self.resource = resource
        self.at = at
        self.table = schema.users if resource is USERS else schema.groups
        self.records = 0
        self._seen: sa.Table | None = None
        self._seen_members: sa.Table | None = None
        self._counts = _Counts(full=False)

    def round(self, client: GraphClient, link: str | None) -> _Counts:
        self._counts = counts = _Counts(full=link is None)
        if counts.full:
            self._create_seen_tables()
        for page in iter_delta_pages(client, link or self.resource.first_url):
            counts.pages += 1
            for batch in self._batches(page["value"]):
                self._apply(batch)
            counts.delta_link = page.get("@odata.deltaLink") or counts.delta_link
        if counts.full:
            counts.deleted += self._remove_unseen()
        return counts

    def drop_temporary(self) -> None:
        if self.connection.dialect.name == "postgresql":
            return  # ON COMMIT DROP
        for table in (self._seen, self._seen_members):
            if table is not None:
                self.connection.exec_driver_sql(f'DROP TABLE IF EXISTS temp."{table.name}"')

    def _create_seen_tables(self) -> None:
        dialect = self.connection.dialect
        guid = sa.String(schema.GUID_LENGTH)
        self.drop_temporary()
        self._seen = staging.staging_table("delta_seen", [sa.Column("id", guid)], dialect)
        self._seen.create(self.connection)
        if self.resource is GROUPS:
            columns = [sa.Column("group_id", guid), sa.Column("member_id", guid)]
            self._seen_members = staging.staging_table("delta_seen_members", columns, dialect)
            self._seen_members.create(self.connection)

    # --- reading a page into batches ------------------------------------------------------------------

    def _batches(self, objects: list[Record]) -> Iterator[_Batch]:
        batch = _Batch()
        for item in objects:
            self.records += 1
            object_id = _lower(item.get("id"))
            if not isinstance(object_id, str) or not object_id:
                self._quarantine(item, "id", "missing")
                continue
            removed = item.get("@removed")
            removal = None
            if isinstance(removed, dict):
                removal = "changed" if removed.get("reason") == "changed" else "deleted"
            members = self._members_delta(item) if removal is None and self.resource is GROUPS else {}
            if not batch.takes(object_id, removal, set(members)):
                yield batch
                batch = _Batch()
            batch.ids.add(object_id)
            if removal == "changed":
                batch.soft_deleted.append(object_id)
                continue
            if removal == "deleted":
                batch.deleted.append(object_id)
                continue
            try:
                batch.upserts[object_id] = self._values(item)
            except ValueError as error:
                self._quarantine(item, "", str(error))
                continue
            if self.resource is USERS and "assignedLicenses" in item:
                batch.licences[object_id] = item["assignedLicenses"] or []
            batch.members.update({(object_id, member): kind for member, kind in members.items()})
        if batch.ids:
            yield batch

    def _members_delta(self, item: Record) -> dict[str, str | None]:
        """member id -> its @odata.type, or None for a removal (the last entry of a member wins)."""
        members: dict[str, str | None] = {}
        for member in item.get("members@delta") or []:
            member_id = _lower(member.get("id"))
            if not isinstance(member_id, str) or not member_id:
                self._quarantine(member, "members@delta.id", "missing", table="group_members")
                continue
            members[member_id] = None if isinstance(member.get("@removed"), dict) else member.get("@odata.type", "")
        return members

    def _values(self, item: Record) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, (column, convert) in self.resource.columns.items():
            if name in item:
                try:
                    values[column] = convert(item[name])
                except (ValueError, TypeError) as error:
                    raise ValueError(f"{name}: {error}") from None
        if self.resource is GROUPS and {"groupTypes", "mailEnabled", "securityEnabled"} <= item.keys():
            group_types = item["groupTypes"] or []
            kind = group_kind(group_types, bool(item["mailEnabled"]), bool(item["securityEnabled"]))
            if kind is None:
                raise ValueError("groupTypes, mailEnabled, securityEnabled: no known kind")
            values["kind"] = kind
            values["is_dynamic"] = "DynamicMembership" in group_types
        return values

    # --- applying a batch -----------------------------------------------------------------------------

    def _apply(self, batch: _Batch) -> None:
        table, counts = self.table, self._counts
        existing = {
            row["id"]: row
            for row in self.connection.execute(
                sa.select(table).where(table.c.tenant_id == self.tenant_id, table.c.id.in_(sorted(batch.ids)))
            ).mappings()
        }
        gone = [object_id for object_id in batch.deleted if object_id in existing]
        if gone:
            self._delete(gone)
            counts.deleted += len(gone)
        soft = [object_id for object_id in batch.soft_deleted if object_id in existing]
        soft = [object_id for object_id in soft if existing[object_id]["deleted_at"] is None]
        self._write_updates({object_id: {"deleted_at": self.at} for object_id in soft})
        counts.soft_deleted += len(soft)
        if self.resource is GROUPS:
            # a restored group comes back with all its members: what was known before its deletion is stale
            # (changes made just before a deletion are not reported: the round reports the deletion only)
            restored = [gid for gid in batch.upserts if gid in existing and existing[gid]["deleted_at"] is not None]
            counts.membership_changes += self._delete_where(schema.group_members, "group_id", restored)
        self._upsert(batch.upserts, existing)
        counts.changed += len(batch.upserts)
        if batch.licences:
            self._replace_licences(batch.licences)
        if batch.members:
            counts.membership_changes += self._apply_members(batch.members)
        if self._seen is not None:
            seen = [{"id": object_id} for object_id in [*batch.soft_deleted, *batch.upserts]]
            staging.write_rows(self.connection, self._seen, seen)

    def _upsert(self, upserts: dict[str, dict[str, Any]], existing: Mapping[str, sa.RowMapping]) -> None:
        """Insert the new objects that carry the required properties (an update for an object this warehouse
        never saw carries too little to insert it: it is left out) and write, for known ones, the properties
        that differ (a restored object loses its ``deleted_at``)."""
        inserts, updates = [], {}
        for object_id, values in upserts.items():
            values = {**values, "deleted_at": None}
            row = existing.get(object_id)
            if row is None:
                if all(column in values for column in self.resource.required):
                    inserts.append(values | {"tenant_id": self.tenant_id, "id": object_id})
                continue
            differs = {column: value for column, value in values.items() if row[column] != value}
            if differs:
                updates[object_id] = differs
        for rows in _by_columns(inserts).values():
            self.connection.execute(sa.insert(self.table), rows)
            self._counts.tables[self.table.name]["inserted"] += len(rows)
        self._write_updates(updates)

    def _write_updates(self, updates: dict[str, dict[str, Any]]) -> None:
        """Each object's changed columns: one executemany per set of columns."""
        table = self.table
        rows = [
            {"_tenant": self.tenant_id, "_id": object_id, **{f"_{column}": value for column, value in values.items()}}
            for object_id, values in updates.items()
        ]
        for names, group in _by_columns(rows).items():
            columns = sorted(name.removeprefix("_") for name in names - {"_tenant", "_id"})
            statement = (
                sa.update(table)
                .where(table.c.tenant_id == sa.bindparam("_tenant"), table.c.id == sa.bindparam("_id"))
                .values({column: sa.bindparam(f"_{column}", type_=table.c[column].type) for column in columns})
            )
            self.connection.execute(statement, group)
        self._counts.tables[table.name]["updated"] += len(updates)

    def _delete(self, object_ids: list[str]) -> None:
        """Remove the objects with their licences (users) or members (groups) and their memberships."""
        if self.resource is USERS:
            self._delete_where(schema.user_licenses, "user_id", object_ids)
        else:
            self._delete_where(schema.group_members, "group_id", object_ids)
        self._delete_where(schema.group_members, "member_id", object_ids)
        self._delete_where(self.table, "id", object_ids)

    def _delete_where(self, table: sa.Table, column: str, values: list[str]) -> int:
        if not values:
            return 0
        return self._count_deleted(table, table.c.tenant_id == self.tenant_id, table.c[column].in_(values))

    def _replace_licences(self, assigned: dict[str, list[Record]]) -> None:
        """Make each user's licences those of its assignedLicenses: only the differences are written."""
        licences = schema.user_licenses
        wanted: dict[tuple[str, str], str] = {}
        for user_id, entries in assigned.items():
            for index, licence in enumerate(entries):
                sku_id = _lower(licence.get("skuId")) if isinstance(licence, dict) else None
                if not isinstance(sku_id, str) or not sku_id:
                    self._quarantine(licence, f"assignedLicenses[{index}].skuId", "missing", table="user_licenses")
                    continue
                plans = sorted(_lower(plan) for plan in licence.get("disabledPlans") or [])
                wanted.setdefault((user_id, sku_id), LIST_SEPARATOR.join(plans))
        held = {
            (row.user_id, row.sku_id): row.disabled_plans
            for row in self.connection.execute(
                sa.select(licences.c.user_id, licences.c.sku_id, licences.c.disabled_plans).where(
                    licences.c.tenant_id == self.tenant_id, licences.c.user_id.in_(list(assigned))
                )
            )
        }
        dropped = [pair for pair in held if pair not in wanted]
        if dropped:
            self.connection.execute(
                sa.delete(licences).where(
                    licences.c.tenant_id == self.tenant_id,
                    sa.tuple_(licences.c.user_id, licences.c.sku_id).in_(dropped),
                )
            )
        changed = [
            {"_tenant": self.tenant_id, "_user": user_id, "_sku": sku_id, "_plans": plans}
            for (user_id, sku_id), plans in wanted.items()
            if (user_id, sku_id) in held and held[(user_id, sku_id)] != plans
        ]
        if changed:
            self.connection.execute(
                sa.update(licences)
                .where(
                    licences.c.tenant_id == sa.bindparam("_tenant"),
                    licences.c.user_id == sa.bindparam("_user"),
                    licences.c.sku_id == sa.bindparam("_sku"),
                )
                .values(disabled_plans=sa.bindparam("_plans")),
                changed,
            )
        added = [
            {"tenant_id": self.tenant_id, "user_id": user_id, "sku_id": sku_id, "disabled_plans": plans}
            for (user_id, sku_id), plans in wanted.items()
            if (user_id, sku_id) not in held
        ]
        if added:
            self.connection.execute(sa.insert(licences), added)
        table_counts = self._counts.tables[licences.name]
        table_counts.update(inserted=len(added), updated=len(changed), deleted=len(dropped))

    def _apply_members(self, members: dict[tuple[str, str], str | None]) -> int:
        """Add and remove the batch's memberships (``members@delta``); returns how many changed."""
        table = schema.group_members
        pair_of = sa.tuple_(table.c.group_id, table.c.member_id)
        present: set[tuple[str, str]] = set()
        for pairs in _chunks(list(members)):  # a large group's members@delta can fill a page: bound the parameters
            query = sa.select(table.c.group_id, table.c.member_id).where(
                table.c.tenant_id == self.tenant_id, pair_of.in_(pairs)
            )
            present.update((row.group_id, row.member_id) for row in self.connection.execute(query))
        removed = [pair for pair, kind in members.items() if kind is None and pair in present]
        for pairs in _chunks(removed):
            self.connection.execute(sa.delete(table).where(table.c.tenant_id == self.tenant_id, pair_of.in_(pairs)))
        added = [
            {"tenant_id": self.tenant_id, "group_id": group_id, "member_id": member_id, "member_type": kind or None}
            for (group_id, member_id), kind in members.items()
            if kind is not None and (group_id, member_id) not in present
        ]
        if added:
            self.connection.execute(sa.insert(table), added)
        self._counts.tables[table.name].update(inserted=len(added), deleted=len(removed))
        if self._seen_members is not None:
            listed = [
                {"group_id": group, "member_id": member}
                for (group, member), kind in members.items()
                if kind is not None
            ]
            staging.write_rows(self.connection, self._seen_members, listed)
        return len(added) + len(removed)

    def _remove_unseen(self) -> int:
        """End of a full round: what it did not list is gone (with its licences and memberships)."""
        assert self._seen is not None
        table, seen, tenant = self.table, self._seen, self.tenant_id
        gone = sa.select(table.c.id).where(table.c.tenant_id == tenant, table.c.id.not_in(sa.select(seen.c.id)))
        members = schema.group_members
        if self.resource is USERS:
            licenses = schema.user_licenses
            self._count_deleted(licenses, licenses.c.tenant_id == tenant, licenses.c.user_id.in_(gone))
        else:
            self._count_deleted(members, members.c.tenant_id == tenant, members.c.group_id.in_(gone))
            assert self._seen_members is not None
            listed = self._seen_members
            self._count_deleted(
                members,
                members.c.tenant_id == tenant,
                ~sa.exists().where(listed.c.group_id == members.c.group_id, listed.c.member_id == members.c.member_id),
            )
        self._count_deleted(members, members.c.tenant_id == tenant, members.c.member_id.in_(gone))
        return self._count_deleted(table, table.c.tenant_id == tenant, table.c.id.not_in(sa.select(seen.c.id)))

    def _count_deleted(self, table: sa.Table, *conditions: sa.ColumnElement[bool]) -> int:
        deleted = int(self.connection.execute(sa.delete(table).where(*conditions)).rowcount)
        self._counts.tables[table.name]["deleted"] += deleted
        return deleted

    def _quarantine(self, record: Any, field: str, reason: str, table: str | None = None) -> None:
        entries = schema.quarantine
        self.connection.execute(
            sa.insert(entries).values(
                tenant_id=self.tenant_id,
                entity=table or self.table.name,
                source=f"graph:{self.resource.path}",
                row_number=self.records,
                field=field,
                reason=reason,
                raw=json.dumps(record, ensure_ascii=False, sort_keys=True, default=str),
                quarantined_at=self.at,
                extract_id=None,
            )
        )


def _chunks(items: list[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    for start in range(0, len(items), PAIRS_PER_STATEMENT):
        yield items[start : start + PAIRS_PER_STATEMENT]


def _by_columns(rows: list[dict[str, Any]]) -> dict[frozenset[str], list[dict[str, Any]]]:
    """Rows grouped by the columns they carry (one executemany per group)."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[frozenset(row)].append(row)
    return groups


def store_delta_links(engine: sa.Engine, tenant_id: str, links: dict[str, str], at: datetime) -> None:
    """Make ``links`` (resource -> deltaLink) the ones the next rounds start from: a full publication's, taken
    before its extract began, so the next round replays whatever the extract might have missed."""
    with engine.begin() as connection:
        for resource, link in links.items():
            _store_link(connection, tenant_id, resource, link, at)


def _store_link(connection: sa.Connection, tenant_id: str, resource: str, link: str, at: datetime) -> None:
    links = schema.delta_links
    connection.execute(sa.delete(links).where(links.c.tenant_id == tenant_id, links.c.resource == resource))
    connection.execute(sa.insert(links).values(tenant_id=tenant_id, resource=resource, delta_link=link, synced_at=at))
