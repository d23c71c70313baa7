from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from m365_pipeline.directory.relations import group_relation_pages
from m365_pipeline.emulator.app import GraphEmulator
from m365_pipeline.emulator.tenant import SyntheticTenant, generate_tenant
from m365_pipeline.entities import ENTITIES
from m365_pipeline.graph.extract import extract_to_parquet
from m365_pipeline.warehouse.normalize import ENTITY_TABLES, NormalizedBatch, normalize_batches
from m365_pipeline.warehouse.quarantine import QuarantinedRow
from m365_pipeline.warehouse.schema import TABLES
from m365_pipeline_tests.graph.emulated import emulator_client
from m365_pipeline_tests.graph.fake_clock import FakeClock

TENANT = "5b2a3f0e-9c1d-4e7a-8f6b-0a1b2c3d4e5f"
USERS_SOURCE = "data/raw/users/2025-06-24.parquet"
SKUS_SOURCE = "data/raw/subscribed_skus/2025-06-24.parquet"
GROUPS_SOURCE = "data/raw/groups/2025-06-24.parquet"

TARO = "6e1d2c3b-4a59-4867-9f10-2a3b4c5d6e7f"
GUEST = "a1b2c3d4-e5f6-4789-8abc-def012345678"
HANAKO = "0f9e8d7c-6b5a-4a39-8281-7f6e5d4c3b2a"
SATO = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
SPE_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
EMS_E3 = "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"
TEAMS_PLAN = "57ff2da0-773e-42df-b2af-ffb7a2317929"
SKYPE_PLAN = "0feaeb32-d00e-4d66-bd5a-43b5b83db82c"
USER_REJECTED = "user record rejected, so its licenses are not loaded"


def _normalize(entity: str, records: list[dict[str, Any]], source: str, batch_size: int = 2) -> NormalizedBatch:
    """Every batch's result in one: the records are fed in batches of ``batch_size``, as from a Parquet file."""
    batches = [records[start : start + batch_size] for start in range(0, len(records), batch_size)]
    rows: dict[str, list[dict[str, Any]]] = {table: [] for table in ENTITY_TABLES[entity]}
    quarantined: list[QuarantinedRow] = []
    for normalized in normalize_batches(entity, batches, TENANT, source):
        assert set(normalized.rows) == set(ENTITY_TABLES[entity])
        for table, table_rows in normalized.rows.items():
            rows[table].extend(table_rows)
        quarantined.extend(normalized.quarantined)
    return NormalizedBatch(rows, quarantined)


def _users(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[QuarantinedRow]]:
    result = _normalize("users", records, USERS_SOURCE)
    return result.rows["users"], [row for row in result.quarantined if row.entity == "users"]


def _licenses(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[QuarantinedRow]]:
    result = _normalize("users", records, USERS_SOURCE)
    return result.rows["user_licenses"], [row for row in result.quarantined if row.entity == "user_licenses"]


def _sign_ins(interactive: str | None, non_interactive: str | None, successful: str | None) -> dict[str, Any]:
    return {
        "lastSignInDateTime": interactive,
        "lastSignInRequestId": "3c1a0f6e-0000-4000-8000-000000000001" if interactive else None,
        "lastNonInteractiveSignInDateTime": non_interactive,
        "lastNonInteractiveSignInRequestId": None,
        "lastSuccessfulSignInDateTime": successful,
        "lastSuccessfulSignInRequestId": None,
    }


def _graph_user(user_id: str | None, upn: str, **values: Any) -> dict[str, Any]:
    """A user as the raw Parquet gives it back: every selected property present, absent ones null."""
    record: dict[str, Any] = {
        "id": user_id,
        "userPrincipalName": upn,
        "displayName": None,
        "givenName": None,
        "surname": None,
        "mail": None,
        "jobTitle": None,
        "department": None,
        "officeLocation": None,
        "usageLocation": None,
        "preferredLanguage": None,
        "accountEnabled": True,
        "userType": "Member",
        "createdDateTime": "2024-04-01T00:00:00Z",
        "onPremisesSyncEnabled": None,
        "businessPhones": [],
        "mobilePhone": None,
        "assignedLicenses": [],
        "signInActivity": None,
    }
    record.update(values)
    return record


