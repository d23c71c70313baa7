"""The one place that reads the environment.

With nothing set, the embedded default: the bundled Graph emulator (in-process), a SQLite warehouse under
data/, an in-process rate limiter and a local snapshot store under data/. Production: a real tenant (client
secret or certificate), PostgreSQL, Redis and S3, each switched on by its own variable.

Every setting is documented in ``SETTINGS_DOC``; a test keeps the README's table in step with it. A wrong
or half-given setting, or one that does not apply to the chosen source (emulator or real tenant), raises
``SettingsError`` naming the variable; a secret's value never appears in an error, a repr or a log line.
Reading the settings also opens the certificate and creates the data folder, so those fail at startup too.

A plain reader rather than pydantic-settings: comma-separated lists, cross-setting rules and messages that
name the M365_* variable exactly would each need custom code there as well.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from m365_pipeline.snapshots.tags import ENVIRONMENTS

PREFIX = "M365_"
_T = TypeVar("_T")

# name (without prefix) -> (default shown in docs, description)
SETTINGS_DOC: dict[str, tuple[str, str]] = {
    "DATA_DIR": (
        "./data",
        "Folder for reports, logs, the SQLite warehouse and the default raw and snapshot stores (created if missing).",
    ),
    "TENANT_ID": (
        "(unset: emulator)",
        "Entra ID tenant id (a GUID) or verified domain (contoso.onmicrosoft.com) of the real tenant; several, "
        "comma-separated, for one multi-tenant app registration. Setting it selects Graph.",
    ),
    "CLIENT_ID": ("", "Application (client) id of the app registration."),
    "CLIENT_SECRET": ("", "Client secret of the app registration (secret; or use a certificate)."),
    "CLIENT_CERTIFICATE_PATH": (
        "",
        "PEM file holding the private key and its certificate, or a .pfx/.p12 file; opened when settings are read.",
    ),
    "CLIENT_CERTIFICATE_PASSWORD": (
        "",
        "Passphrase of the certificate's private key, if it has one (secret).",
    ),
    "GRAPH_BASE_URL": (
        "https://graph.microsoft.com/v1.0",
        "Graph endpoint, https and ending in /v1.0 or /beta; national clouds: https://graph.microsoft.us/v1.0, "
        "https://microsoftgraph.chinacloudapi.cn/v1.0.",
    ),
    "AUTHORITY_HOST": (
        "https://login.microsoftonline.com",
        "Sign-in host (https, no path); national clouds: https://login.microsoftonline.us, https://login.chinacloudapi.cn.",
    ),
    "EMULATOR_URL": (
        "",
        "Root URL of an emulator served on a socket (`m365 emulator serve`), e.g. http://127.0.0.1:8365 (no /v1.0); "
        "unset: in-process.",
    ),
    "EMULATOR_SEED": (
        "365",
        "Seeds of the synthetic tenants, comma-separated (one tenant per seed); the same seed gives the same tenant.",
    ),
    "EMULATOR_USERS": ("500", "Number of users in each synthetic tenant."),
    "EMULATOR_FAULTS": (
        "",
        "Fault injection, e.g. `429=0.08,retry_after=0-2,429_bare=0.02,503=0.02,504=0,drop=0.01,seed=7` "
        "(`retry_after`: seconds, or a range each 429 draws from).",
    ),
    "PAGE_SIZE": ("999", "`$top` for paged Graph collections (1..999)."),
    "MAX_RETRIES": ("6", "Retries of one Graph request on 429/503/504/connection errors before failing."),
    "HTTP_TIMEOUT": ("60", "Seconds before one Graph request times out (1 or more)."),
    "GRAPH_BUDGET": (
        "3500",
        "Graph resource units per 10 s for this app in the tenant: 3500 (<50 users), 5000 (50-500), 8000 (>500).",
    ),
    "CACHE_TTL_USERS": ("300", "Seconds a Graph answer about users stays in the response cache (0: not cached)."),
    "CACHE_TTL_LICENCES": (
        "1800",
        "Seconds a licence answer (subscribedSkus, license details) stays cached (0: not cached).",
    ),
    "CACHE_TTL_SECURITY": (
        "180",
        "Seconds a security answer (the registration report, authentication methods, conditional access, roles) "
        "stays cached (0: not cached).",
    ),
    "CACHE_TTL_DEFAULT": (
        "600",
        "Seconds any other Graph answer stays cached (0: not cached). Delta rounds, sign-in and audit logs and call "
        "records never are: each is read once.",
    ),
    "CACHE_MAX_BYTES": (
        "67108864",
        "Bound of the in-process response cache (used without M365_REDIS_URL); the oldest answers go first.",
    ),
    "DATABASE_URL": (
        "sqlite:///<DATA_DIR>/warehouse.db",
        "SQLAlchemy URL of the warehouse (postgresql+psycopg://...).",
    ),
    "REDIS_URL": (
        "(unset: in-process)",
        "Redis for the Graph rate limits (one bucket per tenant, app and service class, shared by every run) and "
        "the response cache, e.g. redis://127.0.0.1:6379/0.",
    ),
    "RAW_STORE": ("<DATA_DIR>/raw", "Raw store (the Parquet extracts): a folder or s3://bucket/prefix."),
    "SNAPSHOT_STORE": ("<DATA_DIR>/snapshots", "Hot snapshot store: a folder or s3://bucket/prefix."),
    "SNAPSHOT_KEY": (
        "",
        "Snapshot repository key: base64 of 32 random bytes, e.g. `openssl rand -base64 32` (secret; or a passphrase).",
    ),
    "SNAPSHOT_PASSPHRASE": (
        "",
        "Passphrase the snapshot key is derived from through scrypt, when M365_SNAPSHOT_KEY is not set (secret).",
    ),
    "SNAPSHOT_ENV": (
        "dev",
        "Environment named in tags ({env}-{type}-{version}-{date}): prod, staging, dev, regression or test.",
    ),
    "CODE_COMMIT": (
        "(git rev-parse HEAD)",
        "The deployed code's git commit (40 hex digits) that tags record and the release sensor compares; set it "
        "where the code is installed without its .git folder.",
    ),
    "SNAPSHOT_KEEP_DAILY": ("7", "Prune keeps the newest snapshot of each of this many days (0 or more)."),
    "SNAPSHOT_KEEP_WEEKLY": ("4", "Prune keeps the newest snapshot of each of this many ISO weeks (0 or more)."),
    "COLD_STORE": ("<DATA_DIR>/cold", "Cold snapshot store: a folder or s3://bucket/prefix."),
    "COLD_STORAGE_CLASS": (
        "DEEP_ARCHIVE",
        "S3 storage class of the cold archives when M365_COLD_STORE is on S3: DEEP_ARCHIVE, GLACIER or GLACIER_IR.",
    ),
    "COLD_AFTER_DAYS": (
        "30",
        "Snapshots older than this many days move from the hot store to the cold store (`m365 snapshot tier`).",
    ),
    "S3_ENDPOINT_URL": ("", "Endpoint of an S3-compatible store (unset: AWS)."),
    "REPORT_TIMEZONE": ("Asia/Tokyo", "Time zone of report timestamps and file names (the old tool's)."),
    "LEGACY_INBOX": (
        "<DATA_DIR>/legacy_inbox",
        "Folder watched for the old tool's CSV reports to migrate (sensor legacy_inbox_sensor); with several tenants, "
        "one subfolder per tenant id.",
    ),
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
    retry_after: float = 1.0  # seconds sent in Retry-After (the least, when retry_after_max draws a range)
    retry_after_max: float | None = None  # each 429 draws its Retry-After from [retry_after, retry_after_max]
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
            if attribute == "retry_after" and "-" in raw.strip()[1:]:
                least, _, most = raw.strip().partition("-")
                values.update(cls._retry_after_range(least, most, item, setting))
                continue
            try:
                number = int(raw) if attribute == "seed" else float(raw)
            except ValueError:
                raise SettingsError(f"{setting}: '{item}' does not hold a number") from None
            if not math.isfinite(number):
                raise SettingsError(f"{setting}: '{item}' is not a finite number")
            if attribute not in ("seed", "retry_after") and not 0.0 <= number <= 1.0:
                raise SettingsError(f"{setting}: '{item}' must be a probability between 0 and 1")
            if number < 0:
                raise SettingsError(f"{setting}: '{item}' must not be negative")
            values[attribute] = number
        rates = cls(**values)  # type: ignore[arg-type]
        if rates.retry_after_max is not None and rates.retry_after_max < rates.retry_after:
            raise SettingsError(f"{setting}: the retry_after range ends before it starts")
        if rates.total > 1.0:
            raise SettingsError(f"{setting}: the fault probabilities add up to more than 1")
        return rates

    @staticmethod
    def _retry_after_range(least: str, most: str, item: str, setting: str) -> dict[str, float]:
        try:
            bounds = float(least), float(most)
        except ValueError:
            raise SettingsError(f"{setting}: '{item}' does not hold a number or a range A-B") from None
        if not all(math.isfinite(bound) and bound >= 0 for bound in bounds):
            raise SettingsError(f"{setting}: '{item}' must be finite seconds, not negative")
        return {"retry_after": bounds[0], "retry_after_max": bounds[1]}

    @property
    def total(self) -> float:
        return self.throttle + self.throttle_bare + self.unavailable + self.gateway_timeout + self.drop


@dataclass(frozen=True)
class EmulatorSettings:
    seeds: tuple[int, ...] = (365,)  # one synthetic tenant per seed
    users: int = 500
    faults: FaultRates = field(default_factory=FaultRates)
    url: str | None = None  # the served emulator's root; None: in-process


@dataclass(frozen=True)
class GraphCredentials:
    tenant_ids: tuple[str, ...]  # lower-cased GUIDs or verified domains; one app registration signs in to each
    client_id: str
    client_secret: Secret | None
    certificate_path: Path | None
    certificate_password: Secret | None
    authority_host: str


@dataclass(frozen=True)
class CacheSettings:
    """Time to live of cached Graph answers per kind, in seconds (0: that kind is not cached)."""

    users: int = 300
    licences: int = 1800
    security: int = 180
    default: int = 600
    max_bytes: int = 64 * 1024 * 1024  # bound of the in-process cache


@dataclass(frozen=True)
class SnapshotSettings:
    """The snapshot repository's key (one of the two secrets), the tags' environment, retention and tiering."""

    key: Secret | None = None
    passphrase: Secret | None = None
    env: str = "dev"
    keep_daily: int = 7
    keep_weekly: int = 4
    cold_after_days: int = 30
    cold_storage_class: str = "DEEP_ARCHIVE"
    code_commit: str | None = None
    """None: the commit is read from the code's git checkout."""


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
    raw_store: str
    snapshot_store: str
    cold_store: str
    s3_endpoint_url: str | None
    report_timezone: ZoneInfo
    legacy_inbox: Path
    cache: CacheSettings = CacheSettings()
    snapshots: SnapshotSettings = field(default_factory=SnapshotSettings)

    @property
    def uses_emulator(self) -> bool:
        return self.credentials is None

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"


DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"

TENANT_SETTINGS = ("TENANT_ID", "CLIENT_ID", "CLIENT_SECRET", "CLIENT_CERTIFICATE_PATH")
# meaningful only with a real tenant, or only with the emulator: given for the other source they would silently
# be ignored, so they are refused
TENANT_ONLY_SETTINGS = ("CLIENT_CERTIFICATE_PASSWORD", "GRAPH_BASE_URL", "AUTHORITY_HOST")
EMULATOR_ONLY_SETTINGS = ("EMULATOR_URL", "EMULATOR_SEED", "EMULATOR_USERS", "EMULATOR_FAULTS")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from ``environ`` (default: the process environment) and validate it.

    Everything that can be found wrong before a run is found here: a certificate is opened with its passphrase
    and the data folder is created and written to, so the run itself fails only for reasons outside."""
    env = _Env(os.environ if environ is None else environ)
    data_dir = Path(env.text("DATA_DIR") or "data").expanduser().resolve()
    credentials = _credentials(env)
    if credentials is None:
        emulator = EmulatorSettings(
            seeds=env.items("EMULATOR_SEED", lambda name, raw: _whole_number(name, raw, minimum=0)) or (365,),
            users=env.integer("EMULATOR_USERS", 500, minimum=1),
            faults=FaultRates.parse(env.text("EMULATOR_FAULTS") or ""),
            url=env.emulator_url(),
        )
        graph_base_url = f"{emulator.url}/v1.0" if emulator.url else DEFAULT_GRAPH_BASE_URL
    else:
        stray = [PREFIX + name for name in EMULATOR_ONLY_SETTINGS if env.text(name)]
        if stray:
            raise SettingsError(
                f"{', '.join(stray)} {'applies' if len(stray) == 1 else 'apply'} only to the bundled emulator, but "
                f"{PREFIX}TENANT_ID selects a real tenant: unset one or the other"
            )
        emulator = EmulatorSettings()
        graph_base_url = env.graph_base_url()
    settings = Settings(
        data_dir=data_dir,
        graph_base_url=graph_base_url,
        credentials=credentials,
        emulator=emulator,
        page_size=env.integer("PAGE_SIZE", 999, minimum=1, maximum=999),
        max_retries=env.integer("MAX_RETRIES", 6, minimum=0, maximum=20),
        http_timeout=env.number("HTTP_TIMEOUT", 60.0, minimum=1.0),
        graph_budget=env.integer("GRAPH_BUDGET", 3500, minimum=10),
        database_url=env.database_url(data_dir),
        redis_url=env.url("REDIS_URL", schemes=("redis", "rediss", "unix")),
        raw_store=env.store("RAW_STORE", data_dir / "raw"),
        snapshot_store=env.store("SNAPSHOT_STORE", data_dir / "snapshots"),
        cold_store=env.store("COLD_STORE", data_dir / "cold"),
        s3_endpoint_url=env.url("S3_ENDPOINT_URL"),
        report_timezone=env.timezone("REPORT_TIMEZONE", "Asia/Tokyo"),
        legacy_inbox=Path(env.text("LEGACY_INBOX") or data_dir / "legacy_inbox").expanduser().resolve(),
        snapshots=_snapshot_settings(env),
        cache=CacheSettings(
            users=env.integer("CACHE_TTL_USERS", 300, minimum=0),
            licences=env.integer("CACHE_TTL_LICENCES", 1800, minimum=0),
            security=env.integer("CACHE_TTL_SECURITY", 180, minimum=0),
            default=env.integer("CACHE_TTL_DEFAULT", 600, minimum=0),
            max_bytes=env.integer("CACHE_MAX_BYTES", 64 * 1024 * 1024, minimum=0),
        ),
    )
    if credentials is not None and credentials.certificate_path is not None:
        load_certificate_credential(credentials)
    _writable_folder(PREFIX + "DATA_DIR", data_dir)  # last: a wrong setting elsewhere creates no folder
    return settings


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
    tenant_ids = env.items("TENANT_ID", _tenant_id) or ()
    secret, certificate = given["CLIENT_SECRET"], given["CLIENT_CERTIFICATE_PATH"]
    if bool(secret) == bool(certificate):
        raise SettingsError(
            f"set exactly one of {PREFIX}CLIENT_SECRET and {PREFIX}CLIENT_CERTIFICATE_PATH for tenant "
            f"{', '.join(tenant_ids)}"
        )
    password = env.text("CLIENT_CERTIFICATE_PASSWORD")
    if password and not certificate:
        raise SettingsError(f"{PREFIX}CLIENT_CERTIFICATE_PASSWORD is set but {PREFIX}CLIENT_CERTIFICATE_PATH is not")
    return GraphCredentials(
        tenant_ids=tenant_ids,
        client_id=str(given["CLIENT_ID"]),
        client_secret=Secret(secret) if secret else None,
        certificate_path=Path(certificate).expanduser() if certificate else None,
        certificate_password=Secret(password) if password else None,
        authority_host=env.authority_host(),
    )


COLD_STORAGE_CLASSES = ("DEEP_ARCHIVE", "GLACIER", "GLACIER_IR")
"""The archive storage classes of the cold tier (snapshots.cold.ARCHIVE_STORAGE_CLASSES; a test keeps them equal)."""


def _snapshot_settings(env: _Env) -> SnapshotSettings:
    key, passphrase = env.text("SNAPSHOT_KEY"), env.text("SNAPSHOT_PASSPHRASE")
    if key and passphrase:
        raise SettingsError(
            f"set only one of {PREFIX}SNAPSHOT_KEY and {PREFIX}SNAPSHOT_PASSPHRASE (the key is used as given, the "
            f"passphrase derives one)"
        )
    if key:
        try:
            length = len(base64.b64decode(key, validate=True))
        except (binascii.Error, ValueError):
            raise SettingsError(f"{PREFIX}SNAPSHOT_KEY is not valid base64 (e.g. `openssl rand -base64 32`)") from None
        if length != 32:
            raise SettingsError(f"{PREFIX}SNAPSHOT_KEY decodes to {length} bytes, expected 32")
    storage_class = env.text("COLD_STORAGE_CLASS") or "DEEP_ARCHIVE"
    if storage_class not in COLD_STORAGE_CLASSES:
        raise SettingsError(
            f"{PREFIX}COLD_STORAGE_CLASS: '{storage_class}' is not one of {', '.join(COLD_STORAGE_CLASSES)}"
        )
    code_commit = env.text("CODE_COMMIT")
    if code_commit is not None and not re.fullmatch(r"[0-9a-f]{40}", code_commit):
        raise SettingsError(f"{PREFIX}CODE_COMMIT: '{code_commit}' is not a git commit (40 lowercase hex digits)")
    tag_env = env.text("SNAPSHOT_ENV") or "dev"
    if tag_env not in ENVIRONMENTS:
        raise SettingsError(f"{PREFIX}SNAPSHOT_ENV: '{tag_env}' is not one of {', '.join(ENVIRONMENTS)}")
    return SnapshotSettings(
        key=Secret(key) if key else None,
        passphrase=Secret(passphrase) if passphrase else None,
        env=tag_env,
        keep_daily=env.integer("SNAPSHOT_KEEP_DAILY", 7, minimum=0),
        keep_weekly=env.integer("SNAPSHOT_KEEP_WEEKLY", 4, minimum=0),
        cold_after_days=env.integer("COLD_AFTER_DAYS", 30, minimum=1),
        cold_storage_class=storage_class,
        code_commit=code_commit,
    )


_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DOMAIN = re.compile(r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _tenant_id(name: str, raw: str) -> str:
    """A tenant as Entra ID names it: its directory id or one of its verified domains (case does not matter).
    ``common`` and ``organizations`` are refused: an app-only token is always for one tenant."""
    tenant = raw.lower()
    if not (_GUID.fullmatch(tenant) or _DOMAIN.fullmatch(tenant)):
        raise SettingsError(
            f"{PREFIX}{name}: '{raw}' is neither a tenant id (a GUID) nor a verified domain "
            f"(e.g. contoso.onmicrosoft.com)"
        )
    return tenant


def _whole_number(name: str, raw: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}: '{raw}' is not a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f"..{maximum}" if maximum is not None else " or more"
        raise SettingsError(f"{PREFIX}{name}: {value} is out of range ({minimum}{upper})")
    return value


def _writable_folder(setting: str, path: Path) -> None:
    """Create ``path`` if it is missing and prove that files can be written into it."""
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{setting}: {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise SettingsError(f"{setting}: cannot create or write to {path} ({error.strerror or error})") from None


def load_certificate_credential(credentials: GraphCredentials) -> dict[str, str]:
    """msal's ``client_credential`` for the certificate of ``credentials``, after proving that it can sign:
    the file is readable, the passphrase (or none) opens the private key and a certificate matches that key.

    A PEM file gives the key, its certificate and the certificate's SHA-1 thumbprint; a .pfx/.p12 file is
    handed to msal by path (msal then signs with the SHA-256 thumbprint). Errors name the setting and the
    file, never the passphrase."""
    path = credentials.certificate_path
    if path is None:
        raise ValueError("these credentials hold a client secret, not a certificate")
    passphrase = credentials.certificate_password.reveal() if credentials.certificate_password else None
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SettingsError(f"{_CERTIFICATE}: cannot read {path} ({error.strerror or error})") from None
    if path.suffix.lower() in (".pfx", ".p12"):
        _check_pfx(path, data, passphrase)
        pfx = {"private_key_pfx_path": str(path)}
        return pfx | {"passphrase": passphrase} if passphrase else pfx
    return _pem_credential(path, data, passphrase)


_CERTIFICATE = PREFIX + "CLIENT_CERTIFICATE_PATH"
_PASSWORD = PREFIX + "CLIENT_CERTIFICATE_PASSWORD"
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN ((?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)


def _check_pfx(path: Path, data: bytes, passphrase: str | None) -> None:
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(data, passphrase.encode() if passphrase else None)
    except ValueError:
        given = f"the given {_PASSWORD}" if passphrase else f"no {_PASSWORD}"
        raise SettingsError(
            f"{_CERTIFICATE}: {path} cannot be opened with {given} (wrong passphrase, or not a .pfx file)"
        ) from None
    if key is None or certificate is None or certificate.public_key() != key.public_key():
        raise SettingsError(f"{_CERTIFICATE}: {path} holds no private key with its matching certificate")


def _pem_credential(path: Path, data: bytes, passphrase: str | None) -> dict[str, str]:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise SettingsError(
            f"{_CERTIFICATE}: cannot read {path} as a PEM file (not text; a .pfx file needs the .pfx or .p12 suffix)"
        ) from None
    key_block = _PEM_PRIVATE_KEY.search(text)
    if key_block is None:
        raise SettingsError(f"{_CERTIFICATE}: {path} holds no PEM private key (it needs the key and the certificate)")
    try:
        key = serialization.load_pem_private_key(
            key_block.group(0).encode(), password=passphrase.encode() if passphrase else None
        )
    except TypeError:  # cryptography: a passphrase for a plain key, or none for an encrypted one
        problem = "is not encrypted: unset" if passphrase else "is encrypted: set"
        raise SettingsError(f"{_CERTIFICATE}: the private key in {path} {problem} {_PASSWORD}") from None
    except ValueError:
        raise SettingsError(
            f"{_CERTIFICATE}: the private key in {path} cannot be read (wrong {_PASSWORD}, or not a key)"
        ) from None
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        certificates = []
    certificate = next((c for c in certificates if c.public_key() == key.public_key()), None)
    if certificate is None:
        raise SettingsError(f"{_CERTIFICATE}: {path} holds no certificate matching its private key")
    credential = {
        "private_key": key_block.group(0),
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper(),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }
    return credential | {"passphrase": passphrase} if passphrase else credential


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]+:", re.IGNORECASE)  # two letters at least: C:\ is a Windows folder
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class _Env:
    """Typed reads of M365_* variables; every error names the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        if name not in SETTINGS_DOC:
            raise KeyError(f"{PREFIX}{name} is read but not documented in SETTINGS_DOC")
        value = self._environ.get(PREFIX + name, "").strip()
        return value or None

    def items(self, name: str, parse: Callable[[str, str], _T]) -> tuple[_T, ...] | None:
        """A comma-separated list, each item parsed by ``parse(name, item)``; blanks and repeats are refused."""
        raw = self.text(name)
        if raw is None:
            return None
        values: list[_T] = []
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                raise SettingsError(f"{PREFIX}{name}: '{raw}' has an empty item (a comma too many?)")
            value = parse(name, item)
            if value in values:
                raise SettingsError(f"{PREFIX}{name}: '{item}' is given twice")
            values.append(value)
        return tuple(values)

    def integer(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        raw = self.text(name)
        return default if raw is None else _whole_number(name, raw, minimum, maximum)

    def number(self, name: str, default: float, minimum: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name}: '{raw}' is not a number") from None
        if not math.isfinite(value):
            raise SettingsError(f"{PREFIX}{name}: '{raw}' is not a finite number")
        if value < minimum:
            raise SettingsError(f"{PREFIX}{name}: {value} is below {minimum}")
        return value

    def url(self, name: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            parts = urlsplit(raw)
            valid = parts.scheme in schemes and bool(parts.netloc or (parts.scheme == "unix" and parts.path))
            parts.port  # noqa: B018 (raises ValueError on a port that is not a number in range)
        except ValueError:
            valid = False
        if not valid:
            raise SettingsError(f"{PREFIX}{name}: '{mask_url_password(raw)}' is not a {'/'.join(schemes)} URL")
        return raw

    def emulator_url(self) -> str | None:
        raw = self.url("EMULATOR_URL")
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise SettingsError(
                f"{PREFIX}EMULATOR_URL: '{mask_url_password(raw)}' must be the emulator's server root, e.g. "
                f"http://127.0.0.1:8365, without a path such as /v1.0 or a query"
            )
        return raw.rstrip("/")

    def graph_base_url(self) -> str:
        raw = self.url("GRAPH_BASE_URL")
        if raw is None:
            return DEFAULT_GRAPH_BASE_URL
        parts = urlsplit(raw)
        shown = mask_url_password(raw)
        if parts.scheme != "https":
            raise SettingsError(f"{PREFIX}GRAPH_BASE_URL: '{shown}' must be https (tokens are sent only over https)")
        if parts.path.rstrip("/").rsplit("/", 1)[-1] not in ("v1.0", "beta") or parts.query or parts.fragment:
            raise SettingsError(
                f"{PREFIX}GRAPH_BASE_URL: '{shown}' must end in Graph's version, /v1.0 or /beta "
                f"(e.g. {DEFAULT_GRAPH_BASE_URL})"
            )
        return raw.rstrip("/")

    def authority_host(self) -> str:
        raw = self.url("AUTHORITY_HOST")
        if raw is None:
            return DEFAULT_AUTHORITY_HOST
        parts = urlsplit(raw)
        shown = mask_url_password(raw)
        if parts.scheme != "https":
            raise SettingsError(f"{PREFIX}AUTHORITY_HOST: '{shown}' must be https (msal signs in over https only)")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise SettingsError(
                f"{PREFIX}AUTHORITY_HOST: '{shown}' must be the sign-in host alone (e.g. {DEFAULT_AUTHORITY_HOST}); "
                f"the tenant comes from {PREFIX}TENANT_ID"
            )
        return raw.rstrip("/")

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
        """A folder (made absolute) or ``s3://bucket[/prefix]``; anything else that looks like a URL (``s3:/b``,
        ``s3:b``, ``gs://b``) is refused rather than taken for a folder of that name."""
        raw = self.text(name)
        if raw is None:
            return str(default)
        shown = mask_url_password(raw)
        if raw.lower().startswith("s3://"):
            parts = urlsplit(raw)
            if not _S3_BUCKET.fullmatch(parts.netloc) or parts.query or parts.fragment:
                raise SettingsError(
                    f"{PREFIX}{name}: '{shown}' is not s3://bucket/prefix (a bucket name, then an optional prefix)"
                )
            return raw.rstrip("/")
        if _SCHEME.match(raw):
            raise SettingsError(f"{PREFIX}{name}: '{shown}' is neither a folder nor an s3://bucket/prefix URL")
        return str(Path(raw).expanduser().resolve())

    def timezone(self, name: str, default: str) -> ZoneInfo:
        raw = self.text(name) or default
        try:
            return ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"{PREFIX}{name}: '{raw}' is not an IANA time zone") from None


def mask_url_password(url: str) -> str:
    """The URL with the password of its user-info part replaced (the password text may occur elsewhere too).
    Without ``//`` the user-info cannot be told from the rest, so everything from the scheme to the last ``@``
    is hidden."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(an unreadable URL)"
    if password is None:
        if "@" in url and not parts.netloc:
            return f"{url.partition(':')[0]}:********@{url.rpartition('@')[2]}"
        return url
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:********@{host}"))


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
