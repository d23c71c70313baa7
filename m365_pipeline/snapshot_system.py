"""This system's snapshots, as the settings define them: the repository (``M365_SNAPSHOT_STORE`` opened with
``M365_SNAPSHOT_KEY`` or ``M365_SNAPSHOT_PASSPHRASE``) and what a snapshot of the system is made of. The CLI and
the Dagster layer both go through here; the snapshot mechanics are ``m365_pipeline.snapshots``'.

Components: ``warehouse`` (the database as one file, and every table as Parquet), ``config`` (the Dagster
instance and workspace files of the working folder and the effective settings, secrets masked), ``raw`` (the raw
store's extracts) and ``reports`` (the written reports). Snapshots are labelled with ``M365_SNAPSHOT_ENV``: an
incremental is based on the newest full of the same environment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from m365_pipeline.object_store import s3_filesystem
from m365_pipeline.settings import Settings, effective_settings
from m365_pipeline.snapshots import capture, cold, restore
from m365_pipeline.snapshots.backend import Backend, LocalBackend
from m365_pipeline.snapshots.keys import RepositoryKeys, ScryptParams
from m365_pipeline.snapshots.manifests import Manifest
from m365_pipeline.snapshots.repository import Repository
from m365_pipeline.snapshots.stored_tables import warehouse_meta
from m365_pipeline.snapshots.tag_store import TagQuery, TagStore
from m365_pipeline.snapshots.tags import Retention, Tag, TagName, TagNameError
from m365_pipeline.warehouse.engine import create_warehouse_engine
from m365_pipeline.warehouse.migrate import current_revision

WAREHOUSE = restore.WAREHOUSE
COMPONENTS = (WAREHOUSE, "config", "raw", "reports")
FILE_COMPONENTS = ("config", "raw", "reports")
CONFIG_FILES = ("dagster.yaml", "workspace.yaml")
"""Project files that configure the running system, taken from the working folder when present."""
RESTORED_CONFIG = "restored-config"
"""Where a live restore puts the configuration (under the data folder), to compare with the running one: the
settings themselves live in the environment, not in files a restore could replace."""
RESTORED_RAW = "restored-raw"
"""Where a live restore puts the raw extracts when the raw store is on S3 (to upload from there)."""


class SnapshotKeyMissing(ValueError):
    """Neither M365_SNAPSHOT_KEY nor M365_SNAPSHOT_PASSPHRASE is set."""


class NoRepository(LookupError):
    """The store holds no repository yet."""


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
            raise NoRepository(f"{location} holds no snapshot repository yet: `m365 snapshot create` makes one")
        _init(backend, settings)
    return Repository.open(backend, secrets)


def _init(backend: Backend, settings: Settings) -> None:
    snapshots = settings.snapshots
    if snapshots.key is not None:
        Repository.init(backend, RepositoryKeys.from_base64(snapshots.key.reveal()))
    elif snapshots.passphrase is not None:
        params = ScryptParams.new()
        Repository.init(backend, RepositoryKeys.from_passphrase(snapshots.passphrase.reveal(), params), params)


def component_sizes(manifest: Manifest) -> dict[str, int]:
    """Plain bytes per component as the CLI names them (the database file and the tables count as warehouse)."""
    sizes: dict[str, int] = {}
    for name, entries in sorted(manifest.components.items()):
        component = WAREHOUSE if name in (capture.DATABASE, capture.TABLES) else name
        sizes[component] = sizes.get(component, 0) + sum(entry.size for entry in entries)
    return sizes


@dataclass(frozen=True)
class SnapshotSummary:
    id: str
    manifest: Manifest

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def created_at(self) -> dt.datetime:
        return self.manifest.created_at

    @property
    def sizes(self) -> dict[str, int]:
        return component_sizes(self.manifest)

    @property
    def size(self) -> int:
        return sum(self.sizes.values())


def list_snapshots(repository: Repository) -> list[SnapshotSummary]:
    """Every snapshot, oldest first."""
    found = [SnapshotSummary(i, repository.manifest(i)) for i in repository.snapshot_ids()]
    return sorted(found, key=lambda s: (s.created_at, s.id))


def resolve_snapshot(repository: Repository, reference: str) -> str:
    """A snapshot id from a full id, a unique prefix of at least 8 hex digits, or ``latest`` for the newest."""
    if reference == "latest":
        snapshots = list_snapshots(repository)
        if not snapshots:
            raise LookupError("the store holds no snapshot yet")
        return snapshots[-1].id
    ids = repository.snapshot_ids()
    matches = [i for i in ids if i.startswith(reference.lower())] if len(reference) >= 8 else []
    if len(matches) != 1:
        why = "matches several snapshots" if matches else "is no snapshot id (8 or more hex digits), tag or latest"
        raise LookupError(f"{reference!r} {why}")
    return matches[0]


def resolve_reference(repository: Repository, reference: str) -> str:
    """The snapshot a tag name, a snapshot id (or unique prefix) or ``latest`` names."""
    try:
        name = TagName.parse(reference)
    except TagNameError:
        return resolve_snapshot(repository, reference)
    return TagStore(repository.backend, repository.keys).get(name).snapshot_id


def create_snapshot(
    settings: Settings,
    kind: str = capture.FULL,
    components: tuple[str, ...] = COMPONENTS,
    progress: Callable[[int, int], None] | None = None,
) -> capture.SnapshotResult:
    """Capture ``components`` of the system into the hot store (created on first use); ``progress`` is called with
    the bytes captured so far and an estimate of the total."""
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(unknown)}: expected {', '.join(COMPONENTS)}")
    repository = open_store(settings, create=True)
    with _config_folder(settings) as config, _raw_folder(settings, "raw" in components) as raw:
        folders = {"config": config, "raw": raw, "reports": settings.reports_dir}
        sources = capture.Sources(
            warehouse_url=settings.database_url if WAREHOUSE in components else None,
            files={name: path for name, path in folders.items() if name in components and path.exists()},
            label=settings.snapshots.env,
        )
        total = capture.estimated_bytes(sources) if progress else 0
        report = (lambda done: progress(done, max(total, done))) if progress else None
        return capture.create_snapshot(repository, sources, kind=kind, progress=report)


@contextmanager
def _config_folder(settings: Settings) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="m365-config-") as work:
        folder = Path(work)
        for name in CONFIG_FILES:
            if Path(name).is_file():
                shutil.copyfile(name, folder / name)
        lines = (f"{name} = {value}\n" for name, value in effective_settings(settings))
        (folder / "settings.txt").write_text("".join(lines), encoding="utf-8")
        yield folder


@contextmanager
def _raw_folder(settings: Settings, wanted: bool) -> Iterator[Path]:
    """The raw store as a local folder: itself, or (on S3) a temporary copy of its objects."""
    if not wanted or not settings.raw_store.startswith("s3://"):
        yield Path(settings.raw_store)
        return
    with tempfile.TemporaryDirectory(prefix="m365-raw-", dir=settings.data_dir) as work:
        s3 = s3_filesystem(settings.s3_endpoint_url)
        base = settings.raw_store.removeprefix("s3://").rstrip("/")
        if s3.get_file_info(base).type == pafs.FileType.Directory:
            pafs.copy_files(base, work, source_filesystem=s3, destination_filesystem=pafs.LocalFileSystem())
        yield Path(work)


def restore_target(
    settings: Settings, manifest: Manifest, *, folder: Path | None, warehouse_url: str | None, live: bool
) -> restore.RestoreTarget:
    """Where a restore writes: the live system (its warehouse, raw store and reports; the configuration beside,
    under the data folder), or ``folder`` (one subfolder per component; an SQLite warehouse there too unless
    ``warehouse_url`` names another database)."""
    if live == (folder is not None):
        raise ValueError("restore into the live system or into a target folder: give exactly one")
    if live:
        # a raw store on S3 is restored beside, like the configuration: the restore writes local folders
        raw = settings.data_dir / RESTORED_RAW if settings.raw_store.startswith("s3://") else Path(settings.raw_store)
        return restore.RestoreTarget(
            warehouse_url=warehouse_url or settings.database_url,
            folders={"config": settings.data_dir / RESTORED_CONFIG, "raw": raw, "reports": settings.reports_dir},
        )
    assert folder is not None
    if warehouse_url is None and warehouse_meta(manifest).get("dialect") == "sqlite":
        warehouse_url = f"sqlite:///{folder.resolve() / 'warehouse.sqlite'}"
    return restore.RestoreTarget(warehouse_url=warehouse_url, folders={name: folder / name for name in FILE_COMPONENTS})


def current_commit(settings: Settings, folder: Path = Path(__file__).parent) -> str:
    """The deployed code's git commit: M365_CODE_COMMIT, else the git checkout the running code is in."""
    if settings.snapshots.code_commit is not None:
        return settings.snapshots.code_commit
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.CalledProcessError):
        raise LookupError(
            f"the code in {folder} is not a git checkout, so its commit is unknown: set M365_CODE_COMMIT"
        ) from None
    return completed.stdout.strip()