TARO_RECORD = _graph_user(
    TARO,
    "taro.yamada@contoso.onmicrosoft.com",
    displayName="山田 太郎",
    givenName="太郎",
    surname="山田",
    mail="taro.yamada@contoso.co.jp",
    jobTitle="課長",
    department="営業部",
    officeLocation="東京本社 12F",
    usageLocation="JP",
    preferredLanguage="ja-JP",
    createdDateTime="2023-04-01T00:12:34.5000000Z",
    onPremisesSyncEnabled=True,
    businessPhones=["+81 3-1234-5678", "+81 3-9876-5432"],
    mobilePhone="+81 90-1234-5678",
    assignedLicenses=[
        {"skuId": SPE_E3, "disabledPlans": [TEAMS_PLAN, SKYPE_PLAN]},
        {"skuId": EMS_E3, "disabledPlans": []},
    ],
    signInActivity=_sign_ins("2025-06-24T10:51:08.1234567Z", "0001-01-01T00:00:00Z", "2025-06-24T10:51:08Z"),
)
GUEST_RECORD = _graph_user(
    GUEST,
    "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
    displayName="Alice Smith (Fabrikam)",
    mail="alice@fabrikam.com",
    accountEnabled=False,
    userType="Guest",
    createdDateTime="2025-01-15T08:30:00+00:00",
)
NO_ID_RECORD = _graph_user(
    None, "ghost@contoso.onmicrosoft.com", assignedLicenses=[{"skuId": SPE_E3, "disabledPlans": []}]
)
BAD_TIMESTAMP_RECORD = _graph_user(
    HANAKO,
    "hanako.suzuki@contoso.onmicrosoft.com",
    displayName="鈴木 花子",
    createdDateTime="2024/04/01 09:00",
    signInActivity=_sign_ins("2025-06-24T25:61:00Z", None, None),
    assignedLicenses=[{"skuId": EMS_E3, "disabledPlans": []}],
)
BAD_LICENSE_RECORD = _graph_user(
    SATO,
    "ichiro.sato@contoso.onmicrosoft.com",
    displayName="佐藤 一郎",
    assignedLicenses=[
        {"skuId": "ENTERPRISEPACK", "disabledPlans": []},
        {"skuId": EMS_E3, "disabledPlans": None},
    ],
)
USER_RECORDS = [TARO_RECORD, GUEST_RECORD, NO_ID_RECORD, BAD_TIMESTAMP_RECORD, BAD_LICENSE_RECORD]


def _user_row(user_id: str, upn: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tenant_id": TENANT,
        "id": user_id,
        "user_principal_name": upn,
        "display_name": None,
        "given_name": None,
        "surname": None,
        "mail": None,
        "job_title": None,
        "department": None,
        "office_location": None,
        "usage_location": None,
        "preferred_language": None,
        "account_enabled": True,
        "user_type": "Member",
        "created_at": datetime(2024, 4, 1, tzinfo=UTC),
        "on_premises_sync_enabled": None,
        "business_phones": "",
        "mobile_phone": None,
        "last_sign_in_at": None,
        "last_non_interactive_sign_in_at": None,
        "last_successful_sign_in_at": None,
        "manager_id": None,
        "deleted_at": None,
    }
    row.update(values)
    return row


