"""A response cache for Graph GETs, with the old tool's time to live per kind of answer.

Kinds (``cache_kind``): users 300 s, licences 1,800 s, security 180 s, anything else 600 s (M365_CACHE_TTL_*).
Delta rounds are never cached: the same deltaLink answers new changes each time. Only successful answers are
stored, so an error is asked again. The key is a SHA-256 of the scope (tenant and app: another app may see
other properties), the URL with its query and the headers that change an answer (ConsistencyLevel, Prefer):
never the token. With Redis (M365_REDIS_URL) the cache is shared by every run on the machine's tenants; without
it, it lives in this process, bounded by M365_CACHE_MAX_BYTES (the oldest answers are dropped first).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode, urlsplit

from m365_pipeline.graph.rate_limit import redis_client
from m365_pipeline.graph.retry import Clock
from m365_pipeline.graph.throttling import ServiceClass, app_name, service_class
from m365_pipeline.settings import CacheSettings, Settings

if TYPE_CHECKING:
    import redis

_ANSWER_HEADERS = ("consistencylevel", "prefer")
_SECURITY_SEGMENTS = ("/authentication/", "/directoryroles", "/rolemanagement/", "/security/", "/policies/")
_LICENCE_SEGMENTS = ("/subscribedskus", "/licensedetails")
# Activity logs and call records are read once, a day's window page by page (a million sign-ins a day is about a
# gigabyte of pages): caching them would only fill the store.
_STREAMED_SEGMENTS = ("/auditlogs/", "/communications/callrecords")


class CacheKind(StrEnum):
    USERS = "users"
    LICENCES = "licences"
    SECURITY = "security"
    DEFAULT = "default"


def cache_kind(url: str) -> CacheKind | None:
    """The kind of answer a GET of ``url`` gives; None: never cached (delta rounds, activity logs, call records)."""
    parts = urlsplit(url)
    path = f"{parts.path.lower()}/"
    if "/delta/" in path or "deltatoken" in parts.query.lower() or any(s in path for s in _STREAMED_SEGMENTS):
        return None
    if service_class(url) in (ServiceClass.ENTRA_REPORTS, ServiceClass.CONDITIONAL_ACCESS) or any(
        segment in path for segment in _SECURITY_SEGMENTS
    ):
        return CacheKind.SECURITY
    if any(segment in path for segment in _LICENCE_SEGMENTS):
        return CacheKind.LICENCES
    if "/users/" in path:
        return CacheKind.USERS
    return CacheKind.DEFAULT


class ResponseStore(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, body: bytes, ttl: int) -> None: ...


class InProcessResponseStore:
    """Answers in this process's memory, expiring by ``clock``, the oldest dropped beyond ``max_bytes``."""

    def __init__(self, clock: Clock, max_bytes: int) -> None:
        self._clock = clock
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, body = entry
            if self._clock.now() >= expires:
                self._drop(key)
                return None
            return body

    def put(self, key: str, body: bytes, ttl: int) -> None:
        if len(body) > self._max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (self._clock.now() + ttl, body)
            self._bytes += len(body)
            while self._bytes > self._max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, body = self._entries.pop(key)
        self._bytes -= len(body)


class RedisResponseStore:
    """Answers in Redis under ``prefix`` with Redis's own expiry: shared by every process."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def get(self, key: str) -> bytes | None:
        value = self._client.get(f"{self._prefix}{key}")
        return value if isinstance(value, bytes) else None

    def put(self, key: str, body: bytes, ttl: int) -> None:
        self._client.set(f"{self._prefix}{key}", body, ex=ttl)


class ResponseCache:
    """What the Graph client asks: the cached body of a GET, and where to store one."""

    def __init__(self, store: ResponseStore, ttls: CacheSettings, scope: str) -> None:
        self.store = store
        self._ttls = {
            CacheKind.USERS: ttls.users,
            CacheKind.LICENCES: ttls.licences,
            CacheKind.SECURITY: ttls.security,
            CacheKind.DEFAULT: ttls.default,
        }
        self._scope = scope

    def key(self, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str]) -> str | None:
        """The cache key of the GET, or None when its kind is not cached."""
        kind = cache_kind(url)
        if kind is None or self._ttls[kind] <= 0:
            return None
        answer_headers = sorted(
            (name.lower(), value) for name, value in headers.items() if name.lower() in _ANSWER_HEADERS
        )
        text = "\n".join([self._scope, url, urlencode(sorted((params or {}).items())), repr(answer_headers)])
        return f"{kind.value}:{hashlib.sha256(text.encode()).hexdigest()}"

    def get(self, key: str) -> bytes | None:
        return self.store.get(key)

    def put(self, key: str, body: bytes) -> None:
        self.store.put(key, body, self._ttls[CacheKind(key.split(":", 1)[0])])


def response_cache_for(settings: Settings, tenant_id: str, clock: Clock) -> ResponseCache:
    """The cache of the settings' app in ``tenant_id``: in Redis when M365_REDIS_URL is set, else in-process.
    The bundled in-process emulator always gets an in-process cache: every process has an emulator of its own,
    so another process's answers are not this one's."""
    scope = f"{tenant_id}|{app_name(settings)}"
    in_process_emulator = settings.credentials is None and settings.emulator.url is None
    if settings.redis_url is None or in_process_emulator:
        return ResponseCache(InProcessResponseStore(clock, settings.cache.max_bytes), settings.cache, scope)
    store = RedisResponseStore(redis_client(settings.redis_url), "m365_pipeline:graph:cache:")
    return ResponseCache(store, settings.cache, scope)
