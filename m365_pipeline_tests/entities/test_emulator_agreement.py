"""The emulator serves what the specs select: every selected property exists in the emulator's declared properties
with a compatible OData type, and every object of a generated tenant validates against its spec's model."""

from __future__ import annotations

import types
from datetime import datetime
from typing import Annotated, Any, Union, get_args, get_origin

import pytest

from m365_pipeline.emulator.tenant import (
    APPLICATION_PROPERTIES,
    CONDITIONAL_ACCESS_POLICY_PROPERTIES,
    DIRECTORY_ROLE_PROPERTIES,
    GROUP_PROPERTIES,
    ORGANIZATION_PROPERTIES,
    ROLE_ASSIGNMENT_PROPERTIES,
    SERVICE_PRINCIPAL_PROPERTIES,
    SUBSCRIBED_SKU_PROPERTIES,
    USER_PROPERTIES,
    USER_REGISTRATION_DETAILS_PROPERTIES,
    SyntheticTenant,
    generate_tenant,
)
from m365_pipeline.entities import (
    APPLICATIONS,
    CONDITIONAL_ACCESS_POLICIES,
    ENTITIES,
    GROUPS,
    ORGANIZATION,
    SERVICE_PRINCIPALS,
    SUBSCRIBED_SKUS,
    USERS,
    EntitySpec,
)
from m365_pipeline.entities.spec import GraphModel
from m365_pipeline.entities.types import Guid

EMULATOR_PROPERTIES = {
    "organization": ORGANIZATION_PROPERTIES,
    "users": USER_PROPERTIES,
    "subscribed_skus": SUBSCRIBED_SKU_PROPERTIES,
    "groups": GROUP_PROPERTIES,
    "directory_roles": DIRECTORY_ROLE_PROPERTIES,
    "role_assignments": ROLE_ASSIGNMENT_PROPERTIES,
    "user_registration_details": USER_REGISTRATION_DETAILS_PROPERTIES,
    "conditional_access_policies": CONDITIONAL_ACCESS_POLICY_PROPERTIES,
    "applications": APPLICATION_PROPERTIES,
    "service_principals": SERVICE_PRINCIPAL_PROPERTIES,
}
# Graph's enumerations arrive as their member names: text in the raw extract
ENUMERATIONS = {
    "microsoft.graph.signInUserType",
    "microsoft.graph.userDefaultAuthenticationMethodType",
    "microsoft.graph.conditionalAccessPolicyState",
}
_GUID_METADATA = get_args(Guid)[1:]


def odata_types(annotation: Any, metadata: tuple[Any, ...] = ()) -> set[str]:
    """The OData types a property read as ``annotation`` may be declared with."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return odata_types(base, tuple(extra))
    if origin in (Union, types.UnionType):
        (present,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return odata_types(present, metadata)
    if origin is list:
        (item,) = get_args(annotation)
        return {f"Collection({name})" for name in odata_types(item)}
    if isinstance(annotation, type) and issubclass(annotation, GraphModel):
        return {annotation.graph_type}
    if annotation is datetime:
        return {"Edm.DateTimeOffset"}
    if annotation is str:
        # directory object ids are Edm.String in Graph's metadata, other GUIDs Edm.Guid
        return {"Edm.Guid", "Edm.String"} if metadata == _GUID_METADATA else {"Edm.String"}
    return {bool: {"Edm.Boolean"}, int: {"Edm.Int32", "Edm.Int64"}}[annotation]


@pytest.fixture(scope="module")
def tenant() -> SyntheticTenant:
    return generate_tenant(23, 400)


RELATIONS = {"group_relations"}  # rows made from relation answers, not Graph objects


def test_every_entity_is_checked() -> None:
    assert set(EMULATOR_PROPERTIES) == set(ENTITIES) - RELATIONS


@pytest.mark.parametrize("name", sorted(set(ENTITIES) - RELATIONS))
def test_every_selected_property_is_served_with_a_compatible_type(name: str) -> None:
    entity, served = ENTITIES[name], EMULATOR_PROPERTIES[name]
    assert set(entity.select) <= set(served), f"not served: {set(entity.select) - set(served)}"
    for property_name in entity.select:
        field = entity.model.model_fields[property_name]
        compatible = odata_types(field.annotation, tuple(field.metadata))
        if served[property_name] in ENUMERATIONS:
            compatible = compatible | ENUMERATIONS
        assert served[property_name] in compatible, (property_name, served[property_name], compatible)


def test_the_odata_types_of_the_users_spec() -> None:
    fields = USERS.model.model_fields
    assert odata_types(fields["id"].annotation, tuple(fields["id"].metadata)) == {"Edm.Guid", "Edm.String"}
    assert odata_types(fields["createdDateTime"].annotation) == {"Edm.DateTimeOffset"}
    assert odata_types(fields["assignedLicenses"].annotation) == {"Collection(microsoft.graph.assignedLicense)"}
    assert odata_types(fields["businessPhones"].annotation) == {"Collection(Edm.String)"}


@pytest.mark.parametrize(
    ("entity", "objects"),
    [
        (ORGANIZATION, lambda tenant: [tenant.organization]),
        (USERS, lambda tenant: tenant.users),
        (SUBSCRIBED_SKUS, lambda tenant: tenant.skus),
        (GROUPS, lambda tenant: tenant.groups),
        (APPLICATIONS, lambda tenant: tenant.applications),
        (SERVICE_PRINCIPALS, lambda tenant: tenant.service_principals),
        (CONDITIONAL_ACCESS_POLICIES, lambda tenant: tenant.conditional_access_policies),
    ],
    ids=lambda value: value.name if isinstance(value, EntitySpec) else "",
)
def test_every_generated_object_validates(entity: EntitySpec, objects: Any, tenant: SyntheticTenant) -> None:
    generated = objects(tenant)
    assert generated
    for record in generated:
        entity.validate(record)  # raises InvalidRecord naming the field paths of any problem
    assert all(set(entity.select) <= set(record) for record in generated)
