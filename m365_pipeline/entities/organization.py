"""The tenant itself (``GET /organization``): its id, name and verified domains."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import Guid


class VerifiedDomain(GraphModel):
    graph_type = "microsoft.graph.verifiedDomain"

    name: str | None = graph_field("Domain name, e.g. contoso.onmicrosoft.com.", PiiClass.NONE)
    isDefault: bool | None = graph_field("Whether it is the tenant's default domain.", PiiClass.NONE)
    isInitial: bool | None = graph_field("Whether it is the initial *.onmicrosoft.com domain.", PiiClass.NONE)


class Organization(GraphModel):
    graph_type = "microsoft.graph.organization"

    id: Guid = graph_field("Tenant (directory) id.", PiiClass.NONE, required=True)
    displayName: str | None = graph_field("Organization display name of the tenant.", PiiClass.NONE)
    verifiedDomains: list[VerifiedDomain] | None = graph_field("Domains the tenant has verified.", PiiClass.NONE)


ORGANIZATION = EntitySpec(
    name="organization",
    path="/organization",
    model=Organization,
    permission="Organization.Read.All",
    paged=False,
)
