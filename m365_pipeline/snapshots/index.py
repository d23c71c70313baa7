"""The index: for every blob id, the pack, offset and length where its sealed bytes are. It is what makes storing
the same content twice store it once, and what a restore reads to find a chunk.

The index is saved as sealed index files (``index/<sha256>``), each listing the blobs of some packs; loading reads
them all. A pack published but not yet in an index file (a process killed in between) is found again by
``rebuild`` from the pack headers, like ``restic repair index``.

An index file is ``pack name (32) | count (4) | count x (type (1) | id (32) | offset (4) | length (4))`` repeated,
sealed under the fixed id ``INDEX_ID``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.crypto import IntegrityError, open_sealed, seal
from m365_pipeline.snapshots.packs import BlobType, Pack, PackEntry, read_header

INDEX_ID = hashlib.sha256(b"m365-snapshots/v1/index").digest()

_PACK = struct.Struct("<32sI")
_ENTRY = struct.Struct("<B32sII")


class BlobMissing(KeyError):
    """A blob id that no pack of the index holds."""

    def __init__(self, blob_id: bytes) -> None:
        self.blob_id = blob_id
        super().__init__(f"blob {blob_id.hex()} is in no indexed pack")

    def __str__(self) -> str:
        return str(self.args[0])


class IndexCorrupted(IntegrityError):
    """An index file that does not open or parse."""


@dataclass(frozen=True)
class BlobLocation:
    type: BlobType
    pack: str
    offset: int
    length: int


class Index:
    """Blob id -> location, with the packs added since the last ``save``."""

    def __init__(self) -> None:
        self._locations: dict[bytes, BlobLocation] = {}
        self._unsaved: list[Pack] = []

    def __repr__(self) -> str:
        return f"Index({len(self._locations)} blobs)"

    def __len__(self) -> int:
        return len(self._locations)

    def __contains__(self, blob_id: object) -> bool:
        return blob_id in self._locations

    def lookup(self, blob_id: bytes) -> BlobLocation:
        try:
            return self._locations[blob_id]
        except KeyError:
            raise BlobMissing(blob_id) from None

    def packs(self) -> set[str]:
        return {location.pack for location in self._locations.values()}

    def blobs(self) -> Iterator[tuple[bytes, BlobLocation]]:
        return iter(self._locations.items())

    def add_pack(self, pack: Pack) -> None:
        """Record a published pack (to be written by the next ``save``)."""
        self._add(pack.name, pack.entries)
        self._unsaved.append(pack)

    def _add(self, pack_name: str, entries: Iterable[PackEntry]) -> None:
        for entry in entries:
            self._locations.setdefault(entry.id, BlobLocation(entry.type, pack_name, entry.offset, entry.length))

    def save(self, backend: Backend, encryption_key: bytes) -> str | None:
        """Write the packs added since the last save as one index file; returns its name (None if nothing new)."""
        if not self._unsaved:
            return None
        parts = []
        for pack in self._unsaved:
            parts.append(_PACK.pack(bytes.fromhex(pack.name), len(pack.entries)))
            parts.extend(_ENTRY.pack(e.type, e.id, e.offset, e.length) for e in pack.entries)
        sealed = seal(encryption_key, INDEX_ID, b"".join(parts))
        name = hashlib.sha256(sealed).hexdigest()
        backend.write("index", name, sealed)
        self._unsaved = []
        return name

    @classmethod
    def load(cls, backend: Backend, encryption_key: bytes) -> Index:
        """The index of every index file of the store."""
        index = cls()
        for name in backend.names("index"):
            sealed = backend.read("index", name)
            if hashlib.sha256(sealed).hexdigest() != name:
                raise IndexCorrupted(bytes.fromhex(name), f"index file {name} does not hash to its name")
            try:
                data = open_sealed(encryption_key, INDEX_ID, sealed)
            except IntegrityError as error:
                raise IndexCorrupted(bytes.fromhex(name), f"index file {name}: {error.problem}") from None
            for pack_name, entries in _parse(data):
                index._add(pack_name, entries)
        return index

    @classmethod
    def rebuild(cls, backend: Backend, encryption_key: bytes) -> Index:
        """An index read from the headers of every published pack (all of it unsaved)."""
        index = cls()
        for name in backend.names("packs"):
            entries = read_header(backend, encryption_key, name)
            index.add_pack(Pack(name, entries, backend.size("packs", name)))
        return index


def _parse(data: bytes) -> Iterator[tuple[str, list[PackEntry]]]:
    position = 0
    while position < len(data):
        pack_name, count = _PACK.unpack_from(data, position)
        position += _PACK.size
        entries = []
        for _ in range(count):
            blob_type, blob_id, offset, length = _ENTRY.unpack_from(data, position)
            entries.append(PackEntry(BlobType(blob_type), blob_id, offset, length))
            position += _ENTRY.size
        yield pack_name.hex(), entries
