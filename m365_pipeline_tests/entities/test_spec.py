"""Each entity spec derives its $select, raw Arrow schema, validation and column catalog from one declaration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from m365_pipeline.entities import (
    ENTITIES,
    GROUPS,
    SUBSCRIBED_SKUS,
    USERS,
    EntitySpec,
    InvalidRecord,
    PiiClass,
    RawColumn,
)
from m365_pipeline.entities.spec import GraphModel, graph_field
from m365_pipeline.entities.users import User

_string_list = pa.list_(pa.string())

# The raw extracts' schemas as graph/catalog.py wrote them by hand before the specs: the files already in raw
# stores have this shape, so the derived schemas must equal it field for field.
CATALOG_SCHEMAS = {
    "users": pa.schema(
        [
            ("id", pa.string()),
            ("userPrincipalName", pa.string()),
            ("displayName", pa.string()),
            ("givenName", pa.string()),
            ("surname", pa.string()),
            ("mail", pa.string()),
            ("jobTitle", pa.string()),
            ("department", pa.string()),
            ("officeLocation", pa.string()),
            ("usageLocation", pa.string()),
            ("preferredLanguage", pa.string()),
            ("accountEnabled", pa.bool_()),
            ("userType", pa.string()),
            ("createdDateTime", pa.string()),
            ("onPremisesSyncEnabled", pa.bool_()),
            ("businessPhones", _string_list),
            ("mobilePhone", pa.string()),
            (
                "assignedLicenses",
                pa.list_(pa.struct([("skuId", pa.string()), ("disabledPlans", _string_list)])),
            ),
            (
                "signInActivity",
                pa.struct(
                    [
                        ("lastSignInDateTime", pa.string()),
                        ("lastSignInRequestId", pa.string()),
                        ("lastNonInteractiveSignInDateTime", pa.string()),
                        ("lastNonInteractiveSignInRequestId", pa.string()),
                        ("lastSuccessfulSignInDateTime", pa.string()),
                        ("lastSuccessfulSignInRequestId", pa.string()),
                    ]
                ),
            ),
            ("manager", pa.struct([("id", pa.string())])),
        ]
    ),
    "subscribed_skus": pa.schema(
        [
            ("id", pa.string()),
            ("skuId", pa.string()),
            ("skuPartNumber", pa.string()),
            ("accountName", pa.string()),
            ("accountId", pa.string()),
            ("appliesTo", pa.string()),
            ("capabilityStatus", pa.string()),
            ("consumedUnits", pa.int64()),
            (
                "prepaidUnits",
                pa.struct(
                    [
                        ("enabled", pa.int64()),
                        ("lockedOut", pa.int64()),
                        ("suspended", pa.int64()),
                        ("warning", pa.int64()),
                    ]
                ),
            ),
            (
                "servicePlans",
                pa.list_(
                    pa.struct(
                        [
                            ("servicePlanId", pa.string()),
                            ("servicePlanName", pa.string()),
                            ("provisioningStatus", pa.string()),
                            ("appliesTo", pa.string()),
                        ]
                    )
                ),
            ),
            ("subscriptionIds", _string_list),
        ]
    ),
    "groups": pa.schema(
        [
            ("id", pa.string()),
            ("displayName", pa.string()),
            ("description", pa.string()),
            ("mail", pa.string()),
            ("mailEnabled", pa.bool_()),
            ("mailNickname", pa.string()),
            ("securityEnabled", pa.bool_()),
            ("groupTypes", _string_list),
            ("visibility", pa.string()),
            ("createdDateTime", pa.string()),
            ("membershipRule", pa.string()),
            ("onPremisesSyncEnabled", pa.bool_()),
        ]
    ),
    "organization": pa.schema(
        [
            ("id", pa.string()),
            ("displayName", pa.string()),
            (
                "verifiedDomains",
                pa.list_(pa.struct([("name", pa.string()), ("isDefault", pa.bool_()), ("isInitial", pa.bool_())])),
            ),
        ]
    ),
}
# (path, paged, resource-unit cost, permission) as the catalog declared them
CATALOG_REQUESTS = {
    "organization": ("/organization", False, 1, "Organization.Read.All"),
    "users": ("/users", True, 2, "User.Read.All"),
    "subscribed_skus": ("/subscribedSkus", False, 3, "Organization.Read.All"),
    "groups": ("/groups", True, 1, "Group.Read.All"),
}


@pytest.mark.parametrize("name", list(CATALOG_SCHEMAS))
def test_the_derived_raw_schema_equals_the_catalogs(name: str) -> None:
    entity = ENTITIES[name]
    expected = CATALOG_SCHEMAS[name]
    assert [(field.name, field.type, field.nullable) for field in entity.arrow_schema] == [
        (field.name, field.type, field.nullable) for field in expected
    ]
    assert entity.arrow_schema.equals(expected)
    assert entity.select + entity.expand == tuple(expected.names)
    assert (entity.path, entity.paged, entity.resource_unit_cost, entity.permission) == CATALOG_REQUESTS[name]


def test_entities_are_listed_in_extraction_order() -> None:
    assert list(ENTITIES) == [
        "organization",
        "users",
        "subscribed_skus",
        "groups",
        "directory_roles",
        "role_assignments",
        "user_registration_details",
        "conditional_access_policies",
        "applications",
        "service_principals",
        "group_relations",
    ]
    assert all(name == entity.name for name, entity in ENTITIES.items())


def test_sign_in_activity_is_optional_and_can_be_left_out_of_the_request() -> None:
    assert (USERS.optional_select, USERS.optional_permission) == (("signInActivity",), "AuditLog.Read.All")
    selected = CATALOG_SCHEMAS["users"].names[:-1]  # the manager is expanded, not selected
    expand = {"$expand": "manager($select=id)"}
    assert USERS.params == {"$select": ",".join(selected), **expand}
    assert USERS.params_without_optional == {"$select": ",".join(selected[:-1]), **expand}
    assert GROUPS.params_without_optional == GROUPS.params


def test_the_column_catalog_describes_every_raw_column() -> None:
    columns = {column.name: column for column in USERS.columns}
    assert list(columns) == [*USERS.select, *USERS.expand]
    assert columns["id"] == RawColumn(
        "id", pa.string(), "Object id of the user in Entra ID (a pseudonymous identifier).", PiiClass.QUASI, False
    )
    assert columns["userPrincipalName"].pii == PiiClass.DIRECT and not columns["userPrincipalName"].nullable
    assert columns["createdDateTime"].arrow_type == pa.string() and columns["createdDateTime"].nullable
    assert columns["signInActivity"].arrow_type == CATALOG_SCHEMAS["users"].field("signInActivity").type
    assert columns["accountEnabled"] == RawColumn(
        "accountEnabled", pa.bool_(), "Whether the account can sign in.", PiiClass.NONE, True
    )
    for entity in ENTITIES.values():
        assert all(column.description and column.pii in PiiClass for column in entity.columns), entity.name
        assert [(column.name, column.arrow_type) for column in entity.columns] == [
            (field.name, field.type) for field in entity.arrow_schema
        ]
    assert [column.name for column in GROUPS.columns if not column.nullable] == ["id", "mailEnabled", "securityEnabled"]


def test_a_field_without_description_or_pii_class_is_refused() -> None:
    class Undocumented(GraphModel):
        graph_type = "microsoft.graph.example"

        id: str = graph_field("Id.", PiiClass.NONE, required=True)
        name: str | None = None

    with pytest.raises(ValueError, match="example: fields without a description and PII class: name"):
        EntitySpec(name="example", path="/example", model=Undocumented, permission="Directory.Read.All")


def test_optional_properties_must_be_selected() -> None:
    with pytest.raises(ValueError, match="optional_select"):
        EntitySpec(name="users", path="/users", model=User, permission="User.Read.All", optional_select=("photo",))


TARO = "6e1d2c3b-4a59-4867-9f10-2a3b4c5d6e7f"
SPE_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"


def _user(**values: Any) -> dict[str, Any]:
    return {"id": TARO, "userPrincipalName": "taro.yamada@contoso.onmicrosoft.com", **values}


def test_validation_reads_graphs_formats() -> None:
    user = USERS.validate(
        _user(
            id=TARO.upper(),
            createdDateTime="2023-04-01T00:12:34.5000000Z",
            assignedLicenses=[{"skuId": SPE_E3.upper(), "disabledPlans": None}],
            signInActivity={"lastSignInDateTime": "0001-01-01T00:00:00Z", "lastSuccessfulSignInDateTime": None},
            companyName="Contoso",  # a property the spec does not select is ignored
        )
    )
    assert isinstance(user, User)
    assert user.id == TARO
    assert user.createdDateTime == datetime(2023, 4, 1, 0, 12, 34, 500000, tzinfo=UTC)
    assert user.assignedLicenses is not None and user.assignedLicenses[0].skuId == SPE_E3
    assert user.signInActivity is not None and user.signInActivity.lastSignInDateTime is None
    assert user.displayName is None  # left out by Graph: null


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        ({"accountEnabled": "true"}, "accountEnabled", "Input should be a valid boolean, got 'true'"),
        ({"accountEnabled": 1}, "accountEnabled", "Input should be a valid boolean, got 1"),
        ({"displayName": 42}, "displayName", "Input should be a valid string, got 42"),
        (
            {"businessPhones": "+81 3-1234-5678"},
            "businessPhones",
            "Input should be a valid list, got '+81 3-1234-5678'",
        ),
        ({"id": None}, "id", "missing"),
        ({"userPrincipalName": ""}, "userPrincipalName", "String should have at least 1 character, got ''"),
        (
            {"signInActivity": {"lastSignInDateTime": "2025-06-24T25:61:00Z"}},
            "signInActivity.lastSignInDateTime",
            "'2025-06-24T25:61:00Z' is not a valid timestamp: hour must be in 0..23",
        ),
        (
            {"signInActivity": "never"},
            "signInActivity",
            "Input should be a valid dictionary or instance of SignInActivity, got 'never'",
        ),
        (
            {"assignedLicenses": [{"skuId": "ENTERPRISEPACK"}]},
            "assignedLicenses[0].skuId",
            "'ENTERPRISEPACK' is not a GUID",
        ),
        (
            {"assignedLicenses": [{"skuId": SPE_E3, "disabledPlans": ["x"]}]},
            "assignedLicenses[0].disabledPlans[0]",
            "'x' is not a GUID",
        ),
    ],
)
def test_validation_names_each_problem_with_its_field_path_and_value(
    values: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidRecord) as raised:
        USERS.validate(_user(**values))
    assert [(problem.field, problem.reason) for problem in raised.value.problems] == [(field, reason)]
    assert str(raised.value) == f"{field}: {reason}"


def test_every_problem_of_a_record_is_reported_in_field_order() -> None:
    with pytest.raises(InvalidRecord) as raised:
        SUBSCRIBED_SKUS.validate(
            {"skuId": "E3", "skuPartNumber": None, "consumedUnits": True, "prepaidUnits": {"enabled": "25"}}
        )
    assert [(problem.field, problem.reason) for problem in raised.value.problems] == [
        ("skuId", "'E3' is not a GUID"),
        ("skuPartNumber", "missing"),
        ("consumedUnits", "Input should be a valid integer, got True"),
        ("prepaidUnits.enabled", "Input should be a valid integer, got '25'"),
    ]


def test_a_long_bad_value_is_quoted_shortened() -> None:
    with pytest.raises(InvalidRecord) as raised:
        USERS.validate(_user(mail=["x" * 500]))
    (problem,) = raised.value.problems
    assert problem.reason.startswith("Input should be a valid string, got ['xxx") and problem.reason.endswith("…")
    assert len(problem.reason) < 130
