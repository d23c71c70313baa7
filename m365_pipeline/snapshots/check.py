"""Proving the repository, like ``restic check``: the index opens, every indexed pack exists, every snapshot's
manifest opens and every chunk it needs is indexed, every tag and operations-log record opens; with
``read_data`` every pack hashes to its name, its header matches the index, and every blob opens and matches its
id. ``subset=(i, n)`` reads only the packs in the i-th of n slices (by name), so n runs with i = 0..n-1 read
everything once: a cheaper rotating check.

Every problem is named: the pack, the blob, the snapshot, the tag or the log record, and what was found.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from m365_pipeline.snapshots import oplog
from m365_pipeline.snapshots.backend import Backend, ObjectMissing
from m365_pipeline.snapshots.blobs import LOAD_THREADS, open_checked
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.index import Index, IndexCorrupted
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.manifests import load_manifest, snapshot_ids
from m365_pipeline.snapshots.packs import pack_pieces, read_header
from m365_pipeline.snapshots.progress import ProgressCallback, StepCounter
from m365_pipeline.snapshots.tag_store import TagStore
from m365_pipeline.snapshots.tags import TagName


@dataclass(frozen=True)
class Problem:
    kind: str
    """``index``, ``pack``, ``blob``, ``snapshot``, ``tag`` or ``log``."""
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.message}"


@dataclass
class CheckReport:
    packs: int = 0
    snapshots: int = 0
    packs_read: int = 0
    blobs_read: int = 0
    bytes_read: int = 0
    problems: list[Problem] = field(default_factory=list)
    unindexed: list[str] = field(default_factory=list)
    """Packs no index lists: what a writer killed between publishing a pack and saving the index leaves. Not a
    problem (no snapshot can refer to them); ``Index.rebuild`` reuses them, ``prune`` removes them."""

    @property
    def ok(self) -> bool:
        return not self.problems


def in_subset(pack_name: str, subset: tuple[int, int] | None) -> bool:
    if subset is None:
        return True
    part, parts = subset
    return int(pack_name[:8], 16) % parts == part


def todays_slice(parts: int, today: dt.date) -> tuple[int, int]:
    """The slice of ``parts`` a daily rotating check reads on ``today``: consecutive days read consecutive slices."""
    return today.toordinal() % parts, parts


def check(
    backend: Backend,
    keys: RepositoryKeys,
    *,
    read_data: bool = True,
    subset: tuple[int, int] | None = None,
    progress: ProgressCallback | None = None,
) -> CheckReport:
    """``progress`` counts the snapshots checked, then the packs read."""
    if subset is not None and not 0 <= subset[0] < subset[1]:
        raise ValueError(f"subset {subset} is not (i, n) with 0 <= i < n")
    report = CheckReport()
    try:
        index = Index.load(backend, keys.encryption)
    except IndexCorrupted as error:
        report.problems.append(Problem("index", error.blob_id.hex(), error.problem))
        index = Index.rebuild(backend, keys.encryption)  # check the packs against their own headers
    stored = set(backend.names("packs"))
    indexed = index.packs()
    report.packs = len(stored)
    for name in sorted(indexed - stored):
        lost = sum(1 for _, location in index.blobs() if location.pack == name)
        report.problems.append(Problem("pack", name, f"missing: {lost} indexed blob(s) are lost"))
    report.unindexed = sorted(stored - indexed)
    snapshots = list(snapshot_ids(backend))
    reading = [name for name in sorted(stored & indexed) if in_subset(name, subset)] if read_data else []
    counter = StepCounter(progress, len(snapshots) + len(reading))
    _check_snapshots(backend, keys, index, snapshots, report, counter)
    _check_records(backend, keys, report)
    by_pack: dict[str, dict[bytes, tuple[int, int]]] = {}
    for blob_id, location in index.blobs() if reading else ():
        by_pack.setdefault(location.pack, {})[blob_id] = (location.offset, location.length)
    with ThreadPoolExecutor(LOAD_THREADS, thread_name_prefix="check") as pool:
        for name in reading:
            report.packs_read += 1
            _check_pack(backend, keys, name, by_pack[name], report, pool)
            counter.advance()
    return report


def _check_snapshots(
    backend: Backend,
    keys: RepositoryKeys,
    index: Index,
    snapshots: list[str],
    report: CheckReport,
    counter: StepCounter,
) -> None:
    """Every snapshot's manifest opens, and every chunk it needs is in the index."""
    for snapshot_id in snapshots:
        counter.advance()
        report.snapshots += 1
        try:
            manifest = load_manifest(backend, keys, snapshot_id)
        except (IntegrityError, ValueError, KeyError) as error:
            report.problems.append(Problem("snapshot", snapshot_id, str(error)))
            continue
        for component, entries in sorted(manifest.components.items()):
            for entry in entries:
                for chunk_id in entry.chunks:
                    if chunk_id not in index:
                        report.problems.append(
                            Problem(
                                "blob", chunk_id.hex(), f"in no pack, needed by {snapshot_id} {component}/{entry.path}"
                            )
                        )


