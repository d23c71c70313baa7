"""The per-user licence reports and the group reports become the tenant's past directory (legacy.history), and
`m365 migrate --refold-history` folds reports migrated before their fold existed."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from m365_pipeline.emulator.tenant import tenant_id_for_seed
from m365_pipeline.legacy import load
from m365_pipeline.legacy.history import REPORT_FOLDS, fold_report_history
from m365_pipeline.legacy.load import migrate_file
from m365_pipeline.warehouse import asof, schema
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import upgrade_to_head
from m365_pipeline_tests.legacy.test_cli_migrate import _figures
from m365_pipeline_tests.legacy.test_history_fold import _at, _tenant_history
from m365_pipeline_tests.test_cli import _run

TENANT = "11111111-1111-1111-1111-111111111111"
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)
E3_SKU = "c7df2760-2c81-4ef7-b578-5b5392b571df"  # ENTERPRISEPACK in the tenant's skus
KNOWN = "aaaaaaaa-0000-0000-0000-000000000001"  # a directory user: known@x.jp, 既知 太郎
A_ID = "a0000000-0000-0000-0000-00000000000a"
G1 = "99999999-0000-0000-0000-000000000001"
G2 = "99999999-0000-0000-0000-000000000002"
TEAM = "99999999-0000-0000-0000-000000000003"
LONG_NAME = "Dynamics 365 Customer Engagement Plan"  # 37 characters: longer than the history's sku_id


def _write(path: Path, header: str, rows: list[str], encoding: str = "utf-8-sig") -> Path:
    path.write_text("\r\n".join([header, *rows]) + "\r\n", encoding=encoding)
    return path


def _license_analysis(folder: Path, stamp: str, rows: list[tuple[str, str, str]]) -> Path:
    header = (
        '"DisplayName","UserPrincipalName","AccountEnabled","HasLicense","LicenseCount","LicenseInfo",'
        '"UsageLocation","CreatedDate","RiskLevel","UserId"'
    )
    lines = [  # the display name differs per report: reports of equal content are one file to the ledger
        f'"U {stamp}","{upn}","True","{info != "なし"}","{len(info.split(", "))}","{info}","未設定","2024/04/01","低",'
        f'"{user_id}"'
        for upn, info, user_id in rows
    ]
    return _write(folder / f"License_Analysis_{stamp}.csv", header, lines)


def _reports(folder: Path) -> list[Path]:
    m365_header = (
        '"DisplayName","UserPrincipalName","AccountEnabled","UserType","LicenseStatus","LicenseCount",'
        '"Microsoft365License","ExchangeOnline","SharePointOnline","TeamsLicense","OfficeApps","TotalLicenseValue",'
        '"UsageLocation","CreatedDate","RiskLevel","Recommendations","LicenseDetails","UserId"'
    )
    details_header = (
        '"UserPrincipalName","DisplayName","Department","JobTitle","AccountEnabled","LicenseCount","AssignedLicenses",'
        '"TotalMonthlyCost","LastSignInStatus","DaysSinceLastSignIn","UtilizationStatus",'
        '"OptimizationRecommendations","CreatedDateTime","AnalysisTimestamp"'
    )
    clean_header = (
        "No,ユーザー名,部署コード,ライセンス種別,月額コスト（円）,利用状況,最適化状況,メールアドレス,作成日時,分析日時"
    )
    groups_header = (
        '"DisplayName","GroupType","IsTeam","SecurityEnabled","MailEnabled","MemberCount","OwnerCount","Visibility",'
        '"SyncStatus","Description","CreatedDate","RiskLevel","RiskReasons","GroupId"'
    )
    users_header = (
        '"DisplayName","UserPrincipalName","Email","Department","JobTitle","AccountStatus","LicenseStatus",'
        '"CreationDate","LastSignIn","UsageLocation","Id"'
    )
    exchange_header = (
        '"UserName","UserPrincipalName","AccountEnabled","CreatedDate","LastSignIn","HasExchangeLicense",'
        '"LicenseStatus","LicensePlan","ExchangeLicenses","HasMailbox","MailboxType","MailboxQuota","HasArchive",'
        '"HasLitigation","MonthlyCostJPY","RiskLevel","RiskFactors","OptimizationRecommendation","UsageLocation",'
        '"AnalysisTimestamp"'
    )
    teams_header = (
        '"TeamName","TeamId","Description","Privacy","Archived","MemberCount","OwnerCount","GuestCount",'
        '"ChannelCount","LastActivity","RecordingPolicy","RecordingCompliance","RiskLevel","AlertLevel","Governance",'
        '"Recommendations","CreatedDate","WebUrl","AnalysisTimestamp"'
    )
    return [
        _write(
            folder / "Exchange_License_Validity_20250612_090000.csv",
            exchange_header,
            [
                '"I","i@x.jp","True","2024/04/01 9:00:00","不明","True","有効","Exchange Online Plan 2",'
                '"EXCHANGEENTERPRISE","True","UserMailbox","49.5 GB (53,150,220,288 bytes)","False","False","¥960",'
                '"正常","","なし","JP","2025/06/12 9:00:00"'
            ],
        ),
        _write(
            folder / "Teams_Configuration_Analysis_20250611_090000.csv",
            teams_header,
            [
                f'"営業チーム","{TEAM}","","Private","False","5","1","0","3","2025/06/01 10:00:00","許可","準拠","低",'
                '"正常","適合","なし","2024/04/01 9:00:00","https://teams.microsoft.com/l/team/x","2025/06/11 9:00:00"'
            ],
        ),
        _license_analysis(
            folder,
            "20250601_090000",
            [("a@x.jp", "ENTERPRISEPACK, EMS", A_ID), ("b@x.jp", "なし", ""), ("Known@x.jp", "ENTERPRISEPACK", "")],
        ),
        _license_analysis(folder, "20250701_090000", [("a@x.jp", "EMS", A_ID)]),
        _write(
            folder / "M365_License_Status_20250615_090000.csv",
            m365_header,
            [
                '"C","c@x.jp","True","Guest","部分的ライセンス","2","False","True","False","False","False","3800","JP",'
                '"2024/04/01","中","なし","Microsoft 365 E3 (¥2840), Exchange Online Plan 2 (¥960)",""',
                '"D","d@x.jp","False","Member","ライセンス未割当","0","False","False","False","False","False","0","JP",'
                '"2024/04/01","低","なし","",""',
            ],
        ),
        _write(
            folder / "License_User_Details_20250620_090000.csv",
            details_header,
            [
                '"e@x.jp","E","営業部","Staff","True","2","Microsoft 365 E3; Power BI Pro","¥4,090","最近","3",'
                '"アクティブ","最適化済み","2024/04/01 9:00:00","2025/06/20 9:00:00"'
            ],
        ),
        _write(  # no stamp in the name: the report's time is its content's 分析日時
            folder / "Clean_User_License_Details.csv",
            clean_header,
            [
                f"1,F,012,Microsoft 365 E3 | {LONG_NAME},2840,アクティブ,最適化済み,f@x.jp,"
                "2024/04/01 9:00,2025/06/25 10:00",
                "2,既知 太郎,-,Exchange Online Plan 2,960,アクティブ,最適化済み,,2024/04/01 9:00,2025/06/25 10:00",
            ],
        ),
        _write(
            folder / "Group_Configuration_20250610_090000.csv",
            groups_header,
            [
                f'"営業","セキュリティグループ","False","True","False","3","1","Private","クラウド","","2024/04/01","低","","{G1}"',
                f'"全社","不明","False","True","True","9","1","Public","クラウド","","2024/04/01","低","","{G2.upper()}"',
            ],
        ),
        _write(
            folder / "AllUsers_20250605_090000.csv",
            users_header,
            [
                '"G","g@x.jp","g@x.jp","IT","Staff","有効","ENTERPRISEPACK, EMS","2025-01-01","","JP",""',
                '"H","h@x.jp","h@x.jp","不明","Staff","有効","ライセンスなし","2025-01-01","","不明",""',
                # no UPN, no id: no key, not folded
                '"X","不明","不明","不明","Staff","有効","ENTERPRISEPACK","2025-01-01","","JP",""',
            ],
        ),
    ]


def _directory(engine: sa.Engine, tenant: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(schema.users),
            {
                "tenant_id": tenant,
                "id": KNOWN,
                "user_principal_name": "known@x.jp",
                "display_name": "既知 太郎",
                "account_enabled": True,
                "business_phones": "[]",
            },
        )
        connection.execute(
            sa.insert(schema.skus),
            {"tenant_id": tenant, "sku_id": E3_SKU, "sku_part_number": "ENTERPRISEPACK", "service_plan_names": "[]"},
        )


def _holders(engine: sa.Engine, tenant: str, moment: datetime) -> dict[str, set[str]]:
    history = schema.license_history
    with engine.connect() as connection:
        skus = connection.execute(
            sa.select(history.c.sku_id).distinct().where(history.c.tenant_id == tenant, asof.held_on(history, moment))
        ).scalars()
        return {sku: asof.sku_holders_on(connection, tenant, sku, moment) for sku in skus}


def _on(connection: sa.Connection, key: sa.Column[Any], value: sa.Column[Any], moment: datetime) -> dict[Any, Any]:
    """key -> value of the tenant's history rows (of key's table) that held at `moment`."""
    history = key.table
    query = sa.select(key, value).where(history.c.tenant_id == TENANT, asof.held_on(history, moment))
    return dict(connection.execute(query).all())


def test_licence_and_group_reports_give_the_licences_users_and_groups_on_a_date(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    _directory(warehouse, TENANT)
    results = {path.name: migrate_file(warehouse, path, TENANT, clock=lambda: CLOCK) for path in _reports(tmp_path)}
    assert {result.status for result in results.values()} == {"loaded"}
    left_out = results["Clean_User_License_Details.csv"].history
    assert left_out.left_out == 1  # the licence name longer than sku_id: named, not silently dropped
    assert left_out.examples == (f"license_history f@x.jp / {LONG_NAME.lower()}",)

    june = _holders(warehouse, TENANT, _at("2025-06-30T00:00:00"))
    assert june == {
        E3_SKU: {A_ID, KNOWN, "g@x.jp"},  # part numbers map to the tenant's SKU; a list is split
        "ems": {A_ID, "g@x.jp"},  # a part number no SKU of the tenant has: its own name, lowercased
        "microsoft 365 e3": {"c@x.jp", "e@x.jp", "f@x.jp"},  # friendly names, their price dropped
        "exchange online plan 2": {"c@x.jp", KNOWN},  # the clean report's user known only by display name
        "power bi pro": {"e@x.jp"},  # "; "-joined
        "exchangeenterprise": {"i@x.jp"},  # Exchange_License_Validity: the user's SKUs with Exchange
    }
    with warehouse.connect() as connection:
        users = schema.user_history
        listed = _on(connection, users.c.user_id, users.c.user_type, _at("2025-06-30T00:00:00"))
        h_row = connection.execute(
            sa.select(users.c.department, users.c.usage_location).where(users.c.user_id == "h@x.jp")
        ).one()
        groups = schema.group_history
        kinds = _on(connection, groups.c.group_id, groups.c.kind, _at("2025-06-30T00:00:00"))
        summary = asof.summary_on(connection, TENANT, _at("2025-06-30T00:00:00"))
    # every user a licence report lists existed then (b and d hold nothing); h's "不明" is no department
    assert set(listed) == {A_ID, "b@x.jp", KNOWN, "c@x.jp", "d@x.jp", "e@x.jp", "f@x.jp", "g@x.jp", "h@x.jp", "i@x.jp"}
    assert listed["c@x.jp"] == "Guest"
    assert tuple(h_row) == (None, None)
    # Japanese GroupType; else from the flags; a team is its Microsoft 365 group
    assert kinds == {G1: "security", G2: "mail_enabled_security", TEAM: "microsoft365"}
    assert summary.groups == 3 and summary.users == 10

    july = _holders(warehouse, TENANT, _at("2025-07-15T00:00:00"))
    assert july[E3_SKU] == {"g@x.jp"}  # a's and known's ENTERPRISEPACK ended with the July licence analysis
    assert july["ems"] == {A_ID, "g@x.jp"}

    history = _tenant_history(warehouse, TENANT)
    reports = sorted(tmp_path.glob("*.csv"))
    reversed_tenant = "22222222-2222-2222-2222-222222222222"
    _directory(warehouse, reversed_tenant)
    folder = tmp_path / "reversed"
    folder.mkdir()
    for path in reversed(reports):
        shutil.copy(path, folder / path.name)
        migrate_file(warehouse, folder / path.name, reversed_tenant, clock=lambda: CLOCK)
    assert _tenant_history(warehouse, reversed_tenant) == history
    with warehouse.begin() as connection:  # recomputing every report of each type from scratch agrees
        for report_type in REPORT_FOLDS:
            fold_report_history(connection, TENANT, report_type)
    assert _tenant_history(warehouse, TENANT) == history


def test_refold_history_backfills_reports_migrated_before_their_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = tenant_id_for_seed(365)  # the configured (default) tenant of `m365`
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}")
    upgrade_to_head(engine)
    reports = _reports(tmp_path)
    _directory(engine, "reference")
    for path in reports:  # the history as migrations with the folds give it
        migrate_file(engine, path, "reference", clock=lambda: CLOCK)
    _directory(engine, tenant)
    with monkeypatch.context() as patched:  # migrated before any fold existed
        patched.setattr(load, "REPORT_FOLDS", {})
        for path in reports:
            assert migrate_file(engine, path, tenant, clock=lambda: CLOCK).status == "loaded"
    assert _tenant_history(engine, tenant) == [[], [], [], []]

    first = _run(["migrate", "--refold-history"], tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    figures = _figures(first.stdout)
    assert (figures["reports folded"], figures["report files"], figures["report types"]) == (9, 9, 8)
    assert figures["facts left out (key > 36 characters)"] == 1
    assert f"left out of the history: license_history f@x.jp / {LONG_NAME.lower()}" in first.stdout
    folded = _tenant_history(engine, tenant)
    assert folded == _tenant_history(engine, "reference")
    assert figures["license_history rows from old reports"] == len(folded[1]) > 0

    again = _run(["migrate", "--refold-history"], tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _tenant_history(engine, tenant) == folded
    engine.dispose()

    assert _run(["migrate", "--refold-history", str(reports[0])], tmp_path).returncode == 2


def test_neighbouring_reports_migrated_at_once_give_the_history_of_one_after_the_other(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    stamps = ["20250601_090000", "20250701_090000", "20250801_090000", "20250901_090000"]
    reports = [
        _license_analysis(tmp_path, stamp, [("a@x.jp", "ENTERPRISEPACK" if index % 2 else "EMS", A_ID)])
        for index, stamp in enumerate(stamps)
    ]
    for path in reports:
        migrate_file(warehouse, path, "sequential", clock=lambda: CLOCK)
    url = warehouse.url.render_as_string(hide_password=False)
    engines = [create_warehouse_engine(url) for _ in reports]
    barrier = threading.Barrier(len(engines))
    failures: list[BaseException] = []

    def run(engine: sa.Engine, path: Path) -> None:
        barrier.wait()
        try:
            migrate_file(engine, path, TENANT, clock=lambda: CLOCK)
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(engines, reports, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert failures == []
    assert _tenant_history(warehouse, TENANT) == _tenant_history(warehouse, "sequential")
    assert len(_tenant_history(warehouse, TENANT)[1]) == 4  # one licence interval per report, each ended by the next
