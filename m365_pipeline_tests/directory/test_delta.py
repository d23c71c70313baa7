"""Delta sync applied to the warehouse from Graph-shaped pages (delta-query-users.md / delta-query-groups.md):
removals of both kinds, partial updates, the same object twice, members@delta split over pages, expiry in both
forms answered by a full round that replaces the known set, and a failed round that leaves everything as it was.
Every assertion reads the warehouse, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from m365_pipeline.directory.delta import GROUPS, USERS, stored_delta_link, sync_delta
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.asof import group_members_on, sku_holders_on, summary_on
from m365_pipeline_tests.directory.scripted_graph import ScriptedGraph, expired, gone, page, scripted_client

TENANT = "5b2a3f0e-9c1d-4e7a-8f6b-0a1b2c3d4e5f"
E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
E5 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
DAY = [datetime(2026, 11, day, 9, tzinfo=UTC) for day in range(1, 10)]


def uid(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def user(number: int, *, skus: tuple[str, ...] = (), **values: Any) -> dict[str, Any]:
    record = {
        "id": uid(number),
        "userPrincipalName": f"user{number}@contoso.test",
        "displayName": f"User {number}",
        "department": "Sales",
        "accountEnabled": True,
        "userType": "Member",
        "usageLocation": "JP",
        "businessPhones": [],
        "assignedLicenses": [{"skuId": sku.upper(), "disabledPlans": []} for sku in skus],
    }
    record.update(values)
    return record


def removed(number: int, reason: str) -> dict[str, Any]:
    return {"id": uid(number), "@removed": {"reason": reason}}


def users_table(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(schema.users).where(schema.users.c.tenant_id == TENANT)).mappings()
        return {row["id"]: dict(row) for row in rows}


def licenses_table(engine: sa.Engine) -> set[tuple[str, str]]:
    table = schema.user_licenses
    with engine.connect() as connection:
        return {(row.user_id, row.sku_id) for row in connection.execute(sa.select(table))}


def members_table(engine: sa.Engine) -> set[tuple[str, str]]:
    table = schema.group_members
    with engine.connect() as connection:
        return {(row.group_id, row.member_id) for row in connection.execute(sa.select(table))}


def link(engine: sa.Engine, resource: str) -> str | None:
    with engine.connect() as connection:
        return stored_delta_link(connection, TENANT, resource)


def test_users_rounds_apply_changes_removals_and_both_expiry_forms(engine: sa.Engine) -> None:
    graph = ScriptedGraph()
    client = scripted_client(graph)
    graph.on("first", page("/users/delta", [user(1), user(2, skus=(E3,)), removed(99, "deleted")], next_token="p2"))
    graph.on("p2", page("/users/delta", [user(3, skus=(E3, E5)), user(1, department="Legal")], delta_token="t1"))
    first = sync_delta(client, engine, TENANT, USERS, at=DAY[1])
    assert first.full and not first.resynced and first.pages == 2
    assert link(engine, "users") == "https://graph.test/v1.0/users/delta?$deltatoken=t1"
    users = users_table(engine)
    assert set(users) == {uid(1), uid(2), uid(3)} and users[uid(1)]["department"] == "Legal"  # the later state won
    assert licenses_table(engine) == {(uid(2), E3), (uid(3), E3), (uid(3), E5)}

    # an incremental round: soft delete, hard delete, an update carrying only what changed, a new user
    graph.on(
        "t1",
        page(
            "/users/delta",
            [
                removed(2, "changed"),
                removed(3, "deleted"),
                {"id": uid(1).upper(), "department": "Finance"},
                user(4, skus=(E5,)),
            ],
            delta_token="t2",
        ),
    )
    second = sync_delta(client, engine, TENANT, USERS, at=DAY[2])
    assert not second.full and (second.soft_deleted, second.deleted, second.changed) == (1, 1, 2)
    users = users_table(engine)
    assert set(users) == {uid(1), uid(2), uid(4)}
    assert users[uid(1)]["department"] == "Finance" and users[uid(1)]["user_principal_name"] == "user1@contoso.test"
    assert users[uid(2)]["deleted_at"] == DAY[2]
    assert licenses_table(engine) == {(uid(2), E3), (uid(4), E5)}  # a soft-deleted user keeps its licences

    # 410 Gone: a full round replaces the known set; user 4's deletion was never reported, user 2 is restored
    graph.on("t2", gone("/users/delta"))
    graph.on("first", page("/users/delta", [user(1, department="Finance"), user(2, skus=(E3,))], delta_token="t3"))
    third = sync_delta(client, engine, TENANT, USERS, at=DAY[3])
    assert third.full and third.resynced and third.deleted == 1
    users = users_table(engine)
    assert set(users) == {uid(1), uid(2)} and users[uid(2)]["deleted_at"] is None
    assert licenses_table(engine) == {(uid(2), E3)}

    # 400 syncStateNotFound: the same
    graph.on("t3", expired())
    graph.on("first", page("/users/delta", [user(2, skus=(E5,))], delta_token="t4"))
    fourth = sync_delta(client, engine, TENANT, USERS, at=DAY[4])
    assert fourth.resynced and set(users_table(engine)) == {uid(2)}
    assert licenses_table(engine) == {(uid(2), E5)}
    assert link(engine, "users") == "https://graph.test/v1.0/users/delta?$deltatoken=t4"

    # the history answers who held which SKU on each day, and the state of each day
    with engine.connect() as connection:
        assert sku_holders_on(connection, TENANT, E3, DAY[0]) == set()
        assert sku_holders_on(connection, TENANT, E3, DAY[1]) == {uid(2), uid(3)}
        assert sku_holders_on(connection, TENANT, E3, DAY[2] + timedelta(hours=1)) == set()  # 2 is soft-deleted
        assert sku_holders_on(connection, TENANT, E5, DAY[2]) == {uid(4)}
        assert sku_holders_on(connection, TENANT, E3, DAY[4]) == set()
        assert sku_holders_on(connection, TENANT, E5, DAY[4]) == {uid(2)}
        on_day_2 = summary_on(connection, TENANT, DAY[2])
        assert (on_day_2.users, on_day_2.enabled_users) == (2, 2)  # user 2 is soft-deleted that day
        assert on_day_2.sku_holders == {E5: 1}
        assert summary_on(connection, TENANT, DAY[1]).users == 3


def test_a_round_that_fails_halfway_leaves_tables_and_link_as_they_were(engine: sa.Engine) -> None:
    graph = ScriptedGraph()
    client = scripted_client(graph)
    graph.on("first", page("/users/delta", [user(1, skus=(E3,))], delta_token="t1"))
    sync_delta(client, engine, TENANT, USERS, at=DAY[1])
    forbidden = {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}}
    graph.on("t1", page("/users/delta", [removed(1, "deleted"), user(2)], next_token="p2"))
    graph.on("p2", httpx.Response(403, json=forbidden))
    with pytest.raises(GraphError):
        sync_delta(client, engine, TENANT, USERS, at=DAY[2])
    assert set(users_table(engine)) == {uid(1)} and licenses_table(engine) == {(uid(1), E3)}
    assert link(engine, "users") == "https://graph.test/v1.0/users/delta?$deltatoken=t1"
    with engine.connect() as connection:
        assert sku_holders_on(connection, TENANT, E3, DAY[3]) == {uid(1)}


def group(number: int, members: list[dict[str, Any]] | None = None, **values: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": uid(1000 + number),
        "displayName": f"Group {number}",
        "mailEnabled": False,
        "securityEnabled": True,
        "groupTypes": [],
        "mailNickname": f"group{number}",
    }
    if members is not None:
        record["members@delta"] = members
    record.update(values)
    return record


def member(number: int, *, removed_: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"@odata.type": "#microsoft.graph.user", "id": uid(number)}
    if removed_:
        entry["@removed"] = {"reason": "deleted"}
    return entry


def test_group_members_split_over_pages_merge_and_removals_apply(engine: sa.Engine) -> None:
    graph = ScriptedGraph()
    client = scripted_client(graph)
    g1, g2 = uid(1001), uid(1002)
    graph.on("first", page("/groups/delta", [group(1, [member(1), member(2)]), group(2, [member(1)])], next_token="p2"))
    # the same group again on a later page, carrying only the rest of its members
    graph.on("p2", page("/groups/delta", [{"id": g1, "members@delta": [member(3), member(2)]}], delta_token="t1"))
    sync_delta(client, engine, TENANT, GROUPS, at=DAY[1])
    assert members_table(engine) == {(g1, uid(1)), (g1, uid(2)), (g1, uid(3)), (g2, uid(1))}

    graph.on(
        "t1",
        page(
            "/groups/delta",
            [
                {"id": g1, "members@delta": [member(2, removed_=True)]},
                {"id": g1, "members@delta": [member(4)]},
                removed(1002, "deleted"),
                {"id": g1, "displayName": "Renamed"},
            ],
            delta_token="t2",
        ),
    )
    sync_delta(client, engine, TENANT, GROUPS, at=DAY[2])
    assert members_table(engine) == {(g1, uid(1)), (g1, uid(3)), (g1, uid(4))}
    with engine.connect() as connection:
        names = dict(connection.execute(sa.select(schema.groups.c.id, schema.groups.c.display_name)).all())
        assert names == {g1: "Renamed"}
        assert group_members_on(connection, TENANT, g1, DAY[1]) == {uid(1), uid(2), uid(3)}
        assert group_members_on(connection, TENANT, g1, DAY[2]) == {uid(1), uid(3), uid(4)}
        assert group_members_on(connection, TENANT, g2, DAY[1]) == {uid(1)}
        assert group_members_on(connection, TENANT, g2, DAY[2]) == set()

    # a forced reset: the full round lists g1 with two members only; the others are gone
    graph.on("t2", expired())
    graph.on("first", page("/groups/delta", [group(1, [member(1), member(4)])], delta_token="t3"))
    assert sync_delta(client, engine, TENANT, GROUPS, at=DAY[3]).resynced
    assert members_table(engine) == {(g1, uid(1)), (g1, uid(4))}


def test_running_the_same_round_twice_changes_nothing(engine: sa.Engine) -> None:
    graph = ScriptedGraph()
    client = scripted_client(graph)
    graph.on("first", page("/users/delta", [user(1, skus=(E3,)), user(2)], delta_token="t1"))
    sync_delta(client, engine, TENANT, USERS, at=DAY[1])
    before = (users_table(engine), licenses_table(engine))
    sync_delta(client, engine, TENANT, USERS, at=DAY[2], full=True)
    assert (users_table(engine), licenses_table(engine)) == before
    with engine.connect() as connection:
        intervals = connection.execute(sa.select(sa.func.count()).select_from(schema.license_history)).scalar_one()
    assert intervals == 1
