"""One spec per Graph entity: the declaration its `$select`, raw Arrow schema, validation and column catalog come
from (see `spec`). Adding an entity is one module here, its warehouse table and its test."""

from m365_pipeline.entities.groups import GROUPS
from m365_pipeline.entities.organization import ORGANIZATION
from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, InvalidRecord, Problem, RawColumn
from m365_pipeline.entities.subscribed_skus import SUBSCRIBED_SKUS
from m365_pipeline.entities.users import USERS

ENTITIES: dict[str, EntitySpec] = {entity.name: entity for entity in (ORGANIZATION, USERS, SUBSCRIBED_SKUS, GROUPS)}

__all__ = [
    "ENTITIES",
    "GROUPS",
    "ORGANIZATION",
    "SUBSCRIBED_SKUS",
    "USERS",
    "EntitySpec",
    "InvalidRecord",
    "PiiClass",
    "Problem",
    "RawColumn",
]
