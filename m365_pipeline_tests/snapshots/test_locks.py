"""Repository locks: shared locks coexist, an exclusive one excludes, stale locks are cleared."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.locks import Lock, RepositoryLocked, list_locks

KEYS = RepositoryKeys(bytes(range(32)))


def test_shared_locks_coexist_and_exclusive_excludes(backend: Backend) -> None:
    with Lock(backend, KEYS, "snapshot", exclusive=False), Lock(backend, KEYS, "tag", exclusive=False):
        assert sorted(info.purpose for info in list_locks(backend, KEYS)) == ["snapshot", "tag"]
        with pytest.raises(RepositoryLocked, match=r"locked: shared lock for (snapshot|tag) by pid"):
            Lock(backend, KEYS, "prune", exclusive=True)
        assert len(list_locks(backend, KEYS)) == 2  # the refused lock is gone
    with (
        Lock(backend, KEYS, "prune", exclusive=True),
        pytest.raises(RepositoryLocked, match="exclusive lock for prune"),
    ):
        Lock(backend, KEYS, "snapshot", exclusive=False)
    assert list_locks(backend, KEYS) == []


def test_a_dead_process_lock_is_stale(backend: Backend) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    held = Lock(backend, KEYS, "restore", exclusive=True)
    held.info = held.info.__class__(True, "restore", held.info.host, int(dead.stdout), held.info.refreshed_at)
    held._write()  # as if a process that died had taken it
    with Lock(backend, KEYS, "snapshot", exclusive=False):
        assert [i.purpose for i in list_locks(backend, KEYS)] == ["snapshot"]


def test_an_old_lock_is_stale_unless_refreshed(backend: Backend) -> None:
    held = Lock(backend, KEYS, "tier", exclusive=True)
    with pytest.raises(RepositoryLocked):
        Lock(backend, KEYS, "snapshot", exclusive=False, stale_after=dt.timedelta(hours=1))
    held.refresh()
    Lock(backend, KEYS, "snapshot", exclusive=False, stale_after=dt.timedelta(0)).release()  # old enough: cleared
    assert [i.purpose for i in list_locks(backend, KEYS)] == []


def test_a_lock_of_another_key_blocks_with_a_clear_error(backend: Backend) -> None:
    with (
        Lock(backend, RepositoryKeys(bytes(32)), "snapshot", exclusive=False),
        pytest.raises(RepositoryLocked, match="cannot be read"),
    ):
        Lock(backend, KEYS, "prune", exclusive=True)
