"""Access tokens for Graph: app-only (client credentials) with a client secret or a certificate.

``MsalTokenProvider`` leaves caching to msal: ``acquire_token_for_client`` answers from msal's token cache and
asks the sign-in service again only once the cached token has less than five minutes left (msal 1.39,
``ClientApplication._acquire_token_silent_from_cache_and_possibly_refresh_it``: ``expires_in < 5*60`` counts
as expired; a token that lives five minutes or less is therefore never reused) or once it passes the
``refresh_in`` the sign-in service may send. ``invalidate()`` (the client calls it on a 401) empties the cache.

A sign-in service that answers 429 or 5xx, or whose answer is lost midway, raises ``GraphSignInUnavailable``,
which the client retries like a Graph call; a sign-in host that cannot be reached at all (refused, DNS, TLS)
raises ``GraphUnreachable``, which the client retries once, quickly; any other refusal (wrong secret, unknown
client or tenant) is a ``GraphAuthError`` at once. Errors name the sign-in service's error code and
description, never the secret, the certificate passphrase or a token.

Nothing here knows the emulator: the composition root (``m365_pipeline/sources.py``) builds providers for it
as for any tenant.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import msal

from m365_pipeline.graph.errors import (
    TRANSIENT_HTTP_ERRORS,
    UNREACHABLE_HTTP_ERRORS,
    GraphAuthError,
    GraphSignInUnavailable,
    GraphUnreachable,
)
from m365_pipeline.graph.retry import Clock, SystemClock, parse_retry_after
from m365_pipeline.settings import PREFIX, GraphCredentials, Secret, SettingsError, load_certificate_credential

DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
SIGN_IN = "sign-in"

# Sign-in hosts of Microsoft's clouds; msal may run instance discovery against these and only these.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
        "login-us.microsoftonline.com",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)


class TokenProvider(Protocol):
    def token(self) -> str:
        """A valid access token for Graph."""

    def invalidate(self) -> None:
        """Forget the cached token: the next ``token()`` asks the sign-in service again."""


def graph_scope(graph_base_url: str) -> str:
    """The ``.default`` scope of the Graph host behind ``graph_base_url`` (national clouds differ)."""
    parts = urlsplit(graph_base_url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"Graph base URL '{graph_base_url}' is not an absolute URL")
    return f"{parts.scheme}://{parts.netloc}/.default"


class MsalTokenProvider:
    """Tokens for one tenant (``tenant_id``, one of ``credentials.tenant_ids``: a multi-tenant app registration
    has one provider per tenant) from msal's ConfidentialClientApplication (client secret, PEM certificate or
    .pfx), which speaks to the sign-in service through ``http_client`` (a new httpx client when none is given).
    msal's own token cache decides when a new token is needed (see the module's docstring)."""

    def __init__(
        self,
        credentials: GraphCredentials,
        tenant_id: str,
        *,
        graph_base_url: str = DEFAULT_GRAPH_BASE_URL,
        http_client: httpx.Client | None = None,
    ) -> None:
        if tenant_id not in credentials.tenant_ids:
            raise ValueError(f"tenant {tenant_id} is not one of the credentials' tenants {credentials.tenant_ids}")
        self._credentials = credentials
        self._authority = f"{credentials.authority_host.rstrip('/')}/{tenant_id}"
        self._scopes = [graph_scope(graph_base_url)]
        self._client_credential = _client_credential(credentials)
        self._http_client = _MsalHttpx(http_client or httpx.Client())
        self._lock = threading.Lock()  # one sign-in at a time: threads needing a token wait for msal's answer
        self._app: msal.ConfidentialClientApplication | None = None

    def token(self) -> str:
        # GraphSignInUnavailable and GraphUnreachable, raised by _MsalHttpx inside msal, pass through untouched
        with self._lock:
            try:
                result = self._application().acquire_token_for_client(scopes=self._scopes)
            except (ValueError, OSError, httpx.HTTPError) as error:
                raise GraphAuthError(0, type(error).__name__, str(error), method="POST", url=self._authority) from None
        if "access_token" not in result:
            raise GraphAuthError(
                0,
                str(result.get("error", "unknown_error")),
                str(result.get("error_description", "no access token in the sign-in service's answer")),
                request_id=result.get("correlation_id"),
                method="POST",
                url=f"{self._authority}/oauth2/v2.0/token",
            )
        return str(result["access_token"])

    def invalidate(self) -> None:
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()

    def _application(self) -> msal.ConfidentialClientApplication:
        # built on first use: msal fetches the authority's OpenID configuration in its constructor
        if self._app is None:
            host = urlsplit(self._authority).hostname or ""
            self._app = msal.ConfidentialClientApplication(
                self._credentials.client_id,
                client_credential=self._client_credential,
                authority=self._authority,
                http_client=self._http_client,
                instance_discovery=None if host in MICROSOFT_AUTHORITY_HOSTS else False,
                token_cache=msal.TokenCache(),
            )
        return self._app


class _MsalHttpx:
    """msal's http_client contract over httpx.

    A host that cannot be reached raises GraphUnreachable, a lost answer or a 429/5xx answer raises
    GraphSignInUnavailable, here, before msal sees it: msal would turn a 5xx into an exception of its own and
    remember a 429/5xx answer for a while (answering the retry from that memory without asking again). msal
    puts its client assertion in the form as bytes, which httpx would send as the text "b'eyJ...'"; this
    decodes form values first."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def post(self, url: str, data: object = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {name: value.decode() if isinstance(value, bytes) else value for name, value in data.items()}
        try:
            response = self._http.post(url, data=data, **kwargs)  # type: ignore[arg-type]
        except TRANSIENT_HTTP_ERRORS as error:
            raise _not_answered(error, "POST", url) from None
        return _unless_unavailable(response, "POST", url)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.get(url, **kwargs)
        except TRANSIENT_HTTP_ERRORS as error:
            raise _not_answered(error, "GET", url) from None
        return _unless_unavailable(response, "GET", url)


