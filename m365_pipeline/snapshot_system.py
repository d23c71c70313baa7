"""This system's snapshots, as the settings define them: the repository (``M365_SNAPSHOT_STORE`` opened with
``M365_SNAPSHOT_KEY`` or ``M365_SNAPSHOT_PASSPHRASE``) and what a snapshot of the system is made of. The CLI and
the Dagster assets both go through here; the snapshot mechanics are ``m365_pipeline.snapshots``'.

Components: ``warehouse`` (the database: SQLite through its online backup API, PostgreSQL through
``pg_dump -Fc -Z0``), ``config`` (the Dagster instance and workspace files and the effective settings, secrets
masked), ``raw`` (the raw store's extracts) and ``reports`` (the written reports).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from m365_pipeline.settings import Settings, mask_url_password
from m365_pipeline.snapshots.archiver import archive_file
from m365_pipeline.snapshots.backend import Backend, LocalBackend
from m365_pipeline.snapshots.blobs import BlobSaver
from m365_pipeline.snapshots.config import RepositoryConfig, RepositoryError, init_repository, open_repository
from m365_pipeline.snapshots.index import Index
from m365_pipeline.snapshots.keys import RepositoryKeys, ScryptParams
from m365_pipeline.snapshots.locks import Lock
from m365_pipeline.snapshots.manifests import FileEntry, Manifest, load_manifest, save_manifest, snapshot_ids
from m365_pipeline.snapshots.restorer import RestoreRefused, destination, restore_files
from m365_pipeline.snapshots.tag_store import TagQuery, TagStore
from m365_pipeline.snapshots.tags import Retention, Tag, TagName, TagNameError
from m365_pipeline.warehouse import schema
from m365_pipeline.warehouse.consistency import consumed_unit_mismatches, licenses_without_user
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import current_revision

COMPONENTS = ("warehouse", "config", "raw", "reports")
CONFIG_FILES = ("dagster.yaml", "workspace.yaml")
"""Project files that configure the running system, taken from the working folder when present."""

Progress = Callable[[int, str], None]
"""Called with the bytes just processed and what is being processed."""


def _no_progress(_bytes: int, _what: str) -> None:
    pass


class SnapshotKeyMissing(ValueError):
    """Neither M365_SNAPSHOT_KEY nor M365_SNAPSHOT_PASSPHRASE is set."""


@dataclass(frozen=True)
class Repository:
    backend: Backend
    config: RepositoryConfig
    keys: RepositoryKeys
    location: str

    def __repr__(self) -> str:
        return f"Repository({self.location!r})"


def open_backend(store: str, settings: Settings) -> Backend:
    if store.startswith("s3://"):
        from m365_pipeline.snapshots.s3_backend import S3Backend

        return S3Backend(store, endpoint_url=settings.s3_endpoint_url, spool_folder=settings.data_dir / "spools")
    return LocalBackend(Path(store))


def _secrets(settings: Settings) -> dict[str, str]:
    snapshots = settings.snapshots
    if snapshots.key is not None:
        return {"M365_SNAPSHOT_KEY": snapshots.key.reveal()}
    if snapshots.passphrase is not None:
        return {"M365_SNAPSHOT_PASSPHRASE": snapshots.passphrase.reveal()}
    raise SnapshotKeyMissing("no snapshot key: set M365_SNAPSHOT_KEY (base64 of 32 bytes) or M365_SNAPSHOT_PASSPHRASE")


def open_store(settings: Settings, *, create: bool = False, store: str | None = None) -> Repository:
    """The repository at ``store`` (default: the hot store); with ``create``, made first if the store holds none."""
    location = store or settings.snapshot_store
    backend = open_backend(location, settings)
    secrets = _secrets(settings)
    if not any(True for _ in backend.names("config")):
        if not create:
            raise RepositoryError(f"{location} holds no snapshot repository yet: `m365 snapshot create` makes one")
        _init(backend, settings)
    config, keys = open_repository(backend, secrets)
    return Repository(backend, config, keys, location)


def _init(backend: Backend, settings: Settings) -> None:
    snapshots = settings.snapshots
    if snapshots.key is not None:
        init_repository(backend, RepositoryKeys.from_base64(snapshots.key.reveal()))
    elif snapshots.passphrase is not None:
        params = ScryptParams.new()
        init_repository(backend, RepositoryKeys.from_passphrase(snapshots.passphrase.reveal(), params), params)


@dataclass(frozen=True)
class SnapshotSummary:
    id: str
    kind: str
    created_at: dt.datetime
    host: str
    parent: str | None
    sizes: dict[str, int]
    """Component -> plain bytes."""

    @property
    def size(self) -> int:
        return sum(self.sizes.values())


def summarize(snapshot_id: str, manifest: Manifest) -> SnapshotSummary:
    sizes = {name: sum(entry.size for entry in entries) for name, entries in sorted(manifest.components.items())}
    return SnapshotSummary(snapshot_id, manifest.kind, manifest.created_at, manifest.host, manifest.parent, sizes)


def list_snapshots(repository: Repository) -> list[SnapshotSummary]:
    """Every snapshot, oldest first."""
    found = [
        summarize(snapshot_id, load_manifest(repository.backend, repository.keys, snapshot_id))
        for snapshot_id in snapshot_ids(repository.backend)
    ]
    return sorted(found, key=lambda s: (s.created_at, s.id))


def resolve_snapshot(repository: Repository, reference: str | None) -> str:
    """A snapshot id from a full id, a unique prefix of at least 8 hex digits, or None/``latest`` for the newest."""
    ids = snapshot_ids(repository.backend)
    if reference in (None, "latest"):
        newest = list_snapshots(repository)
        if not newest:
            raise LookupError(f"{repository.location} holds no snapshot yet")
        return newest[-1].id
    assert reference is not None
    matches = [i for i in ids if i.startswith(reference.lower())] if len(reference) >= 8 else []
    if len(matches) != 1:
        why = "matches several snapshots" if matches else "is no snapshot id (8 or more hex digits)"
        raise LookupError(f"{reference!r} {why}")
    return matches[0]


@dataclass
class SnapshotResult:
    id: str
    kind: str
    parent: str | None
    sizes: dict[str, int] = field(default_factory=dict)
    """Component -> plain bytes."""
    new_bytes: int = 0
    """Plain bytes of the chunks this snapshot stored (the rest were in the store already)."""
    stored_bytes: int = 0
    """Bytes the new chunks take in the store (compressed and encrypted)."""
    seconds: float = 0.0

    @property
    def size(self) -> int:
        return sum(self.sizes.values())

    @property
    def dedup_ratio(self) -> float | None:
        """Plain bytes of the snapshot per plain byte newly stored (1.0: nothing was in the store already; None:
        everything was)."""
        return self.size / self.new_bytes if self.new_bytes else None


def create_snapshot(
    settings: Settings,
    kind: str = "full",
    components: tuple[str, ...] = COMPONENTS,
    progress: Progress = _no_progress,
    clock: Callable[[], float] = time.monotonic,
) -> SnapshotResult:
    """Capture ``components`` of the system into the hot store (created on first use)."""
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(unknown)}: expected {', '.join(COMPONENTS)}")
    started = clock()
    repository = open_store(settings, create=True)
    backend, keys = repository.backend, repository.keys
    parent = _newest_full(repository) if kind == "incremental" else None
    if kind == "incremental" and parent is None:
        raise LookupError("an incremental snapshot needs a full one first: run `m365 snapshot create --full`")
    backend.remove_abandoned()
    captured: dict[str, tuple[FileEntry, ...]] = {}
    with Lock(backend, keys, "snapshot", exclusive=False), tempfile.TemporaryDirectory(prefix="m365-snapshot-") as work:
        index = Index.load(backend, keys.encryption)
        chunker = repository.config.new_chunker(keys)
        with BlobSaver(backend, keys, index, pack_size=repository.config.pack_size) as saver:
            for component in components:
                entries = []
                for path, name in _component_files(settings, component, Path(work)):
                    entries.append(archive_file(saver, chunker, path, name))
                    progress(entries[-1].size, f"{component}/{name}")
                captured[component] = tuple(entries)
        manifest = Manifest(kind=kind, host=socket.gethostname(), components=captured, parent=parent)
        snapshot_id = save_manifest(backend, keys, manifest)
    stats = saver.stats
    return SnapshotResult(
        id=snapshot_id,
        kind=kind,
        parent=parent,
        sizes=summarize(snapshot_id, manifest).sizes,
        new_bytes=stats.new_bytes,
        stored_bytes=stats.stored_bytes,
        seconds=clock() - started,
    )


def estimated_size(settings: Settings, components: tuple[str, ...]) -> int:
    """About how many bytes a snapshot of ``components`` reads (for a progress bar)."""
    total = 0
    for component in components:
        if component == "warehouse":
            url = sa.make_url(settings.database_url)
            if url.get_backend_name() == "sqlite" and url.database and Path(url.database).is_file():
                total += Path(url.database).stat().st_size
        elif component == "raw" and not settings.raw_store.startswith("s3://"):
            total += sum(path.stat().st_size for path, _ in _folder_files(Path(settings.raw_store)))
        elif component == "reports":
            total += sum(path.stat().st_size for path, _ in _folder_files(settings.reports_dir))
    return total


def resolve_reference(repository: Repository, reference: str) -> str:
    """The snapshot a tag name, a snapshot id (or unique prefix) or ``latest`` names."""
    try:
        name = TagName.parse(reference)
    except TagNameError:
        return resolve_snapshot(repository, reference)
    return TagStore(repository.backend, repository.keys).get(name).snapshot_id


@dataclass(frozen=True)
class RestorePlan:
    snapshot_id: str
    entries: tuple[tuple[str, FileEntry], ...]
    """(component, file) in restore order."""

    @property
    def size(self) -> int:
        return sum(entry.size for _, entry in self.entries)

    @property
    def files(self) -> int:
        return len(self.entries)


def restore_plan(repository: Repository, snapshot_id: str, components: tuple[str, ...]) -> RestorePlan:
    manifest = load_manifest(repository.backend, repository.keys, snapshot_id)
    missing = [c for c in components if c not in manifest.components and c in COMPONENTS]
    chosen = [c for c in components if c in manifest.components]
    if not chosen:
        raise LookupError(f"snapshot {snapshot_id[:12]} holds none of {', '.join(missing)}")
    return RestorePlan(snapshot_id, tuple((c, e) for c in chosen for e in manifest.components[c]))


def restore_into(
    repository: Repository, plan: RestorePlan, target: Path, *, force: bool = False, progress: Progress = _no_progress
) -> int:
    """Write the plan's files under ``target/<component>/``; every path is checked and every existing file refused
    (without ``force``) before the first write."""
    for component, entry in plan.entries:
        path = destination(target / component, entry)
        if path.exists() and not force:
            raise RestoreRefused(f"{path} exists already; use force to replace it (nothing was written)")
    index = Index.load(repository.backend, repository.keys.encryption)
    written = 0
    with Lock(repository.backend, repository.keys, "restore", exclusive=False):
        for component, entry in plan.entries:
            size = restore_files(repository.backend, repository.keys, index, [entry], target / component, force=True)
            written += size
            progress(size, f"{component}/{entry.path}")
    return written


def _newest_full(repository: Repository) -> str | None:
    fulls = [s for s in list_snapshots(repository) if s.kind == "full"]
    return fulls[-1].id if fulls else None


def _component_files(settings: Settings, component: str, work: Path) -> Iterator[tuple[Path, str]]:
    """(local file, path inside the component) of everything ``component`` holds, in path order."""
    if component == "warehouse":
        yield _dump_warehouse(settings.database_url, work)
    elif component == "config":
        yield from _config_files(settings, work)
    elif component == "raw":
        if settings.raw_store.startswith("s3://"):
            raise NotImplementedError("snapshots of a raw store on S3 are not supported yet; use a local raw store")
        yield from _folder_files(Path(settings.raw_store))
    elif component == "reports":
        yield from _folder_files(settings.reports_dir)


def _folder_files(root: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.rglob("*")) if root.is_dir() else ():
        relative = path.relative_to(root)
        if path.is_file() and not path.is_symlink() and not relative.name.startswith("."):
            yield path, relative.as_posix()


def _config_files(settings: Settings, work: Path) -> Iterator[tuple[Path, str]]:
    for name in CONFIG_FILES:
        if Path(name).is_file():
            yield Path(name), name
    effective = work / "settings.txt"
    effective.write_text("".join(f"{name} = {value}\n" for name, value in effective_settings(settings)))
    yield effective, "settings.txt"


def effective_settings(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Every setting as (dotted name, text), secrets masked and URL passwords hidden."""
    if is_dataclass(value) and not isinstance(value, type):
        pairs: list[tuple[str, str]] = []
        for item in fields(value):
            pairs.extend(effective_settings(getattr(value, item.name), f"{prefix}{item.name}."))
        return pairs
    if isinstance(value, str) and "://" in value:
        value = mask_url_password(value)
    return [(prefix.rstrip("."), str(value))]


