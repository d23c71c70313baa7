"""The Graph client: paging by ``@odata.nextLink``, retries on throttling and transient failures (of Graph and
of the sign-in service alike), one token refresh on 401, and the identity budget spent before each request.

A host that cannot be reached at all (connection refused, DNS failure, TLS failure) is retried once after at
most a second, then fails as ``GraphUnreachable`` naming the host: waiting out a wrong URL or a stopped
service would only delay the one-line failure by minutes. Everything that might pass (429, 503, 504, a
connection dropped mid-answer, a read timeout) gets the whole retry policy.

Graph's rules it follows (reference/graph_api.md): the whole nextLink is requested as given; the caller's
headers (ConsistencyLevel among them) go with every page; ``$top`` only on paged collections; Retry-After is
obeyed exactly and, when absent, the wait is exponential with jitter; other 4xx fail at once.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from m365_pipeline.graph.auth import TokenProvider
from m365_pipeline.graph.cache import ResponseCache
from m365_pipeline.graph.errors import (
    TRANSIENT_HTTP_ERRORS,
    UNREACHABLE_HTTP_ERRORS,
    GraphAuthError,
    GraphError,
    GraphRetriesExhausted,
    GraphSignInUnavailable,
    GraphUnreachable,
)
from m365_pipeline.graph.rate_limit import RateLimiter, resource_unit_cost
from m365_pipeline.graph.retry import Clock, RetryPolicy, SystemClock, parse_retry_after
from m365_pipeline.graph.throttling import ServiceLimiter

logger = logging.getLogger("m365_pipeline.graph")

MAX_PAGE_SIZE = 999
_RETRIED_STATUSES = frozenset({429, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
QUICK_RETRY_MAX_WAIT = 1.0  # the one retry of an unreachable host waits at most this long


class GraphClient:
    """GET requests to one Graph base URL. Owns ``http`` and closes it."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        http: httpx.Client,
        *,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 (frozen, so one shared default is safe)
        limiter: ServiceLimiter | RateLimiter | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        page_size: int = MAX_PAGE_SIZE,
        cache: ResponseCache | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE} (Graph's $top range), got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self._tokens = tokens
        self._http = http
        self._retry = retry
        self._limiter = limiter
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._cache = cache

    def get_json(
        self,
        path_or_url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        cost: int = 1,
    ) -> dict[str, Any]:
        """One GET. ``cost`` is the endpoint's base resource-unit cost; the query's discounts are applied."""
        return self._request_json(
            "GET", self._url(path_or_url), params, headers or {}, resource_unit_cost(cost, params or {})
        )

    def post_json(self, path: str, body: Mapping[str, Any], *, retried_statuses: frozenset[int] = frozenset()) -> Any:
        """One POST of a JSON body (``$batch``), retried like a GET. Spends none of the budget: the caller spends
        what the request costs (a batch, each of its inner requests). ``retried_statuses`` adds statuses that
        are transient for this call (a whole ``$batch`` answered 424)."""
        return self._request_json("POST", self._url(path), None, {}, None, body, retried_statuses)

    def get_redirect_location(self, path_or_url: str, params: Mapping[str, str] | None = None, *, cost: int = 1) -> str:
        """The ``Location`` of a GET that Graph answers with a redirect (a usage report's download), not followed:
        the download must be requested without this client's Authorization header (``graph.downloads``)."""
        url = self._url(path_or_url)
        response = self._request("GET", url, params, {}, resource_unit_cost(cost, params or {}), redirect=True)
        location = response.headers.get("Location")
        if response.status_code not in _REDIRECTS or not location:
            raise GraphError(response.status_code, "UnexpectedResponse", "expected a redirect with a Location", url=url)
        return location

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        paged: bool = True,
        cost: int = 1,
    ) -> Iterator[list[dict[str, Any]]]:
        """Each page's ``value`` (possibly empty), following ``@odata.nextLink`` until there is none.

        ``paged=False`` is for endpoints that take no ``$top`` (subscribedSkus). ``cost`` is the endpoint's
        base resource-unit cost (the catalog's), charged per page with the query's discounts applied.
        """
        query = dict(params or {})
        if paged:
            query.setdefault("$top", str(self.page_size))
        units = resource_unit_cost(cost, query)
        caller_headers = headers or {}
        url: str | None = self._url(path)
        first_query: Mapping[str, str] | None = query
        page = 0
        while url is not None:
            body = self._request_json("GET", url, first_query, caller_headers, units)
            items = body.get("value")
            if not isinstance(items, list):
                raise GraphError(200, "UnexpectedResponse", "the answer has no 'value' list", url=url)
            page += 1
            logger.debug("%s page %d: %d items", path, page, len(items))
            yield items
            next_link = body.get("@odata.nextLink")
            url = next_link if isinstance(next_link, str) else None
            first_query = None  # the nextLink carries the whole query

    def iter_items(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        paged: bool = True,
        cost: int = 1,
    ) -> Iterator[dict[str, Any]]:
        for page in self.iter_pages(path, params, headers, paged=paged, cost=cost):
            yield from page

    def spend(self, units: int, path: str) -> None:
        """Spend what a request to ``path`` costs (``units`` resource units for identity; one request for the
        other classes), blocking until it is there: for requests sent inside a batch."""
        if isinstance(self._limiter, ServiceLimiter):
            self._limiter.acquire_for(path, units)
        elif self._limiter is not None:
            self._limiter.acquire(units)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    @property
    def rng(self) -> random.Random:
        return self._rng

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("https://", "http://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def _request_json(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        cost: int | None,
        body: Mapping[str, Any] | None = None,
        retried_statuses: frozenset[int] = frozenset(),
    ) -> Any:
        """The JSON answer of ``_request``. A GET the cache holds is answered from it (no request, no budget
        spent); a successful GET is stored there."""
        cache = self._cache if method == "GET" else None
        cache_key = cache.key(url, params, headers) if cache is not None else None
        if cache is not None and cache_key is not None and (cached := cache.get(cache_key)) is not None:
            return json.loads(cached)
        response = self._request(method, url, params, headers, cost, body, retried_statuses)
        if cache is not None and cache_key is not None:
            cache.put(cache_key, response.content)
        return response.json()

    def _request(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        cost: int | None,
        body: Mapping[str, Any] | None = None,
        retried_statuses: frozenset[int] = frozenset(),
        *,
        redirect: bool = False,
    ) -> httpx.Response:
        """Send until it succeeds (a redirect counts when ``redirect``), fails for good, or the retry policy is
        spent."""
        failures = 0
        unreachable = 0
        refreshed_token = False
        while True:
            try:
                response = self._send(method, url, params, headers, cost, body)
            except GraphUnreachable as error:
                unreachable += 1
                self._retry_quickly_once(error, unreachable, url)
                continue
            except TRANSIENT_HTTP_ERRORS as error:
                failure = _Failure(0, type(error).__name__, str(error) or "connection lost", None, None)
            except GraphSignInUnavailable as error:
                failure = _Failure.of_sign_in(error)
            else:
                if response.status_code < 300 or (redirect and response.status_code in _REDIRECTS):
                    self._note_budget(response)
                    return response
                failure = _Failure.of(response, self._clock.utcnow(), method)
                if failure.status == 401 and not refreshed_token:
                    logger.warning("401 %s on %s: requesting a new token", failure.code, _path(url))
                    self._tokens.invalidate()
                    refreshed_token = True
                    continue
                if failure.status == 401:
                    raise failure.error(GraphAuthError, url, "still rejected after a new token")
                if failure.status not in _RETRIED_STATUSES | retried_statuses:
                    raise failure.error(GraphError, url)
            failures += 1
            self._wait_before_retry(failure, failures, url)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        cost: int | None,
        body: Mapping[str, Any] | None,
    ) -> httpx.Response:
        token = self._tokens.token()  # first: a sign-in that fails spends none of Graph's budget
        if cost is not None:
            self.spend(cost, url)
        request_headers = {
            **headers,
            "Authorization": f"Bearer {token}",
            "client-request-id": str(uuid.uuid4()),
            "Accept": "application/json",
        }
        try:
            return self._http.request(method, url, params=params, headers=request_headers, json=body)
        except UNREACHABLE_HTTP_ERRORS as error:
            raise GraphUnreachable.of(error, "Graph", method, url) from None

    def _retry_quickly_once(self, error: GraphUnreachable, attempts: int, url: str) -> None:
        """Sleep at most QUICK_RETRY_MAX_WAIT before the one retry of an unreachable host (none when the policy
        allows no retries); raise ``error`` once that retry failed too."""
        retries = min(1, self._retry.max_retries)
        if attempts > retries:
            raise error.after(attempts)
        wait = self._rng.uniform(0.0, min(self._retry.base_delay, QUICK_RETRY_MAX_WAIT))
        logger.warning(
            "no response %s on %s %s: the %s host %s could not be reached, waiting %.3f s before retry %d of %d",
            error.code,
            error.method,
            _path(error.url or url),
            error.service,
            error.host,
            wait,
            attempts,
            retries,
        )
        self._clock.sleep(wait)

    def _wait_before_retry(self, failure: _Failure, failures: int, url: str) -> None:
        """Sleep Retry-After, or back off when there is none; raise when the policy allows no more."""
        retry_after, policy = failure.retry_after, self._retry
        if retry_after is not None and retry_after > policy.max_retry_after:
            detail = (
                f"Retry-After {retry_after:g} s is beyond the policy's max_retry_after {policy.max_retry_after:g} s"
            )
            raise failure.exhausted(url, failures, detail)
        if failures > policy.max_retries:
            raise failure.exhausted(url, failures)
        wait = retry_after if retry_after is not None else policy.backoff(failures, self._rng)
        logger.warning(
            "%s %s on %s %s: waiting %.3f s before retry %d of %d",
            failure.status or "no response",
            failure.code,
            failure.method,
            _path(failure.url or url),
            wait,
            failures,
            policy.max_retries,
        )
        self._clock.sleep(wait)

    @staticmethod
    def _note_budget(response: httpx.Response) -> None:
        used = response.headers.get("x-ms-throttle-limit-percentage")
        if used is not None:
            logger.info("Graph throttling budget at %s of its limit (%s)", used, _path(str(response.url)))