class ClientCredentialsTokenProvider:
    """The OAuth 2.0 client-credentials grant posted with httpx: for an emulator served over plain http,
    which msal refuses as an authority. Not msal, so it keeps its own token: reused until ``refresh_margin``
    seconds before it expires (a token shorter-lived than the margin: for half its life), or ``invalidate()``."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        *,
        scope: str,
        http: httpx.Client,
        clock: Clock | None = None,
        refresh_margin: float = 300.0,
    ) -> None:
        if refresh_margin < 0:
            raise ValueError(f"refresh_margin must not be negative, got {refresh_margin}")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._http = http
        self._clock = clock or SystemClock()
        self._refresh_margin = refresh_margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def token(self) -> str:
        with self._lock:
            now = self._clock.now()
            if self._token is None or now >= self._refresh_at:
                token, lifetime = self._request_token()
                self._refresh_at = now + max(lifetime - self._refresh_margin, lifetime / 2)
                self._token = token
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _request_token(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret.reveal(),
            "scope": self._scope,
        }
        try:
            response = self._http.post(self._token_url, data=form, headers={"Accept": "application/json"})
        except TRANSIENT_HTTP_ERRORS as error:
            raise _not_answered(error, "POST", self._token_url) from None
        except httpx.HTTPError as error:
            raise GraphAuthError(0, type(error).__name__, str(error), method="POST", url=self._token_url) from None
        _unless_unavailable(response, "POST", self._token_url, self._clock)
        try:
            body = response.json()
        except ValueError as error:
            raise GraphAuthError(
                response.status_code, type(error).__name__, str(error), method="POST", url=self._token_url
            ) from None
        if response.status_code != 200 or "access_token" not in body:
            raise GraphAuthError(
                response.status_code,
                str(body.get("error", "unknown_error")),
                str(body.get("error_description", "no access token in the sign-in service's answer")),
                request_id=body.get("correlation_id") or response.headers.get("request-id"),
                method="POST",
                url=self._token_url,
            )
        return str(body["access_token"]), float(body.get("expires_in", 3600))


def _not_answered(error: httpx.HTTPError, method: str, url: str) -> GraphUnreachable | GraphSignInUnavailable:
    """GraphUnreachable when no connection was made; GraphSignInUnavailable when the answer was lost."""
    if isinstance(error, UNREACHABLE_HTTP_ERRORS):
        return GraphUnreachable.of(error, SIGN_IN, method, url)
    return GraphSignInUnavailable(0, type(error).__name__, str(error) or "connection lost", method=method, url=url)


def _unless_unavailable(response: httpx.Response, method: str, url: str, clock: Clock | None = None) -> httpx.Response:
    """``response``, unless the sign-in service answered 429 or 5xx: then GraphSignInUnavailable with its
    OAuth error code and description where the body has them."""
    if response.status_code != 429 and response.status_code < 500:
        return response
    try:
        body = response.json()
    except ValueError:
        body = None
    details = body if isinstance(body, dict) else {}
    raise GraphSignInUnavailable(
        response.status_code,
        str(details.get("error") or response.reason_phrase or f"HTTP{response.status_code}"),
        str(details.get("error_description") or "the sign-in service is unavailable"),
        retry_after=parse_retry_after(response.headers.get("Retry-After"), (clock or SystemClock()).utcnow()),
        request_id=details.get("correlation_id") or response.headers.get("request-id"),
        method=method,
        url=url,
    )


def _client_credential(credentials: GraphCredentials) -> str | dict[str, str]:
    if credentials.client_secret is not None:
        return credentials.client_secret.reveal()
    if credentials.certificate_path is None:
        raise SettingsError(f"set {PREFIX}CLIENT_SECRET or {PREFIX}CLIENT_CERTIFICATE_PATH for a real tenant")
    return load_certificate_credential(credentials)
