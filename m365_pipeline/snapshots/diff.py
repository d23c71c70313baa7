"""Differences between two snapshots: per component, the files added, removed and changed (with sizes and the
share of chunks they still share), and for text files such as the configuration a unified diff of their content.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.blobs import load_blob
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import FileEntry, Manifest

MAX_TEXT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileChange:
    component: str
    path: str
    change: str
    """``added``, ``removed`` or ``changed``."""
    old_size: int | None
    new_size: int | None
    shared_chunks: float = 0.0
    """For a changed file: the share of the new file's chunks the old one had too."""

    def __str__(self) -> str:
        sizes = {
            "added": f"{self.new_size} bytes",
            "removed": f"{self.old_size} bytes",
            "changed": f"{self.old_size} -> {self.new_size} bytes, {self.shared_chunks:.0%} of chunks unchanged",
        }[self.change]
        return f"{self.change:8} {self.component}/{self.path} ({sizes})"


def file_changes(old: Manifest, new: Manifest) -> list[FileChange]:
    changes = []
    for component in sorted(set(old.components) | set(new.components)):
        before = {e.path: e for e in old.components.get(component, ())}
        after = {e.path: e for e in new.components.get(component, ())}
        for path in sorted(set(before) | set(after)):
            a, b = before.get(path), after.get(path)
            if a is None and b is not None:
                changes.append(FileChange(component, path, "added", None, b.size))
            elif b is None and a is not None:
                changes.append(FileChange(component, path, "removed", a.size, None))
            elif a is not None and b is not None and a.sha256 != b.sha256:
                shared = len(set(b.chunks) & set(a.chunks)) / len(b.chunks) if b.chunks else 0.0
                changes.append(FileChange(component, path, "changed", a.size, b.size, shared))
    return changes


def _text(backend: Backend, keys: RepositoryKeys, index: Index, entry: FileEntry | None) -> list[str]:
    if entry is None:
        return []
    if entry.size > MAX_TEXT_BYTES:
        return [f"<{entry.size} bytes, too large to show>\n"]
    data = b"".join(load_blob(backend, keys, index, chunk) for chunk in entry.chunks)
    try:
        return data.decode("utf-8-sig").splitlines(keepends=True)
    except UnicodeDecodeError:
        return [f"<{entry.size} bytes of binary content, sha256 {entry.sha256}>\n"]


def unified_diff(
    backend: Backend,
    keys: RepositoryKeys,
    index: Index,
    old: Manifest,
    new: Manifest,
    component: str,
    *,
    labels: tuple[str, str] = ("old", "new"),
) -> Iterator[str]:
    """A unified diff of every file of ``component`` that differs between the two snapshots."""
    for change in file_changes(old, new):
        if change.component != component:
            continue
        before = {e.path: e for e in old.components.get(component, ())}.get(change.path)
        after = {e.path: e for e in new.components.get(component, ())}.get(change.path)
        yield from difflib.unified_diff(
            _text(backend, keys, index, before),
            _text(backend, keys, index, after),
            fromfile=f"{labels[0]}/{component}/{change.path}",
            tofile=f"{labels[1]}/{component}/{change.path}",
        )
