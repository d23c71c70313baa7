"""The sign-in side of the emulator (Microsoft Entra ID's part): OpenID discovery, the client-credentials token
endpoint, and the bearer tokens it issued, which the Graph side checks on every request.

One multi-tenant app registration serves every tenant of the emulator, as a real multi-tenant app does once
each tenant's administrator has consented. The tenant of a token is the tenant named in the sign-in path; the
token carries it (a ``tid`` claim, as Entra ID's access tokens do) and Graph answers from that tenant only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from m365_pipeline.emulator.odata import GraphError
from m365_pipeline.emulator.tenant import SyntheticTenant

EMULATOR_CLIENT_ID = "36500000-e3a1-4d2f-8b6c-9a0d3e365001"
# The bundled emulator's own app registration: a published constant, it guards nothing real.
EMULATOR_CLIENT_SECRET = "emulator-only~not-a-real-secret~365"
# Where the in-process emulator stands: a cloud of its own whose hosts never resolve (RFC 2606 ``.invalid``), so
# a request that escaped the in-process transport fails instead of reaching anything real.
EMULATOR_GRAPH_BASE_URL = "https://graph.emulator.invalid/v1.0"
EMULATOR_AUTHORITY_HOST = "https://login.emulator.invalid"

ALL_PERMISSIONS = frozenset(
    {
        "User.Read.All",
        "Group.Read.All",
        "Directory.Read.All",
        "Organization.Read.All",
        "AuditLog.Read.All",
        "Reports.Read.All",
        "Application.Read.All",
        "UserAuthenticationMethod.Read.All",
        "ReportSettings.Read.All",
        "Policy.Read.All",
        "RoleManagement.Read.Directory",
        "Sites.Read.All",
        "Files.Read.All",
        "TeamSettings.Read.All",
        "Team.ReadBasic.All",
        "TeamsAppInstallation.ReadForTeam.All",
        "CallRecords.Read.All",
    }
)
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Graph's resource as the public cloud names it, and the in-process emulator's own Graph host (so a client that
# derives the scope from its Graph base URL, as for a national cloud, signs in to the in-process emulator too)
GRAPH_SCOPES = frozenset(
    {
        "https://graph.microsoft.com/.default",
        f"{GRAPH_APP_ID}/.default",
        EMULATOR_GRAPH_BASE_URL.removesuffix("/v1.0") + "/.default",
    }
)
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class RegisteredClient:
    """An app registration: its client secret (None: certificate only) and its application permissions."""

    secret: str | None = field(repr=False)
    permissions: frozenset[str]


@dataclass(frozen=True)
class Grant:
    """What a bearer token stands for: an app, in one tenant, with the permissions consented there."""

    client_id: str
    tenant_id: str
    permissions: frozenset[str]
    expires_at: float


class SignInError(Exception):
    """A refusal of the token endpoint, answered in Entra ID's OAuth error format (``error``, ``AADSTS...``)."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{aadsts}: {description}")
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description


