"""One spec per Graph entity: the declaration its `$select`, raw Arrow schema, validation and column catalog come
from (see `spec`). Adding an entity is one module here, its warehouse table and its test."""

from m365_pipeline.entities.applications import APPLICATIONS, SERVICE_PRINCIPALS
from m365_pipeline.entities.groups import GROUPS
from m365_pipeline.entities.organization import ORGANIZATION
from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.relations import GROUP_RELATIONS
from m365_pipeline.entities.roles import DIRECTORY_ROLES, ROLE_ASSIGNMENTS
from m365_pipeline.entities.security import CONDITIONAL_ACCESS_POLICIES, USER_REGISTRATION_DETAILS
from m365_pipeline.entities.spec import EntitySpec, InvalidRecord, Problem, RawColumn
from m365_pipeline.entities.subscribed_skus import SUBSCRIBED_SKUS
from m365_pipeline.entities.users import USERS

ENTITIES: dict[str, EntitySpec] = {
    entity.name: entity
    for entity in (
        ORGANIZATION,
        USERS,
        SUBSCRIBED_SKUS,
        GROUPS,
        DIRECTORY_ROLES,
        ROLE_ASSIGNMENTS,
        USER_REGISTRATION_DETAILS,
        CONDITIONAL_ACCESS_POLICIES,
        APPLICATIONS,
        SERVICE_PRINCIPALS,
        GROUP_RELATIONS,
    )
}

__all__ = [
    "APPLICATIONS",
    "CONDITIONAL_ACCESS_POLICIES",
    "DIRECTORY_ROLES",
    "ENTITIES",
    "GROUPS",
    "GROUP_RELATIONS",
    "ORGANIZATION",
    "ROLE_ASSIGNMENTS",
    "SERVICE_PRINCIPALS",
    "SUBSCRIBED_SKUS",
    "USERS",
    "USER_REGISTRATION_DETAILS",
    "EntitySpec",
    "InvalidRecord",
    "PiiClass",
    "Problem",
    "RawColumn",
]
