"""The operations log: every tag, snapshot, restore, tier move and prune, recorded in the snapshot store itself
(restoring the warehouse must not erase the record of restoring it): who (the OS user), what, when, from where
(the host), the outcome and details.

Append-only: each record is its own sealed object ``log/<UTC time>-<random>`` (the name bound to it as associated
data, so a record cannot be moved or altered unnoticed); nothing in the package removes one, prune included.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import pwd
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.crypto import open_sealed, seal
from m365_pipeline.snapshots.keys import RepositoryKeys

OK = "ok"


@dataclass(frozen=True)
class Operation:
    what: str
    """``snapshot``, ``restore``, ``prune``, ``tier move``, ``tag create``, ``tag delete``..."""
    outcome: str
    """``ok``, or ``failed: <reason>``."""
    who: str
    host: str
    at: dt.datetime
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "outcome": self.outcome,
            "who": self.who,
            "host": self.host,
            "at": self.at.isoformat(),
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Operation:
        at = dt.datetime.fromisoformat(data["at"])
        return cls(data["what"], data["outcome"], data["who"], data["host"], at, data["details"])


def _blob_id(name: str) -> bytes:
    return hashlib.sha256(f"log:{name}".encode()).digest()


def os_user() -> str:
    """The operating-system user running this process (from the password database, not the environment)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def record(
    backend: Backend,
    keys: RepositoryKeys,
    what: str,
    outcome: str = OK,
    details: Mapping[str, Any] | None = None,
    *,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Operation:
    operation = Operation(what, outcome, os_user(), socket.gethostname(), clock(), dict(details or {}))
    name = f"{operation.at.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(8)}"
    data = json.dumps(operation.to_dict(), sort_keys=True, default=str).encode()
    backend.write("log", name, seal(keys.encryption, _blob_id(name), data))
    return operation


@contextlib.contextmanager
def recorded(
    backend: Backend, keys: RepositoryKeys, what: str, details: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Record ``what`` when the block ends: ``ok``, or ``failed`` with the error (which is re-raised). The block
    may add to the yielded details (the snapshot id made, the bytes restored...)."""
    details = dict(details or {})
    try:
        yield details
    except BaseException as error:
        record(backend, keys, what, f"failed: {type(error).__name__}: {error}"[:1000], details)
        raise
    record(backend, keys, what, OK, details)


def read_record(backend: Backend, keys: RepositoryKeys, name: str) -> Operation:
    """The record ``log/<name>``, authenticated (``IntegrityError`` if it was changed or moved)."""
    return Operation.from_dict(json.loads(open_sealed(keys.encryption, _blob_id(name), backend.read("log", name))))


def operations(
    backend: Backend, keys: RepositoryKeys, *, since: dt.datetime | None = None, what: str | None = None
) -> list[Operation]:
    """The recorded operations, oldest first (``since`` and ``what`` filter them)."""
    found = []
    for name in backend.names("log"):
        operation = Operation.from_dict(
            json.loads(open_sealed(keys.encryption, _blob_id(name), backend.read("log", name)))
        )
        if (since is None or operation.at >= since) and (what is None or operation.what == what):
            found.append(operation)
    return sorted(found, key=lambda o: o.at)
