"""Errors of the Graph client. Their text names what failed and where, never a token or a secret."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

# connection refused or dropped, timeouts, a body cut short; not misconfiguration such as a bad URL scheme
TRANSIENT_HTTP_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


class GraphError(Exception):
    """Graph (or the sign-in service) refused a request.

    ``status`` is the HTTP status, 0 when there is none to tell (a dropped connection; msal does not say);
    ``code`` and ``message`` are Graph's ``error.code`` and ``error.message``; ``url`` is kept whole but only
    its path is shown, as a query string can be long and carries nothing the reader needs.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        method: str = "GET",
        url: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.method = method
        self.url = url
        super().__init__(self._describe())

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or self.url

    def _describe(self) -> str:
        status = f"HTTP {self.status} " if self.status else ""
        request_id = f" (request-id {self.request_id})" if self.request_id else ""
        where = f"{self.method} {self.path}".rstrip()
        return f"{where}: {status}{self.code}: {self.message}{request_id}"


class GraphAuthError(GraphError):
    """No access token could be obtained, or Graph still answered 401 after one fresh token."""


class GraphSignInUnavailable(GraphAuthError):
    """The sign-in service could not be reached or answered 429 or 5xx: transient, so the client retries it
    like a Graph call. ``retry_after`` is the wait its Retry-After header asked for, if it sent one."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        request_id: str | None = None,
        method: str = "POST",
        url: str = "",
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, code, message, request_id=request_id, method=method, url=url)


class GraphRetriesExhausted(GraphError):
    """A request kept failing transiently (429/503/504/connection errors) beyond the retry policy."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        attempts: int,
        request_id: str | None = None,
        method: str = "GET",
        url: str = "",
    ) -> None:
        self.attempts = attempts
        super().__init__(status, code, message, request_id=request_id, method=method, url=url)

    def _describe(self) -> str:
        return f"{super()._describe()} - gave up after {self.attempts} attempts"
