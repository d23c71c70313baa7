"""The cold tier: snapshots older than the hot tier keeps (30 days) moved out as whole, self-contained archives.

A deduplicating store's shared chunks cannot move to cold piecemeal, so each snapshot moves as one archive holding
its manifest, its base full's manifest when it is an incremental, and every chunk they need, recompressed at a
higher zstd level: restorable alone, whatever happens to the hot store or to other archives. An archive is a pack
(``packs``: sealed blobs, then a sealed header): manifests as ``TREE`` blobs under their ids, chunks as ``DATA``.

Moving writes every archive first, then removes the moved manifests from the hot store; ``prune`` then frees the
chunks no hot snapshot needs (a kill in between leaves the snapshot hot, and moving again overwrites its archive).
A snapshot stays hot while a snapshot that stays hot is an incremental based on it. ``thaw`` brings an archive back
into the hot store (every blob authenticated and checked against its id), after which it restores as usual.

Cold stores: a separate local folder, or S3 with an archive storage class (``DEEP_ARCHIVE``, ``GLACIER``...)
through boto3, which sets the class on upload and asks S3 to restore an archived object before it is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from m365_pipeline.liveness import temporary_sibling
from m365_pipeline.snapshots import oplog
from m365_pipeline.snapshots.backend import LocalBackend, object_key
from m365_pipeline.snapshots.blobs import BlobSaver, load_blob
from m365_pipeline.snapshots.crypto import IntegrityError, open_sealed, seal
from m365_pipeline.snapshots.keys import keyed_id
from m365_pipeline.snapshots.locks import Lock
from m365_pipeline.snapshots.manifests import Manifest
from m365_pipeline.snapshots.packs import MAX_SIZE, BlobType, PackWriter, read_header
from m365_pipeline.snapshots.progress import ProgressCallback, StepCounter
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.scratch import scratch_folder

ARCHIVE_LEVEL = 19
HOT_DAYS = 30
ARCHIVE_STORAGE_CLASSES = ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR")


class ColdNotReadable(RuntimeError):
    """An archive in an archive storage class that S3 has not restored yet (a restore was requested)."""


class ColdStore(Protocol):
    def upload(self, name: str, path: Path) -> None: ...

    def download(self, name: str, path: Path) -> None:
        """Copy archive ``name`` to ``path``; ``ColdNotReadable`` while it is archived and not yet restored."""
        ...

    def names(self) -> list[str]: ...

    def request_restore(self, name: str, days: int) -> bool:
        """Make ``name`` readable for ``days``: True when it is readable now, False when S3 is restoring it."""
        ...


class LocalColdStore:
    """Archives as files of a folder (another disk, a mounted archive volume)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"LocalColdStore({str(self.root)!r})"

    def _path(self, name: str) -> Path:
        object_key("snapshots", name)  # validates the name
        return self.root / name

    def upload(self, name: str, path: Path) -> None:
        target = self._path(name)
        self.root.mkdir(parents=True, exist_ok=True)
        spool = temporary_sibling(target)
        try:
            shutil.copyfile(path, spool)
            with spool.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(spool, target)
        finally:
            spool.unlink(missing_ok=True)

    def download(self, name: str, path: Path) -> None:
        source = self._path(name)
        if not source.is_file():
            raise KeyError(f"no cold archive {name} in {self.root}")
        shutil.copyfile(source, path)

    def names(self) -> list[str]:
        found = self.root.iterdir() if self.root.is_dir() else ()
        return sorted(p.name for p in found if p.is_file() and not p.name.startswith("."))

    def request_restore(self, name: str, days: int) -> bool:
        return True


