"""`m365 tag ...` and `m365 snapshot ...`: tagging, capturing, proving, restoring and pruning the system's states.

Exit 0 on success, 1 when the work failed (a problem found by verify, a refused restore, a missing tag), 2 for a
wrong setting or argument (no key, a wrong key, an invalid tag name); a one-line reason on stderr. Progress bars
go to stderr, results to stdout.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from m365_pipeline.settings import Settings, SettingsError, load_settings


class _Failed(Exception):
    """The work failed: exit 1 with this message."""


@contextmanager
def _outcome(command: str) -> Iterator[None]:
    """Known failures as one line and their exit code: 1 for a failed operation, 2 for settings and arguments."""
    from m365_pipeline.defs.snapshots.restore_checks import RestoredChecksFailed
    from m365_pipeline.snapshot_system import SnapshotKeyMissing
    from m365_pipeline.snapshots.config import RepositoryError
    from m365_pipeline.snapshots.crypto import IntegrityError
    from m365_pipeline.snapshots.databases import DatabaseToolFailed
    from m365_pipeline.snapshots.keys import KeyConfigurationError, WrongKeyError
    from m365_pipeline.snapshots.locks import RepositoryLocked
    from m365_pipeline.snapshots.manifests import UnsafePath
    from m365_pipeline.snapshots.prune import PruneRefused
    from m365_pipeline.snapshots.restore import RestoreFailed
    from m365_pipeline.snapshots.restorer import RestoreRefused
    from m365_pipeline.snapshots.tag_store import TagExists, TagNotFound
    from m365_pipeline.snapshots.tags import TagNameError

    try:
        yield
    except (
        _Failed,
        RepositoryError,
        RepositoryLocked,
        IntegrityError,
        UnsafePath,
        PruneRefused,
        RestoreRefused,
        TagExists,
        TagNotFound,
        LookupError,
        RestoreFailed,
        RestoredChecksFailed,
        DatabaseToolFailed,
    ) as error:
        click.echo(f"m365 {command} failed: {_one_line(error)}", err=True)
        sys.exit(1)
    except (
        SettingsError,
        SnapshotKeyMissing,
        KeyConfigurationError,
        WrongKeyError,
        TagNameError,
        ValueError,
    ) as error:  # after the failures, some of which are ValueErrors
        click.echo(f"m365 {command}: {_one_line(error)}", err=True)
        sys.exit(2)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:500]


def _settings() -> Settings:
    return load_settings()


def _date(_context: click.Context, _parameter: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    for pattern in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD or YYYYMMDD)")


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


# ---------------------------------------------------------------------------------------------------------- tags


@click.group()
def tag() -> None:
    """Tags: names for states of the system ({env}-{type}-{version}-{date}), each pinning its snapshot."""


@tag.command(name="create")
@click.argument("name", required=False)
@click.option(
    "--type", "tag_type", default="manual", show_default=True, help="release, feature, weekly or manual (without NAME)."
)
@click.option("--version", "version", help="vMAJOR.MINOR.PATCH (without NAME) [default: the installed package's].")
@click.option("--date", "date", callback=_date, help="The tag's date (without NAME) [default: today].")
@click.option("--snapshot", "snapshot", default="latest", show_default=True, help="Snapshot id (8+ hex digits).")
@click.option("--keep-until", callback=_date, help="Keep the tag (and its snapshot) until this date; default: always.")
@click.option("--commit", help="The code's git commit [default: `git rev-parse HEAD` of the installed code].")
def tag_create(
    name: str | None,
    tag_type: str,
    version: str | None,
    date: dt.date | None,
    snapshot: str,
    keep_until: dt.date | None,
    commit: str | None,
) -> None:
    """Tag a snapshot: NAME, or one made of M365_SNAPSHOT_ENV, --type, --version and --date.

    The tag records the code's commit, the warehouse's schema revision, the configuration's hash and the
    checksum of every artifact of the snapshot; it pins the snapshot against pruning until deleted or expired.
    """
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.tags import TagName

    with _outcome("tag create"):
        settings = _settings()
        if name is not None:
            if version or date:
                raise click.UsageError("give NAME or --version/--date, not both")
            tag_name = TagName.parse(name)
        else:
            tag_name = TagName.of(
                settings.snapshots.env, tag_type, version or system.code_version(), date or dt.date.today()
            )
        repository = system.open_store(settings)
        snapshot_id = system.resolve_snapshot(repository, snapshot)
        created = system.make_tag(
            repository,
            settings,
            tag_name,
            snapshot_id,
            commit=commit or system.current_commit(settings),
            keep_until=keep_until,
        )
        click.echo(f"{created.name} -> snapshot {created.snapshot_id[:12]} (commit {created.commit[:12]})")


@tag.command(name="list")
@click.option("--env", help="Only this environment (prod, staging, dev, regression, test).")
@click.option("--type", "tag_type", help="Only this type (release, feature, weekly, manual).")
@click.option("--version", help="Only this version (e.g. v1.2.3).")
@click.option("--since", callback=_date, help="Only tags dated on or after this date.")
@click.option("--until", callback=_date, help="Only tags dated on or before this date.")
def tag_list(
    env: str | None, tag_type: str | None, version: str | None, since: dt.date | None, until: dt.date | None
) -> None:
    """List the tags (oldest first) with their snapshot, commit and schema revision; filters combine."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.tag_store import TagQuery, TagStore

    with _outcome("tag list"):
        repository = system.open_store(_settings())
        query = TagQuery(env=env, type=tag_type, version=version, since=since, until=until)
        for found in TagStore(repository.backend, repository.keys).tags(query):
            keep = f"until {found.retention.keep_until}" if found.retention.keep_until else "kept"
            click.echo(
                f"{found.name}  snapshot {found.snapshot_id[:12]}  commit {found.commit[:12]}  "
                f"schema {found.schema_version}  {keep}"
            )


