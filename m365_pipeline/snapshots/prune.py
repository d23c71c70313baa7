"""Forgetting snapshots and removing the data no kept snapshot needs, like ``restic prune``, under an exclusive
lock.

Order, so that a kill at any point leaves every kept snapshot whole: forgotten manifests are removed first; packs
whose blobs are partly needed have the needed blobs copied (still sealed) into new packs; one new index of
everything kept is written; only then are the old index files and the packs no longer needed removed. A kept
snapshot whose chunk is already missing stops the prune before anything is removed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from m365_pipeline.snapshots import oplog
from m365_pipeline.snapshots.backend import Backend
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.locks import Lock
from m365_pipeline.snapshots.manifests import load_manifest, snapshot_ids
from m365_pipeline.snapshots.packs import TARGET_SIZE, Pack, PackEntry, PackWriter
from m365_pipeline.snapshots.progress import ProgressCallback, StepCounter
from m365_pipeline.snapshots.retention import Decision, RetentionPolicy, SnapshotSummary, decide


class PruneRefused(RuntimeError):
    pass


@dataclass
class PruneReport:
    decision: Decision
    packs_removed: int = 0
    packs_written: int = 0
    blobs_removed: int = 0
    bytes_removed: int = 0
    problems: list[str] = field(default_factory=list)


def prune(
    backend: Backend,
    keys: RepositoryKeys,
    policy: RetentionPolicy,
    pinned: Collection[str],
    *,
    pack_size: int = TARGET_SIZE,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> PruneReport:
    """Keep what ``policy`` and the tags (``pinned`` snapshot ids) keep; remove the rest (recorded in the
    operations log unless ``dry_run``). ``progress`` is called with the steps done and the steps in all, once the
    plan is made: snapshots forgotten, blobs copied out of partly needed packs, packs removed."""
    if dry_run:
        return _prune(backend, keys, policy, pinned, pack_size, progress, dry_run=True)
    asked = {"daily": policy.daily, "weekly": policy.weekly, "pinned": len(pinned)}
    with oplog.recorded(backend, keys, "prune", asked) as details:
        report = _prune(backend, keys, policy, pinned, pack_size, progress, dry_run=False)
        details.update(
            forgotten=report.decision.forget, packs_removed=report.packs_removed, bytes_removed=report.bytes_removed
        )
        return report


def _prune(
    backend: Backend,
    keys: RepositoryKeys,
    policy: RetentionPolicy,
    pinned: Collection[str],
    pack_size: int,
    progress: ProgressCallback | None,
    *,
    dry_run: bool,
) -> PruneReport:
    with Lock(backend, keys, "prune", exclusive=True):
        manifests = {snapshot_id: load_manifest(backend, keys, snapshot_id) for snapshot_id in snapshot_ids(backend)}
        summaries = [SnapshotSummary(i, m.created_at, m.parent) for i, m in manifests.items()]
        report = PruneReport(decide(policy, summaries, pinned))
        needed = set().union(*(manifests[i].chunk_ids() for i in report.decision.keep))
        index = Index.load(backend, keys.encryption)
        stored = set(backend.names("packs"))
        missing = sorted(c.hex() for c in needed if c not in index or index.lookup(c).pack not in stored)
        if missing:
            raise PruneRefused(
                f"{len(missing)} chunk(s) kept snapshots need are missing (e.g. {missing[0]}); "
                "nothing was removed: run check"
            )
        by_pack: dict[str, list[PackEntry]] = {name: [] for name in stored}
        for blob_id, location in index.blobs():
            if location.pack in by_pack:
                by_pack[location.pack].append(PackEntry(location.type, blob_id, location.offset, location.length))
        keep_whole, rewrite, remove = [], [], []
        for name, entries in sorted(by_pack.items()):
            used = [e for e in entries if e.id in needed]
            if used and len(used) == len(entries):
                keep_whole.append((name, entries))
            elif used:
                rewrite.append((name, used))
                remove.append(name)
            else:
                remove.append(name)
        if dry_run:
            report.packs_removed = len(remove)
            return report

        counter = StepCounter(
            progress, len(report.decision.forget) + sum(len(used) for _, used in rewrite) + len(remove)
        )
        for snapshot_id in report.decision.forget:
            backend.remove("snapshots", snapshot_id)
            counter.advance()
        new_index = Index()
        for name, entries in keep_whole:
            new_index.add_pack(Pack(name, tuple(entries), backend.size("packs", name)))
        writer: PackWriter | None = None
        for name, used in rewrite:
            for entry in used:
                writer = writer or PackWriter(backend, keys.encryption, pack_size)
                writer.add(entry.type, entry.id, backend.read("packs", name, entry.offset, entry.length))
                counter.advance()
                if writer.full:
                    new_index.add_pack(writer.finish())
                    report.packs_written += 1
                    writer = None
        if writer is not None:
            new_index.add_pack(writer.finish())
            report.packs_written += 1
        old_index_files = list(backend.names("index"))
        new_name = new_index.save(backend, keys.encryption)
        for name in old_index_files:
            if name != new_name:
                backend.remove("index", name)
        kept_ids = {blob_id for blob_id, _ in new_index.blobs()}
        for name in remove:
            report.bytes_removed += backend.size("packs", name)
            report.blobs_removed += sum(1 for e in by_pack[name] if e.id not in kept_ids)
            backend.remove("packs", name)
            report.packs_removed += 1
            counter.advance()
        return report