def test_normalize_users() -> None:
    rows, quarantined = _users(USER_RECORDS)

    assert rows == [
        _user_row(
            TARO,
            "taro.yamada@contoso.onmicrosoft.com",
            display_name="山田 太郎",
            given_name="太郎",
            surname="山田",
            mail="taro.yamada@contoso.co.jp",
            job_title="課長",
            department="営業部",
            office_location="東京本社 12F",
            usage_location="JP",
            preferred_language="ja-JP",
            created_at=datetime(2023, 4, 1, 0, 12, 34, 500000, tzinfo=UTC),
            on_premises_sync_enabled=True,
            business_phones="+81 3-1234-5678; +81 3-9876-5432",
            mobile_phone="+81 90-1234-5678",
            last_sign_in_at=datetime(2025, 6, 24, 10, 51, 8, 123456, tzinfo=UTC),
            last_successful_sign_in_at=datetime(2025, 6, 24, 10, 51, 8, tzinfo=UTC),
        ),
        _user_row(
            GUEST,
            "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            display_name="Alice Smith (Fabrikam)",
            mail="alice@fabrikam.com",
            account_enabled=False,
            user_type="Guest",
            created_at=datetime(2025, 1, 15, 8, 30, tzinfo=UTC),
        ),
        _user_row(SATO, "ichiro.sato@contoso.onmicrosoft.com", display_name="佐藤 一郎"),
    ]
    assert quarantined == [
        QuarantinedRow("users", USERS_SOURCE, 3, "id", "missing", NO_ID_RECORD),
        QuarantinedRow(
            "users",
            USERS_SOURCE,
            4,
            "createdDateTime, signInActivity.lastSignInDateTime",
            "'2024/04/01 09:00' is not a Graph timestamp such as 2025-06-24T10:51:08.1234567Z; "
            "'2025-06-24T25:61:00Z' is not a valid timestamp: hour must be in 0..23",
            BAD_TIMESTAMP_RECORD,
        ),
    ]


def test_normalize_user_licenses() -> None:
    rows, quarantined = _licenses(USER_RECORDS)

    assert rows == [
        {
            "tenant_id": TENANT,
            "user_id": TARO,
            "sku_id": SPE_E3,
            "disabled_plans": f"{SKYPE_PLAN}; {TEAMS_PLAN}",
        },
        {"tenant_id": TENANT, "user_id": TARO, "sku_id": EMS_E3, "disabled_plans": ""},
        {"tenant_id": TENANT, "user_id": SATO, "sku_id": EMS_E3, "disabled_plans": ""},
    ]
    assert quarantined == [
        QuarantinedRow("user_licenses", USERS_SOURCE, 3, "id", f"{USER_REJECTED}: id: missing", NO_ID_RECORD),
        QuarantinedRow(
            "user_licenses",
            USERS_SOURCE,
            4,
            "createdDateTime, signInActivity.lastSignInDateTime",
            f"{USER_REJECTED}: "
            "createdDateTime: '2024/04/01 09:00' is not a Graph timestamp such as 2025-06-24T10:51:08.1234567Z; "
            "signInActivity.lastSignInDateTime: '2025-06-24T25:61:00Z' is not a valid timestamp: "
            "hour must be in 0..23",
            BAD_TIMESTAMP_RECORD,
        ),
        QuarantinedRow(
            "user_licenses",
            USERS_SOURCE,
            5,
            "assignedLicenses[0].skuId",
            "'ENTERPRISEPACK' is not a GUID",
            BAD_LICENSE_RECORD,
        ),
    ]


