"""Tags in the repository: create, show, list/search, delete; sealed and bound to their name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from m365_pipeline.snapshots.backend import LocalBackend
from m365_pipeline.snapshots.crypto import IntegrityError
from m365_pipeline.snapshots.keys import RepositoryKeys
from m365_pipeline.snapshots.tag_store import TagExists, TagNotFound, TagQuery, TagStore
from m365_pipeline.snapshots.tags import Tag, TagName

KEYS = RepositoryKeys(bytes(range(32)))
NAMES = [
    "prod-release-v1.2.3-20240624",
    "prod-weekly-v1.2.3-20240630",
    "prod-release-v1.3.0-20240715",
    "staging-release-v1.3.0-rc.1-20240710",
    "regression-manual-v1.2.3-20240701",
]


def _tag(name: str, snapshot: str = "c") -> Tag:
    created = dt.datetime(2024, 6, 24, tzinfo=dt.UTC)
    return Tag(
        TagName.parse(name), "a" * 40, "0007", "b" * 64, snapshot * 64, {"reports/x.csv": "d" * 64}, created_at=created
    )


@pytest.fixture
def store(tmp_path: Path) -> TagStore:
    store = TagStore(LocalBackend(tmp_path), KEYS)
    for i, name in enumerate(NAMES):
        store.create(_tag(name, snapshot="0123456789"[i]))
    return store


def test_create_show_and_refuse_a_duplicate(store: TagStore) -> None:
    name = TagName.parse(NAMES[0])
    assert store.get(name) == _tag(NAMES[0], snapshot="0")
    with pytest.raises(TagExists, match=f"tag {NAMES[0]} exists already"):
        store.create(_tag(NAMES[0]))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TagQuery(), [0, 3, 2, 1, 4]),
        (TagQuery(env="prod"), [0, 1, 2]),
        (TagQuery(type="release"), [0, 3, 2]),
        (TagQuery(version="v1.2.3"), [0, 1, 4]),
        (TagQuery(since=dt.date(2024, 6, 30), until=dt.date(2024, 7, 10)), [1, 4, 3]),
        (TagQuery(env="prod", type="release", since=dt.date(2024, 7, 1)), [2]),
        (TagQuery(env="dev"), []),
    ],
)
def test_list_and_search(store: TagStore, query: TagQuery, expected: list[int]) -> None:
    by_date = sorted(range(len(NAMES)), key=lambda i: (TagName.parse(NAMES[i]).date, NAMES[i]))
    assert [str(n) for n in store.names(query)] == [NAMES[i] for i in by_date if i in expected]


def test_delete_and_pins(store: TagStore) -> None:
    assert store.pinned_snapshots() == {d * 64 for d in "01234"}
    store.delete(TagName.parse(NAMES[1]))
    assert store.pinned_snapshots() == {d * 64 for d in "0234"}
    with pytest.raises(TagNotFound, match=f"no tag {NAMES[1]}"):
        store.delete(TagName.parse(NAMES[1]))
    with pytest.raises(TagNotFound):
        store.get(TagName.parse(NAMES[1]))


def test_a_tag_is_sealed_and_cannot_be_renamed(store: TagStore, tmp_path: Path) -> None:
    stored = (tmp_path / "tags" / NAMES[0]).read_bytes()
    assert b"a" * 40 not in stored and b"v1.2.3" not in stored
    (tmp_path / "tags" / NAMES[1]).write_bytes(stored)
    with pytest.raises(IntegrityError, match="failed authentication"):
        store.get(TagName.parse(NAMES[1]))


def test_an_expired_tag_pins_nothing_once_today_is_given(tmp_path: Path) -> None:
    from m365_pipeline.snapshots.tags import Retention

    store = TagStore(LocalBackend(tmp_path / "repo"), RepositoryKeys(bytes(range(32))))
    until = dt.date(2024, 7, 31)
    for digit, keep_until in (("a", until), ("b", None)):
        name = TagName.parse(f"prod-feature-v1.0.{ord(digit)}-20240701")
        store.create(Tag(name, "c" * 40, "0002", "d" * 64, digit * 64, retention=Retention(keep_until)))
    assert store.pinned_snapshots() == {"a" * 64, "b" * 64}
    assert store.pinned_snapshots(today=until) == {"a" * 64, "b" * 64}
    assert store.pinned_snapshots(today=until + dt.timedelta(days=1)) == {"b" * 64}
