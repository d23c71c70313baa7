"""Raw extracts and the tenant they belong to: asked of Graph before extracting, recorded in each file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from m365_pipeline.graph.catalog import ORGANIZATION
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.extract import read_file_metadata

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


def tenant_of_file(path: Path) -> TenantIdentity:
    """The tenant a raw extract was taken from, as recorded in the file when it was written."""
    metadata = read_file_metadata(path)
    if _TENANT_KEYS[0] not in metadata:
        raise ValueError(f"{path}: the file records no tenant ({_TENANT_KEYS[0]}); extract it again")
    tenant_id, display_name, default_domain = (metadata.get(key, "") for key in _TENANT_KEYS)
    return TenantIdentity(tenant_id, display_name, default_domain)


def read_records(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return records


def duplicate_or_missing_ids(path: Path) -> tuple[list[str], int]:
    """Ids that occur more than once, and how many records have no id at all."""
    ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
    counts = Counter(ids)
    missing = counts.pop(None, 0)
    return sorted(identifier for identifier, count in counts.items() if count > 1), missing
