"""Pack files: sealed blobs appended one after another, then a sealed header listing them, then the header's
length (4 bytes, little-endian). A pack is named by the SHA-256 of its bytes, so ``verify`` can prove it whole.

Packs hold 16-64 MB so that no store has millions of tiny objects: a writer closes its pack once it reaches the
target size (16 MiB by default). It writes to a spool of the backend and publishes the pack only when complete,
so a half-written pack is never visible (and a dead process's spool is removed by the backend).

A header entry is ``type (1) | id (32) | length (4)``; offsets follow from the order. The header is sealed like a
blob, under the fixed id ``HEADER_ID``.
"""

from __future__ import annotations

import bisect
import enum
import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.crypto import IntegrityError, open_sealed, seal

TARGET_SIZE = 16 * 1024 * 1024
MAX_SIZE = 64 * 1024 * 1024
HEADER_ID = hashlib.sha256(b"m365-snapshots/v1/pack-header").digest()
ID_BYTES = 32
PIECE_SIZE = 1024 * 1024
"""Bytes a pack is read by when it is read whole (``verify``)."""

_ENTRY = struct.Struct("<B32sI")
_LENGTH = struct.Struct("<I")


class BlobType(enum.IntEnum):
    DATA = 0
    """A chunk of a file, a dump or a table."""
    TREE = 1
    """Metadata: which chunks make up what (manifests, trees)."""


@dataclass(frozen=True)
class PackEntry:
    """Where a sealed blob is in its pack."""

    type: BlobType
    id: bytes
    offset: int
    length: int


@dataclass(frozen=True)
class Pack:
    """A published pack: its name and what it holds."""

    name: str
    entries: tuple[PackEntry, ...]
    size: int


class PackWriter:
    """Appends sealed blobs to one pack; ``finish`` publishes it."""

    def __init__(self, backend: Backend, encryption_key: bytes, target_size: int = TARGET_SIZE) -> None:
        if not 0 < target_size <= MAX_SIZE:
            raise ValueError(f"a pack's target size is at most {MAX_SIZE} bytes, got {target_size}")
        self._backend = backend
        self._key = encryption_key
        self.target_size = target_size
        self._spool = backend.new_spool()
        self._file = self._spool.open("wb")
        self._hash = hashlib.sha256()
        self._entries: list[PackEntry] = []
        self.size = 0

    def __repr__(self) -> str:
        return f"PackWriter({len(self._entries)} blobs, {self.size} bytes)"

    @property
    def full(self) -> bool:
        return self.size >= self.target_size

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, blob_type: BlobType, blob_id: bytes, sealed: bytes) -> None:
        if len(blob_id) != ID_BYTES:
            raise ValueError(f"a blob id is {ID_BYTES} bytes, got {len(blob_id)}")
        self._append(sealed)
        self._entries.append(PackEntry(blob_type, blob_id, self.size - len(sealed), len(sealed)))

    def finish(self) -> Pack:
        """Append the header, publish the pack under the hash of its bytes, and return it."""
        header = b"".join(_ENTRY.pack(e.type, e.id, e.length) for e in self._entries)
        sealed_header = seal(self._key, HEADER_ID, header)
        self._append(sealed_header)
        self._append(_LENGTH.pack(len(sealed_header)))
        self._file.close()
        name = self._hash.hexdigest()
        self._backend.publish("packs", name, self._spool)
        return Pack(name, tuple(self._entries), self.size)

    def abort(self) -> None:
        """Drop the pack being written."""
        self._file.close()
        self._spool.unlink(missing_ok=True)

    def _append(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)


class PackCorrupted(IntegrityError):
    """A pack whose bytes or header are not what was written."""


def read_header(backend: Backend, encryption_key: bytes, name: str) -> tuple[PackEntry, ...]:
    """The entries of pack ``name``, read from its end; ``PackCorrupted`` names the pack when they do not open."""
    size = backend.size("packs", name)
    if size < _LENGTH.size:
        raise PackCorrupted(bytes.fromhex(name), f"pack {name} is {size} bytes, too short for a header")
    (header_length,) = _LENGTH.unpack(backend.read("packs", name, size - _LENGTH.size, _LENGTH.size))
    header_start = size - _LENGTH.size - header_length
    if header_start < 0:
        raise PackCorrupted(bytes.fromhex(name), f"pack {name}: header length {header_length} exceeds the pack")
    try:
        header = open_sealed(encryption_key, HEADER_ID, backend.read("packs", name, header_start, header_length))
    except IntegrityError as error:
        raise PackCorrupted(bytes.fromhex(name), f"header of pack {name}: {error.problem}") from None
    if len(header) % _ENTRY.size:
        raise PackCorrupted(bytes.fromhex(name), f"header of pack {name} is not a whole number of entries")
    entries, offset = [], 0
    for blob_type, blob_id, length in _ENTRY.iter_unpack(header):
        entries.append(PackEntry(BlobType(blob_type), blob_id, offset, length))
        offset += length
    if offset != header_start:
        raise PackCorrupted(
            bytes.fromhex(name), f"header of pack {name} lists {offset} bytes of blobs, not {header_start}"
        )
    return tuple(entries)


def pack_pieces(
    backend: Backend, name: str, size: int, cuts: Iterable[int] = (), piece_size: int = PIECE_SIZE
) -> Iterator[tuple[int, bytes]]:
    """Pack ``name`` (``size`` bytes) read from its start to its end in pieces of at most ``piece_size`` bytes,
    each ending at one of ``cuts`` (blob boundaries, so that no blob is split) when one is in reach, else at the
    next one; yields each piece's offset and bytes. A piece shorter than asked ends the reading (a truncated pack)."""
    ends = sorted({cut for cut in cuts if 0 < cut < size} | {size})
    offset = 0
    while offset < size:
        reach = bisect.bisect_right(ends, offset + piece_size)
        end = ends[reach - 1] if reach and ends[reach - 1] > offset else ends[bisect.bisect_right(ends, offset)]
        piece = backend.read("packs", name, offset, end - offset)
        yield offset, piece
        if len(piece) < end - offset:
            return
        offset = end


def pack_hash(backend: Backend, name: str) -> str:
    """The SHA-256 (hex) of pack ``name`` as stored, read piece by piece; equal to its name when it is intact."""
    digest = hashlib.sha256()
    for _, piece in pack_pieces(backend, name, backend.size("packs", name)):
        digest.update(piece)
    return digest.hexdigest()