@tag.command(name="show")
@click.argument("name")
def tag_show(name: str) -> None:
    """Everything a tag records, each artifact with its checksum."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.tag_store import TagStore
    from m365_pipeline.snapshots.tags import TagName

    with _outcome("tag show"):
        repository = system.open_store(_settings())
        found = TagStore(repository.backend, repository.keys).get(TagName.parse(name))
        body = found.to_dict()
        artifacts = body.pop("artifact_checksums")
        for key, value in body.items():
            click.echo(f"{key}: {value}")
        click.echo(f"artifacts: {len(artifacts)}")
        for path, checksum in artifacts.items():
            click.echo(f"  {checksum}  {path}")


@tag.command(name="delete")
@click.argument("name")
def tag_delete(name: str) -> None:
    """Delete a tag; its snapshot is then kept only as long as the retention policy keeps it."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.tag_store import TagStore
    from m365_pipeline.snapshots.tags import TagName

    with _outcome("tag delete"):
        repository = system.open_store(_settings())
        TagStore(repository.backend, repository.keys).delete(TagName.parse(name))
        click.echo(f"deleted {name}")


@tag.command(name="diff")
@click.argument("old")
@click.argument("new")
@click.option("--rows", "show_rows", type=click.IntRange(0), default=20, show_default=True, help="Row changes shown.")
def tag_diff(old: str, new: str, show_rows: int) -> None:
    """What changed from tag OLD to tag NEW: commit, schema, the warehouse (row counts and rows added, removed and
    changed by primary key, which users gained or lost which licence), the configuration (a unified diff) and the
    artifacts (added, removed, changed, with sizes)."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.diff import unified_diff
    from m365_pipeline.snapshots.table_diff import (
        LicenseChange,
        RowChange,
        artifact_changes,
        as_license_change,
        warehouse_diff,
    )
    from m365_pipeline.snapshots.tag_store import TagStore
    from m365_pipeline.snapshots.tags import TagName

    with _outcome("tag diff"):
        repository = system.open_store(_settings())
        tags = TagStore(repository.backend, repository.keys)
        before, after = tags.get(TagName.parse(old)), tags.get(TagName.parse(new))
        for label, a, b in (
            ("commit", before.commit, after.commit),
            ("schema", before.schema_version, after.schema_version),
            ("config", before.config_hash[:12], after.config_hash[:12]),
        ):
            click.echo(f"{label}: {a} -> {b}" if a != b else f"{label}: {a} (unchanged)")
        shown: list[RowChange] = []
        licences: list[LicenseChange] = []

        def on_change(change: RowChange) -> None:
            if len(shown) < show_rows:
                shown.append(change)
            licence = as_license_change(change)
            if licence is not None:
                licences.append(licence)

        with _ProgressBar("diff rows") as bar:
            warehouse = warehouse_diff(
                repository, before.snapshot_id, after.snapshot_id, on_change=on_change, progress=bar.update
            )
        for table in warehouse.tables:
            counts = f"{table.old_rows} -> {table.new_rows} rows"
            changes = f"+{table.added} -{table.removed} ~{table.changed}"
            click.echo(f"table {table.table}: {counts}, {changes}" + (f" ({table.note})" if table.note else ""))
        for change in shown:
            key = ", ".join(f"{k}={v}" for k, v in change.key.items())
            columns = f" ({', '.join(change.changed_columns)})" if change.changed_columns else ""
            click.echo(f"  {change.change:8} {change.table} {key}{columns}")
        for licence in licences:
            click.echo(f"licence {licence.change}: user {licence.user_id} SKU {licence.sku_id} ({licence.tenant_id})")
        old_manifest, new_manifest = repository.manifest(before.snapshot_id), repository.manifest(after.snapshot_id)
        for file_change in artifact_changes(old_manifest, new_manifest):
            click.echo(str(file_change))
        lines = unified_diff(
            repository.backend,
            repository.keys,
            repository.index(),
            old_manifest,
            new_manifest,
            "config",
            labels=(old, new),
        )
        for line in lines:
            click.echo(line, nl=not line.endswith("\n"))


# ----------------------------------------------------------------------------------------------------- snapshots


@click.group()
def snapshot() -> None:
    """Snapshots of the system (warehouse, configuration, raw extracts, reports) in M365_SNAPSHOT_STORE."""


@snapshot.command(name="create")
@click.option("--full/--incremental", default=True, help="A self-contained full, or an incremental on the last full.")
@click.option(
    "--component",
    "components",
    multiple=True,
    type=click.Choice(["warehouse", "config", "raw", "reports"]),
    help="Capture only this component (repeatable) [default: all].",
)
@click.option("--tag", "tag_name", help="Tag the new snapshot with this name too.")
def snapshot_create(full: bool, components: tuple[str, ...], tag_name: str | None) -> None:
    """Capture the system into the hot store (the repository is created with the key on first use).

    An incremental stores, for each warehouse table, only the rows changed since the last full of the same
    M365_SNAPSHOT_ENV (by primary key); files deduplicate by chunk. Without a full to base it on, or after a
    schema change, a full is taken instead and the reason printed.
    """
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.tags import TagName

    with _outcome("snapshot create"):
        settings = _settings()
        name = TagName.parse(tag_name) if tag_name else None
        chosen = components or system.COMPONENTS
        click.echo(f"m365 snapshot: capturing {', '.join(chosen)} into {settings.snapshot_store}", err=True)
        with _ProgressBar("snapshot") as bar:
            result = system.create_snapshot(settings, "full" if full else "incremental", chosen, progress=bar.update)
        stats, manifest = result.stats, result.manifest
        sizes = system.component_sizes(manifest)
        click.echo(
            f"snapshot {result.snapshot_id} ({manifest.kind}): {_size(stats.bytes)} in {result.seconds:.1f} s, "
            f"{_size(stats.new_bytes)} new, {_size(stats.stored_bytes)} stored"
        )
        if result.promoted:
            click.echo(f"  taken as a full: {result.promoted}")
        for component, size in sizes.items():
            click.echo(f"  {component}: {_size(size)}")
        if name is not None:
            repository = system.open_store(settings)
            system.make_tag(repository, settings, name, result.snapshot_id, commit=system.current_commit(settings))
            click.echo(f"tagged {name}")


@snapshot.command(name="list")
@click.option("--cold", is_flag=True, help="Also list the snapshots archived in the cold store (M365_COLD_STORE).")
def snapshot_list(cold: bool) -> None:
    """List the snapshots, oldest first: id, kind, time, size per component and the tags pointing at each."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.tag_store import TagStore

    with _outcome("snapshot list"):
        settings = _settings()
        repository = system.open_store(settings)
        tags: dict[str, list[str]] = {}
        for found in TagStore(repository.backend, repository.keys).tags():
            tags.setdefault(found.snapshot_id, []).append(str(found.name))
        for summary in system.list_snapshots(repository):
            parts = ", ".join(f"{name} {_size(size)}" for name, size in summary.sizes.items())
            tagged = f"  tags: {', '.join(tags[summary.id])}" if summary.id in tags else ""
            click.echo(
                f"{summary.id[:12]}  {summary.kind:11}  {summary.created_at:%Y-%m-%d %H:%M:%S} UTC  "
                f"{_size(summary.size)} ({parts}){tagged}"
            )
        if cold:
            from m365_pipeline.snapshots.cold import cold_snapshots

            for snapshot_id in cold_snapshots(system.open_cold(settings)):
                click.echo(f"{snapshot_id[:12]}  cold archive in {settings.cold_store}")


