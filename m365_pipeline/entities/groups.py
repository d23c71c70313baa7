"""Groups (``GET /groups``): Microsoft 365, security, mail-enabled security, distribution and dynamic groups."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import GraphTimestamp, Guid


class Group(GraphModel):
    graph_type = "microsoft.graph.group"

    id: Guid = graph_field("Object id of the group.", PiiClass.NONE, required=True)
    displayName: str | None = graph_field("Name of the group.", PiiClass.NONE)
    description: str | None = graph_field("Description of the group.", PiiClass.NONE)
    mail: str | None = graph_field("SMTP address of the group.", PiiClass.NONE)
    mailEnabled: bool = graph_field("Whether the group is mail-enabled.", PiiClass.NONE, required=True)
    mailNickname: str | None = graph_field("Mail alias of the group.", PiiClass.NONE)
    securityEnabled: bool = graph_field("Whether the group is a security group.", PiiClass.NONE, required=True)
    groupTypes: list[str] | None = graph_field("Unified (Microsoft 365 group), DynamicMembership.", PiiClass.NONE)
    visibility: str | None = graph_field("Public, Private or HiddenMembership.", PiiClass.NONE)
    createdDateTime: GraphTimestamp = graph_field("When the group was created.", PiiClass.NONE)
    membershipRule: str | None = graph_field("Rule of a dynamic group; null otherwise.", PiiClass.NONE)
    onPremisesSyncEnabled: bool | None = graph_field(
        "True when synced from on-premises Active Directory; null when never synced.", PiiClass.NONE
    )


GROUPS = EntitySpec(name="groups", path="/groups", model=Group, permission="Group.Read.All")
