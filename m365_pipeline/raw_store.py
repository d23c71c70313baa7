"""Where raw extracts live: one store over a local folder or an ``s3://bucket/prefix`` URL (pyarrow.fs).

The store, not Dagster, knows where data is, so any asset can be materialized alone from what the store holds,
on this machine or on another one reading the same bucket. Under the root:

    <entity>/tenant=<tenant>/<partition>.parquet     one file per entity, tenant and partition
    _extracts/tenant=<tenant>/<extract id>.json      the manifest of a directory extract, written last

A directory extract (organization, users, subscribedSkus, groups taken together) is one partition per entity
named by its extract id, and becomes visible only when its manifest is written: an extract whose run died
halfway has no manifest and is never loaded. Extract ids sort by the time they were taken.

A file is written beside its final place under a temporary name (a local folder) or uploaded whole (S3, whose
PUT is atomic), so no reader ever sees half a file. Temporary files of processes that died are removed by
``remove_abandoned``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from m365_pipeline.liveness import process_alive, remove_abandoned_temporaries, temporary_sibling
from m365_pipeline.object_store import s3_filesystem

MANIFESTS = "_extracts"
STAGING = ".staging"
READ_BATCH_ROWS = 10_000


def new_extract_id(at: datetime | None = None) -> str:
    """A fresh extract id that sorts by time: ``20261202T114501123456Z-1a2b3c4d``."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class StoredFile:
    entity: str
    path: str  # inside the store's filesystem
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ExtractManifest:
    """A complete directory extract of one tenant: its files and the tenant it came from."""

    tenant: str  # the tenant as configured (partition key)
    tenant_id: str  # the directory (organization) id Graph answered with
    tenant_name: str
    tenant_domain: str
    extract_id: str
    taken_at: str  # ISO 8601 UTC
    files: dict[str, StoredFile]
    # per delta-tracked collection (users, groups), a deltaLink taken before the extract began: a delta round
    # from it replays every change the extract might have missed (not part of the digest)
    delta_links: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """One hash of the content of every file: equal digests mean equal extracts."""
        joined = "\n".join(f"{name}:{self.files[name].sha256}" for name in sorted(self.files))
        return hashlib.sha256(joined.encode()).hexdigest()

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> ExtractManifest:
        try:
            data = json.loads(text)
            files = {name: StoredFile(**entry) for name, entry in data.pop("files").items()}
            return cls(files=files, **data)
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{where}: not an extract manifest ({error})") from None


