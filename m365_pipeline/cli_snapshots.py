"""`m365 tag ...` and `m365 snapshot ...`: tagging, capturing, proving, restoring and pruning the system's states.

Exit 0 on success, 1 when the work failed (a problem found by verify, a refused restore, a missing tag), 2 for a
wrong setting or argument (no key, a wrong key, an invalid tag name); a one-line reason on stderr. Progress bars
go to stderr, results to stdout.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from m365_pipeline.settings import Settings, SettingsError, load_settings


class _Failed(Exception):
    """The work failed: exit 1 with this message."""


@contextmanager
def _outcome(command: str) -> Iterator[None]:
    """Known failures as one line and their exit code: 2 for settings and arguments, 1 for the rest."""
    from m365_pipeline.snapshot_system import SnapshotKeyMissing
    from m365_pipeline.snapshots.config import RepositoryError
    from m365_pipeline.snapshots.crypto import IntegrityError
    from m365_pipeline.snapshots.keys import KeyConfigurationError, WrongKeyError
    from m365_pipeline.snapshots.locks import RepositoryLocked
    from m365_pipeline.snapshots.manifests import UnsafePath
    from m365_pipeline.snapshots.prune import PruneRefused
    from m365_pipeline.snapshots.restorer import RestoreRefused
    from m365_pipeline.snapshots.tag_store import TagExists, TagNotFound
    from m365_pipeline.snapshots.tags import TagNameError

    try:
        yield
    except (SettingsError, SnapshotKeyMissing, KeyConfigurationError, WrongKeyError, TagNameError) as error:
        click.echo(f"m365 {command}: {_one_line(error)}", err=True)
        sys.exit(2)
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
    ) as error:
        click.echo(f"m365 {command} failed: {_one_line(error)}", err=True)
        sys.exit(1)


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
            tag_name,
            snapshot_id,
            commit=commit or system.current_commit(),
            schema=system.schema_version(settings.database_url),
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
def tag_diff(old: str, new: str) -> None:
    """What changed from tag OLD to tag NEW: commit, schema, configuration (unified diff) and artifacts (added,
    removed, changed, with sizes)."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.diff import file_changes, unified_diff
    from m365_pipeline.snapshots.index import Index
    from m365_pipeline.snapshots.manifests import load_manifest
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
        old_manifest, new_manifest = (
            load_manifest(repository.backend, repository.keys, t.snapshot_id) for t in (before, after)
        )
        changes = file_changes(old_manifest, new_manifest)
        for change in changes:
            click.echo(str(change))
        if not changes:
            click.echo("no file changed")
        index = Index.load(repository.backend, repository.keys.encryption)
        lines = unified_diff(
            repository.backend, repository.keys, index, old_manifest, new_manifest, "config", labels=(old, new)
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
    """Capture the system into the hot store (the repository is created with the key on first use)."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.tags import TagName

    with _outcome("snapshot create"):
        settings = _settings()
        name = TagName.parse(tag_name) if tag_name else None
        chosen = components or system.COMPONENTS
        with click.progressbar(
            length=max(1, system.estimated_size(settings, chosen)),
            label="snapshot",
            file=sys.stderr,
            show_eta=True,
            show_percent=True,
        ) as bar:
            result = system.create_snapshot(
                settings, "full" if full else "incremental", chosen, progress=lambda done, _what: bar.update(done)
            )
        ratio = f"{result.dedup_ratio:.1f}x" if result.dedup_ratio else "everything was stored already"
        click.echo(
            f"snapshot {result.id} ({result.kind}): {_size(result.size)} in {result.seconds:.1f} s, "
            f"{_size(result.new_bytes)} new, {_size(result.stored_bytes)} stored, dedup {ratio}"
        )
        for component, size in result.sizes.items():
            click.echo(f"  {component}: {_size(size)}")
        if name is not None:
            repository = system.open_store(settings)
            system.make_tag(
                repository,
                name,
                result.id,
                commit=system.current_commit(),
                schema=system.schema_version(settings.database_url),
            )
            click.echo(f"tagged {name}")


@snapshot.command(name="list")
def snapshot_list() -> None:
    """List the snapshots, oldest first: id, kind, time, size per component and the tags pointing at each."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.tag_store import TagStore

    with _outcome("snapshot list"):
        repository = system.open_store(_settings())
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
def snapshot_verify(read_data: bool, subset: tuple[int, int] | None) -> None:
    """Prove the store like `restic check --read-data`: every pack, blob and snapshot; each problem named; exit 1
    if any."""
    from m365_pipeline import snapshot_system as system
    from m365_pipeline.snapshots.check import check

    with _outcome("snapshot verify"):
        repository = system.open_store(_settings())
        report = check(repository.backend, repository.keys, read_data=read_data, subset=subset)
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
    required=True,
    help="Folder to restore into (one subfolder per component); another system's or a regression copy.",
)
@click.option(
    "--component",
    "components",
    multiple=True,
    type=click.Choice(["warehouse", "config", "raw", "reports"]),
    help="Restore only this component (repeatable) [default: all].",
)
@click.option("--force", is_flag=True, help="Replace files that exist in the target.")
def snapshot_restore(reference: str, target: Path, components: tuple[str, ...], force: bool) -> None:
    """Restore the snapshot REFERENCE (a tag name, a snapshot id or `latest`) into --target, every file verified
    against its checksum before it takes its name; refuses to replace files without --force."""
    from m365_pipeline import snapshot_system as system

    with _outcome("snapshot restore"):
        repository = system.open_store(_settings())
        snapshot_id = system.resolve_reference(repository, reference)
        plan = system.restore_plan(repository, snapshot_id, components or system.COMPONENTS)
        with click.progressbar(
            length=max(1, plan.size), label="restore", file=sys.stderr, show_eta=True, show_percent=True
        ) as bar:
            written = system.restore_into(repository, plan, target, force=force, progress=lambda n, _: bar.update(n))
        click.echo(f"restored snapshot {snapshot_id[:12]}: {plan.files} file(s), {_size(written)} into {target}")


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
        pinned = TagStore(repository.backend, repository.keys).pinned_snapshots()
        report = prune(
            repository.backend,
            repository.keys,
            policy,
            pinned,
            pack_size=repository.config.pack_size,
            dry_run=dry_run,
        )
        for snapshot_id, why in sorted(report.decision.keep.items()):
            click.echo(f"keep   {snapshot_id[:12]}  ({why})")
        for snapshot_id in report.decision.forget:
            click.echo(f"forget {snapshot_id[:12]}")
        verb = "would remove" if dry_run else "removed"
        click.echo(
            f"{verb} {report.packs_removed} pack(s) ({_size(report.bytes_removed)}), wrote {report.packs_written}"
        )
