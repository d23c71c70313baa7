"""Tags: a name ``{env}-{type}-{version}-{date}`` (``prod-release-v1.2.3-20240624``) for a state of the system,
and the record a tag carries: the code's commit, the warehouse schema version, the configuration hash, the
checksum of every artifact, the snapshot it points at and how long it is kept.

The version may carry a pre-release (``v1.2.3-rc.1``), so a name is read from both ends: the first two parts are
the environment and the type, the last is the date, and what is between is the version.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENVIRONMENTS = ("prod", "staging", "dev", "regression", "test")
"""Where the tagged state comes from; ``regression`` is the regression environment (リグレ環境)."""

TAG_TYPES = ("release", "feature", "weekly", "manual")
"""``release`` is made when the deployed commit changes, ``feature`` by hand at an important feature,
``weekly`` by schedule, ``manual`` for anything else."""

_VERSION = re.compile(r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?")
_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class TagNameError(ValueError):
    """A tag name that is not ``{env}-{type}-{version}-{date}``; ``problems`` names each part that is wrong."""

    def __init__(self, name: str, problems: Mapping[str, str]) -> None:
        self.name = name
        self.problems = dict(problems)
        details = "; ".join(f"{part}: {problem}" for part, problem in self.problems.items())
        super().__init__(
            f"invalid tag name {name!r} (expected {{env}}-{{type}}-{{version}}-{{date}}, "
            f"e.g. prod-release-v1.2.3-20240624): {details}"
        )


@dataclass(frozen=True, order=True)
class TagName:
    """A valid tag name; build it with ``TagName.parse`` or ``TagName.of``."""

    env: str
    type: str
    version: str
    date: dt.date

    @classmethod
    def parse(cls, name: str) -> TagName:
        """Read ``name``; a ``TagNameError`` names every part that is wrong (env, type, version, date)."""
        parts = name.split("-")
        if len(parts) < 4:
            raise TagNameError(name, {"format": f"{len(parts)} part(s) separated by '-', expected 4"})
        env, tag_type, version, date_text = parts[0], parts[1], "-".join(parts[2:-1]), parts[-1]
        problems = _problems(env, tag_type, version)
        date = None
        if not re.fullmatch(r"\d{8}", date_text):
            problems["date"] = f"{date_text!r} is not YYYYMMDD"
        else:
            try:
                date = dt.datetime.strptime(date_text, "%Y%m%d").date()
            except ValueError:
                problems["date"] = f"{date_text!r} is not a calendar date"
        if problems or date is None:
            raise TagNameError(name, problems)
        return cls(env, tag_type, version, date)

    @classmethod
    def of(cls, env: str, tag_type: str, version: str, date: dt.date) -> TagName:
        """A name from its parts, validated like ``parse``."""
        tag = cls(env, tag_type, version, date)
        problems = _problems(env, tag_type, version)
        if problems:
            raise TagNameError(str(tag), problems)
        return tag

    def __str__(self) -> str:
        return f"{self.env}-{self.type}-{self.version}-{self.date:%Y%m%d}"


def _problems(env: str, tag_type: str, version: str) -> dict[str, str]:
    problems = {}
    if env not in ENVIRONMENTS:
        problems["env"] = f"{env!r} is not one of {', '.join(ENVIRONMENTS)}"
    if tag_type not in TAG_TYPES:
        problems["type"] = f"{tag_type!r} is not one of {', '.join(TAG_TYPES)}"
    if not _VERSION.fullmatch(version):
        problems["version"] = f"{version!r} is not vMAJOR.MINOR.PATCH (optionally -PRERELEASE, e.g. v1.2.3-rc.1)"
    return problems


@dataclass(frozen=True)
class Retention:
    """How long a tag is kept: until a date, or (``keep_until`` None) until it is deleted. While a tag exists
    its snapshot is pinned: pruning never removes it or anything it needs."""

    keep_until: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        return self.keep_until is not None and today > self.keep_until


@dataclass(frozen=True)
class Tag:
    """What a tag records about the state it names."""

    name: TagName
    commit: str
    """The code's git commit (40 hex digits)."""
    schema_version: str
    """The warehouse schema version: its Alembic revision."""
    config_hash: str
    """SHA-256 (hex) of the configuration files."""
    snapshot_id: str
    """The snapshot the tag points at (64 hex digits)."""
    artifact_checksums: Mapping[str, str] = field(default_factory=dict)
    """Artifact path (relative, '/'-separated) -> SHA-256 (hex) of its content."""
    retention: Retention = field(default_factory=Retention)
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        problems = []
        if not _HEX40.fullmatch(self.commit):
            problems.append(f"commit {self.commit!r} is not 40 lowercase hex digits")
        if not self.schema_version:
            problems.append("schema_version is empty")
        for label, value in (("config_hash", self.config_hash), ("snapshot_id", self.snapshot_id)):
            if not _HEX64.fullmatch(value):
                problems.append(f"{label} {value!r} is not 64 lowercase hex digits")
        for path, checksum in self.artifact_checksums.items():
            if not path or path.startswith("/") or ".." in path.split("/"):
                problems.append(f"artifact path {path!r} is not a relative path inside the system")
            if not _HEX64.fullmatch(checksum):
                problems.append(f"checksum of artifact {path!r} is not 64 lowercase hex digits")
        if self.created_at.tzinfo is None:
            problems.append("created_at has no time zone")
        if problems:
            raise ValueError(f"invalid tag {self.name}: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; ``Tag.from_dict`` reads it back."""
        return {
            "name": str(self.name),
            "commit": self.commit,
            "schema_version": self.schema_version,
            "config_hash": self.config_hash,
            "snapshot_id": self.snapshot_id,
            "artifact_checksums": dict(sorted(self.artifact_checksums.items())),
            "retention": {"keep_until": self.retention.keep_until.isoformat() if self.retention.keep_until else None},
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tag:
        keep_until = data["retention"]["keep_until"]
        return cls(
            name=TagName.parse(data["name"]),
            commit=data["commit"],
            schema_version=data["schema_version"],
            config_hash=data["config_hash"],
            snapshot_id=data["snapshot_id"],
            artifact_checksums=dict(data["artifact_checksums"]),
            retention=Retention(dt.date.fromisoformat(keep_until) if keep_until else None),
            created_at=dt.datetime.fromisoformat(data["created_at"]),
        )