def _dump_warehouse(database_url: str, work: Path) -> tuple[Path, str]:
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        target = work / "warehouse.sqlite"
        source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
        try:
            with sqlite3.connect(target) as copy:
                source.backup(copy)
            copy.close()
        finally:
            source.close()
        return target, "warehouse.sqlite"
    target = work / "warehouse.pgdump"
    if shutil.which("pg_dump") is None:
        raise FileNotFoundError("pg_dump is not installed (Debian package postgresql-client)")
    # the password goes through the environment, not the command line other processes can read
    plain_url = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    environment = os.environ | ({"PGPASSWORD": str(url.password)} if url.password else {})
    completed = subprocess.run(
        ["pg_dump", "-Fc", "-Z0", "--no-owner", "-f", str(target), "--dbname", plain_url],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if completed.returncode != 0:
        reason = " ".join(completed.stderr.split())[:300]
        raise RuntimeError(f"pg_dump of {url.render_as_string(hide_password=True)} failed: {reason}")
    return target, "warehouse.pgdump"


def config_hash(manifest: Manifest) -> str:
    """SHA-256 over the configuration component's files (path and content hash each)."""
    digest = hashlib.sha256()
    for entry in sorted(manifest.components.get("config", ()), key=lambda e: e.path):
        digest.update(f"{entry.path}\0{entry.sha256}\n".encode())
    return digest.hexdigest()


def artifact_checksums(manifest: Manifest) -> dict[str, str]:
    """Every artifact (raw extract, report) by its path in the system, with its SHA-256."""
    return {
        f"{component}/{entry.path}": entry.sha256
        for component in ("raw", "reports")
        for entry in manifest.components.get(component, ())
    }


def current_commit(folder: Path = Path(__file__).parent) -> str:
    """The git commit the running code was checked out at."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise LookupError(f"the code in {folder} is not a git checkout, so its commit is unknown ({error})") from None
    return completed.stdout.strip()


def code_version() -> str:
    """The installed package's version as a tag version (``v0.1.0``)."""
    return "v" + importlib.metadata.version("m365_pipeline")


def schema_version(database_url: str) -> str:
    """The warehouse's Alembic revision (``base`` when it was never migrated)."""
    engine = create_warehouse_engine(database_url)
    try:
        return current_revision(engine) or "base"
    finally:
        engine.dispose()


def make_tag(
    repository: Repository,
    name: TagName,
    snapshot_id: str,
    *,
    commit: str,
    schema: str,
    keep_until: dt.date | None = None,
) -> Tag:
    """The tag ``name`` for ``snapshot_id``: its configuration hash and artifact checksums from the snapshot."""
    manifest = load_manifest(repository.backend, repository.keys, snapshot_id)
    tag = Tag(
        name=name,
        commit=commit,
        schema_version=schema,
        config_hash=config_hash(manifest),
        snapshot_id=snapshot_id,
        artifact_checksums=artifact_checksums(manifest),
        retention=Retention(keep_until),
    )
    TagStore(repository.backend, repository.keys).create(tag)
    return tag


def warehouse_problems(database_url: str) -> list[str]:
    """What the warehouse's blocking asset checks find in the database at ``database_url``, for every tenant it
    holds (a restored warehouse is checked by the same queries before it is released)."""
    engine = create_warehouse_engine(database_url)
    try:
        with engine.connect() as connection:
            tenant_ids = connection.execute(sa.select(schema.tenants.c.tenant_id)).scalars().all()
            return [
                f"tenant {tenant_id}: {problem}"
                for tenant_id in tenant_ids
                for finder in (licenses_without_user, consumed_unit_mismatches)
                for problem in finder(connection, tenant_id)
            ]
    finally:
        engine.dispose()


def restored_database_url(target: Path) -> str | None:
    """The SQLite warehouse a restore wrote under ``target``, as a database URL (None if it holds none)."""
    path = target / "warehouse" / "warehouse.sqlite"
    return f"sqlite:///{path}" if path.is_file() else None


def newest_tag(repository: Repository, env: str, tag_type: str) -> Tag | None:
    found = list(TagStore(repository.backend, repository.keys).tags(TagQuery(env=env, type=tag_type)))
    return max(found, key=lambda t: (t.created_at, str(t.name))) if found else None


def free_tag_name(repository: Repository, env: str, tag_type: str, commit: str, date: dt.date) -> TagName:
    """``{env}-{type}-v<package version>-{date}``, or with the commit as a pre-release part (``v0.1.0-gd043f56``)
    when that name is taken (two deployments of one version on one day)."""
    tags = TagStore(repository.backend, repository.keys)
    name = TagName.of(env, tag_type, code_version(), date)
    if tags.exists(name):
        name = TagName.of(env, tag_type, f"{code_version()}-g{commit[:7]}", date)
    return name
