"""Shared fixtures: the real PostgreSQL and Redis this machine kind runs on 127.0.0.1.

Where a service is absent the tests that need it skip with the reason; with M365_REQUIRE_SERVICES=1 (CI) they
fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

POSTGRES_ADMIN_URL = os.environ.get("M365_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("M365_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _service_missing(reason: str) -> None:
    if os.environ.get("M365_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (M365_REQUIRE_SERVICES=1: required services must be running)")
    pytest.skip(reason)


def _admin_engine() -> sa.Engine:
    return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _database_url(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _create_database(admin: sa.Engine, template: str | None = None) -> str:
    """A new PostgreSQL database (a copy of `template`, else empty); its name. Fails or skips without the server."""
    name = f"m365_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    except sa.exc.OperationalError as error:
        _service_missing(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error.orig}")
    return name


def _drop_database(admin: sa.Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards; its URL. Fails or skips without the server."""
    admin = _admin_engine()
    try:
        name = _create_database(admin)
        try:
            yield _database_url(name)
        finally:
            _drop_database(admin, name)
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


def _migrate(url: str) -> None:
    from m365_pipeline.warehouse.engine import create_warehouse_engine
    from m365_pipeline.warehouse.migrate import upgrade_to_head

    engine = create_warehouse_engine(url)
    try:
        upgrade_to_head(engine)
    finally:
        engine.dispose()  # a PostgreSQL template is copied only while nothing is connected to it


def _create_models(url: str) -> None:
    from m365_pipeline.warehouse.schema import metadata

    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


# How each kind of prepared warehouse is made: what the tests that take a copy of one would otherwise do first.
_PREPARATIONS: dict[str, Callable[[str], None]] = {
    "migrated": _migrate,  # upgrade_to_head on a new database: the schema at head, no rows
    "models": _create_models,  # metadata.create_all on a new database (no Alembic version table)
}


class WarehouseTemplates:
    """Warehouses prepared once per session and copied for each test that would have prepared its own.

    A test's copy is a new database of its own (isolation as before); only the preparation is shared. PostgreSQL
    copies with ``CREATE DATABASE ... TEMPLATE`` (the template is never connected to after it is made, as the copy
    requires), SQLite copies the file (checkpointed: the write-ahead log is empty and gone before the first copy).

    A PostgreSQL copy takes the server most of a second (a file and its sync for each of its few hundred
    relations), mostly waiting on the disk: the next copies of a kind are made in the background while the test
    that took one runs, each still handed to one test only, and a test's copy is dropped in the background after
    it (one worker: copies and drops do not wait on each other's disk syncs).
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._sqlite: dict[str, Path] = {}
        self._postgres: dict[str, str] = {}
        self._ahead: dict[str, collections.deque[concurrent.futures.Future[str]]] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._drops: list[concurrent.futures.Future[None]] = []
        self._admin: sa.Engine | None = None

    def admin(self) -> sa.Engine:
        if self._admin is None:
            self._admin = _admin_engine()
        return self._admin

    def sqlite(self, kind: str, path: Path) -> str:
        """A copy of the prepared SQLite warehouse at `path` (its folder created); its URL."""
        if kind not in self._sqlite:
            import sqlite3

            template = self._folder / f"{kind}.db"
            _PREPARATIONS[kind](f"sqlite:///{template}")
            connection = sqlite3.connect(template)
            try:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                connection.close()  # the last connection: SQLite deletes the (empty) log
            if template.with_name(template.name + "-wal").exists():
                raise RuntimeError(f"{template}: its write-ahead log outlived the last connection")
            self._sqlite[kind] = template
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._sqlite[kind], path)
        return f"sqlite:///{path}"

    def postgres(self, kind: str) -> str:
        """A new PostgreSQL database copied from the prepared one; its name (the caller drops it)."""
        if kind not in self._postgres:
            name = _create_database(self.admin())
            try:
                _PREPARATIONS[kind](_database_url(name))
            except BaseException:
                _drop_database(self.admin(), name)
                raise
            self._postgres[kind] = name
        template = self._postgres[kind]
        ahead = self._ahead.setdefault(kind, collections.deque())
        name = ahead.popleft().result() if ahead else _create_database(self.admin(), template)
        while len(ahead) < _COPIES_AHEAD:
            ahead.append(self._worker().submit(_create_database, self.admin(), template))
        return name

    def drop_postgres(self, name: str) -> None:
        """Drops a copy (in the background: its test is over; the end of the session waits for it)."""
        self._drops.append(self._worker().submit(_drop_database, self.admin(), name))

    def _worker(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self._admin is not None:
            for future in (future for ahead in self._ahead.values() for future in ahead):
                if future.exception() is None:
                    _drop_database(self._admin, future.result())
            for name in self._postgres.values():
                _drop_database(self._admin, name)
            self._admin.dispose()
        for drop in self._drops:
            drop.result()  # a copy that could not be dropped fails the session's end, as it failed its test before


# PostgreSQL copies of a kind made ahead of the tests taking them: enough to cover a few short tests in a row.
_COPIES_AHEAD = 2


@pytest.fixture(scope="session")
def warehouse_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseTemplates]:
    templates = WarehouseTemplates(tmp_path_factory.mktemp("warehouse_templates"))
    try:
        yield templates
    finally:
        templates.close()


@pytest.fixture
def migrated_sqlite(warehouse_templates: WarehouseTemplates) -> Callable[[Path], str]:
    """Puts a warehouse migrated to head (no rows) at the given path; returns its URL."""
    return lambda path: warehouse_templates.sqlite("migrated", path)


def _postgres_copy(templates: WarehouseTemplates, kind: str) -> Iterator[str]:
    name = templates.postgres(kind)
    try:
        yield _database_url(name)
    finally:
        templates.drop_postgres(name)


@pytest.fixture
def migrated_postgres_url(warehouse_templates: WarehouseTemplates) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, migrated to head (no rows), dropped afterwards."""
    yield from _postgres_copy(warehouse_templates, "migrated")


@pytest.fixture
def models_postgres_url(warehouse_templates: WarehouseTemplates) -> Iterator[str]:
    """A fresh PostgreSQL database for one test with the models' tables (``metadata.create_all``), dropped after."""
    yield from _postgres_copy(warehouse_templates, "models")


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis; tests isolate themselves by key prefix, not by flushing."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        _service_missing(f"Redis is not reachable at {REDIS_TEST_URL}: {error}")
    finally:
        client.close()
    return REDIS_TEST_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3 API server (moto's server mode) on a real loopback socket, for the whole session."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket on ``s3_endpoint`` (test credentials in the environment, as AWS clients read them)."""
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return bucket
