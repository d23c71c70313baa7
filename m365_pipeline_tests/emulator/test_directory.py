"""The directory beyond users, groups and SKUs: managers, members (nested) and owners, directory roles and role
assignments, authentication methods and their report, conditional access policies, applications and service
principals with expiring credentials."""

from __future__ import annotations

import calendar
import time

import httpx

from m365_pipeline.emulator.relations import GLOBAL_ADMINISTRATOR
from m365_pipeline.emulator.tenant import (
    REFERENCE_TIME,
    USER_REGISTRATION_DETAILS_PROPERTIES,
    SyntheticTenant,
    generate_tenant,
)
from m365_pipeline_tests.emulator.helpers import GRAPH
from m365_pipeline_tests.emulator.test_queries import EVENTUAL, every_id


def test_a_users_manager_by_path_and_by_expand(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    managers = tenant.relations.managers
    user_id, manager_id = next(iter(managers.items()))
    manager = graph.get(f"{GRAPH}/users/{user_id}/manager").json()
    assert (manager["@odata.type"], manager["id"]) == ("#microsoft.graph.user", manager_id)
    body = graph.get(f"{GRAPH}/users", params={"$select": "id", "$expand": "manager($select=id,displayName)"}).json()
    for user in body["value"]:
        assert user.get("manager", {}).get("id") == managers.get(user["id"])
    without = next(u["id"] for u in tenant.users if u["id"] not in managers)
    assert graph.get(f"{GRAPH}/users/{without}/manager").status_code == 404


def test_members_owners_and_transitive_members_of_nested_groups(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    members = tenant.relations.members
    parent = next(group for group, held in members.items() if any(member in members for member in held))
    direct = every_id(graph, f"{GRAPH}/groups/{parent}/members?$top=999")
    assert direct == members[parent]
    expected: dict[str, None] = {}
    pending = [parent]
    while pending:
        for member in members[pending.pop()]:
            if member not in expected:
                expected[member] = None
                pending += [member] if member in members else []
    assert sorted(every_id(graph, f"{GRAPH}/groups/{parent}/transitiveMembers")) == sorted(expected)
    body = graph.get(f"{GRAPH}/groups/{parent}/members?$top=999").json()
    assert {item["@odata.type"] for item in body["value"]} == {"#microsoft.graph.user", "#microsoft.graph.group"}
    large = tenant.groups[0]["id"]
    count = graph.get(f"{GRAPH}/groups/{large}/members/$count", headers=EVENTUAL)
    assert count.text == str(len(members[large])) and len(members[large]) > 500
    owned = next(iter(tenant.relations.owners))
    assert every_id(graph, f"{GRAPH}/groups/{owned}/owners") == tenant.relations.owners[owned]


def test_relation_next_links_keep_the_request_path_and_page_through_every_member(
    graph: httpx.Client, tenant: SyntheticTenant
) -> None:
    large = tenant.groups[0]["id"]
    for relation in ("members", "transitiveMembers"):
        first = graph.get(f"{GRAPH}/groups/{large}/{relation}?$select=id&$top=100").json()
        assert first["@odata.nextLink"].startswith(f"{GRAPH}/groups/{large}/{relation}?$select=id&$top=100&$skiptoken=")
    assert every_id(graph, f"{GRAPH}/groups/{large}/members?$top=100") == tenant.relations.members[large]
    roles = graph.get(f"{GRAPH}/directoryRoles").json()["value"]
    admin = next(role for role in roles if role["roleTemplateId"] == GLOBAL_ADMINISTRATOR)
    holders = every_id(graph, f"{GRAPH}/directoryRoles/{admin['id']}/members?$top=1")
    assert holders == tenant.relations.role_members[GLOBAL_ADMINISTRATOR]


def test_directory_roles_have_a_global_administrator_and_match_the_role_assignments(
    graph: httpx.Client, tenant: SyntheticTenant
) -> None:
    roles = graph.get(f"{GRAPH}/directoryRoles").json()["value"]
    admin = next(role for role in roles if role["roleTemplateId"] == GLOBAL_ADMINISTRATOR)
    assert admin["displayName"] == "Global Administrator"
    holders = every_id(graph, f"{GRAPH}/directoryRoles/{admin['id']}/members")
    assert holders and holders == tenant.relations.role_members[GLOBAL_ADMINISTRATOR]
    url = f"{GRAPH}/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{GLOBAL_ADMINISTRATOR}'"
    assignments = graph.get(url).json()["value"]
    assert [assignment["principalId"] for assignment in assignments] == holders
    assert {assignment["directoryScopeId"] for assignment in assignments} == {"/"}


def test_role_assignments_expand_their_principal_and_roles_expand_their_members(
    graph: httpx.Client, tenant: SyntheticTenant
) -> None:
    holders = tenant.relations.role_members[GLOBAL_ADMINISTRATOR]
    url = f"{GRAPH}/roleManagement/directory/roleAssignments?$expand=principal"
    url += f"&$filter=roleDefinitionId eq '{GLOBAL_ADMINISTRATOR}'"
    principals = [assignment["principal"] for assignment in graph.get(url).json()["value"]]
    users = {user["id"]: user for user in tenant.users}
    assert [principal["id"] for principal in principals] == holders
    assert [principal["userPrincipalName"] for principal in principals] == [
        users[h]["userPrincipalName"] for h in holders
    ]
    roles = graph.get(f"{GRAPH}/directoryRoles?$expand=members").json()["value"]
    admin = next(role for role in roles if role["roleTemplateId"] == GLOBAL_ADMINISTRATOR)
    assert [member["id"] for member in admin["members"]] == holders
    assert graph.get(f"{GRAPH}/directoryRoles?$expand=owners").status_code == 400


def test_registration_details_report_lower_case_user_types_and_skip_disabled_users(
    graph: httpx.Client, tenant: SyntheticTenant
) -> None:
    url = f"{GRAPH}/reports/authenticationMethods/userRegistrationDetails"
    pages, next_url = [], url
    while next_url:
        body = graph.get(next_url).json()
        pages.append(body)
        next_url = body.get("@odata.nextLink")
    details = [item for page in pages for item in page["value"]]
    assert len(pages[0]["value"]) == 1000
    assert [item["id"] for item in details] == [u["id"] for u in tenant.users if u["accountEnabled"]]
    assert set(details[0]) == set(USER_REGISTRATION_DETAILS_PROPERTIES)
    assert {item["userType"] for item in details} == {"member", "guest"}
    admins = {item["id"] for item in details if item["isAdmin"]}
    assert set(tenant.relations.role_members[GLOBAL_ADMINISTRATOR]) <= admins | {
        u["id"] for u in tenant.users if not u["accountEnabled"]
    }


def test_a_users_authentication_methods_agree_with_the_report(graph: httpx.Client, tenant: SyntheticTenant) -> None:
    user = next(u for u in tenant.users if u["accountEnabled"] and u["userType"] == "Member")
    methods = graph.get(f"{GRAPH}/users/{user['id']}/authentication/methods").json()["value"]
    assert methods[0]["@odata.type"] == "#microsoft.graph.passwordAuthenticationMethod"
    report = graph.get(f"{GRAPH}/reports/authenticationMethods/userRegistrationDetails/{user['id']}").json()
    assert len(methods) == 1 + len(report["methodsRegistered"])


def test_conditional_access_policies(graph: httpx.Client) -> None:
    policies = graph.get(f"{GRAPH}/identity/conditionalAccess/policies").json()["value"]
    assert {policy["state"] for policy in policies} >= {"enabled", "disabled"}
    assert any(GLOBAL_ADMINISTRATOR in policy["conditions"]["users"]["includeRoles"] for policy in policies)


def test_applications_and_service_principals_carry_credentials_some_expired(graph: httpx.Client) -> None:
    applications = graph.get(f"{GRAPH}/applications?$top=999").json()["value"]
    principals = graph.get(f"{GRAPH}/servicePrincipals?$top=999").json()["value"]
    assert {app["appId"] for app in applications} < {principal["appId"] for principal in principals}
    ends = [
        calendar.timegm(time.strptime(credential["endDateTime"], "%Y-%m-%dT%H:%M:%SZ"))
        for app in applications
        for credential in app["passwordCredentials"] + app["keyCredentials"]
    ]
    assert any(end < REFERENCE_TIME for end in ends) and any(end > REFERENCE_TIME for end in ends)


def test_a_larger_tenant_has_very_large_groups_and_still_a_global_administrator() -> None:
    tenant = generate_tenant(5, 20_000)
    assert len(tenant.relations.role_members[GLOBAL_ADMINISTRATOR]) >= 1
    assert max(len(held) for held in tenant.relations.members.values()) > 5000
