"""Raw extracts: a Graph collection streamed page by page into one Parquet file with the catalog's schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from m365_pipeline.graph.catalog import GraphEntity
from m365_pipeline.graph.client import GraphClient


@dataclass(frozen=True)
class ExtractResult:
    entity: str
    path: Path
    rows: int
    pages: int
    bytes: int


def extract_to_parquet(
    client: GraphClient,
    entity: GraphEntity,
    destination: Path,
    on_page: Callable[[int, int], None] | None = None,
) -> ExtractResult:
    """Write every item of ``entity`` to ``destination``; zero items still give a valid (empty) file.

    ``on_page(pages, rows)`` is told the running totals after each page (progress of a long extraction).

    The file is written beside the destination under a temporary name and renamed only once complete, so a
    failed or killed run never leaves a partial file where a complete one is expected.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.partial")
    rows = pages = 0
    try:
        with pq.ParquetWriter(partial, entity.schema) as writer:
            for page in client.iter_pages(
                entity.path, entity.params, paged=entity.paged, cost=entity.resource_unit_cost
            ):
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
    return ExtractResult(entity.name, destination, rows, pages, destination.stat().st_size)


def _record_batch(entity: GraphEntity, page: list[dict[str, object]], number: int) -> pa.RecordBatch:
    try:
        return pa.RecordBatch.from_pylist(page, schema=entity.schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(
            f"{entity.name} ({entity.path}) page {number} does not fit the catalog schema: {error}"
        ) from None