def _subset(_context: click.Context, _parameter: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    part, _, parts = value.partition("/")
    if not (part.isdigit() and parts.isdigit()) or not 0 <= int(part) < int(parts):
        raise click.BadParameter(f"{value!r} is not I/N with 0 <= I < N (e.g. 0/7)")
    return int(part), int(parts)


@snapshot.command(name="verify")
@click.option("--read-data/--no-read-data", default=True, help="Read and authenticate every blob (the default).")
@click.option("--subset", callback=_subset, help="Read only the I-th of N slices of the packs (e.g. 3/7 on day 3).")
@click.option(
    "--rotate",
    type=click.IntRange(1),
    help="Read only today's slice of N (the day's number modulo N): N daily runs read every pack once.",
)
def snapshot_verify(read_data: bool, subset: tuple[int, int] | None, rotate: int | None) -> None:
    """Prove the store like `restic check --read-data`: every pack, blob and snapshot; each problem named; exit 1
    if any."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.check import check, todays_slice

    with _outcome("snapshot verify"):
        if subset is not None and rotate is not None:
            raise click.UsageError("give --subset or --rotate, not both")
        if rotate is not None:
            subset = todays_slice(rotate, dt.date.today())
            click.echo(f"m365 snapshot verify: today's slice {subset[0]}/{subset[1]}", err=True)
        repository = system.open_store(_settings())
        with _ProgressBar("verify") as bar:
            report = check(repository.backend, repository.keys, read_data=read_data, subset=subset, progress=bar.update)
        for problem in report.problems:
            click.echo(str(problem))
        click.echo(
            f"{report.snapshots} snapshot(s), {report.packs} pack(s), {report.packs_read} read "
            f"({_size(report.bytes_read)}, {report.blobs_read} blobs): "
            + ("no problem" if report.ok else f"{len(report.problems)} problem(s)")
        )
        if not report.ok:
            raise _Failed(f"{len(report.problems)} problem(s), first: {report.problems[0]}")


@snapshot.command(name="restore")
@click.argument("reference")
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to restore into (one subfolder per component; the SQLite warehouse as warehouse.sqlite).",
)
@click.option("--live", is_flag=True, help="Restore into the running system (Dagster's schedules are paused).")
@click.option("--warehouse-url", help="Restore the warehouse into this database (e.g. a fresh PostgreSQL one).")
@click.option(
    "--component",
    "components",
    multiple=True,
    type=click.Choice(["warehouse", "config", "raw", "reports"]),
    help="Restore only this component (repeatable) [default: every one the target has a place for].",
)
@click.option("--table", "only_tables", multiple=True, help="Restore only this warehouse table (repeatable).")
@click.option("--force", is_flag=True, help="Replace existing files and a non-empty warehouse.")
def snapshot_restore(
    reference: str,
    target: Path | None,
    live: bool,
    warehouse_url: str | None,
    components: tuple[str, ...],
    only_tables: tuple[str, ...],
    force: bool,
) -> None:
    """Restore the snapshot REFERENCE (a tag name, a snapshot id or `latest`) into --target or the --live system.

    In the old procedure's order: stop (with --live: Dagster's schedules and sensors paused, refused while a run is
    in progress), database, files, configuration, integrity (every table's checksum and file's SHA-256), the
    warehouse's checks on the restored warehouse, release. Refuses to replace anything without --force; a failed
    restore leaves the target as it was or marked failed.
    """
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.defs.snapshots.restore_checks import PostCheck

    with _outcome("snapshot restore"):
        settings = _settings()
        post_check = PostCheck(settings, lambda _line: None, components, only_tables)  # printed with the result
        repository = system.open_store(settings)
        snapshot_id = system.resolve_reference(repository, reference)
        manifest = repository.manifest(snapshot_id)
        where = system.restore_target(settings, manifest, folder=target, warehouse_url=warehouse_url, live=live)
        with _ProgressBar("restore") as bar, _stopped_dagster(live) as (stop, release):
            report = system.restore_snapshot(
                repository,
                snapshot_id,
                where,
                components=components or ((system.WAREHOUSE,) if only_tables else None),
                only_tables=only_tables or None,
                force=force,
                hooks=system.restore_hooks(
                    stop=stop, release=release, progress=bar.restore_step, post_check=post_check
                ),
            )
        tables = f", {len(report.tables)} table(s)" if report.tables else ""
        click.echo(
            f"restored snapshot {snapshot_id[:12]}: {report.files} file(s), {_size(report.bytes)}{tables} "
            f"into {'the live system' if live else target}"
        )
        for step, seconds in report.steps:
            click.echo(f"  {step}: {seconds:.1f} s")
        for outcome in post_check.outcomes:
            click.echo(f"  check {outcome}")


class _ProgressBar:
    """A click progress bar on stderr opened at the first report (when the total is known), labelled by step."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None
        self._done = 0

    def update(self, done: int, total: int, step: str = "") -> None:
        if self._bar is None:
            self._bar = click.progressbar(length=max(1, total), label=self._label, file=sys.stderr, show_eta=True)
            self._bar.__enter__()
        if step:
            self._bar.label = f"{self._label}: {step}"
        self._bar.update(done - self._done)
        self._done = done

    def restore_step(self, progress: Any) -> None:
        self.update(progress.done_bytes, progress.total_bytes, progress.step)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._bar is not None:
            if kind is None:  # the total was an estimate: done is done
                self._bar.update(max(0, self._bar.length - self._bar.pos))
            self._bar.__exit__(None, None, None)