class RawStore:
    """The raw extracts under ``root`` (a folder or ``s3://bucket/prefix``)."""

    def __init__(self, root: str, *, s3_endpoint_url: str | None = None) -> None:
        self.root = root
        if root.startswith("s3://"):
            self._fs: pafs.FileSystem = s3_filesystem(s3_endpoint_url)
            self._base = root.removeprefix("s3://").rstrip("/")
            self._local = False
        else:
            self._fs = pafs.LocalFileSystem()
            self._base = str(Path(root).resolve())
            self._local = True

    def path(self, entity: str, tenant: str, partition: str) -> str:
        return f"{self._base}/{entity}/tenant={tenant}/{partition}.parquet"

    def uri(self, path: str) -> str:
        return Path(path).as_uri() if self._local else f"s3://{path}"

    def location(self, path: str) -> str:
        """Where a stored file is, as a person would type it: a local path, or an s3:// URL."""
        return path if self._local else f"s3://{path}"

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A private local folder to write files in before ``put`` moves them into the store."""
        if self._local:
            parent = Path(self._base) / STAGING
            parent.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=f"{socket.gethostname()}-{os.getpid()}-", dir=parent))
        else:
            folder = Path(tempfile.mkdtemp(prefix="m365-raw-"))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def put(
        self, local_file: Path, entity: str, tenant: str, partition: str, *, sha256: str | None = None
    ) -> StoredFile:
        """Move a finished local Parquet file into the store at ``path(entity, tenant, partition)``; ``sha256``
        is the file's digest when the caller has it already."""
        destination = self.path(entity, tenant, partition)
        rows = pq.read_metadata(local_file).num_rows
        size = local_file.stat().st_size
        digest = sha256 or sha256_of_file(local_file)
        self._fs.create_dir(destination.rsplit("/", 1)[0], recursive=True)
        if self._local:
            os.replace(local_file, destination)
        else:
            pafs.copy_files(str(local_file), destination, destination_filesystem=self._fs)
        return StoredFile(entity, destination, rows, size, digest)

    def publish_manifest(self, manifest: ExtractManifest) -> str:
        """Make an extract visible: its files must all be in place already."""
        path = f"{self._base}/{MANIFESTS}/tenant={manifest.tenant}/{manifest.extract_id}.json"
        self._fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        self._write_whole(path, manifest.to_json().encode())
        return path

    def latest_extract(self, tenant: str) -> ExtractManifest | None:
        """The newest complete directory extract of ``tenant``; None when there is none yet."""
        folder = f"{self._base}/{MANIFESTS}/tenant={tenant}"
        selector = pafs.FileSelector(folder, allow_not_found=True)
        names = sorted(
            info.path for info in self._fs.get_file_info(selector) if info.path.endswith(".json") and info.is_file
        )
        if not names:
            return None
        with self._fs.open_input_stream(names[-1]) as stream:
            return ExtractManifest.from_json(stream.read().decode(), names[-1])

    def iter_record_batches(self, path: str, batch_rows: int = READ_BATCH_ROWS) -> Iterator[list[dict[str, Any]]]:
        """The records of a stored Parquet file, ``batch_rows`` at a time (never the whole file in memory)."""
        with self._fs.open_input_file(path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows):
                yield batch.to_pylist()

    def partitions(self, entity: str, tenant: str) -> list[str]:
        """The partitions of ``entity`` the store holds for ``tenant``, sorted."""
        selector = pafs.FileSelector(f"{self._base}/{entity}/tenant={tenant}", allow_not_found=True)
        names = [info.base_name for info in self._fs.get_file_info(selector) if info.is_file]
        return sorted(name.removesuffix(".parquet") for name in names if name.endswith(".parquet"))

    def exists(self, path: str) -> bool:
        return self._fs.get_file_info(path).type == pafs.FileType.File

    def file_metadata(self, path: str) -> dict[str, str]:
        """The key-value metadata a stored Parquet file was written with (pyarrow's own ``ARROW:`` keys left out)."""
        with self._fs.open_input_file(path) as handle:
            stored = pq.read_metadata(handle).metadata or {}
        pairs = {key.decode(): value.decode() for key, value in stored.items()}
        return {key: value for key, value in pairs.items() if not key.startswith("ARROW:")}

    def sha256(self, path: str) -> str:
        digest = hashlib.sha256()
        with self._fs.open_input_stream(path) as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()

    def read_arrow_column(self, path: str, column: str) -> pa.ChunkedArray:
        """One column of a stored file, in Arrow memory (a few bytes per value, no Python objects)."""
        with self._fs.open_input_file(path) as handle:
            return pq.read_table(handle, columns=[column]).column(column)

    def remove_abandoned(self, tenant: str) -> list[str]:
        """Remove what processes of this host that died left behind: staging folders, and the half-written
        manifest of ``tenant``; returns them."""
        if not self._local:
            return []
        manifests = Path(f"{self._base}/{MANIFESTS}/tenant={tenant}")
        removed = [str(path) for path in remove_abandoned_temporaries(manifests)]
        parent = Path(self._base) / STAGING
        host = socket.gethostname()
        for folder in parent.glob(f"{host}-*-*") if parent.is_dir() else ():
            pid = folder.name.removeprefix(f"{host}-").split("-", 1)[0]
            if pid.isdigit() and not process_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
        return removed

    def _write_whole(self, path: str, content: bytes) -> None:
        if self._local:
            temporary = temporary_sibling(Path(path))
            try:
                with temporary.open("xb") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
            return
        with self._fs.open_output_stream(path) as stream:
            stream.write(content)


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
