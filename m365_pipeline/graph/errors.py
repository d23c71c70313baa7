"""Errors of the Graph client. Their text names what failed and where, never a token or a secret."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

# connection refused or dropped, timeouts, a body cut short; not misconfiguration such as a bad URL scheme
TRANSIENT_HTTP_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)
# the subset where no connection was made at all: refused, DNS failure, TLS handshake or certificate
# verification failure, connect timeout. Nothing was sent, and waiting rarely helps: a wrong URL, a stopped
# service or an untrusted certificate stays so. (Checked before TRANSIENT_HTTP_ERRORS, which includes them.)
UNREACHABLE_HTTP_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)


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
    """The sign-in service answered 429 or 5xx, or its answer was lost (connection dropped, read timeout):
    transient, so the client retries it like a Graph call. ``retry_after`` is the wait its Retry-After header
    asked for, if it sent one. (A sign-in host that cannot be reached at all is ``GraphUnreachable``.)"""

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


class GraphUnreachable(GraphError):
    """The sign-in host or the Graph host could not be reached at all (status 0): connection refused, DNS
    failure, TLS failure, connect timeout. The client retries it once, quickly, then gives up with this error,
    so a wrong URL or a stopped service fails in seconds instead of after the whole retry policy.

    ``service`` is "sign-in" or "Graph", ``host`` the host (and port) that could not be reached, ``cause`` the
    transport's own words (e.g. "[Errno 111] Connection refused")."""

    def __init__(
        self,
        service: str,
        host: str,
        code: str,
        cause: str,
        *,
        attempts: int = 1,
        method: str = "GET",
        url: str = "",
    ) -> None:
        self.service = service
        self.host = host
        self.cause = cause
        self.attempts = attempts
        super().__init__(0, code, f"the {service} host {host} could not be reached ({cause})", method=method, url=url)

    @classmethod
    def of(cls, error: httpx.HTTPError, service: str, method: str, url: str) -> GraphUnreachable:
        parts = urlsplit(url)
        host = parts.hostname or url
        host = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return cls(service, host, type(error).__name__, str(error) or "no connection", method=method, url=url)

    def after(self, attempts: int) -> GraphUnreachable:
        """The same failure, told as the last of ``attempts`` attempts."""
        return GraphUnreachable(
            self.service, self.host, self.code, self.cause, attempts=attempts, method=self.method, url=self.url
        )

    def _describe(self) -> str:
        gave_up = f" - gave up after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{super()._describe()}{gave_up}"
