"""The inbox folder for legacy files: which files are in it, whose they are, and when they are ready.

With one tenant configured every `*.csv` under the inbox is that tenant's; with several, a file must be under a
subfolder named after its tenant (`<inbox>/<tenant id>/...`). A file is ready when it was seen twice with the same
size and modification time (a copy still being written is not migrated half-way); its content hash is computed
once and remembered with that stamp, so a watched inbox is not read again at every look.

A file's identity is `partition_key(tenant, sha256)`: the same content dropped again (under any name) is the same
key; a changed file is a new one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from m365_pipeline.legacy.load import file_digest, legacy_csv_files

_SEPARATOR = "."  # a tenant id (GUID or domain) may hold dots; a SHA-256 in hex never does


@dataclass(frozen=True)
class InboxFile:
    tenant_id: str
    path: Path
    sha256: str

    @property
    def partition_key(self) -> str:
        return partition_key(self.tenant_id, self.sha256)


# relative path -> [size, modification time in ns, sha256 or None until the file is ready]
Stamps = dict[str, list[object]]


def partition_key(tenant_id: str, sha256: str) -> str:
    return f"{tenant_id}{_SEPARATOR}{sha256}"


def parse_partition_key(key: str) -> tuple[str, str]:
    """(tenant id, sha256) of a legacy file's partition key."""
    tenant_id, _, sha256 = key.rpartition(_SEPARATOR)
    if not tenant_id or len(sha256) != 64:
        raise ValueError(f"'{key}' is not a legacy file's partition key (<tenant id>.<sha256>)")
    return tenant_id, sha256


def _files(inbox: Path, tenants: Sequence[str]) -> Iterator[tuple[str | None, Path]]:
    """Every CSV file of the inbox with its tenant (None: with several tenants, a file outside their subfolders)."""
    if not inbox.is_dir():
        return
    for path in legacy_csv_files([inbox]):
        if len(tenants) == 1:
            yield tenants[0], path
            continue
        parts = path.relative_to(inbox).parts
        yield (parts[0] if parts[0] in tenants and len(parts) > 1 else None), path


@dataclass(frozen=True)
class InboxScan:
    ready: list[InboxFile]
    stamps: Stamps  # to remember for the next look
    unowned: list[Path]  # with several tenants, files outside the tenants' subfolders: never migrated


def scan_inbox(inbox: Path, tenants: Sequence[str], previous: Mapping[str, list[object]]) -> InboxScan:
    """The ready files of the inbox, the stamps to remember for the next look, and the files nobody owns."""
    ready: list[InboxFile] = []
    stamps: Stamps = {}
    unowned: list[Path] = []
    for tenant_id, path in _files(inbox, tenants):
        if tenant_id is None:
            unowned.append(path)
            continue
        relative = path.relative_to(inbox).as_posix()
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while listed
            continue
        seen = previous.get(relative)
        if seen is None or seen[:2] != [stat.st_size, stat.st_mtime_ns]:
            stamps[relative] = [stat.st_size, stat.st_mtime_ns, None]  # new or still changing: look again later
            continue
        sha256 = seen[2] if isinstance(seen[2], str) else file_digest(path)[0]
        stamps[relative] = [stat.st_size, stat.st_mtime_ns, sha256]
        ready.append(InboxFile(tenant_id, path, sha256))
    return InboxScan(ready, stamps, unowned)


def find_in_inbox(inbox: Path, tenants: Sequence[str], tenant_id: str, sha256: str) -> Path | None:
    """The inbox file of `tenant_id` with this content, hashing the files (when a run was not told the path)."""
    for owner, path in _files(inbox, tenants):
        if owner == tenant_id and file_digest(path)[0] == sha256:
            return path
    return None
