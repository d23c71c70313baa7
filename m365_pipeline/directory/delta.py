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

Memory holds one page at a time (and, in a full round, the ids seen go to a TEMP table, not to Python).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from m365_pipeline.entities.types import parse_graph_timestamp
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.warehouse import schema, staging
from m365_pipeline.warehouse.history import record_history
from m365_pipeline.warehouse.normalize import LIST_SEPARATOR, group_kind
from m365_pipeline.warehouse.publish import tenant_lock_key

logger = logging.getLogger("m365_pipeline.directory")

Record = dict[str, Any]
Converter = Callable[[Any], Any]

SYNC_STATE_NOT_FOUND = "syncStateNotFound"


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

RESOURCES = {resource.name: resource for resource in (USERS, GROUPS)}


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
        tables = ["users", "user_licenses"] if resource is USERS else ["groups", "group_members"]
        record_history(connection, tenant_id, at, current_tables=tables)
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
    )


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


class _Applier:
    """Applies the pages of one round to the tenant's tables on ``connection`` (inside the round's transaction)."""

    def __init__(self, connection: sa.Connection, tenant_id: str, resource: DeltaResource, at: datetime) -> None:
        self.connection = connection
        self.tenant_id = tenant_id
        self.resource = resource
        self.at = at
        self.table = schema.users if resource is USERS else schema.groups
        self.records = 0
        self._seen: sa.Table | None = None
        self._seen_members: sa.Table | None = None

    def round(self, client: GraphClient, link: str | None) -> _Counts:
        counts = _Counts(full=link is None)
        if counts.full:
            self._create_seen_tables()
        for page in iter_delta_pages(client, link or self.resource.first_url):
            counts.pages += 1
            self._apply_page(page["value"], counts)
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

    def _apply_page(self, objects: list[Record], counts: _Counts) -> None:
        for item in objects:
            self.records += 1
            object_id = _lower(item.get("id"))
            if not isinstance(object_id, str) or not object_id:
                self._quarantine(item, "id", "missing")
                continue
            removed = item.get("@removed")
            if isinstance(removed, dict):
                if removed.get("reason") == "changed":
                    counts.soft_deleted += self._soft_delete(object_id)
                    self._saw(object_id)
                else:
                    counts.deleted += self._delete(object_id)
                continue
            try:
                values = self._values(item)
            except ValueError as error:
                self._quarantine(item, "", str(error))
                continue
            if self.resource is GROUPS and self._is_soft_deleted(object_id):
                # a restored group comes back with all its members: what was known before its deletion is stale
                # (changes made just before a deletion are not reported: the round reports the deletion only)
                counts.membership_changes += self._clear_members(object_id)
            self._upsert(object_id, values)
            self._saw(object_id)
            counts.changed += 1
            if self.resource is USERS and "assignedLicenses" in item:
                self._replace_licenses(object_id, item["assignedLicenses"] or [])
            if self.resource is GROUPS:
                counts.membership_changes += self._apply_members(object_id, item.get("members@delta") or [])

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

    def _upsert(self, object_id: str, values: dict[str, Any]) -> None:
        """Write the properties present; a new object needs the required ones (else only an existing row
        changes: an update for an object this warehouse never saw carries too little to insert it)."""
        table = self.table
        values = {**values, "deleted_at": None}
        key = {"tenant_id": self.tenant_id, "id": object_id}
        if all(column in values for column in self.resource.required):
            dialect_insert = postgresql.insert if self.connection.dialect.name == "postgresql" else sqlite.insert
            statement = dialect_insert(table).values(**key, **values)
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "id"], set_={column: statement.excluded[column] for column in values}
            )
            self.connection.execute(statement)
            return
        self.connection.execute(
            sa.update(table).where(table.c.tenant_id == self.tenant_id, table.c.id == object_id).values(**values)
        )

    def _is_soft_deleted(self, object_id: str) -> bool:
        table = self.table
        deleted_at = self.connection.execute(
            sa.select(table.c.deleted_at).where(table.c.tenant_id == self.tenant_id, table.c.id == object_id)
        ).scalar_one_or_none()
        return deleted_at is not None

    def _clear_members(self, group_id: str) -> int:
        members = schema.group_members
        return self.connection.execute(
            sa.delete(members).where(members.c.tenant_id == self.tenant_id, members.c.group_id == group_id)
        ).rowcount

    def _soft_delete(self, object_id: str) -> int:
        table = self.table
        return self.connection.execute(
            sa.update(table)
            .where(table.c.tenant_id == self.tenant_id, table.c.id == object_id, table.c.deleted_at.is_(None))
            .values(deleted_at=self.at)
        ).rowcount

    def _delete(self, object_id: str) -> int:
        members = schema.group_members
        tenant = self.tenant_id
        if self.resource is USERS:
            licenses = schema.user_licenses
            self.connection.execute(
                sa.delete(licenses).where(licenses.c.tenant_id == tenant, licenses.c.user_id == object_id)
            )
        else:
            self.connection.execute(
                sa.delete(members).where(members.c.tenant_id == tenant, members.c.group_id == object_id)
            )
        self.connection.execute(
            sa.delete(members).where(members.c.tenant_id == tenant, members.c.member_id == object_id)
        )
        table = self.table
        return self.connection.execute(
            sa.delete(table).where(table.c.tenant_id == tenant, table.c.id == object_id)
        ).rowcount

    def _replace_licenses(self, user_id: str, assigned: list[Record]) -> None:
        licenses = schema.user_licenses
        self.connection.execute(
            sa.delete(licenses).where(licenses.c.tenant_id == self.tenant_id, licenses.c.user_id == user_id)
        )
        rows: dict[str, dict[str, Any]] = {}
        for index, license_ in enumerate(assigned):
            sku_id = _lower(license_.get("skuId")) if isinstance(license_, dict) else None
            if not isinstance(sku_id, str) or not sku_id:
                self._quarantine(license_, f"assignedLicenses[{index}].skuId", "missing", table="user_licenses")
                continue
            plans = sorted(_lower(plan) for plan in license_.get("disabledPlans") or [])
            rows.setdefault(
                sku_id,
                {
                    "tenant_id": self.tenant_id,
                    "user_id": user_id,
                    "sku_id": sku_id,
                    "disabled_plans": LIST_SEPARATOR.join(plans),
                },
            )
        if rows:
            self.connection.execute(sa.insert(licenses), list(rows.values()))

    def _apply_members(self, group_id: str, members_delta: list[Record]) -> int:
        members = schema.group_members
        changes = 0
        for member in members_delta:
            member_id = _lower(member.get("id"))
            if not isinstance(member_id, str) or not member_id:
                self._quarantine(member, "members@delta.id", "missing", table="group_members")
                continue
            where = sa.and_(
                members.c.tenant_id == self.tenant_id, members.c.group_id == group_id, members.c.member_id == member_id
            )
            if isinstance(member.get("@removed"), dict):
                changes += self.connection.execute(sa.delete(members).where(where)).rowcount
                continue
            member_type = member.get("@odata.type")
            exists = self.connection.execute(sa.select(members.c.member_id).where(where)).first()
            if exists is None:
                self.connection.execute(
                    sa.insert(members).values(
                        tenant_id=self.tenant_id, group_id=group_id, member_id=member_id, member_type=member_type
                    )
                )
                changes += 1
            if self._seen_members is not None:
                self.connection.execute(sa.insert(self._seen_members).values(group_id=group_id, member_id=member_id))
        return changes

    def _saw(self, object_id: str) -> None:
        if self._seen is not None:
            self.connection.execute(sa.insert(self._seen).values(id=object_id))

    def _remove_unseen(self) -> int:
        """End of a full round: what it did not list is gone (with its licences and memberships)."""
        assert self._seen is not None
        table, seen, tenant = self.table, self._seen, self.tenant_id
        gone = sa.select(table.c.id).where(table.c.tenant_id == tenant, table.c.id.not_in(sa.select(seen.c.id)))
        members = schema.group_members
        if self.resource is USERS:
            licenses = schema.user_licenses
            self.connection.execute(
                sa.delete(licenses).where(licenses.c.tenant_id == tenant, licenses.c.user_id.in_(gone))
            )
        else:
            self.connection.execute(
                sa.delete(members).where(members.c.tenant_id == tenant, members.c.group_id.in_(gone))
            )
            assert self._seen_members is not None
            listed = self._seen_members
            self.connection.execute(
                sa.delete(members).where(
                    members.c.tenant_id == tenant,
                    ~sa.exists().where(
                        listed.c.group_id == members.c.group_id, listed.c.member_id == members.c.member_id
                    ),
                )
            )
        self.connection.execute(sa.delete(members).where(members.c.tenant_id == tenant, members.c.member_id.in_(gone)))
        return self.connection.execute(
            sa.delete(table).where(table.c.tenant_id == tenant, table.c.id.not_in(sa.select(seen.c.id)))
        ).rowcount

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


def _store_link(connection: sa.Connection, tenant_id: str, resource: str, link: str, at: datetime) -> None:
    links = schema.delta_links
    connection.execute(sa.delete(links).where(links.c.tenant_id == tenant_id, links.c.resource == resource))
    connection.execute(sa.insert(links).values(tenant_id=tenant_id, resource=resource, delta_link=link, synced_at=at))