@contextmanager
def _stopped_dagster(live: bool) -> Iterator[tuple[Callable[[], None] | None, Callable[[], None] | None]]:
    """For a live restore, the stop and release steps on the Dagster instance of DAGSTER_HOME (or of the project
    folder's dagster.yaml, as `m365 run` uses): schedules and sensors paused, refused while a run is in progress."""
    if not live:
        yield None, None
        return
    import os

    import dagster as dg

    from m365_pipeline.defs.snapshots.restore import system_stopped

    if "DAGSTER_HOME" not in os.environ:
        if not Path("dagster.yaml").is_file():
            raise click.UsageError(
                "a live restore pauses Dagster first: set DAGSTER_HOME or run from the project folder"
            )
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
    stack = ExitStack()
    with dg.DagsterInstance.get() as instance:

        def stop() -> None:
            stack.enter_context(system_stopped(instance, None, lambda message: click.echo(message, err=True)))

        try:
            yield stop, stack.close
        finally:
            stack.close()


@snapshot.command(name="prune")
@click.option("--dry-run", is_flag=True, help="Only say what would be forgotten and removed.")
def snapshot_prune(dry_run: bool) -> None:
    """Forget the snapshots that neither the retention (M365_SNAPSHOT_KEEP_DAILY/WEEKLY) nor a tag keeps, and
    remove the data no kept snapshot needs."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.prune import prune
    from m365_pipeline.snapshots.retention import RetentionPolicy
    from m365_pipeline.snapshots.tag_store import TagStore

    with _outcome("snapshot prune"):
        settings = _settings()
        repository = system.open_store(settings)
        policy = RetentionPolicy(daily=settings.snapshots.keep_daily, weekly=settings.snapshots.keep_weekly)
        pinned = TagStore(repository.backend, repository.keys).pinned_snapshots(today=dt.date.today())
        with _ProgressBar("prune") as bar:
            report = prune(
                repository.backend,
                repository.keys,
                policy,
                pinned,
                pack_size=repository.config.pack_size,
                dry_run=dry_run,
                progress=bar.update,
            )
        for snapshot_id, why in sorted(report.decision.keep.items()):
            click.echo(f"keep   {snapshot_id[:12]}  ({why})")
        for snapshot_id in report.decision.forget:
            click.echo(f"forget {snapshot_id[:12]}")
        verb = "would remove" if dry_run else "removed"
        click.echo(
            f"{verb} {report.packs_removed} pack(s) ({_size(report.bytes_removed)}), wrote {report.packs_written}"
        )


@snapshot.command(name="tier")
@click.option(
    "--older-than", type=click.IntRange(0), help="Move snapshots older than this many days [M365_COLD_AFTER_DAYS]."
)
def snapshot_tier(older_than: int | None) -> None:
    """Move the snapshots older than the hot tier keeps to the cold store (M365_COLD_STORE) as whole,
    self-contained archives recompressed at zstd 19 (on S3 in M365_COLD_STORAGE_CLASS); then `m365 snapshot
    prune` frees the hot chunks only they needed. A base full stays hot while a hot incremental needs it."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.cold import move_to_cold

    with _outcome("snapshot tier"):
        settings = _settings()
        repository = system.open_store(settings)
        days = settings.snapshots.cold_after_days if older_than is None else older_than
        with _ProgressBar("tier") as bar:
            report = move_to_cold(
                repository, system.open_cold(settings), older_than=dt.timedelta(days=days), progress=bar.update
            )
        for snapshot_id in report.moved:
            click.echo(f"moved  {snapshot_id[:12]} to {settings.cold_store}")
        for snapshot_id, why in report.kept_hot.items():
            click.echo(f"kept   {snapshot_id[:12]} hot ({why})")
        click.echo(f"{len(report.moved)} snapshot(s) moved, {_size(report.archive_bytes)} of archives")


