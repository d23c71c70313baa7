"""Scratch folders for work in progress (a database copy, a table's Parquet, an archive, a passfile), named with
this host and pid so that those a killed process left behind are found and removed by the next one: a SIGKILL
in the middle of a snapshot must not leave a copy of the warehouse (or a password file) in the temporary folder
for good."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from m365_pipeline.liveness import process_alive

PREFIX = "m365-scratch-"


def _owner_prefix() -> str:
    return f"{PREFIX}{socket.gethostname()}-"


def remove_abandoned(base: Path | None = None) -> list[Path]:
    """Remove the scratch folders of dead processes of this host; returns them."""
    base = base or Path(tempfile.gettempdir())
    removed = []
    for path in base.glob(f"{_owner_prefix()}*"):
        pid = path.name.removeprefix(_owner_prefix()).split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def scratch_folder(purpose: str) -> Iterator[Path]:
    """A private folder (mode 0700) in the temporary folder, removed when the block ends."""
    remove_abandoned()
    folder = Path(tempfile.mkdtemp(prefix=f"{_owner_prefix()}{os.getpid()}-{purpose}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
