"""Where repository objects are stored: a small interface (``Backend``) and its local-folder implementation.
The S3 backend implements the same interface later.

Objects are files named by kind and name (``packs/3f/3f2a...``, ``index/9c01...``). A large object is written to a
spool file first (``new_spool``) and published whole with ``publish``: locally a rename in the same file system,
on S3 an upload, so a reader never sees half an object. A spool carries this host and pid in its name; one that
a dead process left behind is removed by ``remove_abandoned``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from m365_pipeline.liveness import remove_abandoned_temporaries, temporary_sibling

KINDS = ("config", "packs", "index", "tags", "snapshots", "locks", "log")


class ObjectMissing(FileNotFoundError):
    """An object the repository refers to is not in the store."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name
        super().__init__(f"{kind}/{name} is missing from the store")


class Backend(Protocol):
    """What the repository needs of a store."""

    def new_spool(self) -> Path:
        """A fresh local path to write an object to before ``publish``."""
        ...

    def publish(self, kind: str, name: str, spool: Path) -> None:
        """Make the complete file ``spool`` the object ``kind/name`` (atomically); the spool is consumed."""
        ...

    def write(self, kind: str, name: str, data: bytes) -> None:
        """Publish a small object from memory."""
        ...

    def read(self, kind: str, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes of ``kind/name`` from ``offset`` (to its end when None); ``ObjectMissing`` if absent."""
        ...

    def size(self, kind: str, name: str) -> int: ...

    def names(self, kind: str) -> Iterator[str]:
        """The names of the published objects of ``kind`` (never a spool)."""
        ...

    def remove(self, kind: str, name: str) -> None: ...

    def remove_abandoned(self) -> list[Path]:
        """Remove the spools of dead processes; returns them."""
        ...


def object_key(kind: str, name: str) -> str:
    """Where an object lives under a repository's root, the same on every backend: packs are spread over
    256 folders by the first two characters of their name, as restic does."""
    if kind not in KINDS:
        raise ValueError(f"unknown object kind {kind!r}, expected one of {', '.join(KINDS)}")
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid object name {name!r}")
    return f"{kind}/{name[:2]}/{name}" if kind == "packs" else f"{kind}/{name}"


class LocalBackend:
    """A repository in a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._spools = root / "tmp"

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    def _path(self, kind: str, name: str) -> Path:
        return self.root / object_key(kind, name)

    def new_spool(self) -> Path:
        self._spools.mkdir(parents=True, exist_ok=True)
        return temporary_sibling(self._spools / "spool")

    def publish(self, kind: str, name: str, spool: Path) -> None:
        target = self._path(kind, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with spool.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(spool, target)
        _fsync_folder(target.parent)

    def write(self, kind: str, name: str, data: bytes) -> None:
        spool = self.new_spool()
        spool.write_bytes(data)
        self.publish(kind, name, spool)

    def read(self, kind: str, name: str, offset: int = 0, length: int | None = None) -> bytes:
        # a descriptor and pread, not a file object: a restore or a base table read in place reads a pack a run
        # of chunks at a time, thousands of reads, and the file object's setup was a tenth of the reading
        try:
            descriptor = os.open(self._path(kind, name), os.O_RDONLY)
        except FileNotFoundError:
            raise ObjectMissing(kind, name) from None
        try:
            if length is None:
                length = os.fstat(descriptor).st_size - offset
            return os.pread(descriptor, max(length, 0), offset)
        finally:
            os.close(descriptor)

    def size(self, kind: str, name: str) -> int:
        try:
            return self._path(kind, name).stat().st_size
        except FileNotFoundError:
            raise ObjectMissing(kind, name) from None

    def names(self, kind: str) -> Iterator[str]:
        folder = self.root / kind
        pattern = "*/*" if kind == "packs" else "*"
        for path in sorted(folder.glob(pattern)) if folder.is_dir() else ():
            if path.is_file() and not path.name.startswith("."):
                yield path.name

    def remove(self, kind: str, name: str) -> None:
        self._path(kind, name).unlink(missing_ok=True)

    def remove_abandoned(self) -> list[Path]:
        return remove_abandoned_temporaries(self._spools)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
