"""Sealing and opening blobs: zstd compression, then AES-256-GCM.

A sealed blob is ``format (1 byte) | nonce (12 random bytes) | ciphertext | tag (16 bytes)``. The associated data
is the format byte and the blob's id, so a blob moved under another id, a changed format byte or any flipped
bit of nonce, ciphertext or tag fails authentication. The plaintext starts with a byte saying whether the payload
is zstd-compressed (it is stored raw when compression does not make it smaller).
"""

from __future__ import annotations

import os
import threading

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_V1 = 1
NONCE_BYTES = 12
TAG_BYTES = 16
OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES + 1
"""Bytes a sealed blob adds to its (possibly compressed) payload."""
DEFAULT_LEVEL = 1
"""zstd's fastest positive level. Measured on a 514 MiB SQLite warehouse cut into 128 KiB chunks: level 1 compressed
it in 0.55 s to 48.2 MiB, level 3 in 1.0 s to 49.6 MiB (a full snapshot: 0.9 CPU-s less, the same bytes stored);
on text (CSV, Markdown) level 1 is about 9% larger. Cold archives recompress at a higher level."""

_RAW = 0
_ZSTD = 1

_contexts = threading.local()
"""Each thread's zstd contexts: a context is not thread-safe, and making one per blob halves zstd's speed."""


def _compressor(level: int) -> zstandard.ZstdCompressor:
    compressors: dict[int, zstandard.ZstdCompressor] = _contexts.__dict__.setdefault("compressors", {})
    if level not in compressors:
        compressors[level] = zstandard.ZstdCompressor(level=level)
    return compressors[level]


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_contexts, "decompressor"):
        _contexts.decompressor = zstandard.ZstdDecompressor()
    decompressor: zstandard.ZstdDecompressor = _contexts.decompressor
    return decompressor


class IntegrityError(Exception):
    """A sealed blob that does not open: named by its id, with what was found."""

    def __init__(self, blob_id: bytes, problem: str) -> None:
        self.blob_id = blob_id
        self.problem = problem
        super().__init__(f"blob {blob_id.hex()}: {problem}")


def seal(encryption_key: bytes, blob_id: bytes, data: bytes | memoryview, level: int = DEFAULT_LEVEL) -> bytes:
    """Compress ``data`` with zstd at ``level`` (unless that does not shrink it) and encrypt it, bound to
    ``blob_id``."""
    compressed = _compressor(level).compress(data)
    plaintext = bytes([_ZSTD]) + compressed if len(compressed) < len(data) else bytes([_RAW]) + data
    nonce = os.urandom(NONCE_BYTES)
    header = bytes([FORMAT_V1])
    return header + nonce + AESGCM(encryption_key).encrypt(nonce, plaintext, header + blob_id)


def open_sealed(encryption_key: bytes, blob_id: bytes, sealed: bytes | memoryview) -> bytes:
    """The data sealed under ``blob_id``; ``IntegrityError`` names the blob when it was changed or the key is
    wrong. ``sealed`` may be a view into a larger read (a run of blobs, a piece of a pack): it is not copied."""
    if len(sealed) < OVERHEAD:
        raise IntegrityError(blob_id, f"truncated: {len(sealed)} bytes, a sealed blob has at least {OVERHEAD}")
    if sealed[0] != FORMAT_V1:
        raise IntegrityError(blob_id, f"unknown format byte {sealed[0]} (a flipped bit in its header?)")
    nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        plaintext = AESGCM(encryption_key).decrypt(nonce, ciphertext, bytes([FORMAT_V1]) + blob_id)
    except InvalidTag:
        raise IntegrityError(
            blob_id, "failed authentication: its bytes were changed, it is stored under another id, or the key is wrong"
        ) from None
    if plaintext[0] == _RAW:
        return plaintext[1:]
    if plaintext[0] == _ZSTD:
        return _decompressor().decompress(memoryview(plaintext)[1:])
    raise IntegrityError(blob_id, f"unknown compression byte {plaintext[0]}")