class S3ColdStore:
    """Archives under ``s3://bucket/prefix`` in ``storage_class``."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, storage_class: str = "DEEP_ARCHIVE") -> None:
        import boto3  # type: ignore[import-untyped]

        if not url.startswith("s3://") or len(url) <= len("s3://"):
            raise ValueError(f"a cold store on S3 is s3://bucket/prefix, got {url!r}")
        self.url, self.storage_class = url, storage_class
        self._bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client: Any = boto3.client("s3", endpoint_url=endpoint_url)

    def __repr__(self) -> str:
        return f"S3ColdStore({self.url!r}, {self.storage_class})"

    def _key(self, name: str) -> str:
        object_key("snapshots", name)  # validates the name
        return self._prefix + name

    def upload(self, name: str, path: Path) -> None:
        extra = {"StorageClass": self.storage_class}
        self._client.upload_file(str(path), self._bucket, self._key(name), ExtraArgs=extra)

    def _readable(self, name: str) -> bool:
        head = self._client.head_object(Bucket=self._bucket, Key=self._key(name))
        if head.get("StorageClass") not in ARCHIVE_STORAGE_CLASSES:
            return True
        return 'ongoing-request="false"' in head.get("Restore", "")

    def download(self, name: str, path: Path) -> None:
        if not self._readable(name):
            raise ColdNotReadable(f"cold archive {name} is in {self.storage_class} and not restored: request it first")
        self._client.download_file(self._bucket, self._key(name), str(path))

    def names(self) -> list[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self._prefix)
        return sorted(item["Key"][len(self._prefix) :] for page in pages for item in page.get("Contents", ()))

    def request_restore(self, name: str, days: int) -> bool:
        if self._readable(name):
            return True
        request = {"Days": days, "GlacierJobParameters": {"Tier": "Standard"}}
        try:
            self._client.restore_object(Bucket=self._bucket, Key=self._key(name), RestoreRequest=request)
        except self._client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") != "RestoreAlreadyInProgress":
                raise
        return self._readable(name)


@dataclass
class MoveReport:
    moved: list[str] = field(default_factory=list)
    kept_hot: dict[str, str] = field(default_factory=dict)
    """Old snapshots left hot -> why."""
    archive_bytes: int = 0


def move_to_cold(
    repository: Repository,
    cold: ColdStore,
    *,
    older_than: dt.timedelta = dt.timedelta(days=HOT_DAYS),
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    level: int = ARCHIVE_LEVEL,
    progress: ProgressCallback | None = None,
) -> MoveReport:
    """Move every snapshot created before ``clock() - older_than`` to ``cold`` (run ``prune`` afterwards to
    free the hot chunks only they needed); ``progress`` is called with the chunks archived and the chunks in all."""
    backend, keys = repository.backend, repository.keys
    with (
        oplog.recorded(backend, keys, "tier move", {"older_than_days": older_than.days, "cold": repr(cold)}) as details,
        Lock(backend, keys, "tier move", exclusive=True) as lock,
    ):
        manifests = {i: repository.manifest(i) for i in repository.snapshot_ids()}
        cutoff = clock() - older_than
        moving = {i for i, m in manifests.items() if m.created_at < cutoff}
        report = MoveReport()
        changed = True
        while changed:  # a base stays hot while a snapshot that stays hot is based on it
            changed = False
            staying = set(manifests) - moving
            for snapshot_id in sorted(moving):
                dependent = next((s for s in sorted(staying) if manifests[s].parent == snapshot_id), None)
                if dependent is not None:
                    moving.discard(snapshot_id)
                    report.kept_hot[snapshot_id] = f"base of {dependent}, which stays hot"
                    changed = True
        index = repository.index()
        order = sorted(moving, key=lambda i: manifests[i].created_at)
        counter = StepCounter(progress, sum(len(_needed(manifests, i)) for i in order))
        for snapshot_id in order:
            report.archive_bytes += _archive(repository, index, cold, snapshot_id, manifests, level, counter)
            lock.refresh()  # an archive of a large snapshot takes minutes
            report.moved.append(snapshot_id)
        for snapshot_id in report.moved:
            backend.remove("snapshots", snapshot_id)
        details.update(moved=report.moved, kept_hot=sorted(report.kept_hot), archive_bytes=report.archive_bytes)
        return report


def _chain(manifests: dict[str, Manifest], snapshot_id: str) -> list[str]:
    """The snapshot and, for an incremental, its base: what its archive holds."""
    parent = manifests[snapshot_id].parent
    return [snapshot_id] if parent is None else [snapshot_id, parent]


def _needed(manifests: dict[str, Manifest], snapshot_id: str) -> set[bytes]:
    return set().union(*(manifests[i].chunk_ids() for i in _chain(manifests, snapshot_id)))


def _archive(
    repository: Repository,
    index: Any,
    cold: ColdStore,
    snapshot_id: str,
    manifests: dict[str, Manifest],
    level: int,
    counter: StepCounter,
) -> int:
    backend, keys = repository.backend, repository.keys
    chain = _chain(manifests, snapshot_id)
    needed = sorted(_needed(manifests, snapshot_id))
    with scratch_folder("cold") as folder:
        scratch = LocalBackend(folder)
        writer = PackWriter(scratch, keys.encryption, MAX_SIZE)
        for manifest_id in chain:
            writer.add(BlobType.TREE, bytes.fromhex(manifest_id), backend.read("snapshots", manifest_id))
        for chunk_id in needed:
            data = load_blob(backend, keys, index, chunk_id)
            writer.add(BlobType.DATA, chunk_id, seal(keys.encryption, chunk_id, data, level))
            counter.advance()
        pack = writer.finish()
        cold.upload(snapshot_id, folder / object_key("packs", pack.name))
        return pack.size


def cold_snapshots(cold: ColdStore) -> list[str]:
    return cold.names()


def thaw(repository: Repository, cold: ColdStore, snapshot_id: str, *, days: int = 7) -> list[str]:
    """Bring the cold archive of ``snapshot_id`` back into the hot store; returns the snapshot ids it made hot
    (the snapshot, and its base when it is an incremental). ``ColdNotReadable`` when S3 still has to restore the
    archive from its storage class (the restore was requested; call again later)."""
    backend, keys = repository.backend, repository.keys
    with (
        oplog.recorded(backend, keys, "tier thaw", {"snapshot_id": snapshot_id, "cold": repr(cold)}) as details,
        Lock(backend, keys, "tier thaw", exclusive=False) as lock,
        scratch_folder("thaw") as folder,
    ):
        if not cold.request_restore(snapshot_id, days):
            raise ColdNotReadable(f"cold archive {snapshot_id} is being restored from its storage class; retry later")
        scratch = LocalBackend(folder)
        path = folder / object_key("packs", snapshot_id)
        path.parent.mkdir(parents=True)
        cold.download(snapshot_id, path)
        entries = read_header(scratch, keys.encryption, snapshot_id)
        manifests: list[tuple[str, bytes]] = []
        index = repository.index()
        with BlobSaver(backend, keys, index, pack_size=repository.config.pack_size) as saver:
            for number, entry in enumerate(entries):
                if number % 1000 == 999:
                    lock.refresh()
                sealed = scratch.read("packs", snapshot_id, entry.offset, entry.length)
                data = open_sealed(keys.encryption, entry.id, sealed)
                if entry.type == BlobType.TREE:
                    if not hmac.compare_digest(hashlib.sha256(data).digest(), entry.id):
                        raise IntegrityError(entry.id, "archived manifest does not hash to its id")
                    Manifest.from_plaintext(data)  # its paths are checked before it becomes a hot snapshot
                    manifests.append((entry.id.hex(), sealed))
                elif not hmac.compare_digest(keyed_id(keys.chunk_id, data), entry.id):
                    raise IntegrityError(entry.id, "archived chunk does not match its id")
                else:
                    saver.save(BlobType.DATA, entry.id, data)
        for manifest_id, sealed in reversed(manifests):  # the base first: a hot incremental always has its base
            backend.write("snapshots", manifest_id, sealed)
        details.update(thawed=[m for m, _ in manifests])
        return [m for m, _ in manifests]