@snapshot.command(name="thaw")
@click.argument("snapshot_id")
@click.option("--days", type=click.IntRange(1), default=7, show_default=True, help="Days S3 keeps a restored copy.")
def snapshot_thaw(snapshot_id: str, days: int) -> None:
    """Bring a snapshot back from the cold store into the hot one (with its base full). On S3's archive classes
    the first call asks S3 to restore the archive (hours); call again once it is readable."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.cold import ColdNotReadable, cold_snapshots, thaw

    with _outcome("snapshot thaw"):
        settings = _settings()
        repository = system.open_store(settings)
        store = system.open_cold(settings)
        matches = [name for name in cold_snapshots(store) if name.startswith(snapshot_id.lower())]
        if len(matches) != 1 or len(snapshot_id) < 8:
            raise _Failed(f"{snapshot_id!r} names {len(matches)} cold snapshot(s) (give 8 or more hex digits)")
        try:
            thawed = thaw(repository, store, matches[0], days=days)
        except ColdNotReadable as error:
            raise _Failed(str(error)) from None
        click.echo(f"hot again: {', '.join(i[:12] for i in thawed)}")


@snapshot.command(name="log")
@click.option("--since", callback=_date, help="Only operations on or after this date (UTC).")
@click.option("--what", help="Only this operation (snapshot, restore, prune, tier move, tag create, ...).")
def snapshot_log(since: dt.date | None, what: str | None) -> None:
    """The operations log: every snapshot, tag, restore, tier move and prune, who did it, when, from which host,
    with its outcome (kept in the store itself, so a restore cannot erase it)."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.oplog import operations

    with _outcome("snapshot log"):
        repository = system.open_store(_settings())
        start = dt.datetime.combine(since, dt.time(), dt.UTC) if since else None
        for operation in operations(repository.backend, repository.keys, since=start, what=what):
            details = " ".join(f"{key}={value}" for key, value in sorted(operation.details.items()))
            click.echo(
                f"{operation.at:%Y-%m-%d %H:%M:%S} UTC  {operation.what:11}  {operation.outcome}  "
                f"{operation.who}@{operation.host}  {details}"
            )
