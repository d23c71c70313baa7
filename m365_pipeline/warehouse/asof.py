"""The tenant's directory on a past date, from the history tables (``warehouse.history``).

Every history table answers "what held at moment D" with one condition, in SQL on either dialect::

    SELECT user_id FROM license_history
    WHERE tenant_id = :tenant AND sku_id = :sku
      AND valid_from <= :d AND (valid_to IS NULL OR valid_to > :d)

(intervals are [valid_from, valid_to); every source counts, so legacy intervals fill the time before Graph).
The functions here are that query for the questions the reports ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from m365_pipeline.warehouse import schema


def held_on(history: sa.Table, moment: datetime) -> sa.ColumnElement[bool]:
    """The condition that a history row's interval contains ``moment``."""
    return sa.and_(history.c.valid_from <= moment, sa.or_(history.c.valid_to.is_(None), history.c.valid_to > moment))


def active_user(users: sa.Table, tenant_id: str, user_id: sa.ColumnElement[str], moment: datetime) -> sa.Exists:
    """The condition that ``user_id`` existed and was not soft-deleted at ``moment``."""
    return sa.exists().where(
        users.c.tenant_id == tenant_id,
        users.c.user_id == user_id,
        held_on(users, moment),
        users.c.soft_deleted.is_(False),
    )


def sku_holders_on(connection: sa.Connection, tenant_id: str, sku_id: str, moment: datetime) -> set[str]:
    """Ids of the users who held ``sku_id`` at ``moment`` (a soft-deleted user's licences do not count)."""
    history = schema.license_history
    query = (
        sa.select(history.c.user_id)
        .distinct()
        .where(
            history.c.tenant_id == tenant_id,
            history.c.sku_id == sku_id.lower(),
            held_on(history, moment),
            active_user(schema.user_history, tenant_id, history.c.user_id, moment),
        )
    )
    return set(connection.execute(query).scalars())


def role_holders_on(connection: sa.Connection, tenant_id: str, role_definition_id: str, moment: datetime) -> set[str]:
    """Ids of the principals who held the role (by its definition/template id) at ``moment``."""
    history = schema.role_member_history
    query = (
        sa.select(history.c.principal_id)
        .distinct()
        .where(
            history.c.tenant_id == tenant_id,
            history.c.role_definition_id == role_definition_id.lower(),
            held_on(history, moment),
        )
    )
    return set(connection.execute(query).scalars())


def group_members_on(connection: sa.Connection, tenant_id: str, group_id: str, moment: datetime) -> set[str]:
    """Ids of the direct members of ``group_id`` at ``moment``."""
    history = schema.group_member_history
    query = (
        sa.select(history.c.member_id)
        .distinct()
        .where(history.c.tenant_id == tenant_id, history.c.group_id == group_id.lower(), held_on(history, moment))
    )
    return set(connection.execute(query).scalars())


@dataclass(frozen=True)
class DirectorySummary:
    moment: datetime
    users: int  # existing, not soft-deleted
    enabled_users: int
    guests: int
    sku_holders: dict[str, int]  # SKU part number (the SKU id when the SKU is no longer subscribed) -> holders
    groups: int  # existing, not soft-deleted
    memberships: int
    role_holders: dict[str, int]  # role name (its id when the role is not activated now) -> holders


def summary_on(connection: sa.Connection, tenant_id: str, moment: datetime) -> DirectorySummary:
    users = schema.user_history
    active = sa.and_(users.c.tenant_id == tenant_id, held_on(users, moment), users.c.soft_deleted.is_(False))

    def distinct_users(*condition: sa.ColumnElement[bool]) -> int:
        query = sa.select(sa.func.count(sa.distinct(users.c.user_id))).where(active, *condition)
        return int(connection.execute(query).scalar_one())

    licenses, skus = schema.license_history, schema.skus
    name = sa.func.coalesce(skus.c.sku_part_number, licenses.c.sku_id)
    holders = connection.execute(
        sa.select(name, sa.func.count(sa.distinct(licenses.c.user_id)))
        .select_from(
            licenses.outerjoin(
                skus, sa.and_(skus.c.tenant_id == licenses.c.tenant_id, skus.c.sku_id == licenses.c.sku_id)
            )
        )
        .where(
            licenses.c.tenant_id == tenant_id,
            held_on(licenses, moment),
            active_user(users, tenant_id, licenses.c.user_id, moment),
        )
        .group_by(name)
        .order_by(name)
    )
    groups = schema.group_history
    group_count = connection.execute(
        sa.select(sa.func.count(sa.distinct(groups.c.group_id))).where(
            groups.c.tenant_id == tenant_id, held_on(groups, moment), groups.c.soft_deleted.is_(False)
        )
    ).scalar_one()
    members = schema.group_member_history
    memberships = connection.execute(
        sa.select(sa.func.count()).select_from(
            sa.select(members.c.group_id, members.c.member_id)
            .distinct()
            .where(members.c.tenant_id == tenant_id, held_on(members, moment))
            .subquery()
        )
    ).scalar_one()
    roles, names = schema.role_member_history, schema.directory_roles
    role_name = sa.func.coalesce(names.c.display_name, roles.c.role_definition_id)
    role_holders = connection.execute(
        sa.select(role_name, sa.func.count(sa.distinct(roles.c.principal_id)))
        .select_from(
            roles.outerjoin(
                names,
                sa.and_(names.c.tenant_id == roles.c.tenant_id, names.c.role_template_id == roles.c.role_definition_id),
            )
        )
        .where(roles.c.tenant_id == tenant_id, held_on(roles, moment))
        .group_by(role_name)
        .order_by(role_name)
    )
    return DirectorySummary(
        moment=moment,
        users=distinct_users(),
        enabled_users=distinct_users(users.c.account_enabled.is_(True)),
        guests=distinct_users(users.c.user_type == "Guest"),
        sku_holders={str(sku): int(count) for sku, count in holders},
        groups=int(group_count),
        memberships=int(memberships),
        role_holders={str(role): int(count) for role, count in role_holders},
    )
