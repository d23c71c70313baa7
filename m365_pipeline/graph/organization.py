"""The tenant a client is signed in to, asked of Graph before extracting and recorded in each raw file."""

from __future__ import annotations

from dataclasses import dataclass

from m365_pipeline.entities import ORGANIZATION
from m365_pipeline.graph.client import GraphClient

_TENANT_KEYS = ("m365.tenant_id", "m365.tenant_name", "m365.tenant_domain")


@dataclass(frozen=True)
class TenantIdentity:
    tenant_id: str
    display_name: str
    default_domain: str

    def as_file_metadata(self) -> dict[str, str]:
        return dict(zip(_TENANT_KEYS, (self.tenant_id, self.display_name, self.default_domain), strict=True))


def fetch_tenant(client: GraphClient) -> TenantIdentity:
    """The tenant the client signs in to (`GET /organization` answers exactly one organization)."""
    organizations = client.get_json(ORGANIZATION.path, ORGANIZATION.params, cost=ORGANIZATION.resource_unit_cost)
    records = organizations.get("value") or []
    if len(records) != 1 or not records[0].get("id"):
        raise ValueError(f"GET {ORGANIZATION.path}: expected one organization with an id, got {len(records)}")
    organization = records[0]
    domains = organization.get("verifiedDomains") or []
    return TenantIdentity(
        tenant_id=organization["id"],
        display_name=organization.get("displayName") or "",
        default_domain=next((domain["name"] for domain in domains if domain.get("isDefault")), ""),
    )