def test_every_license_row_belongs_to_a_loaded_user() -> None:
    result = _normalize("users", USER_RECORDS, USERS_SOURCE)

    assert {row["user_id"] for row in result.rows["user_licenses"]} <= {row["id"] for row in result.rows["users"]}


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        (
            {"createdDateTime": "yesterday"},
            "createdDateTime",
            "'yesterday' is not a Graph timestamp such as 2025-06-24T10:51:08.1234567Z",
        ),
        ({"userPrincipalName": None}, "userPrincipalName", "missing"),
    ],
)
def test_a_rejected_user_loads_none_of_its_licenses(values: dict[str, Any], field: str, reason: str) -> None:
    record = _graph_user(
        HANAKO,
        "hanako.suzuki@contoso.onmicrosoft.com",
        assignedLicenses=[{"skuId": SPE_E3, "disabledPlans": []}, {"skuId": EMS_E3, "disabledPlans": []}],
        **values,
    )

    result = _normalize("users", [record], USERS_SOURCE)

    assert result.rows == {"users": [], "user_licenses": []}
    assert result.quarantined == [
        QuarantinedRow("users", USERS_SOURCE, 1, field, reason, record),
        QuarantinedRow("user_licenses", USERS_SOURCE, 1, field, f"{USER_REJECTED}: {field}: {reason}", record),
    ]


def test_a_rejected_user_without_licenses_leaves_no_license_quarantine() -> None:
    record = _graph_user(HANAKO, "hanako.suzuki@contoso.onmicrosoft.com", createdDateTime="yesterday")

    assert _licenses([record]) == ([], [])


def test_only_the_first_record_of_a_repeated_user_gives_licenses() -> None:
    first = _graph_user(TARO, "taro.yamada@contoso.onmicrosoft.com", assignedLicenses=[{"skuId": SPE_E3}])
    again = _graph_user(TARO, "taro.yamada@contoso.onmicrosoft.com", assignedLicenses=[{"skuId": EMS_E3}])

    rows, quarantined = _licenses([first, again])

    assert rows == [{"tenant_id": TENANT, "user_id": TARO, "sku_id": SPE_E3, "disabled_plans": ""}]
    assert quarantined == [
        QuarantinedRow("user_licenses", USERS_SOURCE, 2, "id", f"{USER_REJECTED}: id: same id '{TARO}' as row 1", again)
    ]


def test_guids_are_lowercased_and_repeated_keys_quarantined() -> None:
    upper = _graph_user(
        TARO.upper(),
        "taro.yamada@contoso.onmicrosoft.com",
        assignedLicenses=[
            {"skuId": SPE_E3.upper(), "disabledPlans": [TEAMS_PLAN.upper()]},
            {"skuId": SPE_E3, "disabledPlans": []},
        ],
    )
    again = _graph_user(TARO, "taro.yamada@contoso.onmicrosoft.com")

    users, users_quarantined = _users([upper, again])
    licenses, licenses_quarantined = _licenses([upper, again])

    assert [row["id"] for row in users] == [TARO]
    assert users_quarantined == [QuarantinedRow("users", USERS_SOURCE, 2, "id", f"same id '{TARO}' as row 1", again)]
    assert licenses == [{"tenant_id": TENANT, "user_id": TARO, "sku_id": SPE_E3, "disabled_plans": TEAMS_PLAN}]
    assert licenses_quarantined == [
        QuarantinedRow(
            "user_licenses",
            USERS_SOURCE,
            1,
            "assignedLicenses[1].skuId",
            f"same skuId '{SPE_E3}' as assignedLicenses[0]",
            upper,
        )
    ]


def test_wrongly_typed_values_are_quarantined_with_what_was_found() -> None:
    record = _graph_user(TARO, "", accountEnabled="yes", businessPhones="+81 3-1234-5678", signInActivity="never")

    rows, quarantined = _users([record])

    assert rows == []
    assert quarantined == [
        QuarantinedRow(
            "users",
            USERS_SOURCE,
            1,
            "userPrincipalName, accountEnabled, businessPhones, signInActivity",
            "String should have at least 1 character, got ''; Input should be a valid boolean, got 'yes'; "
            "Input should be a valid list, got '+81 3-1234-5678'; "
            "Input should be a valid dictionary or instance of SignInActivity, got 'never'",
            record,
        )
    ]


