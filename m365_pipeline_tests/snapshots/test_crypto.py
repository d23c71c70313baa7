"""Sealed blobs: zstd then AES-256-GCM bound to the blob id; every change and a wrong key are detected."""

from __future__ import annotations

import os
import random

import pytest

from m365_pipeline.snapshots.crypto import OVERHEAD, IntegrityError, open_sealed, seal

KEY = bytes(range(32))
BLOB_ID = bytes.fromhex("ab" * 32)


@pytest.mark.parametrize(
    "data", [b"", b"x", b"users,licenses\n" * 10_000, os.urandom(200_000)], ids=["empty", "one", "text", "random"]
)
def test_round_trip(data: bytes) -> None:
    sealed = seal(KEY, BLOB_ID, data)
    assert open_sealed(KEY, BLOB_ID, sealed) == data
    assert len(sealed) <= len(data) + OVERHEAD


def test_compressible_data_is_compressed_and_nonces_differ() -> None:
    data = b"users,licenses\n" * 10_000
    first, second = seal(KEY, BLOB_ID, data), seal(KEY, BLOB_ID, data)
    assert len(first) < len(data) // 20
    assert first != second  # a random nonce per seal
    assert data[:14] not in first


def test_every_sampled_single_bit_flip_is_detected_and_named() -> None:
    sealed = seal(KEY, BLOB_ID, b"row,row,row\n" * 5000 + os.urandom(3000))
    rng = random.Random(9)
    bits = {0, 7, 8, 8 * 13 - 1, 8 * 13, len(sealed) * 8 - 1} | {rng.randrange(len(sealed) * 8) for _ in range(400)}
    for bit in sorted(bits):
        flipped = bytearray(sealed)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(IntegrityError) as raised:
            open_sealed(KEY, BLOB_ID, bytes(flipped))
        assert raised.value.blob_id == BLOB_ID
        assert BLOB_ID.hex() in str(raised.value)


def test_truncation_wrong_id_and_wrong_key_are_detected() -> None:
    sealed = seal(KEY, BLOB_ID, b"content")
    with pytest.raises(IntegrityError, match="truncated"):
        open_sealed(KEY, BLOB_ID, sealed[:10])
    with pytest.raises(IntegrityError, match="failed authentication"):
        open_sealed(KEY, BLOB_ID, sealed[:-1])
    with pytest.raises(IntegrityError, match="failed authentication"):
        open_sealed(KEY, bytes(32), sealed)
    with pytest.raises(IntegrityError, match="or the key is wrong"):
        open_sealed(bytes(32), BLOB_ID, sealed)
