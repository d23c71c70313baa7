"""Diff between two snapshots: files added, removed and changed with sizes; a unified diff of configuration."""

from __future__ import annotations

import random
from pathlib import Path

from m365_pipeline.snapshots.archiver import archive_folder
from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.chunker import Chunker
from m365_pipeline.snapshots.diff import file_changes, unified_diff
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import Manifest

KEYS = RepositoryKeys(bytes(range(32)))


def _capture(backend: LocalBackend, index: Index, root: Path, files: dict[str, dict[str, bytes]]) -> Manifest:
    components = {}
    for component, contents in files.items():
        folder = root / component
        folder.mkdir(parents=True)
        for name, data in contents.items():
            (folder / name).write_bytes(data)
        with BlobSaver(backend, KEYS, index) as saver:
            components[component] = archive_folder(saver, Chunker(KEYS.chunk_id), folder)
    return Manifest("full", "h", components)


def test_diff_between_two_snapshots(tmp_path: Path) -> None:
    backend, index = LocalBackend(tmp_path / "repo"), Index()
    big = random.Random(1).randbytes(3_000_000)
    old = _capture(
        backend,
        index,
        tmp_path / "a",
        {
            "config": {"settings.toml": b"[graph]\nretries = 3\ntimeout = 30\n", "old.toml": b"x = 1\n"},
            "artifacts": {"big.parquet": big, "same.csv": b"a,b\n"},
        },
    )
    new = _capture(
        backend,
        index,
        tmp_path / "b",
        {
            "config": {"settings.toml": b"[graph]\nretries = 5\ntimeout = 30\n", "new.toml": b"y = 2\n"},
            "artifacts": {"big.parquet": big[:1_000_000] + b"!" + big[1_000_000:], "same.csv": b"a,b\n"},
        },
    )
    changes = file_changes(old, new)
    assert [(c.component, c.path, c.change) for c in changes] == [
        ("artifacts", "big.parquet", "changed"),
        ("config", "new.toml", "added"),
        ("config", "old.toml", "removed"),
        ("config", "settings.toml", "changed"),
    ]
    assert changes[0].old_size == 3_000_000 and changes[0].new_size == 3_000_001
    assert changes[0].shared_chunks > 0.85
    assert str(changes[1]) == "added    config/new.toml (6 bytes)"
    text = "".join(unified_diff(backend, KEYS, index, old, new, "config", labels=("v1", "v2")))
    assert "--- v1/config/settings.toml\n+++ v2/config/settings.toml\n" in text
    assert "-retries = 3\n+retries = 5\n" in text
    assert "+y = 2\n" in text and "-x = 1\n" in text
    binary = "".join(unified_diff(backend, KEYS, index, old, new, "artifacts"))
    assert "binary content" in binary
