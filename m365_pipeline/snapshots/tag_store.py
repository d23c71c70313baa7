"""Tags kept in the repository: one sealed object per tag (``tags/<tag name>``), the tag's name bound to it as
associated data so a tag cannot be renamed or swapped in the store. Create refuses an existing name; list filters
by env, type, version and date range.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from m365_pipeline.snapshots import oplog
from m365_pipeline.snapshots.backend import Backend, ObjectMissing
from m365_pipeline.snapshots.crypto import IntegrityError, open_sealed, seal
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.tags import Tag, TagName


class TagExists(ValueError):
    pass


class TagNotFound(KeyError):
    def __init__(self, name: TagName) -> None:
        super().__init__(f"no tag {name}")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class TagQuery:
    """Which tags to list; a field left None matches every tag."""

    env: str | None = None
    type: str | None = None
    version: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def matches(self, name: TagName) -> bool:
        return (
            (self.env is None or name.env == self.env)
            and (self.type is None or name.type == self.type)
            and (self.version is None or name.version == self.version)
            and (self.since is None or name.date >= self.since)
            and (self.until is None or name.date <= self.until)
        )


def _blob_id(name: TagName) -> bytes:
    return hashlib.sha256(f"tag:{name}".encode()).digest()


class TagStore:
    def __init__(self, backend: Backend, keys: RepositoryKeys) -> None:
        self._backend, self._keys = backend, keys

    def __repr__(self) -> str:
        return f"TagStore({self._backend!r})"

    def create(self, tag: Tag) -> None:
        if self.exists(tag.name):
            raise TagExists(f"tag {tag.name} exists already; delete it first to replace it")
        data = json.dumps(tag.to_dict(), sort_keys=True).encode()
        self._backend.write("tags", str(tag.name), seal(self._keys.encryption, _blob_id(tag.name), data))
        oplog.record(
            self._backend, self._keys, "tag create", details={"tag": str(tag.name), "snapshot_id": tag.snapshot_id}
        )

    def exists(self, name: TagName) -> bool:
        return str(name) in set(self._backend.names("tags"))

    def get(self, name: TagName) -> Tag:
        try:
            sealed = self._backend.read("tags", str(name))
        except ObjectMissing:
            raise TagNotFound(name) from None
        tag = Tag.from_dict(json.loads(open_sealed(self._keys.encryption, _blob_id(name), sealed)))
        if tag.name != name:
            raise IntegrityError(_blob_id(name), f"tag object {name} holds tag {tag.name}")
        return tag

    def delete(self, name: TagName) -> None:
        if not self.exists(name):
            raise TagNotFound(name)
        snapshot_id = self.get(name).snapshot_id
        self._backend.remove("tags", str(name))
        oplog.record(self._backend, self._keys, "tag delete", details={"tag": str(name), "snapshot_id": snapshot_id})

    def names(self, query: TagQuery | None = None) -> list[TagName]:
        """Tag names matching ``query``, sorted by date then name."""
        query = query or TagQuery()
        found = [TagName.parse(text) for text in self._backend.names("tags")]
        return sorted((n for n in found if query.matches(n)), key=lambda n: (n.date, str(n)))

    def tags(self, query: TagQuery | None = None) -> Iterator[Tag]:
        return (self.get(name) for name in self.names(query))

    def pinned_snapshots(self, today: dt.date | None = None) -> set[str]:
        """The snapshots some tag points at: pruning must keep them and everything they need. Given ``today``,
        a tag whose retention has expired pins nothing any more (it is kept until deleted, but its snapshot may go)."""
        return {tag.snapshot_id for tag in self.tags() if today is None or not tag.retention.expired(today)}
