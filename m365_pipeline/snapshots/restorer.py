"""Restoring files of a snapshot into a target folder.

It never writes outside the target (every path is checked, and the resolved destination must be inside the
resolved target), refuses to replace an existing file unless ``force``, writes each file beside its destination
under a temporary name and renames it only once its size and SHA-256 match the manifest, so a failed restore
leaves no half file under a real name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from m365_pipeline.liveness import temporary_sibling
from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.blobs import load_blobs
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import FileEntry, UnsafePath, safe_relative_path


class RestoreRefused(FileExistsError):
    pass


def destination(target: Path, entry: FileEntry) -> Path:
    """Where ``entry`` goes under ``target``; ``UnsafePath`` if that would be outside it."""
    relative = safe_relative_path(entry.path)
    root = target.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path == root:
        raise UnsafePath(f"{entry.path!r} resolves outside the restore target {target}")
    return path


def restore_files(
    backend: Backend,
    keys: RepositoryKeys,
    index: Index,
    entries: Iterable[FileEntry],
    target: Path,
    *,
    force: bool = False,
) -> int:
    """Write ``entries`` under ``target``; returns the bytes written."""
    entries = list(entries)
    planned = [(entry, destination(target, entry)) for entry in entries]  # every path checked before any write
    existing = [str(path) for _, path in planned if path.exists()]
    if existing and not force:
        raise RestoreRefused(f"{len(existing)} file(s) exist already, e.g. {existing[0]}; use force to replace them")
    written = 0
    for entry, path in planned:
        written += _restore_file(backend, keys, index, entry, path)
    return written


def _restore_file(backend: Backend, keys: RepositoryKeys, index: Index, entry: FileEntry, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    digest, size = hashlib.sha256(), 0
    try:
        with temporary.open("wb") as handle:
            for data in load_blobs(backend, keys, index, entry.chunks):
                handle.write(data)
                digest.update(data)
                size += len(data)
            handle.flush()
            os.fsync(handle.fileno())
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise IntegrityError(
                bytes.fromhex(entry.sha256), f"{entry.path}: restored {size} bytes do not match the manifest"
            )
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return size
