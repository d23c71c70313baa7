"""The one place that reads the environment.

With nothing set, the embedded default: the bundled Graph emulator (in-process), a SQLite warehouse under
data/, an in-process rate limiter and a local snapshot store under data/. Production: a real tenant (client
secret or certificate), PostgreSQL, Redis and S3, each switched on by its own variable.

Every setting is documented in ``SETTINGS_DOC``; a test keeps the README's table in step with it. A wrong
or half-given setting raises ``SettingsError`` naming the variable; a secret's value never appears in an
error, a repr or a log line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "M365_"

# name (without prefix) -> (default shown in docs, description)
SETTINGS_DOC: dict[str, tuple[str, str]] = {
    "DATA_DIR": (
        "./data",
        "Folder for raw extracts, reports, the SQLite warehouse and the local snapshot store.",
    ),
    "TENANT_ID": (
        "(unset: emulator)",
        "Entra ID tenant (directory) id of the real tenant. Setting it selects Graph.",
    ),
    "CLIENT_ID": ("", "Application (client) id of the app registration."),
    "CLIENT_SECRET": ("", "Client secret of the app registration (secret; or use a certificate)."),
    "CLIENT_CERTIFICATE_PATH": ("", "PEM file holding the private key and certificate, or a .pfx file."),
    "CLIENT_CERTIFICATE_PASSWORD": (
        "",
        "Passphrase of the certificate's private key, if it has one (secret).",
    ),
    "GRAPH_BASE_URL": (
        "https://graph.microsoft.com/v1.0",
        "Graph endpoint; national clouds: https://graph.microsoft.us/v1.0, https://microsoftgraph.chinacloudapi.cn/v1.0.",
    ),
    "AUTHORITY_HOST": (
        "https://login.microsoftonline.com",
        "Sign-in host; national clouds: https://login.microsoftonline.us, https://login.chinacloudapi.cn.",
    ),
    "EMULATOR_URL": (
        "",
        "Base URL of an emulator served on a socket (`m365 emulator serve`); unset: in-process.",
    ),
    "EMULATOR_SEED": ("365", "Seed of the synthetic tenant: the same seed gives the same tenant."),
    "EMULATOR_USERS": ("500", "Number of users in the synthetic tenant."),
    "EMULATOR_FAULTS": (
        "",
        "Fault injection, e.g. `429=0.05,retry_after=1,429_bare=0.01,503=0.02,504=0,drop=0.01,seed=7`.",
    ),
    "PAGE_SIZE": ("999", "`$top` for paged Graph collections (1..999)."),
    "MAX_RETRIES": ("6", "Retries of one Graph request on 429/503/504/connection errors before failing."),
    "HTTP_TIMEOUT": ("60", "Seconds before one Graph request times out."),
    "GRAPH_BUDGET": (
        "3500",
        "Graph resource units per 10 s for this app in the tenant: 3500 (<50 users), 5000 (50-500), 8000 (>500).",
    ),
    "DATABASE_URL": (
        "sqlite:///<DATA_DIR>/warehouse.db",
        "SQLAlchemy URL of the warehouse (postgresql+psycopg://...).",
    ),
    "REDIS_URL": (
        "(unset: in-process)",
        "Redis for the shared Graph rate limit, e.g. redis://127.0.0.1:6379/0.",
    ),
    "SNAPSHOT_STORE": ("<DATA_DIR>/snapshots", "Hot snapshot store: a folder or s3://bucket/prefix."),
    "COLD_STORE": ("<DATA_DIR>/cold", "Cold snapshot store: a folder or s3://bucket/prefix."),
    "S3_ENDPOINT_URL": ("", "Endpoint of an S3-compatible store (unset: AWS)."),
    "REPORT_TIMEZONE": ("Asia/Tokyo", "Time zone of report timestamps and file names (the old tool's)."),
}


class SettingsError(ValueError):
    """A setting is wrong or incomplete; the message names the variable."""


class Secret:
    """A value that must never be printed: its repr and str are masked."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class FaultRates:
    """Probabilities (0..1) that the emulator answers one request with a fault instead of the data."""

    throttle: float = 0.0  # 429 with Retry-After
    retry_after: float = 1.0  # seconds sent in Retry-After
    throttle_bare: float = 0.0  # 429 without Retry-After
    unavailable: float = 0.0  # 503
    gateway_timeout: float = 0.0  # 504
    drop: float = 0.0  # connection dropped halfway through the body
    seed: int = 0

    _KEYS: ClassVar[dict[str, str]] = {
        "429": "throttle",
        "retry_after": "retry_after",
        "429_bare": "throttle_bare",
        "503": "unavailable",
        "504": "gateway_timeout",
        "drop": "drop",
        "seed": "seed",
    }

    @classmethod
    def parse(cls, text: str, setting: str = PREFIX + "EMULATOR_FAULTS") -> FaultRates:
        values: dict[str, float | int] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, raw = item.partition("=")
            attribute = cls._KEYS.get(key.strip())
            if not sep or attribute is None:
                raise SettingsError(f"{setting}: '{item}' is not one of {', '.join(k + '=' for k in cls._KEYS)}")
            try:
                number = int(raw) if attribute == "seed" else float(raw)
            except ValueError:
                raise SettingsError(f"{setting}: '{item}' does not hold a number") from None
            if attribute not in ("seed", "retry_after") and not 0.0 <= number <= 1.0:
                raise SettingsError(f"{setting}: '{item}' must be a probability between 0 and 1")
            if number < 0:
                raise SettingsError(f"{setting}: '{item}' must not be negative")
            values[attribute] = number
        rates = cls(**values)  # type: ignore[arg-type]
        if rates.total > 1.0:
            raise SettingsError(f"{setting}: the fault probabilities add up to more than 1")
        return rates

    @property
    def total(self) -> float:
        return self.throttle + self.throttle_bare + self.unavailable + self.gateway_timeout + self.drop


