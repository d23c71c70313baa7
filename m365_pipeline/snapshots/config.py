"""The repository's configuration: the one plaintext object (``config/config``), read before any key exists.

It records what opening the repository needs (the scrypt parameters of a passphrase repository, the key's check
value) and what every writer must agree on (chunker sizes, pack size), authenticated with a MAC under the key so a
changed setting is found. Opening checks the key first, so a wrong key is named as such.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from m365_pipeline.snapshots import chunker, packs
from m365_pipeline.snapshots.backend import Backend, ObjectMissing
from m365_pipeline.snapshots.keys import RepositoryKeys, ScryptParams, load_keys

FORMAT_VERSION = 1
_NAME = "config"


class RepositoryError(Exception):
    """The repository cannot be created or opened as asked."""


@dataclass(frozen=True)
class RepositoryConfig:
    id: str
    key_check: str
    scrypt: ScryptParams | None = None
    chunk_min: int = chunker.MIN_SIZE
    chunk_avg: int = chunker.AVG_SIZE
    chunk_max: int = chunker.MAX_SIZE
    pack_size: int = packs.TARGET_SIZE
    version: int = FORMAT_VERSION

    def _body(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "id": self.id,
            "key_check": self.key_check,
            "scrypt": self.scrypt.to_dict() if self.scrypt else None,
            "chunker": {"min": self.chunk_min, "avg": self.chunk_avg, "max": self.chunk_max},
            "pack_size": self.pack_size,
        }

    def _canonical(self) -> bytes:
        return json.dumps(self._body(), sort_keys=True, separators=(",", ":")).encode()

    def new_chunker(self, keys: RepositoryKeys) -> chunker.Chunker:
        """The chunker every writer of this repository uses."""
        return chunker.Chunker(keys.chunk_id, min_size=self.chunk_min, avg_size=self.chunk_avg, max_size=self.chunk_max)


def init_repository(
    backend: Backend, keys: RepositoryKeys, scrypt: ScryptParams | None = None, **settings: int
) -> RepositoryConfig:
    """Create the repository's configuration; refuses when the store already has one."""
    if any(True for _ in backend.names("config")):
        raise RepositoryError(f"{backend!r} already holds a repository")
    config = RepositoryConfig(id=secrets.token_hex(16), key_check=keys.check_value, scrypt=scrypt, **settings)
    body = config._body()
    body["mac"] = keys.mac(config._canonical())
    backend.write("config", _NAME, json.dumps(body, indent=1).encode())
    return config


def open_repository(backend: Backend, environ: Mapping[str, str]) -> tuple[RepositoryConfig, RepositoryKeys]:
    """Read the configuration, build the key from ``environ`` and check both; ``WrongKeyError`` for a wrong key,
    ``RepositoryError`` for a missing or changed configuration."""
    try:
        body = json.loads(backend.read("config", _NAME))
    except ObjectMissing:
        raise RepositoryError(f"{backend!r} holds no repository (no config)") from None
    if body.get("version") != FORMAT_VERSION:
        raise RepositoryError(f"repository format {body.get('version')!r} is not {FORMAT_VERSION}")
    scrypt = ScryptParams.from_dict(body["scrypt"]) if body["scrypt"] else None
    config = RepositoryConfig(
        id=body["id"],
        key_check=body["key_check"],
        scrypt=scrypt,
        chunk_min=body["chunker"]["min"],
        chunk_avg=body["chunker"]["avg"],
        chunk_max=body["chunker"]["max"],
        pack_size=body["pack_size"],
    )
    keys = load_keys(environ, scrypt)
    keys.verify(config.key_check)
    if not hmac.compare_digest(keys.mac(config._canonical()), str(body.get("mac"))):
        raise RepositoryError("the repository configuration was changed: its MAC does not match")
    return config, keys
