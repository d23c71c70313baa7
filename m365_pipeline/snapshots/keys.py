"""The repository key and the subkeys derived from it.

The master key is 32 bytes, given base64 (``M365_SNAPSHOT_KEY``) or derived from a passphrase
(``M365_SNAPSHOT_PASSPHRASE``) through scrypt, whose parameters and salt are recorded with the repository
(``ScryptParams.to_dict``) so the same passphrase gives the same key again. From it HKDF-SHA256 derives separate
subkeys: one encrypts blobs, one keys the chunk ids (HMAC), one is a check value stored with the repository so a
wrong key is named as such instead of surfacing as corrupted blobs.

No key material appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KEY_VARIABLE = "M365_SNAPSHOT_KEY"
PASSPHRASE_VARIABLE = "M365_SNAPSHOT_PASSPHRASE"
KEY_BYTES = 32

_ENCRYPTION_INFO = b"m365-snapshots/v1/encryption"
_CHUNK_ID_INFO = b"m365-snapshots/v1/chunk-id"
_CHECK_INFO = b"m365-snapshots/v1/key-check"
_MAC_INFO = b"m365-snapshots/v1/mac"


class KeyConfigurationError(ValueError):
    """The key cannot be built from what was given (the message names the setting, never its value)."""


class WrongKeyError(ValueError):
    """The key is not the repository's key."""


@dataclass(frozen=True)
class ScryptParams:
    """scrypt's cost parameters and salt; recorded with the repository so the passphrase derives the same key."""

    salt: bytes
    n: int = 2**15
    r: int = 8
    p: int = 1

    @classmethod
    def new(cls, n: int = 2**15, r: int = 8, p: int = 1) -> ScryptParams:
        """Parameters with a fresh random 16-byte salt, for a new repository."""
        return cls(secrets.token_bytes(16), n, r, p)

    def to_dict(self) -> dict[str, Any]:
        return {"kdf": "scrypt", "salt": base64.b64encode(self.salt).decode(), "n": self.n, "r": self.r, "p": self.p}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScryptParams:
        if data.get("kdf") != "scrypt":
            raise KeyConfigurationError(f"unknown key derivation {data.get('kdf')!r}, expected 'scrypt'")
        return cls(base64.b64decode(data["salt"]), int(data["n"]), int(data["r"]), int(data["p"]))


class RepositoryKeys:
    """The subkeys derived from one master key; the master key itself is not kept."""

    __slots__ = ("_check", "_mac", "chunk_id", "encryption")

    def __init__(self, master: bytes) -> None:
        if len(master) != KEY_BYTES:
            raise KeyConfigurationError(f"a repository key is {KEY_BYTES} bytes, got {len(master)}")
        self.encryption = _derive(master, _ENCRYPTION_INFO)
        """AES-256-GCM key of every blob."""
        self.chunk_id = _derive(master, _CHUNK_ID_INFO)
        """HMAC-SHA256 key of chunk ids."""
        self._check = _derive(master, _CHECK_INFO)
        self._mac = _derive(master, _MAC_INFO)

    @classmethod
    def from_base64(cls, text: str) -> RepositoryKeys:
        try:
            master = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyConfigurationError(f"{KEY_VARIABLE} is not valid base64") from None
        if len(master) != KEY_BYTES:
            raise KeyConfigurationError(f"{KEY_VARIABLE} decodes to {len(master)} bytes, expected {KEY_BYTES}")
        return cls(master)

    @classmethod
    def from_passphrase(cls, passphrase: str, params: ScryptParams) -> RepositoryKeys:
        if not passphrase:
            raise KeyConfigurationError(f"{PASSPHRASE_VARIABLE} is empty")
        kdf = Scrypt(salt=params.salt, length=KEY_BYTES, n=params.n, r=params.r, p=params.p)
        return cls(kdf.derive(passphrase.encode("utf-8")))

    @property
    def check_value(self) -> str:
        """Stored with the repository: equal for the same key, and reveals nothing of the other subkeys."""
        return self._check.hex()

    def verify(self, expected_check_value: str) -> None:
        """Raise ``WrongKeyError`` unless this is the key whose check value the repository recorded."""
        if not hmac.compare_digest(self.check_value, expected_check_value):
            raise WrongKeyError("wrong repository key: its check value differs from the one the repository recorded")

    def mac(self, data: bytes) -> str:
        """HMAC-SHA256 (hex) authenticating plaintext records of the repository (its configuration)."""
        return hmac.new(self._mac, data, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "RepositoryKeys(<redacted>)"

    def __reduce__(self) -> Any:
        raise TypeError("repository keys are not pickled")


def load_keys(environ: Mapping[str, str], scrypt: ScryptParams | None) -> RepositoryKeys:
    """The keys from ``environ`` (the settings pass the process environment): ``M365_SNAPSHOT_KEY`` (base64 of
    32 bytes) or else ``M365_SNAPSHOT_PASSPHRASE`` with the repository's recorded ``scrypt`` parameters."""
    if environ.get(KEY_VARIABLE):
        return RepositoryKeys.from_base64(environ[KEY_VARIABLE])
    if environ.get(PASSPHRASE_VARIABLE):
        if scrypt is None:
            raise KeyConfigurationError(f"{PASSPHRASE_VARIABLE} is set but the repository records no scrypt parameters")
        return RepositoryKeys.from_passphrase(environ[PASSPHRASE_VARIABLE], scrypt)
    raise KeyConfigurationError(f"no snapshot key: set {KEY_VARIABLE} (base64 of 32 bytes) or {PASSPHRASE_VARIABLE}")


def keyed_id(id_key: bytes, data: bytes | memoryview) -> bytes:
    """The id of a blob: HMAC-SHA256 of its content under the chunk-id subkey (reveals nothing without it)."""
    return hmac.new(id_key, data, hashlib.sha256).digest()


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)
