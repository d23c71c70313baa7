"""The warehouse database as one file: PostgreSQL through ``pg_dump -Fc -Z0`` (custom format, uncompressed, so the
store compresses after chunking and unchanged data deduplicates) streamed straight into the chunker, and back
through ``pg_restore`` in one transaction; SQLite read in place while SQLite keeps the file unchanged, or through
its online backup API.

The PostgreSQL tools get the connection as a libpq connection string; a password goes to a private temporary
passfile, never onto the command line (where ``ps`` shows it) or into an error message.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from m365_pipeline.snapshots.scratch import scratch_folder

PG_DUMP_FORMAT = "pg_dump-custom"
SQLITE_FORMAT = "sqlite"


class DatabaseToolFailed(RuntimeError):
    """pg_dump or pg_restore failed; the message carries the tail of its error output."""


def dialect_of(url: str) -> str:
    parsed = sa.make_url(url)
    name = parsed.get_backend_name()
    if name not in ("postgresql", "sqlite"):
        raise ValueError(f"warehouse URL {parsed.render_as_string(hide_password=True)!r} is not sqlite or postgresql")
    return name


def sqlite_path(url: str) -> Path:
    database = sa.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ValueError(f"SQLite warehouse URL {url!r} does not name a file")
    return Path(database)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _passfile_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextlib.contextmanager
def libpq_connection(url: str) -> Iterator[str]:
    """A libpq connection string for ``url`` (SQLAlchemy form), with a temporary passfile for its password."""
    parsed = sa.make_url(url)
    parts = {
        "host": parsed.host or "localhost",
        "port": str(parsed.port or 5432),
        "user": parsed.username or "",
        "dbname": parsed.database or "",
        **{k: str(v) for k, v in parsed.query.items() if isinstance(v, str)},
    }
    with scratch_folder("libpq") as folder:
        if parsed.password is not None:
            passfile = folder / "pgpass"
            fields = (parts["host"], parts["port"], parts["dbname"], parts["user"], str(parsed.password))
            passfile.touch(mode=0o600)
            passfile.write_text(":".join(_passfile_field(f) for f in fields) + "\n")
            parts["passfile"] = str(passfile)
        yield " ".join(f"{k}={_quote(v)}" for k, v in parts.items() if v)


@contextlib.contextmanager
def pg_dump(
    url: str, *, exported_snapshot: str | None = None, exclude_tables: Sequence[tuple[str, str]] = ()
) -> Iterator[IO[bytes]]:
    """``pg_dump -Fc -Z0`` of ``url`` as a stream to read; with ``exported_snapshot`` (``pg_export_snapshot()``
    of an open transaction) it dumps exactly what that transaction sees. ``exclude_tables`` (schema, name) are
    left out with their data and owned sequences (tables sharing the database that are not the warehouse's).
    Raises ``DatabaseToolFailed`` when pg_dump fails, after the stream is consumed."""
    with libpq_connection(url) as dbname, tempfile.TemporaryFile() as errors:
        command = ["pg_dump", "--format=custom", "--compress=0", "--no-password", f"--dbname={dbname}"]
        if exported_snapshot:
            command.append(f"--snapshot={exported_snapshot}")
        command += [f"--exclude-table={_identifier(schema)}.{_identifier(name)}" for schema, name in exclude_tables]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
        assert process.stdout is not None
        try:
            yield process.stdout
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            process.stdout.close()
        if process.wait() != 0:
            raise DatabaseToolFailed(f"pg_dump exited with {process.returncode}: {_tail(errors)}")


@contextlib.contextmanager
def pg_restore(url: str, *, clean: bool) -> Iterator[IO[bytes]]:
    """A stream to write a custom-format dump to; ``pg_restore`` loads it into ``url`` in a single transaction
    (all or nothing), replacing the dump's objects first when ``clean``. ``DatabaseToolFailed`` if it fails."""
    with libpq_connection(url) as dbname, tempfile.TemporaryFile() as errors:
        command = [
            "pg_restore",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--no-password",
            f"--dbname={dbname}",
        ]
        if clean:
            command += ["--clean", "--if-exists"]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        assert process.stdin is not None
        try:
            yield process.stdin
            process.stdin.close()
        except BaseException:
            process.kill()  # the transaction is never committed
            process.wait()
            raise
        if process.wait() != 0:
            raise DatabaseToolFailed(f"pg_restore exited with {process.returncode}: {_tail(errors)}")


def _identifier(name: str) -> str:
    """``name`` quoted for a pg_dump pattern: matched literally, case and wildcards included."""
    return '"' + name.replace('"', '""') + '"'


def _tail(errors: IO[bytes], limit: int = 2000) -> str:
    errors.seek(0)
    return errors.read()[-limit:].decode("utf-8", "replace").strip()


READ_WAIT_SECONDS = 60
"""How long a snapshot waits for a writer to let it begin reading an SQLite warehouse."""
CHECKPOINT_WAIT_MS = 200
"""How long it waits for the write-ahead log to be truncated before it copies the database instead."""


@dataclass(frozen=True)
class FrozenSqlite:
    """An SQLite database file that does not change while it is held (see ``frozen_sqlite``): ``path`` to read its
    bytes, ``connect`` for read-only connections that see exactly those bytes, ``copied`` if it is a backup copy."""

    path: Path
    copied: bool

    @property
    def uri(self) -> str:
        """The file as an SQLite URI opened ``immutable``: no locks taken, no write-ahead log read."""
        return f"{self.path.resolve().as_uri()}?immutable=1"

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.uri, uri=True, check_same_thread=False)