class Identity:
    """Issues and checks tokens for the registered clients in each tenant; thread-safe.

    ``permissions_by_tenant`` holds, for a tenant id, the permissions its administrator consented to: a token
    for that tenant carries only those of the client's permissions (none: the app signs in, Graph refuses it
    everything with 403, as for a service principal without admin consent). Tenants not named there granted all.
    """

    def __init__(
        self,
        tenants: Sequence[SyntheticTenant],
        clients: Mapping[str, RegisteredClient],
        token_lifetime: float,
        clock: Callable[[], float],
        permissions_by_tenant: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._clients = dict(clients)
        self._token_lifetime = token_lifetime
        self._clock = clock
        self._names: dict[str, SyntheticTenant] = {}
        for tenant in tenants:
            for name in (tenant.tenant_id.lower(), tenant.default_domain.lower()):
                if name in self._names:
                    raise ValueError(f"two tenants of one emulator are both named '{name}'")
                self._names[name] = tenant
        consented = dict(permissions_by_tenant or {})
        unknown = set(consented) - {tenant.tenant_id for tenant in tenants}
        if unknown:
            raise ValueError(f"permissions_by_tenant names tenants the emulator does not serve: {sorted(unknown)}")
        self._consented = consented
        # Signs the tokens; derived from the tenants so that a token is the same on every run
        self._key = hashlib.sha256("|".join(["emulator-token-key", *self._names]).encode()).digest()
        self._grants: dict[str, Grant] = {}
        self._issued = 0
        self._lock = threading.Lock()

    def find_tenant(self, name: str) -> SyntheticTenant | None:
        """The tenant an authority's path names by its id or its domain, as Entra ID accepts both."""
        return self._names.get(name.lower())

    def tenant_named(self, name: str) -> SyntheticTenant:
        """``find_tenant``, or the refusal Entra ID gives for a tenant it does not know."""
        tenant = self.find_tenant(name)
        if tenant is None:
            raise SignInError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing "
                "into the correct cloud.",
            )
        return tenant

    @staticmethod
    def openid_configuration(tenant: SyntheticTenant, host: str) -> dict[str, Any]:
        """Discovery for msal: every endpoint is https on the host that was asked (msal accepts no other
        scheme), under the tenant's id."""
        root = f"https://{host}/{tenant.tenant_id}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
            "tenant_region_scope": "AS",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def issue_token(self, tenant: SyntheticTenant, form: Mapping[str, str], base: str) -> dict[str, Any]:
        """The client-credentials grant in ``tenant``: a client secret, or a client assertion (certificate
        credential). ``base`` is the request's own ``scheme://host[:port]``: its ``/.default`` scope is Graph's
        too, as a national cloud's Graph host is (a served emulator is one host for sign-in and Graph).

        A client assertion must be a well-formed JWT whose ``iss`` and ``sub`` are the client id and whose
        ``exp`` (when present) is not past; its signature is NOT verified: the emulator has no certificates.
        """
        grant_type = _required(form, "grant_type")
        if grant_type != "client_credentials":
            raise SignInError(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
            )
        client_id = _required(form, "client_id")
        client = self._clients.get(client_id)
        if client is None:
            raise SignInError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant.display_name}'. This can happen if the application has not been installed by "
                "the administrator of the tenant or consented to by any user in the tenant. You may have sent "
                "your authentication request to the wrong tenant.",
            )
        if form.get("client_assertion"):
            self._check_assertion(client_id, form["client_assertion"], form.get("client_assertion_type", ""))
        elif form.get("client_secret"):
            if client.secret is None or form["client_secret"] != client.secret:
                raise SignInError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                    f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
                )
        else:
            raise SignInError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        self._check_scope(_required(form, "scope"), tenant, base)
        permissions = client.permissions & self._consented.get(tenant.tenant_id, client.permissions)
        return self._new_token(client_id, tenant.tenant_id, permissions)

    def authenticate(self, authorization: str | None) -> Grant:
        """The grant behind ``Authorization: Bearer ...``, or a 401 InvalidAuthenticationToken."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _invalid_token("Access token is empty.")
        with self._lock:
            grant = self._grants.get(token.strip())
        if grant is None or self._clock() >= grant.expires_at:
            raise _invalid_token("Access token has expired or is not yet valid.")
        return grant

    def revoke_all(self) -> None:
        with self._lock:
            self._grants.clear()

    @staticmethod
    def _check_scope(scope: str, tenant: SyntheticTenant, base: str) -> None:
        requested = set(scope.split()) - RESERVED_SCOPES
        if requested and {name.lower() for name in requested} <= GRAPH_SCOPES | {f"{base.lower()}/.default"}:
            return
        if len(requested) != 1 or not scope.strip().endswith("/.default"):
            raise SignInError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
                "value with /.default suffixed to the resource identifier (application ID URI).",
            )
        raise SignInError(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {scope.strip().removesuffix('/.default')} was not found in the "
            f"tenant named {tenant.display_name}.",
        )

    def _check_assertion(self, client_id: str, assertion: str, assertion_type: str) -> None:
        if assertion_type != JWT_BEARER:
            raise SignInError(400, "invalid_request", 50027, f"client_assertion_type must be '{JWT_BEARER}'.")
        parts = assertion.split(".")
        claims = _jwt_part(parts[1]) if len(parts) == 3 and _jwt_part(parts[0]) is not None else None
        if claims is None:
            raise SignInError(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise SignInError(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )
        expires = claims.get("exp")
        if isinstance(expires, int | float) and expires <= self._clock():
            raise SignInError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")

    def _new_token(self, client_id: str, tenant_id: str, permissions: frozenset[str]) -> dict[str, Any]:
        """A JWT shaped like Entra ID's app-only access tokens (``tid``, ``appid``, ``roles``), signed with the
        emulator's key. Graph finds its grant by the whole token, so a token is only ever good for its tenant."""
        now = self._clock()
        lifetime = int(self._token_lifetime)
        with self._lock:
            self._issued += 1
            claims = {
                "aud": "https://graph.microsoft.com",
                "iss": f"https://sts.windows.net/{tenant_id}/",
                "iat": int(now),
                "nbf": int(now),
                "exp": int(now + self._token_lifetime),
                "appid": client_id,
                "idtyp": "app",
                "roles": sorted(permissions),
                "tid": tenant_id,
                "uti": _encode(hashlib.sha256(f"{tenant_id}|{client_id}|{self._issued}|{now!r}".encode()).digest()),
                "ver": "1.0",
            }
            signed = f"{_encode(_json({'typ': 'JWT', 'alg': 'HS256'}))}.{_encode(_json(claims))}"
            token = f"{signed}.{_encode(hmac.new(self._key, signed.encode(), hashlib.sha256).digest())}"
            self._grants = {key: grant for key, grant in self._grants.items() if grant.expires_at > now}
            self._grants[token] = Grant(client_id, tenant_id, permissions, now + self._token_lifetime)
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}


def _json(claims: Mapping[str, Any]) -> bytes:
    return json.dumps(claims, separators=(",", ":")).encode()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise SignInError(
            400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
        )
    return value


def _jwt_part(part: str) -> dict[str, Any] | None:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _invalid_token(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        {
            "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
            'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
        },
    )
