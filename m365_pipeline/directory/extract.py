"""Extract a tenant's directory (organization, users, subscribedSkus, groups, roles and their assignments,
authentication-method registration, conditional access policies, applications and service principals) into
the raw store as one extract.

The files are written to a private staging folder, then moved into the store under the extract's id; the
manifest, written last, makes the extract visible. A failure or a kill before that leaves nothing a load would
pick up, so a run that failed extracting users never loads the groups and SKUs it took before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from m365_pipeline.directory.delta import DELTA_RESOURCES, latest_delta_link
from m365_pipeline.directory.relations import group_relation_pages
from m365_pipeline.entities import ENTITIES, EntitySpec
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.graph.extract import OPTIONAL_PROPERTY_REFUSALS, ExtractResult, extract_to_parquet, write_pages
from m365_pipeline.graph.organization import fetch_tenant
from m365_pipeline.raw_store import ExtractManifest, RawStore, new_extract_id, sha256_of_file

logger = logging.getLogger("m365_pipeline.directory")

DIRECTORY_ENTITIES = (
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
)
# entities read per parent object (through $batch), from the parents' file of this same extract
RELATION_READERS: dict[str, tuple[str, Callable[[GraphClient, Path], Iterator[list[dict[str, Any]]]]]] = {
    "group_relations": ("groups", group_relation_pages),
}

# what identifies a record where the id alone does not: a relation's row is one (group, relation, object) pair
RECORD_KEYS = {"group_relations": ("groupId", "relation", "id")}

ProgressCallback = Callable[[str, int, int], None]  # entity, pages so far, rows so far


@dataclass(frozen=True)
class DirectoryExtract:
    manifest: ExtractManifest
    results: dict[str, ExtractResult]  # per entity: pages, dropped properties
    reused: bool  # Graph answered exactly what the newest stored extract holds: nothing new was stored


class TenantMismatchError(ValueError):
    """Graph signed us in to another directory than the tenant the run is for."""


def extract_directory(
    client: GraphClient, store: RawStore, tenant: str, on_progress: ProgressCallback | None = None
) -> DirectoryExtract:
    """Take one complete extract of ``tenant``'s directory into ``store`` and publish its manifest.

    When every file equals the newest stored extract's, byte for byte, nothing is stored and that extract is
    returned: a run that found no change leaves the store as it was. The manifest carries the users and groups
    deltaLinks taken before the first object was read, from which the incremental refresh continues.
    """
    identity = fetch_tenant(client)
    if _looks_like_guid(tenant) and identity.tenant_id.lower() != tenant.lower():
        raise TenantMismatchError(
            f"tenant {tenant}: Graph answered for directory {identity.tenant_id}; check M365_TENANT_ID"
        )
    # before anything is read: a delta round from these links replays whatever changes while the extract runs
    delta_links = {resource.name: latest_delta_link(client, resource) for resource in DELTA_RESOURCES}
    results: dict[str, ExtractResult] = {}
    with store.staging() as folder:
        for name in DIRECTORY_ENTITIES:

            def progress(pages: int, rows: int, entity: str = name) -> None:
                if on_progress is not None:
                    on_progress(entity, pages, rows)

            destination = folder / f"{name}.parquet"
            if name in RELATION_READERS:
                parents, read = RELATION_READERS[name]
                result = _relations(ENTITIES[name], read(client, folder / f"{parents}.parquet"), destination, progress)
            else:
                result = extract_to_parquet(
                    client, ENTITIES[name], destination, on_page=progress, file_metadata=identity.as_file_metadata()
                )
            results[name] = result
        digests = {name: sha256_of_file(result.path) for name, result in results.items()}
        latest = store.latest_extract(tenant)
        if latest is not None and {name: file.sha256 for name, file in latest.files.items()} == digests:
            return DirectoryExtract(latest, results, reused=True)
        extract_id = new_extract_id()
        files = {
            name: store.put(result.path, name, tenant, extract_id, sha256=digests[name])
            for name, result in results.items()
        }
    manifest = ExtractManifest(
        tenant=tenant,
        tenant_id=identity.tenant_id,
        tenant_name=identity.display_name,
        tenant_domain=identity.default_domain,
        extract_id=extract_id,
        taken_at=datetime.now(UTC).isoformat(timespec="seconds"),
        files=files,
        delta_links=delta_links,
    )
    store.publish_manifest(manifest)
    return DirectoryExtract(manifest, results, reused=False)


def _relations(
    entity: EntitySpec, pages: Iterator[list[dict[str, Any]]], destination: Path, progress: Callable[[int, int], None]
) -> ExtractResult:
    """Write a relation's pages; an optional one Graph refuses (no licence or permission) is an empty file."""
    try:
        return write_pages(entity, pages, destination, progress)
    except GraphError as error:
        if not (entity.optional and error.status == 403 and error.code in OPTIONAL_PROPERTY_REFUSALS):
            raise
        logger.warning(
            "%s: Graph refused it (HTTP 403 %s): its table stays empty; reading it needs the %s permission.",
            entity.name,
            error.code,
            entity.permission,
        )
    return write_pages(entity, iter(()), destination, progress, dropped=entity.select)


def record_key(entity: str) -> tuple[str, ...]:
    """The columns that identify one record of ``entity``'s raw file."""
    return RECORD_KEYS.get(entity, ("id",))


def duplicate_or_missing_keys(store: RawStore, path: str, key: tuple[str, ...]) -> tuple[list[str], int]:
    """Keys (``|``-joined) that occur more than once in the raw file at ``path``, and how many records lack one
    of their parts (counted in Arrow, not in Python)."""
    parts = [store.read_arrow_column(path, column) for column in key]
    ids = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "|")
    missing = ids.null_count
    counts = pc.value_counts(ids.drop_null())
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    return sorted(repeated.to_pylist()), missing


def _looks_like_guid(text: str) -> bool:
    parts = text.split("-")
    return [len(part) for part in parts] == [8, 4, 4, 4, 12] and all(
        all(char in "0123456789abcdefABCDEF" for char in part) for part in parts
    )
