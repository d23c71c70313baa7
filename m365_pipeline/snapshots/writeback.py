"""Writing a file out to disk while it is still being written, so the fsync that must come before it is renamed
into place finds little left to write: the disk works while the restore computes (decrypting, decompressing,
applying deltas) instead of after it.

``Writeback`` syncs the file from a thread of its own whenever bytes were written since its last sync. It only
starts the work early: the caller still fsyncs before the rename. An error of a background sync is raised when
the ``with`` block ends (after a failed fsync the kernel may clear the error, so a later fsync would not see it).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType


class Writeback:
    """Syncs the existing file ``path`` in the background after each ``written``; use as a context manager, whose
    end waits for the last sync."""

    def __init__(self, path: Path) -> None:
        self._descriptor = os.open(path, os.O_RDONLY)  # fsync needs no write access; its own descriptor outlives
        self._dirty = threading.Event()  # the writer's, so syncing goes on while the file is changed otherwise
        self._stopping = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="writeback", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"Writeback(descriptor {self._descriptor})"

    def written(self, _: int = 0) -> None:
        """Bytes were handed to the operating system since the last call (the argument, a count, is ignored)."""
        self._dirty.set()

    def _run(self) -> None:
        try:
            while True:
                self._dirty.wait()
                self._dirty.clear()
                if self._stopping:
                    return
                os.fdatasync(self._descriptor)
        except OSError as error:
            self._error = error
        finally:
            os.close(self._descriptor)

    def __enter__(self) -> Writeback:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stopping = True
        self._dirty.set()
        self._thread.join()
        if kind is None and self._error is not None:
            raise self._error