def code_version() -> str:
    """The installed package's version as a tag version (``v0.1.0``)."""
    return "v" + importlib.metadata.version("m365_pipeline")


def live_schema_version(database_url: str) -> str:
    """The warehouse's Alembic revision (``base`` when it was never migrated)."""
    engine = create_warehouse_engine(database_url)
    try:
        return current_revision(engine) or "base"
    finally:
        engine.dispose()


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


def make_tag(
    repository: Repository,
    settings: Settings,
    name: TagName,
    snapshot_id: str,
    *,
    commit: str,
    keep_until: dt.date | None = None,
) -> Tag:
    """Tag ``snapshot_id`` as ``name``: the schema revision, configuration hash and artifact checksums are the
    snapshot's (the live warehouse's revision if the snapshot holds no warehouse)."""
    manifest = repository.manifest(snapshot_id)
    schema_version = warehouse_meta(manifest).get("schema_version") or live_schema_version(settings.database_url)
    tag = Tag(
        name=name,
        commit=commit,
        schema_version=schema_version,
        config_hash=config_hash(manifest),
        snapshot_id=snapshot_id,
        artifact_checksums=artifact_checksums(manifest),
        retention=Retention(keep_until),
    )
    TagStore(repository.backend, repository.keys).create(tag)
    return tag


