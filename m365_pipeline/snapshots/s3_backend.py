"""The repository in S3 (or any S3-compatible endpoint), through pyarrow's S3 filesystem like the raw store.

Objects have the local backend's layout under ``s3://bucket/prefix``. A pack is written to a local spool and
uploaded whole once complete: an S3 object becomes visible only when its upload finishes, so, as with the local
rename, a reader never sees half a pack. Spools of dead processes are removed from the local spool folder.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs

from m365_pipeline.liveness import remove_abandoned_temporaries, temporary_sibling
from m365_pipeline.object_store import s3_filesystem
from m365_pipeline.snapshots.backend import ObjectMissing, object_key


class S3Backend:
    """A repository under ``s3://bucket/prefix``."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, spool_folder: Path | None = None) -> None:
        if not url.startswith("s3://") or len(url) <= len("s3://"):
            raise ValueError(f"an S3 repository is s3://bucket/prefix, got {url!r}")
        self.url = url
        self._fs = s3_filesystem(endpoint_url)
        self._base = url.removeprefix("s3://").rstrip("/")
        self._spools = spool_folder or Path(tempfile.gettempdir()) / "m365-snapshot-spools"

    def __repr__(self) -> str:
        return f"S3Backend({self.url!r})"

    def _path(self, kind: str, name: str) -> str:
        return f"{self._base}/{object_key(kind, name)}"

    def new_spool(self) -> Path:
        self._spools.mkdir(parents=True, exist_ok=True)
        return temporary_sibling(self._spools / "spool")

    def publish(self, kind: str, name: str, spool: Path) -> None:
        try:
            pafs.copy_files(str(spool), self._path(kind, name), destination_filesystem=self._fs)
        finally:
            spool.unlink(missing_ok=True)

    def write(self, kind: str, name: str, data: bytes) -> None:
        with self._fs.open_output_stream(self._path(kind, name)) as stream:
            stream.write(data)

    def read(self, kind: str, name: str, offset: int = 0, length: int | None = None) -> bytes:
        try:
            with self._fs.open_input_file(self._path(kind, name)) as handle:
                size = handle.size()
                count = size - offset if length is None else min(length, max(0, size - offset))
                data = bytes(handle.read_at(count, offset)) if count > 0 else b""
                return data
        except FileNotFoundError:
            raise ObjectMissing(kind, name) from None

    def size(self, kind: str, name: str) -> int:
        info = self._fs.get_file_info(self._path(kind, name))
        if info.type == pafs.FileType.NotFound:
            raise ObjectMissing(kind, name)
        size: int = info.size
        return size

    def names(self, kind: str) -> Iterator[str]:
        selector = pafs.FileSelector(f"{self._base}/{kind}", allow_not_found=True, recursive=True)
        names = sorted(info.base_name for info in self._fs.get_file_info(selector) if info.is_file)
        yield from (name for name in names if not name.startswith("."))

    def remove(self, kind: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fs.delete_file(self._path(kind, name))

    def remove_abandoned(self) -> list[Path]:
        return remove_abandoned_temporaries(self._spools)