def _path(url: str) -> str:
    return urlsplit(url).path


@dataclass(frozen=True)
class _Failure:
    """What went wrong with one attempt."""

    status: int  # 0: no response
    code: str
    message: str
    request_id: str | None
    retry_after: float | None
    method: str = "GET"
    url: str | None = None  # where it failed when not at the requested URL (the sign-in service)

    @classmethod
    def of_sign_in(cls, error: GraphSignInUnavailable) -> _Failure:
        return cls(
            error.status, error.code, error.message, error.request_id, error.retry_after, error.method, error.url
        )

    @classmethod
    def of(cls, response: httpx.Response, now_utc: datetime, method: str = "GET") -> _Failure:
        """Graph's error code, message and request-id, from the error envelope where there is one."""
        request_id = response.headers.get("request-id")
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now_utc)
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        error = envelope.get("error") if isinstance(envelope, dict) else None
        if not isinstance(error, dict):
            code = response.reason_phrase or f"HTTP{response.status_code}"
            return cls(response.status_code, code, response.text[:200], request_id, retry_after, method)
        inner = error.get("innerError") or error.get("innererror")
        if isinstance(inner, dict) and inner.get("request-id"):
            request_id = str(inner["request-id"])
        code = str(error.get("code") or response.reason_phrase)
        return cls(response.status_code, code, str(error.get("message") or ""), request_id, retry_after, method)

    def error(self, kind: type[GraphError], url: str, detail: str = "") -> GraphError:
        message = f"{self.message} ({detail})" if detail else self.message
        return kind(self.status, self.code, message, request_id=self.request_id, url=url)

    def exhausted(self, url: str, attempts: int, detail: str = "") -> GraphRetriesExhausted:
        message = f"{self.message} ({detail})" if detail else self.message
        return GraphRetriesExhausted(
            self.status,
            self.code,
            message,
            attempts=attempts,
            request_id=self.request_id,
            method=self.method,
            url=self.url or url,
        )
