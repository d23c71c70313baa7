"""Which snapshots to keep: the newest of each of the last ``daily`` days, the newest of each of the last
``weekly`` ISO weeks, every snapshot a tag pins, and every snapshot a kept incremental is based on (transitively),
so forgetting never leaves a kept snapshot without its base. Pure: it decides, ``prune`` removes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SnapshotSummary:
    id: str
    created_at: dt.datetime
    parent: str | None = None


@dataclass(frozen=True)
class RetentionPolicy:
    daily: int = 7
    weekly: int = 4

    def __post_init__(self) -> None:
        if self.daily < 0 or self.weekly < 0:
            raise ValueError(f"keep counts cannot be negative: daily={self.daily}, weekly={self.weekly}")


@dataclass(frozen=True)
class Decision:
    keep: dict[str, str]
    """Kept snapshot id -> why."""
    forget: list[str]


def decide(policy: RetentionPolicy, snapshots: Iterable[SnapshotSummary], pinned: Collection[str]) -> Decision:
    ordered = sorted(snapshots, key=lambda s: (s.created_at, s.id), reverse=True)
    keep: dict[str, str] = {}
    for snapshot in ordered:
        if snapshot.id in pinned:
            keep[snapshot.id] = "tagged"
    for label, count, bucket in (
        ("daily", policy.daily, lambda s: s.created_at.date()),
        ("weekly", policy.weekly, lambda s: s.created_at.isocalendar()[:2]),
    ):
        seen: list[object] = []
        for snapshot in ordered:
            key = bucket(snapshot)
            if key in seen:
                continue
            if len(seen) == count:
                break
            seen.append(key)
            keep.setdefault(snapshot.id, label)
    by_id = {s.id: s for s in ordered}
    for snapshot_id in list(keep):
        parent = by_id[snapshot_id].parent
        while parent is not None and parent in by_id:
            keep.setdefault(parent, f"base of {snapshot_id}")
            parent = by_id[parent].parent
    return Decision(keep, [s.id for s in ordered if s.id not in keep])
