"""The old user list and group member reports become the tenant's past directory (legacy.history)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from m365_pipeline.cli import main
from m365_pipeline.legacy.history import REPORT_FOLDS, fold_report_history
from m365_pipeline.legacy.load import migrate_file
from m365_pipeline.warehouse import asof, schema
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.history import record_history
from m365_pipeline.warehouse.migrate import upgrade_to_head

TENANT = "11111111-1111-1111-1111-111111111111"
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)
USERS_HEADER = (
    '"DisplayName","UserPrincipalName","Email","Department","JobTitle","AccountStatus","LicenseStatus",'
    '"CreationDate","LastSignIn","UsageLocation","Id"'
)
MEMBERS_HEADER = (
    '"GroupName","GroupType","MemberName","MemberPrincipalName","MemberType","IsOwner","AccountEnabled",'
    '"MemberCreatedDate","RiskLevel","RiskReasons","GroupId","MemberId"'
)
REVERSED = "22222222-2222-2222-2222-222222222222"
MIDDLE_LAST = "33333333-3333-3333-3333-333333333333"
LONG_UPN = "someone.with.a.long.name@subsidiary.example.co.jp"  # 50 characters: no user id of 36
GROUP = "99999999-0000-0000-0000-000000000001"


def _users_file(folder: Path, stamp: str, users: list[tuple[str, str, str]]) -> Path:
    """An AllUsers report at `stamp` (yyyyMMdd_HHmmss) listing (upn, department, licence) per user."""
    lines = [USERS_HEADER]
    for number, (upn, department, licence) in enumerate(users, 1):
        lines.append(
            f'"User {number}","{upn}","{upn}","{department}","Staff","有効","{licence}","2025-01-01","","JP",""'
        )
    path = folder / f"AllUsers_{stamp}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return path


def _members_file(folder: Path, stamp: str, members: list[str]) -> Path:
    lines = [MEMBERS_HEADER]
    for upn in members:
        lines.append(f'"Sales","Security","{upn}","{upn}","User","False","True","2025-01-01","Low","","{GROUP}",""')
    path = folder / f"Group_Member_Audit_{stamp}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _state(engine: sa.Engine, moment: datetime) -> dict[str, Any]:
    users = schema.user_history
    with engine.connect() as connection:
        upns = set(
            connection.execute(
                sa.select(users.c.user_principal_name).where(
                    users.c.tenant_id == TENANT, asof.held_on(users, moment), users.c.soft_deleted.is_(False)
                )
            ).scalars()
        )
        return {
            "users": upns,
            "e3": asof.sku_holders_on(connection, TENANT, "Microsoft 365 E3", moment),
            "e5": asof.sku_holders_on(connection, TENANT, "Microsoft 365 E5", moment),
            "members": asof.group_members_on(connection, TENANT, GROUP, moment),
            "summary": asof.summary_on(connection, TENANT, moment),
        }


def _reports(folder: Path, samples: Path) -> list[Path]:
    shutil.copy(samples / "AllUsers_20250716_210654.csv", folder)
    return [
        folder / "AllUsers_20250716_210654.csv",  # the real sample: user1@miraiconst..., Microsoft 365 E3
        _users_file(
            folder,
            "20250801_090000",
            [("a@x.jp", "IT", "Microsoft 365 E3"), ("b@x.jp", "HR", ""), (LONG_UPN, "IT", "Microsoft 365 E3")],
        ),
        _users_file(
            folder, "20250901_090000", [("a@x.jp", "Sales", "Microsoft 365 E5"), ("c@x.jp", "HR", "Microsoft 365 E3")]
        ),
        _members_file(folder, "20250801_090000", ["a@x.jp", "b@x.jp"]),
        _members_file(folder, "20250901_090000", ["b@x.jp", "c@x.jp"]),
    ]


def test_reports_give_the_directory_on_dates_between_them_in_any_order(
    warehouse: sa.Engine, samples: Path, tmp_path: Path
) -> None:
    reports = _reports(tmp_path, samples)
    for path in reports:
        assert migrate_file(warehouse, path, TENANT, clock=lambda: CLOCK).status == "loaded"

    before = _state(warehouse, _at("2025-07-01T00:00:00"))
    assert before["users"] == set() and before["members"] == set()

    july = _state(warehouse, _at("2025-07-20T00:00:00"))
    assert july["users"] == {"user1@miraiconst.onmicrosoft.com"}
    assert july["e3"] == {"sample-user-1"}  # the report's own Id: no directory user has that UPN

    august = _state(warehouse, _at("2025-08-15T00:00:00"))
    assert august["users"] == {"a@x.jp", "b@x.jp"}  # LONG_UPN: no key fits user_id, left out (its rows kept)
    assert august["e3"] == {"a@x.jp"} and august["e5"] == set()
    assert august["members"] == {"a@x.jp", "b@x.jp"}
    assert august["summary"].users == 2 and august["summary"].sku_holders == {"microsoft 365 e3": 1}
    assert august["summary"].memberships == 2 and august["summary"].groups == 1

    september = _state(warehouse, _at("2026-01-01T00:00:00"))  # the last report holds on (no Graph history)
    assert september["users"] == {"a@x.jp", "c@x.jp"}
    assert september["e3"] == {"c@x.jp"} and september["e5"] == {"a@x.jp"}
    assert september["members"] == {"b@x.jp", "c@x.jp"}

    history = _tenant_history(warehouse, TENANT)
    for path in reports:  # re-migrating changes nothing
        assert migrate_file(warehouse, path, TENANT, clock=lambda: CLOCK).already_migrated
    assert _tenant_history(warehouse, TENANT) == history

    # other tenants' copies of the files, migrated in reverse order and with the middle reports last
    orders = {
        REVERSED: list(reversed(reports)),
        MIDDLE_LAST: [reports[0], reports[2], reports[4], reports[1], reports[3]],
    }
    for tenant, order in orders.items():
        folder = tmp_path / tenant
        folder.mkdir()
        for path in order:
            shutil.copy(path, folder / path.name)
            migrate_file(warehouse, folder / path.name, tenant, clock=lambda: CLOCK)
    assert _tenant_history(warehouse, REVERSED) == _tenant_history(warehouse, TENANT)
    assert _tenant_history(warehouse, MIDDLE_LAST) == _tenant_history(warehouse, TENANT)

    with warehouse.begin() as connection:  # recomputing every report of each type from scratch agrees
        for report_type in REPORT_FOLDS:
            fold_report_history(connection, TENANT, report_type)
    assert _tenant_history(warehouse, TENANT) == history


def _tenant_history(engine: sa.Engine, tenant: str) -> list[list[tuple[Any, ...]]]:
    tables = (schema.user_history, schema.license_history, schema.group_history, schema.group_member_history)
    with engine.connect() as connection:
        return [
            sorted(
                tuple(value for name, value in row._mapping.items() if name != "tenant_id")
                for row in connection.execute(sa.select(table).where(table.c.tenant_id == tenant))
            )
            for table in tables
        ]


def test_a_known_upn_maps_to_the_directory_id_and_graph_history_ends_the_legacy_past(
    warehouse: sa.Engine, samples: Path, tmp_path: Path
) -> None:
    user_id = "aaaaaaaa-0000-0000-0000-000000000001"
    with warehouse.begin() as connection:
        connection.execute(
            sa.insert(schema.users),
            {
                "tenant_id": TENANT,
                "id": user_id,
                "user_principal_name": "A@x.jp",
                "account_enabled": True,
                "business_phones": "[]",
            },
        )
    for path in _reports(tmp_path, samples)[1:3]:
        migrate_file(warehouse, path, TENANT, clock=lambda: CLOCK)
    august = _state(warehouse, _at("2025-08-15T00:00:00"))
    assert august["e3"] == {user_id}

    graph_start = _at("2025-10-01T00:00:00")
    with warehouse.begin() as connection:
        record_history(connection, TENANT, graph_start, ["users"])
    september = _state(warehouse, _at("2025-09-15T00:00:00"))
    assert september["users"] == {"a@x.jp", "c@x.jp"}
    october = _state(warehouse, _at("2025-10-15T00:00:00"))
    assert october["users"] == {"A@x.jp"}  # Graph only: the legacy report's interval ended when Graph began

    late = _users_file(tmp_path, "20251101_090000", [("z@x.jp", "IT", "Microsoft 365 E3")])
    migrate_file(warehouse, late, TENANT, clock=lambda: CLOCK)  # a report after Graph began adds nothing
    assert _state(warehouse, _at("2025-11-15T00:00:00"))["users"] == {"A@x.jp"}
    assert _state(warehouse, _at("2025-09-15T00:00:00"))["users"] == {"a@x.jp", "c@x.jp"}


def test_asof_answers_from_the_legacy_reports_before_graph_history(
    tmp_path: Path, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("M365_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("M365_DATABASE_URL", url)
    engine = create_warehouse_engine(url)
    upgrade_to_head(engine)
    for path in _reports(tmp_path, samples):
        migrate_file(engine, path, TENANT, clock=lambda: CLOCK)
    engine.dispose()

    august = CliRunner().invoke(main, ["asof", "2025-08-15", "--tenant", TENANT])
    assert august.exit_code == 0, august.output
    assert "users 2 (enabled 2, guests 0)" in august.output and "licence microsoft 365 e3: 1" in august.output
    assert "groups 1 (2 direct memberships)" in august.output
