"""Whether a process of this host still runs: how runs and temporary files of dead processes are found and
cleared away."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs on this host (a zombie counts as dead: its work is abandoned)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


TEMPORARY_SUFFIX = ".tmp"


def temporary_sibling(path: Path) -> Path:
    """A name beside ``path`` for a file being written, carrying this host and pid so that, if the process dies
    before renaming it, ``remove_abandoned_temporaries`` knows it is abandoned."""
    return path.with_name(f".{path.name}.{socket.gethostname()}-{os.getpid()}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")


def remove_abandoned_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files in ``folder`` left by dead processes of this host; returns them."""
    host = socket.gethostname()
    removed = []
    for path in folder.glob(f".*.{host}-*{TEMPORARY_SUFFIX}") if folder.is_dir() else ():
        pid = path.name.rsplit(f".{host}-", 1)[1].split(".", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