def _plan_id(name: str) -> str:
    return TEAMS_PLAN if name == "TEAMS1" else str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _graph_sku(sku_id: str, part_number: str, consumed: int, plans: list[str]) -> dict[str, Any]:
    return {
        "id": f"{TENANT}_{sku_id}",
        "skuId": sku_id,
        "skuPartNumber": part_number,
        "accountName": "contoso",
        "accountId": TENANT,
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "consumedUnits": consumed,
        "prepaidUnits": {"enabled": 25, "lockedOut": 0, "suspended": 0, "warning": 5},
        "servicePlans": [
            {
                "servicePlanId": _plan_id(name),
                "servicePlanName": name,
                "provisioningStatus": "Success",
                "appliesTo": "User",
            }
            for name in plans
        ],
        "subscriptionIds": ["c2a3b4d5-0000-4000-8000-000000000001"],
    }


def test_normalize_skus() -> None:
    e3 = _graph_sku(SPE_E3, "SPE_E3", 18, ["TEAMS1", "MCOSTANDARD", "EXCHANGE_S_ENTERPRISE"])
    ems = _graph_sku(EMS_E3, "EMS", 0, [])
    ems["prepaidUnits"] = None
    bad = _graph_sku("ENTERPRISEPACK", "ENTERPRISEPACK", 3, [])
    bad["servicePlans"] = [{"servicePlanId": TEAMS_PLAN, "servicePlanName": None}]

    result = _normalize("subscribed_skus", [e3, ems, bad], SKUS_SOURCE)

    assert result.rows["skus"] == [
        {
            "tenant_id": TENANT,
            "sku_id": SPE_E3,
            "sku_part_number": "SPE_E3",
            "account_name": "contoso",
            "applies_to": "User",
            "capability_status": "Enabled",
            "consumed_units": 18,
            "prepaid_enabled": 25,
            "prepaid_locked_out": 0,
            "prepaid_suspended": 0,
            "prepaid_warning": 5,
            "service_plan_names": "TEAMS1; MCOSTANDARD; EXCHANGE_S_ENTERPRISE",
        },
        {
            "tenant_id": TENANT,
            "sku_id": EMS_E3,
            "sku_part_number": "EMS",
            "account_name": "contoso",
            "applies_to": "User",
            "capability_status": "Enabled",
            "consumed_units": 0,
            "prepaid_enabled": None,
            "prepaid_locked_out": None,
            "prepaid_suspended": None,
            "prepaid_warning": None,
            "service_plan_names": "",
        },
    ]
    assert [(row["sku_id"], row["service_plan_name"]) for row in result.rows["sku_service_plans"]] == [
        (SPE_E3, "TEAMS1"),
        (SPE_E3, "MCOSTANDARD"),
        (SPE_E3, "EXCHANGE_S_ENTERPRISE"),
    ]
    assert result.quarantined == [
        QuarantinedRow(
            "skus",
            SKUS_SOURCE,
            3,
            "skuId, servicePlans[0].servicePlanName",
            "'ENTERPRISEPACK' is not a GUID; missing",
            bad,
        )
    ]


def _graph_group(group_id: str, name: str, **values: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": group_id,
        "displayName": name,
        "description": None,
        "mail": None,
        "mailEnabled": False,
        "mailNickname": None,
        "securityEnabled": True,
        "groupTypes": [],
        "visibility": None,
        "createdDateTime": "2024-10-01T03:00:00Z",
        "membershipRule": None,
        "onPremisesSyncEnabled": None,
    }
    record.update(values)
    return record


def _group_row(group_id: str, name: str, kind: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tenant_id": TENANT,
        "id": group_id,
        "display_name": name,
        "description": None,
        "mail": None,
        "mail_enabled": False,
        "security_enabled": True,
        "mail_nickname": None,
        "group_types": "",
        "kind": kind,
        "is_dynamic": False,
        "membership_rule": None,
        "visibility": None,
        "created_at": datetime(2024, 10, 1, 3, tzinfo=UTC),
        "on_premises_sync_enabled": None,
        "deleted_at": None,
    }
    row.update(values)
    return row


