"""Per-object relations, read with one request per parent (through ``$batch``), stored one row per pair:
group memberships (direct and transitive) and owners (``/groups/{id}/members|transitiveMembers|owners``)."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import Guid, RequiredText


class GroupRelation(GraphModel):
    graph_type = "microsoft.graph.directoryObject"

    groupId: Guid = graph_field("Object id of the group.", PiiClass.NONE, required=True)
    relation: RequiredText = graph_field("members, transitiveMembers or owners.", PiiClass.NONE, required=True)
    id: Guid = graph_field("Object id of the member or owner.", PiiClass.QUASI, required=True)
    odataType: str | None = graph_field("Graph type of the member, e.g. #microsoft.graph.user.", PiiClass.NONE)


GROUP_RELATIONS = EntitySpec(
    name="group_relations",
    path="/groups/{id}/members",
    model=GroupRelation,
    permission="GroupMember.Read.All",
    resource_unit_cost=3,
)

RELATION_COSTS = {"members": 3, "transitiveMembers": 5, "owners": 1}