def newest_tag(repository: Repository, env: str, tag_type: str) -> Tag | None:
    found = list(TagStore(repository.backend, repository.keys).tags(TagQuery(env=env, type=tag_type)))
    return max(found, key=lambda t: (t.created_at, str(t.name))) if found else None


def free_tag_name(repository: Repository, env: str, tag_type: str, commit: str, date: dt.date) -> TagName:
    """``{env}-{type}-v<package version>-{date}``, or with the commit as a pre-release part (``v0.1.0-gd043f56``)
    when that name tags another commit (two deployments of one version on one day). A name that tags ``commit``
    already is returned as it is: the caller finds it exists and does not tag again."""
    tags = TagStore(repository.backend, repository.keys)
    name = TagName.of(env, tag_type, code_version(), date)
    if tags.exists(name) and tags.get(name).commit != commit:
        name = TagName.of(env, tag_type, f"{code_version()}-g{commit[:7]}", date)
    return name


restore_snapshot = restore.restore_snapshot


def restore_hooks(
    stop: Callable[[], None] | None = None,
    release: Callable[[], None] | None = None,
    progress: Callable[[restore.Progress], None] | None = None,
    post_check: Callable[[restore.RestoreTarget], None] | None = None,
) -> restore.RestoreHooks:
    defaults = restore.RestoreHooks()
    return restore.RestoreHooks(
        stop=stop or defaults.stop,
        post_check=post_check or defaults.post_check,
        release=release or defaults.release,
        progress=progress or defaults.progress,
    )


def open_cold(settings: Settings) -> cold.ColdStore:
    """The cold tier M365_COLD_STORE names: a folder, or S3 with M365_COLD_STORAGE_CLASS."""
    if settings.cold_store.startswith("s3://"):
        return cold.S3ColdStore(
            settings.cold_store,
            endpoint_url=settings.s3_endpoint_url,
            storage_class=settings.snapshots.cold_storage_class,
        )
    return cold.LocalColdStore(Path(settings.cold_store))
