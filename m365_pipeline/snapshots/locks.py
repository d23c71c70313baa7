"""Repository locks, like restic's: a writer (snapshot, tag) takes a shared lock, an operation that removes or
replaces data (prune, tier move, restore into the live system) an exclusive one. A lock is an object
``locks/<random name>`` naming its holder (host, pid, purpose) and when it was last refreshed.

Taking a lock writes it first, then looks at the others: if one conflicts (either is exclusive) and is not stale,
the new lock is removed and ``RepositoryLocked`` names the holder. A lock is stale when its process is gone
(same host) or it was not refreshed for ``stale_after``; stale locks are removed by whoever finds them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import socket
from dataclasses import dataclass
from types import TracebackType

from m365_pipeline.liveness import process_alive
from m365_pipeline.snapshots.backend import Backend, ObjectMissing
from m365_pipeline.snapshots.crypto import IntegrityError, open_sealed, seal
from m365_pipeline.snapshots.keys import RepositoryKeys

STALE_AFTER = dt.timedelta(minutes=30)


class RepositoryLocked(RuntimeError):
    pass


@dataclass(frozen=True)
class LockInfo:
    exclusive: bool
    purpose: str
    host: str
    pid: int
    refreshed_at: dt.datetime

    def stale(self, now: dt.datetime, stale_after: dt.timedelta) -> bool:
        if self.host == socket.gethostname() and not process_alive(self.pid):
            return True
        return now - self.refreshed_at > stale_after

    def describe(self) -> str:
        kind = "exclusive" if self.exclusive else "shared"
        when = f"{self.refreshed_at:%Y-%m-%d %H:%M:%S} UTC"
        return f"{kind} lock for {self.purpose} by pid {self.pid} on {self.host}, refreshed {when}"


def _blob_id(name: str) -> bytes:
    return hashlib.sha256(f"lock:{name}".encode()).digest()


def _read(backend: Backend, keys: RepositoryKeys, name: str) -> LockInfo | None:
    try:
        body = json.loads(open_sealed(keys.encryption, _blob_id(name), backend.read("locks", name)))
    except ObjectMissing:
        return None  # released meanwhile
    return LockInfo(
        body["exclusive"], body["purpose"], body["host"], body["pid"], dt.datetime.fromisoformat(body["refreshed_at"])
    )


class Lock:
    """A held lock; release it with ``release`` or by leaving its ``with`` block."""

    def __init__(
        self,
        backend: Backend,
        keys: RepositoryKeys,
        purpose: str,
        *,
        exclusive: bool,
        stale_after: dt.timedelta = STALE_AFTER,
    ) -> None:
        self._backend, self._keys, self._stale_after = backend, keys, stale_after
        self.name = secrets.token_hex(16)
        self.info = LockInfo(exclusive, purpose, socket.gethostname(), os.getpid(), dt.datetime.now(dt.UTC))
        self._write()
        try:
            self._check_others()
        except BaseException:
            self.release()
            raise

    def __repr__(self) -> str:
        return f"Lock({self.info.describe()})"

    def _write(self) -> None:
        body = {
            "exclusive": self.info.exclusive,
            "purpose": self.info.purpose,
            "host": self.info.host,
            "pid": self.info.pid,
            "refreshed_at": self.info.refreshed_at.isoformat(),
        }
        sealed = seal(self._keys.encryption, _blob_id(self.name), json.dumps(body).encode())
        self._backend.write("locks", self.name, sealed)

    def _check_others(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for name in list(self._backend.names("locks")):
            if name == self.name:
                continue
            try:
                other = _read(self._backend, self._keys, name)
            except IntegrityError:
                raise RepositoryLocked(f"lock {name} cannot be read (another key or a damaged lock)") from None
            if other is None:
                continue
            if other.stale(now, self._stale_after):
                self._backend.remove("locks", name)
                continue
            if other.exclusive or self.info.exclusive:
                raise RepositoryLocked(f"the repository is locked: {other.describe()}")

    def refresh(self) -> None:
        """Keep the lock from going stale (call more often than ``stale_after``)."""
        self.info = LockInfo(
            self.info.exclusive, self.info.purpose, self.info.host, self.info.pid, dt.datetime.now(dt.UTC)
        )
        self._write()

    def release(self) -> None:
        self._backend.remove("locks", self.name)

    def __enter__(self) -> Lock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


def list_locks(backend: Backend, keys: RepositoryKeys) -> list[LockInfo]:
    found = (_read(backend, keys, name) for name in backend.names("locks"))
    return [info for info in found if info is not None]