def test_normalize_groups_classifies_each_kind() -> None:
    ids = [f"{n}0000000-0000-4000-8000-00000000000{n}" for n in range(1, 7)]
    rule = '(user.department -eq "営業部")'
    records = [
        _graph_group(
            ids[0],
            "営業部 (全員)",
            description="営業部の全メンバー",
            mail="sales@contoso.co.jp",
            mailEnabled=True,
            mailNickname="sales",
            securityEnabled=False,
            groupTypes=["Unified", "DynamicMembership"],
            visibility="Private",
            membershipRule=rule,
        ),
        _graph_group(ids[1], "VPN users", onPremisesSyncEnabled=True),
        _graph_group(ids[2], "Finance (mail security)", mail="finance@contoso.co.jp", mailEnabled=True),
        _graph_group(ids[3], "All Tokyo", mail="tokyo@contoso.co.jp", mailEnabled=True, securityEnabled=False),
        _graph_group(ids[4], "Broken", mailEnabled=False, securityEnabled=False),
        _graph_group(ids[5], "Half-read", securityEnabled=None, createdDateTime="0001-01-01T00:00:00Z"),
    ]

    result = _normalize("groups", records, GROUPS_SOURCE)

    assert result.rows["groups"] == [
        _group_row(
            ids[0],
            "営業部 (全員)",
            "microsoft365",
            description="営業部の全メンバー",
            mail="sales@contoso.co.jp",
            mail_enabled=True,
            mail_nickname="sales",
            security_enabled=False,
            group_types="Unified; DynamicMembership",
            is_dynamic=True,
            visibility="Private",
            membership_rule=rule,
        ),
        _group_row(ids[1], "VPN users", "security", on_premises_sync_enabled=True),
        _group_row(
            ids[2],
            "Finance (mail security)",
            "mail_enabled_security",
            mail="finance@contoso.co.jp",
            mail_enabled=True,
        ),
        _group_row(
            ids[3],
            "All Tokyo",
            "distribution",
            mail="tokyo@contoso.co.jp",
            mail_enabled=True,
            security_enabled=False,
        ),
    ]
    assert result.quarantined == [
        QuarantinedRow(
            "groups",
            GROUPS_SOURCE,
            5,
            "groupTypes, mailEnabled, securityEnabled",
            "neither a Microsoft 365 group (Unified) nor mail- or security-enabled: no known kind",
            records[4],
        ),
        QuarantinedRow("groups", GROUPS_SOURCE, 6, "securityEnabled", "missing", records[5]),
    ]


def test_a_user_whose_license_list_is_not_a_list_loads_without_licenses() -> None:
    record = _graph_user(HANAKO, "hanako.suzuki@contoso.onmicrosoft.com", assignedLicenses="E3")

    result = _normalize("users", [record], USERS_SOURCE)

    assert [row["id"] for row in result.rows["users"]] == [HANAKO]
    assert result.rows["user_licenses"] == []
    assert result.quarantined == [
        QuarantinedRow(
            "user_licenses", USERS_SOURCE, 1, "assignedLicenses", "Input should be a valid list, got 'E3'", record
        )
    ]


def test_each_bad_license_is_quarantined_on_its_own() -> None:
    record = _graph_user(
        HANAKO,
        "hanako.suzuki@contoso.onmicrosoft.com",
        assignedLicenses=["E3", {"skuId": SPE_E3, "disabledPlans": ["Teams"]}, {"skuId": EMS_E3.upper()}],
    )

    rows, quarantined = _licenses([record])

    assert rows == [{"tenant_id": TENANT, "user_id": HANAKO, "sku_id": EMS_E3, "disabled_plans": ""}]
    assert quarantined == [
        QuarantinedRow(
            "user_licenses",
            USERS_SOURCE,
            1,
            "assignedLicenses[0]",
            "Input should be a valid dictionary or instance of AssignedLicense, got 'E3'",
            record,
        ),
        QuarantinedRow(
            "user_licenses", USERS_SOURCE, 1, "assignedLicenses[1].disabledPlans[0]", "'Teams' is not a GUID", record
        ),
    ]


