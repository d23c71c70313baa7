"""Snapshot manifests: what a snapshot holds, component by component (``warehouse``, ``config``, ``artifacts``...),
each a list of files with their size, SHA-256 and the ids of the chunks that make them up.

A manifest is stored sealed as ``snapshots/<id>``, where the id is the SHA-256 of its plaintext and is bound to it
as associated data: a manifest cannot be changed or swapped without being found. Its paths are relative and are
checked when read, so a hostile manifest cannot send a restore outside its target.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from m365_pipeline.snapshots.backend import Backend, ObjectMissing
from m365_pipeline.snapshots.crypto import IntegrityError, open_sealed, seal
from m365_pipeline.snapshots.keys import RepositoryKeys

KINDS = ("full", "incremental")


class UnsafePath(ValueError):
    """A path that could reach outside the folder it is restored into."""


def safe_relative_path(text: str) -> PurePosixPath:
    """``text`` as a relative path that stays inside any folder it is joined to; ``UnsafePath`` otherwise."""
    path = PurePosixPath(text)
    if (
        not text
        or "\x00" in text
        or "\\" in text
        or path.is_absolute()
        or any(part in ("..", ".", "") for part in text.split("/"))
        or (len(text) > 1 and text[1] == ":")
    ):
        raise UnsafePath(f"unsafe path {text!r}: a snapshot path is relative, '/'-separated, without '.' or '..'")
    return path


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str
    chunks: tuple[bytes, ...]
    sizes: tuple[int, ...] = ()
    """Each chunk's length, to read part of the file without the chunks before it (empty in manifests written
    before lengths were recorded)."""

    def __post_init__(self) -> None:
        safe_relative_path(self.path)
        if self.sizes and (len(self.sizes) != len(self.chunks) or sum(self.sizes) != self.size):
            raise ValueError(f"{self.path}: its chunk lengths do not add up to its {len(self.chunks)} chunks")

    def to_dict(self) -> dict[str, Any]:
        described = {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "chunks": [c.hex() for c in self.chunks],
        }
        return described | ({"sizes": list(self.sizes)} if self.sizes else {})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileEntry:
        chunks = tuple(bytes.fromhex(c) for c in data["chunks"])
        return cls(
            data["path"], int(data["size"]), data["sha256"], chunks, tuple(int(n) for n in data.get("sizes", ()))
        )


@dataclass(frozen=True)
class Manifest:
    kind: str
    host: str
    components: Mapping[str, tuple[FileEntry, ...]]
    parent: str | None = None
    """The snapshot an incremental is relative to."""
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    meta: Mapping[str, Any] = field(default_factory=dict)
    """What is known of the captured system besides its files (JSON-ready): the source's label, the warehouse's
    dialect, schema version and tables (primary key, columns, row count, checksum and its number of windows, how
    each is stored)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"snapshot kind {self.kind!r} is not one of {', '.join(KINDS)}")
        for component in self.components:
            safe_relative_path(component)

    def plaintext(self) -> bytes:
        body = {
            "kind": self.kind,
            "host": self.host,
            "parent": self.parent,
            "created_at": self.created_at.isoformat(),
            "meta": self.meta,
            "components": {
                name: [entry.to_dict() for entry in entries] for name, entries in sorted(self.components.items())
            },
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_plaintext(cls, data: bytes) -> Manifest:
        body = json.loads(data)
        return cls(
            kind=body["kind"],
            host=body["host"],
            parent=body["parent"],
            created_at=dt.datetime.fromisoformat(body["created_at"]),
            meta=body.get("meta", {}),
            components={
                name: tuple(FileEntry.from_dict(e) for e in entries) for name, entries in body["components"].items()
            },
        )

    def chunk_ids(self) -> set[bytes]:
        """Every chunk the snapshot needs (what pruning must keep)."""
        return {chunk for entries in self.components.values() for entry in entries for chunk in entry.chunks}


def save_manifest(backend: Backend, keys: RepositoryKeys, manifest: Manifest) -> str:
    """Store ``manifest``; returns its id."""
    plaintext = manifest.plaintext()
    snapshot_id = hashlib.sha256(plaintext).digest()
    backend.write("snapshots", snapshot_id.hex(), seal(keys.encryption, snapshot_id, plaintext))
    return snapshot_id.hex()


def load_manifest(backend: Backend, keys: RepositoryKeys, snapshot_id: str) -> Manifest:
    """The manifest ``snapshot_id``, authenticated and matched to its id; its paths are checked."""
    try:
        sealed = backend.read("snapshots", snapshot_id)
    except ObjectMissing:
        raise KeyError(f"no snapshot {snapshot_id}") from None
    blob_id = bytes.fromhex(snapshot_id)
    plaintext = open_sealed(keys.encryption, blob_id, sealed)
    if not hmac.compare_digest(hashlib.sha256(plaintext).digest(), blob_id):
        raise IntegrityError(blob_id, "manifest content does not hash to its id")
    return Manifest.from_plaintext(plaintext)


def snapshot_ids(backend: Backend) -> list[str]:
    return list(backend.names("snapshots"))