@contextlib.contextmanager
def frozen_sqlite(source: Path, scratch: Path) -> Iterator[FrozenSqlite]:
    """The SQLite database ``source`` in one consistent state for as long as the context lasts: read in place
    when it is in WAL mode (as the pipeline's warehouse is), else copied to ``scratch`` through the online backup
    API.

    In place, the write-ahead log is first checkpointed and truncated, and a read transaction begun on the empty
    log is held: it reads the database file alone, which no checkpoint may write to while it lasts. Writers go on
    appending to the log meanwhile; the immutable connections do not read it. When the log could not be emptied
    (a reader still needs it) the file alone is not the database, and it is copied. A database in rollback-journal
    mode is copied too: holding its shared lock for the whole snapshot would keep every writer waiting."""
    if not source.is_file():
        raise FileNotFoundError(f"SQLite warehouse {source} does not exist")
    holder = sqlite3.connect(source, isolation_level=None, check_same_thread=False, timeout=READ_WAIT_SECONDS)
    with contextlib.closing(holder):
        if holder.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            # a reader or writer in the log makes the truncation wait: not for long, copying is the way out
            holder.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
            holder.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            holder.execute(f"PRAGMA busy_timeout={READ_WAIT_SECONDS * 1000}")
            holder.execute("BEGIN")
            holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
            log = source.with_name(source.name + "-wal")
            try:
                if not log.exists() or log.stat().st_size == 0:
                    yield FrozenSqlite(source, copied=False)
                    return
            finally:
                holder.execute("ROLLBACK")
    sqlite_backup(source, scratch)
    yield FrozenSqlite(scratch, copied=True)


def sqlite_backup(source: Path, destination: Path) -> None:
    """Copy the SQLite database ``source`` to a new file ``destination`` through the online backup API (a
    consistent copy while others use it), in rollback-journal mode so the copy is one self-contained file."""
    if not source.is_file():
        raise FileNotFoundError(f"SQLite warehouse {source} does not exist")
    origin, copy = sqlite3.connect(source), sqlite3.connect(destination)
    with contextlib.closing(origin), contextlib.closing(copy):
        # The copy is scratch (a kill discards it): no journal and no fsync while it is written, twice as fast.
        copy.execute("PRAGMA synchronous=OFF")
        copy.execute("PRAGMA journal_mode=OFF")
        origin.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")


def replace_sqlite(restored: Path, target: Path) -> None:
    """Make ``restored`` the database ``target`` atomically, once it is on disk. The target's write-ahead log is
    checkpointed into it first and removed after, so no page of the old database is replayed over the new one."""
    with restored.open("rb") as handle:
        os.fsync(handle.fileno())
    if target.exists():
        with contextlib.closing(sqlite3.connect(target)) as old:
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    restored.replace(target)
    for suffix in ("-wal", "-shm", "-journal"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
