"""Reading raw extracts back: records, duplicate ids, and the tenant an extract came from."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


@dataclass(frozen=True)
class TenantIdentity:
    tenant_id: str
    display_name: str
    default_domain: str


def read_records(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return records


def duplicate_or_missing_ids(path: Path) -> tuple[list[str], int]:
    """Ids that occur more than once, and how many records have no id at all."""
    ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
    counts = Counter(ids)
    missing = counts.pop(None, 0)
    return sorted(identifier for identifier, count in counts.items() if count > 1), missing


def tenant_identity(organization_path: Path) -> TenantIdentity:
    """The tenant of an `organization` extract: Graph answers exactly one organization per tenant."""
    records = read_records(organization_path)
    if len(records) != 1 or not records[0].get("id"):
        raise ValueError(f"{organization_path}: expected one organization with an id, found {len(records)} records")
    organization = records[0]
    domains = organization.get("verifiedDomains") or []
    default = next((domain["name"] for domain in domains if domain.get("isDefault")), "")
    return TenantIdentity(
        tenant_id=organization["id"],
        display_name=organization.get("displayName") or "",
        default_domain=default,
    )
