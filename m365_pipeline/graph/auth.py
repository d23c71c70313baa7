"""Access tokens for Graph: app-only (client credentials) with a client secret or a certificate.

Every provider caches its token and asks for a new one ``refresh_margin`` seconds before it expires, or at
once after ``invalidate()`` (the client calls it on a 401). A sign-in service that cannot be reached or answers
429 or 5xx raises ``GraphSignInUnavailable``, which the client retries like a Graph call; any other refusal
(wrong secret, unknown client or tenant) is a ``GraphAuthError`` at once. Errors name the sign-in service's
error code and description, never the secret, the certificate passphrase or a token.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import msal
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from m365_pipeline.graph.errors import TRANSIENT_HTTP_ERRORS, GraphAuthError, GraphSignInUnavailable
from m365_pipeline.graph.retry import Clock, SystemClock, parse_retry_after
from m365_pipeline.settings import PREFIX, GraphCredentials, Secret, Settings, SettingsError

DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
EMULATOR_GRAPH_BASE_URL = "https://graph.emulator.invalid/v1.0"
EMULATOR_AUTHORITY_HOST = "https://login.emulator.invalid"

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

_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN ((?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)


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


class _RefreshingTokenProvider(ABC):
    """The caching rule every provider shares: reuse the token until ``refresh_margin`` before expiry."""

    def __init__(self, clock: Clock | None, refresh_margin: float) -> None:
        if refresh_margin < 0:
            raise ValueError(f"refresh_margin must not be negative, got {refresh_margin}")
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
                # a token shorter-lived than the margin is used for half its life rather than once
                self._refresh_at = now + max(lifetime - self._refresh_margin, lifetime / 2)
                self._token = token
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    @abstractmethod
    def _request_token(self) -> tuple[str, float]:
        """Ask the sign-in service for a new token: (access token, lifetime in seconds)."""


class MsalTokenProvider(_RefreshingTokenProvider):
    """Tokens from msal's ConfidentialClientApplication (client secret, PEM certificate or .pfx), which speaks
    to the sign-in service through ``http_client`` (a new httpx client when none is given)."""

    def __init__(
        self,
        credentials: GraphCredentials,
        *,
        graph_base_url: str = DEFAULT_GRAPH_BASE_URL,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
        refresh_margin: float = 300.0,
    ) -> None:
        super().__init__(clock, refresh_margin)
        self._credentials = credentials
        self._authority = f"{credentials.authority_host.rstrip('/')}/{credentials.tenant_id}"
        self._scopes = [graph_scope(graph_base_url)]
        self._client_credential = _client_credential(credentials)
        self._http_client = _MsalHttpx(http_client or httpx.Client(), self._clock)
        self._app: msal.ConfidentialClientApplication | None = None

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

    def _request_token(self) -> tuple[str, float]:
        # GraphSignInUnavailable, raised by _MsalHttpx inside msal, passes through untouched
        try:
            application = self._application()
            # our cache decides when to refresh (and invalidate() empties it), so msal's must not answer
            application.remove_tokens_for_client()
            result = application.acquire_token_for_client(scopes=self._scopes)
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
        return str(result["access_token"]), float(result.get("expires_in", 3600))


class _MsalHttpx:
    """msal's http_client contract over httpx.

    A connection error or a 429/5xx answer raises GraphSignInUnavailable here, before msal sees it: msal would
    turn a 5xx into an exception of its own and remember a 429/5xx answer for a while (answering the retry from
    that memory without asking again). msal puts its client assertion in the form as bytes, which httpx would
    send as the text "b'eyJ...'"; this decodes form values first."""

    def __init__(self, http: httpx.Client, clock: Clock) -> None:
        self._http = http
        self._clock = clock

    def post(self, url: str, data: object = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {name: value.decode() if isinstance(value, bytes) else value for name, value in data.items()}
        try:
            response = self._http.post(url, data=data, **kwargs)  # type: ignore[arg-type]
        except TRANSIENT_HTTP_ERRORS as error:
            raise _unreachable(error, "POST", url) from None
        return _unless_unavailable(response, "POST", url, self._clock)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.get(url, **kwargs)
        except TRANSIENT_HTTP_ERRORS as error:
            raise _unreachable(error, "GET", url) from None
        return _unless_unavailable(response, "GET", url, self._clock)


class ClientCredentialsTokenProvider(_RefreshingTokenProvider):
    """The OAuth 2.0 client-credentials grant posted with httpx: for an emulator served over plain http,
    which msal refuses as an authority."""

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
        super().__init__(clock, refresh_margin)
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._http = http

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
            raise _unreachable(error, "POST", self._token_url) from None
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


def _unreachable(error: httpx.HTTPError, method: str, url: str) -> GraphSignInUnavailable:
    return GraphSignInUnavailable(0, type(error).__name__, str(error) or "connection lost", method=method, url=url)


def _unless_unavailable(response: httpx.Response, method: str, url: str, clock: Clock) -> httpx.Response:
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
        retry_after=parse_retry_after(response.headers.get("Retry-After"), clock.utcnow()),
        request_id=details.get("correlation_id") or response.headers.get("request-id"),
        method=method,
        url=url,
    )


def token_provider_for(
    settings: Settings,
    *,
    http_client: httpx.Client | None = None,
    clock: Clock | None = None,
    emulator_tenant_id: str | None = None,
) -> TokenProvider:
    """The provider the settings call for: a real tenant through msal; the in-process emulator through msal
    over ``http_client`` (which must carry the emulator's transport); an emulator on a socket through the
    plain client-credentials grant. The emulator stands in for the public cloud, so its scope is Graph's."""
    from m365_pipeline.emulator.app import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET
    from m365_pipeline.emulator.tenant import tenant_id_for_seed

    if settings.credentials is not None:
        return MsalTokenProvider(
            settings.credentials, graph_base_url=settings.graph_base_url, http_client=http_client, clock=clock
        )
    tenant_id = emulator_tenant_id or tenant_id_for_seed(settings.emulator.seed)
    if settings.emulator.url is not None:
        return ClientCredentialsTokenProvider(
            f"{settings.emulator.url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token",
            EMULATOR_CLIENT_ID,
            Secret(EMULATOR_CLIENT_SECRET),
            scope=graph_scope(DEFAULT_GRAPH_BASE_URL),
            http=http_client or httpx.Client(timeout=settings.http_timeout),
            clock=clock,
        )
    if http_client is None:
        raise ValueError("the in-process emulator needs the http_client that carries its transport")
    credentials = GraphCredentials(
        tenant_id=tenant_id,
        client_id=EMULATOR_CLIENT_ID,
        client_secret=Secret(EMULATOR_CLIENT_SECRET),
        certificate_path=None,
        certificate_password=None,
        authority_host=EMULATOR_AUTHORITY_HOST,
    )
    return MsalTokenProvider(credentials, http_client=http_client, clock=clock)


def _client_credential(credentials: GraphCredentials) -> str | dict[str, str]:
    if credentials.client_secret is not None:
        return credentials.client_secret.reveal()
    if credentials.certificate_path is None:
        raise SettingsError(f"set {PREFIX}CLIENT_SECRET or {PREFIX}CLIENT_CERTIFICATE_PATH for a real tenant")
    passphrase = credentials.certificate_password.reveal() if credentials.certificate_password else None
    path = credentials.certificate_path
    if path.suffix.lower() in (".pfx", ".p12"):
        pfx = {"private_key_pfx_path": str(path)}
        return pfx | {"passphrase": passphrase} if passphrase else pfx
    return _pem_credential(path, passphrase)


def _pem_credential(path: Path, passphrase: str | None) -> dict[str, str]:
    """msal's certificate credential from a PEM file holding the private key and its certificate."""
    setting = f"{PREFIX}CLIENT_CERTIFICATE_PATH"
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{setting}: cannot read {path} as a PEM file ({error})") from None
    key_block = _PEM_PRIVATE_KEY.search(text)
    if key_block is None:
        raise SettingsError(f"{setting}: {path} holds no PEM private key (it needs the key and the certificate)")
    try:
        key = serialization.load_pem_private_key(
            key_block.group(0).encode(), password=passphrase.encode() if passphrase else None
        )
    except (TypeError, ValueError):
        raise SettingsError(
            f"{setting}: the private key in {path} cannot be read (wrong or missing "
            f"{PREFIX}CLIENT_CERTIFICATE_PASSWORD, or not a key)"
        ) from None
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        certificates = []
    certificate = next((c for c in certificates if c.public_key() == key.public_key()), None)
    if certificate is None:
        raise SettingsError(f"{setting}: {path} holds no certificate matching its private key")
    credential = {
        "private_key": key_block.group(0),
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper(),
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }
    return credential | {"passphrase": passphrase} if passphrase else credential