def test_row_numbers_and_repeated_keys_count_across_batches() -> None:
    records = [
        _graph_user(TARO, "taro.yamada@contoso.onmicrosoft.com"),
        _graph_user(GUEST, "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
        _graph_user(HANAKO, "hanako.suzuki@contoso.onmicrosoft.com", accountEnabled="no"),
        _graph_user(TARO.upper(), "taro.again@contoso.onmicrosoft.com"),
    ]

    results = list(normalize_batches("users", [records[:2], [], records[2:]], TENANT, USERS_SOURCE))

    assert [[row["id"] for row in result.rows["users"]] for result in results] == [[TARO, GUEST], [], []]
    assert [result.quarantined for result in results] == [
        [],
        [],
        [
            QuarantinedRow(
                "users", USERS_SOURCE, 3, "accountEnabled", "Input should be a valid boolean, got 'no'", records[2]
            ),
            QuarantinedRow("users", USERS_SOURCE, 4, "id", f"same id '{TARO}' as row 1", records[3]),
        ],
    ]


def test_normalization_streams_one_batch_at_a_time() -> None:
    """A batch's rows come out before the next batch is read: nothing waits for the whole table."""
    read: list[int] = []

    def batches() -> Iterator[list[dict[str, Any]]]:
        for number, record in enumerate([TARO_RECORD, GUEST_RECORD], start=1):
            read.append(number)
            yield [record]

    results = normalize_batches("users", batches(), TENANT, USERS_SOURCE)
    first = next(results)
    assert read == [1] and [row["id"] for row in first.rows["users"]] == [TARO]
    assert [row["id"] for row in next(results).rows["users"]] == [GUEST] and read == [1, 2]


@pytest.fixture(scope="module")
def small_tenant() -> SyntheticTenant:
    return generate_tenant(11, 300)


def test_rows_have_exactly_the_warehouse_tables_columns(small_tenant: SyntheticTenant, tmp_path: Path) -> None:
    entity_records = {"users": small_tenant.users, "subscribed_skus": small_tenant.skus, "groups": small_tenant.groups}
    relations = {
        "group_relations": ("groups", group_relation_pages),
    }
    with emulator_client(GraphEmulator(small_tenant), FakeClock()) as client:
        for name in set(ENTITY_TABLES) - set(entity_records) - set(relations):
            entity = ENTITIES[name]
            entity_records[name] = list(client.iter_items(entity.path, entity.params, paged=entity.paged))
        for name, (parents, read) in relations.items():
            parents_file = extract_to_parquet(client, ENTITIES[parents], tmp_path / f"{parents}.parquet").path
            entity_records[name] = [record for page in read(client, parents_file) for record in page]
    assert set(ENTITY_TABLES) == set(entity_records)
    for entity, records in entity_records.items():
        selected = [{name: record.get(name) for name in ENTITIES[entity].select} for record in records]
        result = _normalize(entity, selected, f"{entity}.parquet", batch_size=64)
        assert result.quarantined == []
        for table, rows in result.rows.items():
            assert rows, table
            assert all(list(row) == list(TABLES[table].c.keys()) for row in rows), table
    users = _normalize("users", small_tenant.users, USERS_SOURCE).rows
    assert len(users["users"]) == len(small_tenant.users)
    assert len(users["user_licenses"]) == sum(len(user["assignedLicenses"]) for user in small_tenant.users)


def test_an_entity_without_warehouse_tables_is_refused() -> None:
    with pytest.raises(ValueError, match="no warehouse tables are loaded from 'organization'"):
        next(normalize_batches("organization", [[]], TENANT, "organization.parquet"))