@dataclass(frozen=True)
class EmulatorSettings:
    seed: int = 365
    users: int = 500
    faults: FaultRates = field(default_factory=FaultRates)
    url: str | None = None  # None: in-process


@dataclass(frozen=True)
class GraphCredentials:
    tenant_id: str
    client_id: str
    client_secret: Secret | None
    certificate_path: Path | None
    certificate_password: Secret | None
    authority_host: str


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    graph_base_url: str
    credentials: GraphCredentials | None  # None: the bundled emulator
    emulator: EmulatorSettings
    page_size: int
    max_retries: int
    http_timeout: float
    graph_budget: int
    database_url: str = field(repr=False)  # may hold a password
    redis_url: str | None = field(repr=False)
    snapshot_store: str
    cold_store: str
    s3_endpoint_url: str | None
    report_timezone: ZoneInfo

    @property
    def uses_emulator(self) -> bool:
        return self.credentials is None

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from ``environ`` (default: the process environment) and validate it."""
    env = _Env(os.environ if environ is None else environ)
    data_dir = Path(env.text("DATA_DIR") or "data").expanduser().resolve()
    credentials = _credentials(env)
    emulator_url = env.url("EMULATOR_URL")
    if credentials is not None and emulator_url:
        raise SettingsError(f"{PREFIX}EMULATOR_URL cannot be combined with {PREFIX}TENANT_ID (a real tenant)")
    default_base = emulator_url + "/v1.0" if emulator_url else "https://graph.microsoft.com/v1.0"
    return Settings(
        data_dir=data_dir,
        graph_base_url=(env.url("GRAPH_BASE_URL") or default_base).rstrip("/"),
        credentials=credentials,
        emulator=EmulatorSettings(
            seed=env.integer("EMULATOR_SEED", 365, minimum=0),
            users=env.integer("EMULATOR_USERS", 500, minimum=1),
            faults=FaultRates.parse(env.text("EMULATOR_FAULTS") or ""),
            url=emulator_url or None,
        ),
        page_size=env.integer("PAGE_SIZE", 999, minimum=1, maximum=999),
        max_retries=env.integer("MAX_RETRIES", 6, minimum=0, maximum=20),
        http_timeout=env.number("HTTP_TIMEOUT", 60.0, minimum=1.0),
        graph_budget=env.integer("GRAPH_BUDGET", 3500, minimum=10),
        database_url=env.database_url(data_dir),
        redis_url=env.url("REDIS_URL", schemes=("redis", "rediss", "unix")) or None,
        snapshot_store=env.store("SNAPSHOT_STORE", data_dir / "snapshots"),
        cold_store=env.store("COLD_STORE", data_dir / "cold"),
        s3_endpoint_url=env.url("S3_ENDPOINT_URL") or None,
        report_timezone=env.timezone("REPORT_TIMEZONE", "Asia/Tokyo"),
    )


TENANT_SETTINGS = ("TENANT_ID", "CLIENT_ID", "CLIENT_SECRET", "CLIENT_CERTIFICATE_PATH")
# meaningful only with a real tenant: set alone, they would silently be ignored
TENANT_ONLY_SETTINGS = ("CLIENT_CERTIFICATE_PASSWORD", "GRAPH_BASE_URL", "AUTHORITY_HOST")


def _credentials(env: _Env) -> GraphCredentials | None:
    given = {name: env.text(name) for name in TENANT_SETTINGS}
    if not any(given.values()):
        stray = [PREFIX + name for name in TENANT_ONLY_SETTINGS if env.text(name)]
        if stray:
            raise SettingsError(
                f"{', '.join(stray)} is set but no tenant is: set {PREFIX}TENANT_ID, {PREFIX}CLIENT_ID and a "
                f"secret or certificate, or unset it to use the bundled emulator"
            )
        return None
    for name in ("TENANT_ID", "CLIENT_ID"):
        if not given[name]:
            others = ", ".join(PREFIX + n for n, v in given.items() if v)
            raise SettingsError(f"{PREFIX}{name} is required when {others} is set (a real tenant)")
    secret, certificate = given["CLIENT_SECRET"], given["CLIENT_CERTIFICATE_PATH"]
    if bool(secret) == bool(certificate):
        raise SettingsError(
            f"set exactly one of {PREFIX}CLIENT_SECRET and {PREFIX}CLIENT_CERTIFICATE_PATH for tenant "
            f"{given['TENANT_ID']}"
        )
    certificate_path = Path(certificate).expanduser() if certificate else None
    if certificate_path is not None and not certificate_path.is_file():
        raise SettingsError(f"{PREFIX}CLIENT_CERTIFICATE_PATH: no file at {certificate_path}")
    password = env.text("CLIENT_CERTIFICATE_PASSWORD")
    if password and not certificate:
        raise SettingsError(f"{PREFIX}CLIENT_CERTIFICATE_PASSWORD is set but {PREFIX}CLIENT_CERTIFICATE_PATH is not")
    return GraphCredentials(
        tenant_id=str(given["TENANT_ID"]),
        client_id=str(given["CLIENT_ID"]),
        client_secret=Secret(secret) if secret else None,
        certificate_path=certificate_path,
        certificate_password=Secret(password) if password else None,
        authority_host=(env.url("AUTHORITY_HOST") or "https://login.microsoftonline.com").rstrip("/"),
    )


class _Env:
    """Typed reads of M365_* variables; every error names the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(PREFIX + name, "").strip()
        return value or None

    def integer(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name}: '{raw}' is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f"..{maximum}" if maximum is not None else " or more"
            raise SettingsError(f"{PREFIX}{name}: {value} is out of range ({minimum}{upper})")
        return value

    def number(self, name: str, default: float, minimum: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name}: '{raw}' is not a number") from None
        if value < minimum:
            raise SettingsError(f"{PREFIX}{name}: {value} is below {minimum}")
        return value

    def url(self, name: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            raise SettingsError(f"{PREFIX}{name}: '{mask_url_password(raw)}' is not a {'/'.join(schemes)} URL")
        return raw

    def database_url(self, data_dir: Path) -> str:
        raw = self.text("DATABASE_URL")
        if raw is None:
            return f"sqlite:///{data_dir / 'warehouse.db'}"
        backend = raw.split(":", 1)[0].split("+", 1)[0]
        if backend not in ("sqlite", "postgresql"):
            raise SettingsError(
                f"{PREFIX}DATABASE_URL: '{mask_url_password(raw)}' is neither sqlite:/// nor postgresql+psycopg://"
            )
        if backend == "postgresql" and "+" not in raw.split(":", 1)[0]:
            raw = "postgresql+psycopg" + raw[len("postgresql") :]
        return raw

    def store(self, name: str, default: Path) -> str:
        raw = self.text(name)
        if raw is None:
            return str(default)
        if "://" in raw and not raw.startswith("s3://"):
            shown = mask_url_password(raw)
            raise SettingsError(f"{PREFIX}{name}: '{shown}' is neither a folder nor an s3://bucket/prefix URL")
        if raw.startswith("s3://") and not urlsplit(raw).netloc:
            raise SettingsError(f"{PREFIX}{name}: '{raw}' names no bucket")
        return raw if raw.startswith("s3://") else str(Path(raw).expanduser().resolve())

    def timezone(self, name: str, default: str) -> ZoneInfo:
        raw = self.text(name) or default
        try:
            return ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"{PREFIX}{name}: '{raw}' is not an IANA time zone") from None


def mask_url_password(url: str) -> str:
    """The URL with the password of its user-info part replaced (the password text may occur elsewhere too)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:********@{host}"))
