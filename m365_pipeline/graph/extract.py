"""Raw extracts: a Graph collection streamed page by page into one Parquet file with its entity spec's schema."""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from m365_pipeline.entities import EntitySpec
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError

logger = logging.getLogger("m365_pipeline.graph")

# Graph's 403 codes that refuse an entity's optional properties (and with them the whole request), and why
OPTIONAL_PROPERTY_REFUSALS = {
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant": "the tenant has no Microsoft Entra ID P1/P2 licence",
    "Authorization_RequestDenied": "the app is missing a permission they need",
}
# Schema metadata that pyarrow and pandas write themselves; file_metadata may not use these keys
_RESERVED_METADATA_PREFIXES = ("ARROW:", "pandas")


@dataclass(frozen=True)
class ExtractResult:
    entity: str
    path: Path
    rows: int
    pages: int
    bytes: int
    dropped_properties: tuple[str, ...] = ()  # optional properties Graph refused: null in every row (an optional
    # entity Graph refused altogether: all of them, and no rows)


def extract_to_parquet(
    client: GraphClient,
    entity: EntitySpec,
    destination: Path,
    on_page: Callable[[int, int], None] | None = None,
    *,
    file_metadata: Mapping[str, str] | None = None,
) -> ExtractResult:
    """Write every item of ``entity`` to ``destination``; zero items still give a valid (empty) file.

    ``on_page(pages, rows)`` is told the running totals after each page (progress of a long extraction).
    ``file_metadata`` is stored in the file's schema metadata; ``read_file_metadata`` gives it back.

    When Graph refuses the first request because of the entity's optional properties (no Entra ID P1/P2
    licence, or the app lacks ``optional_permission``), one warning is logged and the extraction runs again
    without them: their columns stay null and ``dropped_properties`` names them. Any other error fails at once.

    The file is written beside the destination under a temporary name and renamed only once complete, so a
    failed or killed run never leaves a partial file where a complete one is expected.
    """
    _with_file_metadata(entity.arrow_schema, file_metadata or {})  # refused before any request is made
    all_pages, dropped = _pages(client, entity)
    return write_pages(entity, all_pages, destination, on_page, file_metadata=file_metadata, dropped=dropped)


def write_pages(
    entity: EntitySpec,
    all_pages: Iterable[list[dict[str, Any]]],
    destination: Path,
    on_page: Callable[[int, int], None] | None = None,
    *,
    file_metadata: Mapping[str, str] | None = None,
    dropped: tuple[str, ...] = (),
) -> ExtractResult:
    """Write ``all_pages`` (records of ``entity``, however they were read) to ``destination`` as
    ``extract_to_parquet`` does: page by page, renamed into place only once complete."""
    schema = _with_file_metadata(entity.arrow_schema, file_metadata or {})
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.partial")
    rows = pages = 0
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            for page in all_pages:
                pages += 1
                if page:
                    writer.write_batch(_record_batch(entity, page, pages))
                    rows += len(page)
                if on_page is not None:
                    on_page(pages, rows)
        os.replace(partial, destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExtractResult(entity.name, destination, rows, pages, destination.stat().st_size, dropped)


def read_file_metadata(path: Path) -> dict[str, str]:
    """The ``file_metadata`` an extract was written with (without pyarrow's and pandas' own keys)."""
    stored = pq.read_metadata(path).metadata or {}
    metadata = {key.decode(): value.decode() for key, value in stored.items()}
    return {key: value for key, value in metadata.items() if not key.startswith(_RESERVED_METADATA_PREFIXES)}


def _pages(client: GraphClient, entity: EntitySpec) -> tuple[Iterator[list[dict[str, Any]]], tuple[str, ...]]:
    """The entity's pages (the first already fetched), and the optional properties left out of them."""
    try:
        return _started(_iter_pages(client, entity, entity.params)), ()
    except GraphError as error:
        refused = error.status == 403 and error.code in OPTIONAL_PROPERTY_REFUSALS
        if entity.optional and refused:
            logger.warning(
                "%s: Graph refused it (HTTP 403 %s: %s): %s. Its table stays empty; reading it needs a Microsoft "
                "Entra ID P1/P2 licence and the %s permission.",
                entity.name,
                error.code,
                error.message,
                OPTIONAL_PROPERTY_REFUSALS[error.code],
                entity.permission,
            )
            return iter(()), entity.select
        if not (entity.optional_select and refused):
            raise
        refusal = error
    pages = _started(_iter_pages(client, entity, entity.params_without_optional))
    permission = f" and the {entity.optional_permission} permission" if entity.optional_permission else ""
    logger.warning(
        "%s: leaving out %s, which Graph refused (HTTP 403 %s: %s): %s. Those columns stay empty; reading them "
        "needs a Microsoft Entra ID P1/P2 licence%s.",
        entity.name,
        ", ".join(entity.optional_select),
        refusal.code,
        refusal.message,
        OPTIONAL_PROPERTY_REFUSALS[refusal.code],
        permission,
    )
    return pages, entity.optional_select


def _iter_pages(client: GraphClient, entity: EntitySpec, params: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
    return client.iter_pages(entity.path, params, paged=entity.paged, cost=entity.resource_unit_cost)


def _started(pages: Iterator[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    """``pages`` with its first page requested now, so that a refusal of the request is raised here."""
    first = next(pages)
    return itertools.chain((first,), pages)


def _with_file_metadata(schema: pa.Schema, file_metadata: Mapping[str, str]) -> pa.Schema:
    reserved = sorted(key for key in file_metadata if key.startswith(_RESERVED_METADATA_PREFIXES))
    if reserved:
        raise ValueError(f"file_metadata keys {reserved} are reserved for pyarrow and pandas")
    if not file_metadata:
        return schema
    merged = dict(schema.metadata or {})
    merged.update({key.encode(): value.encode() for key, value in file_metadata.items()})
    return schema.with_metadata(merged)


def _record_batch(entity: EntitySpec, page: list[dict[str, object]], number: int) -> pa.RecordBatch:
    try:
        return pa.RecordBatch.from_pylist(page, schema=entity.arrow_schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(
            f"{entity.name} ({entity.path}) page {number} does not fit the entity's Arrow schema: {error}"
        ) from None