def _check_records(backend: Backend, keys: RepositoryKeys, report: CheckReport) -> None:
    """Every tag and every operations-log record opens and is what its name says."""
    tags = TagStore(backend, keys)
    for name in backend.names("tags"):
        try:
            tags.get(TagName.parse(name))
        except (IntegrityError, ValueError, KeyError) as error:
            report.problems.append(Problem("tag", name, str(error)))
    for name in backend.names("log"):
        try:
            oplog.read_record(backend, keys, name)
        except (IntegrityError, ValueError, KeyError) as error:
            report.problems.append(Problem("log", name, str(error)))


def _check_pack(
    backend: Backend,
    keys: RepositoryKeys,
    name: str,
    expected: dict[bytes, tuple[int, int]],
    report: CheckReport,
    pool: ThreadPoolExecutor,
) -> None:
    """Pack ``name`` read once, from start to end: its bytes hashed, its header compared with the index, and every
    blob the index places in it opened and checked against its id."""
    try:
        size = backend.size("packs", name)
        report.bytes_read += size
        listing: list[Problem] = []
        try:
            entries = read_header(backend, keys.encryption, name)
        except IntegrityError as error:
            listing.append(Problem("pack", name, error.problem))
        else:
            listed = {e.id: (e.offset, e.length) for e in entries}
            for blob_id, place in expected.items():
                if listed.get(blob_id) != place:
                    listing.append(Problem("blob", blob_id.hex(), f"not where the index says in pack {name}"))
        report.blobs_read += len(expected)
        digest, blob_problems = _read_pack(backend, keys, name, size, expected, pool)
        if digest != name:
            report.problems.append(Problem("pack", name, "its bytes do not hash to its name (changed or truncated)"))
        report.problems.extend(listing + blob_problems)
    except ObjectMissing as error:
        report.problems.append(Problem("pack", name, str(error)))


_Blob = tuple[bytes, int, int]
"""A blob's id, offset and length in its pack."""


def _read_pack(
    backend: Backend,
    keys: RepositoryKeys,
    name: str,
    size: int,
    expected: dict[bytes, tuple[int, int]],
    pool: ThreadPoolExecutor,
) -> tuple[str, list[Problem]]:
    """The SHA-256 of pack ``name`` and the problems of the ``expected`` blobs. The pack is read in pieces that end
    at blob boundaries; the blobs of a piece are checked in ``pool``'s threads while the next pieces are read (at
    most ``2 x threads`` pieces ahead). A blob that no piece holds whole (the index places it across the end of the
    pack or across another blob) is read on its own."""
    blobs = sorted(((blob_id, offset, length) for blob_id, (offset, length) in expected.items()), key=lambda b: b[1])
    cuts = [cut for _, offset, length in blobs for cut in (offset, offset + length)]
    digest = hashlib.sha256()
    ahead: deque[Future[list[Problem]]] = deque()
    problems: list[Problem] = []
    loose: list[_Blob] = []
    position = 0
    for start, piece in pack_pieces(backend, name, size, cuts):
        digest.update(piece)
        end = start + len(piece)
        held: list[_Blob] = []
        while position < len(blobs) and blobs[position][1] < end:
            blob = blobs[position]
            (held if blob[1] >= start and blob[1] + blob[2] <= end else loose).append(blob)
            position += 1
        if held:
            ahead.append(pool.submit(_check_blobs, keys, name, start, memoryview(piece), held))
        while len(ahead) > 2 * LOAD_THREADS:
            problems.extend(ahead.popleft().result())
    for future in ahead:
        problems.extend(future.result())
    for blob_id, offset, length in loose + blobs[position:]:
        problems.extend(
            _check_blobs(keys, name, offset, backend.read("packs", name, offset, length), [(blob_id, offset, length)])
        )
    return digest.hexdigest(), problems


def _check_blobs(
    keys: RepositoryKeys, pack: str, start: int, data: bytes | memoryview, blobs: list[_Blob]
) -> list[Problem]:
    """The problems of ``blobs``, whose sealed bytes are in ``data``, the bytes of ``pack`` from ``start``."""
    problems = []
    for blob_id, offset, length in blobs:
        try:
            open_checked(keys, blob_id, pack, length, data[offset - start : offset - start + length])
        except IntegrityError as error:
            problems.append(Problem("blob", blob_id.hex(), f"in pack {pack}: {error.problem}"))
    return problems
