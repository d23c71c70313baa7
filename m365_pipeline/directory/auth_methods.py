"""Each user's registered authentication methods (``GET /users/{id}/authentication/methods``) into the raw store,
for every user of the tenant's newest directory extract, through ``$batch``.

Graph has no list of every user's methods: it is one request per user (1 resource unit each), 20 to a batch, so
20,000 users are 1,000 batches and at least ~15 s of a large tenant's identity budget. Microsoft steers audits of a
whole population to the registration report (which the directory extract reads), so this extraction is opt-in: a
job of its own, not part of ``main``.

- The users are the ``id`` column of the newest directory extract's users file, read a batch at a time; the raw
  file records which extract that was.
- Answers settle in any order (the batch client matches them by id and retries each throttled one on its own
  Retry-After); a user deleted since the directory extract (inner 404) is counted, not an error; a refusal (403:
  the app lacks UserAuthenticationMethod.Read.All) fails naming the permission.
- Rows are written as answers arrive, a record batch at a time, to a staging file that replaces the tenant's
  previous raw file whole once complete: a run killed midway leaves the previous file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from m365_pipeline.directory.relations import answer_pages
from m365_pipeline.entities.auth_methods import USER_AUTHENTICATION_METHODS
from m365_pipeline.graph.batch import BatchClient, BatchRequest, BatchResponse
from m365_pipeline.graph.client import GraphClient
from m365_pipeline.graph.errors import GraphError
from m365_pipeline.graph.organization import fetch_tenant
from m365_pipeline.raw_store import ExtractManifest, RawStore, StoredFile

logger = logging.getLogger("m365_pipeline.directory")

SNAPSHOT = "current"  # the raw file's partition: each extraction replaces the tenant's previous one
DIRECTORY_EXTRACT_KEY = "m365.directory_extract_id"
USERS_ASKED_KEY = "m365.users_asked"
USERS_NOT_FOUND_KEY = "m365.users_not_found"
EXTRACTED_AT_KEY = "m365.extracted_at"
WRITE_BATCH_ROWS = 5_000
USER_ID_BATCH_ROWS = 1_000

ProgressCallback = Callable[[int, int], None]  # users answered so far, methods so far


class NoDirectoryExtractError(FileNotFoundError):
    """The tenant has no directory extract to take the users from."""


@dataclass(frozen=True)
class MethodsExtract:
    stored: StoredFile
    directory_extract_id: str
    users_asked: int
    users_not_found: int  # deleted since the directory extract (Graph answered 404)

    @property
    def methods(self) -> int:
        return self.stored.rows


def extract_authentication_methods(
    client: GraphClient,
    store: RawStore,
    tenant: str,
    *,
    concurrency: int = 4,
    on_progress: ProgressCallback | None = None,
) -> MethodsExtract:
    """Store the methods of every user of ``tenant``'s newest directory extract (see the module docstring)."""
    manifest = store.latest_extract(tenant)
    if manifest is None:
        raise NoDirectoryExtractError(f"tenant {tenant}: no directory extract in the raw store; extract it first")
    identity = fetch_tenant(client)
    if identity.tenant_id.lower() != manifest.tenant_id.lower():
        raise ValueError(
            f"tenant {tenant}: Graph answered for directory {identity.tenant_id}, the directory extract "
            f"{manifest.extract_id} is of {manifest.tenant_id}"
        )
    counts = {"asked": 0, "not_found": 0, "answered": 0, "methods": 0}

    def requests() -> Iterator[BatchRequest]:
        for user_id in directory_user_ids(store, manifest):
            counts["asked"] += 1
            yield BatchRequest(user_id, USER_AUTHENTICATION_METHODS.path.format(id=user_id))

    with store.staging() as folder:
        local = folder / f"{USER_AUTHENTICATION_METHODS.name}.parquet"
        with pq.ParquetWriter(local, USER_AUTHENTICATION_METHODS.arrow_schema) as writer:
            held: list[dict[str, Any]] = []
            for answer in BatchClient(client, concurrency=concurrency).run(requests()):
                if answer.status == 404:
                    counts["not_found"] += 1
                    logger.info("user %s: deleted since the directory extract (404), no methods", answer.key)
                    continue
                held += _rows(client, answer)
                counts["answered"] += 1
                if len(held) >= WRITE_BATCH_ROWS:
                    counts["methods"] += _write(writer, held)
                    held = []
                if on_progress is not None:
                    on_progress(counts["answered"], counts["methods"] + len(held))
            counts["methods"] += _write(writer, held)
        finished = _with_metadata(local, folder, identity.as_file_metadata(), manifest, counts)
        stored = store.put(finished, USER_AUTHENTICATION_METHODS.name, tenant, SNAPSHOT)
    return MethodsExtract(stored, manifest.extract_id, counts["asked"], counts["not_found"])


def directory_user_ids(store: RawStore, manifest: ExtractManifest) -> Iterator[str]:
    """The ids of the directory extract's users, read a batch at a time."""
    users = manifest.files["users"].path
    for batch in store.iter_record_batches(users, batch_rows=USER_ID_BATCH_ROWS):
        yield from (str(record["id"]) for record in batch if record.get("id"))


def _rows(client: GraphClient, answer: BatchResponse) -> list[dict[str, Any]]:
    try:
        pages = list(answer_pages(client, answer))
    except GraphError as error:
        if error.status == 403:
            raise GraphError(
                error.status,
                error.code,
                f"{error.message} (reading users' authentication methods needs the application permission "
                f"{USER_AUTHENTICATION_METHODS.permission})",
                url=USER_AUTHENTICATION_METHODS.path.format(id=answer.key),
            ) from None
        raise
    return [
        {**method, "userId": answer.key, "odataType": method.get("@odata.type")} for page in pages for method in page
    ]


def _write(writer: pq.ParquetWriter, rows: list[dict[str, Any]]) -> int:
    if rows:
        writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=USER_AUTHENTICATION_METHODS.arrow_schema))
    return len(rows)


def _with_metadata(
    local: Path, folder: Path, identity: dict[str, str], manifest: ExtractManifest, counts: dict[str, int]
) -> Path:
    """The file again with its provenance in the footer (known only once every user was answered); Parquet's
    metadata is written with the footer, so the rows are copied a row group at a time, never all in memory."""
    metadata = {
        **identity,
        DIRECTORY_EXTRACT_KEY: manifest.extract_id,
        USERS_ASKED_KEY: str(counts["asked"]),
        USERS_NOT_FOUND_KEY: str(counts["not_found"]),
        EXTRACTED_AT_KEY: datetime.now(UTC).isoformat(timespec="seconds"),
    }
    schema = USER_AUTHENTICATION_METHODS.arrow_schema.with_metadata(
        {key.encode(): value.encode() for key, value in metadata.items()}
    )
    finished = folder / f"{USER_AUTHENTICATION_METHODS.name}.final.parquet"
    source = pq.ParquetFile(local)
    with pq.ParquetWriter(finished, schema) as writer:
        for group in range(source.num_row_groups):
            writer.write_table(source.read_row_group(group).cast(schema))
    return finished
