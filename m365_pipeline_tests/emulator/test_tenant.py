"""The synthetic tenant: deterministic, internally consistent, and as untidy as real tenants are."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from m365_pipeline.emulator.skus import SKUS
from m365_pipeline.emulator.tenant import (
    GROUP_PROPERTIES,
    NEVER,
    SUBSCRIBED_SKU_PROPERTIES,
    USER_PROPERTIES,
    SyntheticTenant,
    generate_tenant,
    tenant_id_for_seed,
)
from m365_pipeline.entities import GROUPS, SUBSCRIBED_SKUS, USERS

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SEVEN_DIGITS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
WHOLE_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
KANJI = re.compile(r"[\u4e00-\u9fff]")


def test_the_same_seed_and_size_give_the_same_tenant() -> None:
    assert generate_tenant(42, 300) == generate_tenant(42, 300)


def test_another_seed_gives_another_tenant() -> None:
    first, second = generate_tenant(42, 300), generate_tenant(43, 300)
    assert first.tenant_id != second.tenant_id
    assert {u["id"] for u in first.users}.isdisjoint(u["id"] for u in second.users)


def test_ids_are_guids_and_ids_and_principal_names_are_unique(tenant: SyntheticTenant) -> None:
    assert GUID.match(tenant.tenant_id)
    ids = [user["id"] for user in tenant.users] + [group["id"] for group in tenant.groups]
    assert all(GUID.match(value) for value in ids)
    assert len(set(ids)) == len(ids)
    names = [user["userPrincipalName"].lower() for user in tenant.users]
    assert len(set(names)) == len(names) == 2500


def test_every_object_has_every_property_the_pipeline_selects(tenant: SyntheticTenant) -> None:
    assert set(USERS.select) <= set(USER_PROPERTIES)
    assert set(GROUPS.select) <= set(GROUP_PROPERTIES)
    assert set(SUBSCRIBED_SKUS.select) <= set(SUBSCRIBED_SKU_PROPERTIES)
    assert all(list(user) == list(USER_PROPERTIES) for user in tenant.users)
    assert all(list(group) == list(GROUP_PROPERTIES) for group in tenant.groups)
    assert all(list(sku) == list(SUBSCRIBED_SKU_PROPERTIES) for sku in tenant.skus)


def test_consumed_units_equal_the_assignments_and_fit_the_prepaid_units(tenant: SyntheticTenant) -> None:
    assigned = Counter(lic["skuId"] for user in tenant.users for lic in user["assignedLicenses"])
    assert 6 <= len(tenant.skus) <= 10
    for sku in tenant.skus:
        assert sku["consumedUnits"] == assigned[sku["skuId"]], sku["skuPartNumber"]
        assert sku["prepaidUnits"]["enabled"] >= sku["consumedUnits"]
        assert sku["id"] == f"{tenant.tenant_id}_{sku['skuId']}"
        assert sku["accountId"] == tenant.tenant_id
    assert sum(assigned.values()) == sum(sku["consumedUnits"] for sku in tenant.skus)
    assert any(sku["prepaidUnits"]["warning"] or sku["prepaidUnits"]["suspended"] for sku in tenant.skus)


def test_skus_carry_microsofts_real_ids(tenant: SyntheticTenant) -> None:
    by_part = {sku["skuPartNumber"]: sku["skuId"] for sku in tenant.skus}
    assert by_part["SPE_E3"] == "05e9a617-0261-4cee-bb44-138d3ef5d965"
    assert by_part["SPE_E5"] == "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
    assert by_part["ENTERPRISEPACK"] == "6fd2c87f-b296-42f0-b197-1e91e994b900"
    assert by_part["EXCHANGESTANDARD"] == "4b9405b0-7788-4568-add1-99614e613b69"
    assert by_part["POWER_BI_PRO"] == "f8a1db68-be16-40ed-86d5-cb42ce701560"
    assert by_part["FLOW_FREE"] == "f30db892-07e9-47e9-837c-80727f46fd3d"
    assert all(sku["servicePlans"] for sku in tenant.skus)


def test_disabled_plans_belong_to_the_assigned_product(tenant: SyntheticTenant) -> None:
    plans = {sku.sku_id: {plan.plan_id for plan in sku.plans} for sku in SKUS}
    assignments = [lic for user in tenant.users for lic in user["assignedLicenses"]]
    assert any(lic["disabledPlans"] for lic in assignments)
    assert all(set(lic["disabledPlans"]) <= plans[lic["skuId"]] for lic in assignments)


def test_users_mix_japanese_and_english_names_members_and_guests(tenant: SyntheticTenant) -> None:
    members = [user for user in tenant.users if user["userType"] == "Member"]
    guests = [user for user in tenant.users if user["userType"] == "Guest"]
    japanese = [user for user in members if KANJI.search(user["displayName"])]
    assert 0.4 < len(japanese) / len(members) < 0.6
    assert all(
        re.fullmatch(r"[a-z]+\.[a-z]+\d*@" + re.escape(tenant.default_domain), u["userPrincipalName"]) for u in japanese
    )
    assert all(user["displayName"] == f"{user['surname']} {user['givenName']}" for user in japanese)
    assert 0.01 < len(guests) / len(tenant.users) < 0.06
    assert all("#EXT#@" in guest["userPrincipalName"] and guest["mail"] for guest in guests)
    assert all(guest["assignedLicenses"] == [] for guest in guests)
    locations = Counter(user["usageLocation"] for user in tenant.users)
    assert locations.most_common(1)[0][0] == "JP"
    assert {"US", "GB", "SG", "DE"} <= set(locations)
    departments = {user["department"] for user in members}
    assert {"営業部", "経理部", "人事部", "情報システム部", "総務部"} <= departments
    assert 0.85 < sum(user["accountEnabled"] for user in tenant.users) / len(tenant.users) < 0.99
    assert {user["onPremisesSyncEnabled"] for user in tenant.users} == {True, None}
    assert any(user["businessPhones"] for user in members) and any(not user["businessPhones"] for user in members)


def test_license_counts_per_user_vary(tenant: SyntheticTenant) -> None:
    per_user = Counter(len(user["assignedLicenses"]) for user in tenant.users if user["userType"] == "Member")
    assert set(per_user) == {0, 1, 2}
    assert per_user[1] > per_user[2] and per_user[1] > per_user[0]


def test_timestamps_come_with_seven_fractional_digits_or_none(tenant: SyntheticTenant) -> None:
    created = [user["createdDateTime"] for user in tenant.users]
    assert all(SEVEN_DIGITS.match(value) or WHOLE_SECONDS.match(value) for value in created)
    assert any(SEVEN_DIGITS.match(value) for value in created) and any(WHOLE_SECONDS.match(value) for value in created)


def test_sign_in_activity_has_never_signed_in_users_and_the_sentinel(tenant: SyntheticTenant) -> None:
    activities = [user["signInActivity"] for user in tenant.users]
    assert all(set(activity) == set(USERS.arrow_schema.field("signInActivity").type.names) for activity in activities)
    never = [a for a in activities if a["lastSignInDateTime"] is None]
    assert never and all(value is None for activity in never for value in activity.values())
    assert any(activity["lastNonInteractiveSignInDateTime"] == NEVER for activity in activities)
    signed_in = [a["lastSignInDateTime"] for a in activities if a["lastSignInDateTime"] is not None]
    assert all(SEVEN_DIGITS.match(value) or WHOLE_SECONDS.match(value) for value in signed_in)


def test_groups_are_of_every_kind(tenant: SyntheticTenant) -> None:
    groups = tenant.groups
    assert len(groups) == 2500 // 20
    unified = [g for g in groups if g["groupTypes"] == ["Unified"]]
    dynamic = [g for g in groups if "DynamicMembership" in g["groupTypes"]]
    security = [g for g in groups if g["securityEnabled"] and not g["mailEnabled"] and not g["groupTypes"]]
    mail_security = [g for g in groups if g["securityEnabled"] and g["mailEnabled"] and not g["groupTypes"]]
    assert unified and dynamic and security and mail_security
    assert all(g["mail"] and g["visibility"] in ("Public", "Private") for g in unified)
    assert all(g["membershipRule"] and g["membershipRule"].startswith("(user.") for g in dynamic)
    assert all(g["mail"] is None for g in security)


def test_a_small_tenant_still_has_a_handful_of_groups() -> None:
    assert len(generate_tenant(1, 10).groups) == 8


def test_a_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="-1"):
        generate_tenant(1, -1)


def test_organization_describes_the_tenant(tenant: SyntheticTenant) -> None:
    organization = tenant.organization
    assert organization["id"] == tenant.tenant_id
    assert organization["displayName"] == tenant.display_name
    assert organization["verifiedDomains"][0]["name"] == tenant.default_domain
    assert tenant.default_domain.endswith(".onmicrosoft.com")


def test_the_tenant_id_follows_from_the_seed_alone() -> None:
    assert tenant_id_for_seed(41) == generate_tenant(41, 0).tenant_id == generate_tenant(41, 25).tenant_id
    assert tenant_id_for_seed(41) != tenant_id_for_seed(42)
