"""A small OAuth2 client-credentials token issuer for local stacks and tests.

Run it with ``strata serve auth``. It serves:

- ``POST /oauth/token``: the client-credentials grant (RFC 6749 4.4), form-encoded, client
  authentication by HTTP Basic or form fields, RFC 6749 JSON errors;
- ``GET /.well-known/jwks.json``: the two live public keys (sign with the newest, publish both);
- ``GET /.well-known/openid-configuration`` (and ``oauth-authorization-server``): metadata.

Access tokens are RFC 9068 JWTs (``typ: at+jwt``) signed RS256. Production deployments use a
real authorization server; the resource server does not care which.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import anyio.to_thread
import msgspec
from joserfc import jwt
from joserfc.jwk import RSAKey
from litestar import Litestar, Request, Response, get, post

from shared.auth.clients import (
    ClientRegistration,
    demo_client_registry,
    dummy_secret_hash,
    load_client_registry,
    registry_by_id,
    verify_client_secret,
)
from shared.problems import EXCEPTION_HANDLERS
from shared.settings import load_settings

log = logging.getLogger("strata.auth.issuer")

ISSUER_ENV_PREFIX = "STRATA_AUTH_ISSUER_"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"


class IssuerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of the local issuer (``STRATA_AUTH_ISSUER_*``)."""

    issuer: str = "http://127.0.0.1:8100"
    default_audience: str = "strata"
    token_ttl_s: int = 900
    # A private JWKS file, created with two fresh keys if missing; or the JWKS itself.
    keys_path: str | None = "var/auth/signing-keys.json"
    keys: dict[str, Any] | None = None
    # Client registrations: a JSON/YAML file, or given inline (as JSON in the environment).
    clients_path: str | None = None
    clients: tuple[ClientRegistration, ...] = ()
    # With no clients configured, serve the demo registry (see ``demo_client_registry``).
    demo_clients: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.token_ttl_s <= 86_400:
            raise ValueError("token_ttl_s must be between 1 and 86400 seconds")


def load_issuer_settings(environ: dict[str, str] | None = None) -> IssuerSettings:
    """Read :class:`IssuerSettings` from ``STRATA_AUTH_ISSUER_*`` variables."""
    return load_settings(IssuerSettings, environ, prefix=ISSUER_ENV_PREFIX)


class SigningKeys:
    """The issuer's live RSA keys, oldest first; the newest signs, all are published."""

    LIVE_KEYS = 2

    def __init__(self, keys: Sequence[RSAKey]) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        for key in keys:
            if not key.is_private or not key.kid:
                raise ValueError("signing keys must be private and carry a kid")
        self.keys = tuple(keys)

    @property
    def current(self) -> RSAKey:
        return self.keys[-1]

    @staticmethod
    def new_key() -> RSAKey:
        """A fresh 2048-bit RSA key whose kid is its RFC 7638 thumbprint."""
        return RSAKey.generate_key(
            2048, parameters={"use": "sig", "alg": "RS256"}, private=True, auto_kid=True
        )

    @classmethod
    def generate(cls, count: int = LIVE_KEYS) -> SigningKeys:
        """Fresh keys (two by default, so that a rotation can be shown at once)."""
        return cls([cls.new_key() for _ in range(count)])

    @classmethod
    def from_jwks(cls, jwks: dict[str, Any]) -> SigningKeys:
        """Keys from a private JWKS document, oldest first."""
        return cls([RSAKey.import_key(entry) for entry in jwks["keys"]])

    def rotated(self) -> SigningKeys:
        """A new key signs from now on; the previous newest stays published, older ones go."""
        return SigningKeys([*self.keys[-(self.LIVE_KEYS - 1) :], self.new_key()])

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS document for ``/.well-known/jwks.json``."""
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def private_jwks(self) -> dict[str, Any]:
        """The private JWKS document (for the keys file)."""
        return {"keys": [key.as_dict(private=True) for key in self.keys]}


def load_or_create_signing_keys(path: str | Path) -> SigningKeys:
    """Read the keys file, or create it with fresh keys (mode 0600) if it does not exist.

    Creation is atomic and first-writer-wins, so an issuer and ``strata token`` started together
    end up with the same keys.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = SigningKeys.generate()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-keys-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(keys.private_jwks(), handle)
            # link() fails if another process created the file first; its keys win.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return SigningKeys.from_jwks(json.loads(path.read_text(encoding="utf-8")))


def signing_keys_from(settings: IssuerSettings) -> SigningKeys:
    """The issuer's keys per settings: inline JWKS, keys file, or fresh in-memory keys."""
    if settings.keys is not None:
        return SigningKeys.from_jwks(settings.keys)
    if settings.keys_path:
        return load_or_create_signing_keys(settings.keys_path)
    return SigningKeys.generate()


def clients_from(settings: IssuerSettings) -> dict[str, ClientRegistration]:
    """The client registry per settings (file, inline, or the demo registry)."""
    clients: list[ClientRegistration] = list(settings.clients)
    if settings.clients_path:
        clients.extend(load_client_registry(settings.clients_path))
    if not clients and settings.demo_clients:
        log.warning("no OAuth2 clients configured: serving the demo clients with demo secrets")
        clients = demo_client_registry()
    return registry_by_id(clients)


def mint_token(
    keyset: SigningKeys,
    client: ClientRegistration,
    scopes: Iterable[str],
    audience: str,
    ttl: int,
    *,
    issuer: str,
    now: float | None = None,
) -> str:
    """Sign an RFC 9068 access token for ``client`` with the newest key.

    Raises ``ValueError`` if ``scopes`` asks for more than the client may have.
    """
    granted = sorted(set(scopes))
    extra = set(granted) - client.scopes
    if extra:
        raise ValueError(f"client {client.client_id!r} may not have scope(s) {sorted(extra)}")
    issued_at = int(time.time() if now is None else now)
    key = keyset.current
    claims = {
        "iss": issuer,
        "sub": client.client_id,
        "aud": audience,
        "client_id": client.client_id,
        "scope": " ".join(granted),
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + ttl,
        "jti": secrets.token_urlsafe(16),
    }
    header = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=["RS256"])


def issue_token_cli(
    client_id: str,
    scopes: Iterable[str] | str,
    audience: str | None = None,
    settings: IssuerSettings | None = None,
    *,
    ttl: int | None = None,
) -> str:
    """Mint a token for ``strata token --client ID --scope "a b"`` with the issuer's own keys.

    Uses the same keys file and client registry as ``strata serve auth``; raises ``ValueError``
    naming the problem if the client is unknown or the scopes are not allowed.
    """
    settings = settings or load_issuer_settings()
    clients = clients_from(settings)
    client = clients.get(client_id)
    if client is None:
        raise ValueError(f"unknown client {client_id!r}; known: {sorted(clients)}")
    requested = scopes.split() if isinstance(scopes, str) else list(scopes)
    return mint_token(
        signing_keys_from(settings),
        client,
        requested or client.scopes,
        audience or settings.default_audience,
        ttl or settings.token_ttl_s,
        issuer=settings.issuer,
    )


class KeyRing:
    """The issuer's keys, swappable at run time (rotation without restart)."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys

    def rotate(self) -> SigningKeys:
        """Rotate to a new signing key and return the new set."""
        self.keys = self.keys.rotated()
        return self.keys


class TokenRequestError(Exception):
    """An RFC 6749 5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response[bytes]:
        headers = dict(_NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="strata"'
        body = {"error": self.error, "error_description": self.description}
        return Response(
            msgspec.json.encode(body),
            status_code=self.status,
            media_type="application/json",
            headers=headers,
        )


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise TokenRequestError("invalid_request", "The body is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise TokenRequestError("invalid_request", f"Parameter {name!r} is repeated")
        form[name] = value
    return form


def _client_credentials(request: Request[Any, Any, Any], form: dict[str, str]) -> tuple[str, str]:
    authorization = request.headers.get("authorization")
    in_form = "client_id" in form or "client_secret" in form
    if authorization:
        if in_form and "client_secret" in form:
            raise TokenRequestError(
                "invalid_request", "Use one client authentication method, not two"
            )
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise TokenRequestError("invalid_client", "Client authentication failed", 401)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TokenRequestError("invalid_client", "Client authentication failed", 401) from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise TokenRequestError("invalid_client", "Client authentication failed", 401)
        # RFC 6749 2.3.1: id and secret are form-urlencoded before Basic encoding.
        return unquote_plus(client_id), unquote_plus(secret)
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    raise TokenRequestError("invalid_client", "Client authentication is required", 401)


def create_app(
    settings: IssuerSettings | None = None,
    *,
    keyring: KeyRing | None = None,
    clients: Iterable[ClientRegistration] | None = None,
) -> Litestar:
    """Build the issuer app; ``keyring`` and ``clients`` override settings (tests, demos)."""
    settings = settings or load_issuer_settings()
    ring = keyring or KeyRing(signing_keys_from(settings))
    registry = registry_by_id(clients) if clients is not None else clients_from(settings)
    base = settings.issuer.rstrip("/")
    metadata = {
        "issuer": settings.issuer,
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "scopes_supported": sorted({s for c in registry.values() for s in c.scopes}),
    }

    async def authenticate_client(client_id: str, secret: str) -> ClientRegistration:
        client = registry.get(client_id)
        encoded = client.secret_hash if client is not None else dummy_secret_hash()
        # scrypt is slow by design: keep it off the event loop.
        ok = await anyio.to_thread.run_sync(verify_client_secret, secret, encoded)
        if client is None or not ok:
            raise TokenRequestError("invalid_client", "Client authentication failed", 401)
        return client

    @post("/oauth/token", operation_id="issueToken", request_max_body_size=16_384)
    async def issue_token(request: Request[Any, Any, Any]) -> Response[bytes]:
        """Client-credentials grant: answer an access token, or an RFC 6749 error."""
        try:
            if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
                raise TokenRequestError("invalid_request", f"The body must be {_FORM}")
            form = _form(await request.body())
            client_id, secret = _client_credentials(request, form)
            grant_type = form.get("grant_type")
            if not grant_type:
                raise TokenRequestError("invalid_request", "grant_type is required")
            client = await authenticate_client(client_id, secret)
            if grant_type != "client_credentials":
                raise TokenRequestError(
                    "unsupported_grant_type", "Only client_credentials is supported"
                )
            requested = set(form.get("scope", "").split()) or set(client.scopes)
            if not requested <= client.scopes:
                raise TokenRequestError(
                    "invalid_scope",
                    "Scope(s) not allowed for this client: "
                    + " ".join(sorted(requested - client.scopes)),
                )
            audience = form.get("resource") or form.get("audience") or settings.default_audience
            if audience not in (client.audiences or {settings.default_audience}):
                raise TokenRequestError(
                    "invalid_target", "This client may not ask for that audience"
                )
        except TokenRequestError as exc:
            return exc.response()
        token = mint_token(
            ring.keys,
            client,
            requested,
            audience,
            settings.token_ttl_s,
            issuer=settings.issuer,
        )
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": settings.token_ttl_s,
            "scope": " ".join(sorted(requested)),
        }
        return Response(
            msgspec.json.encode(body),
            status_code=200,  # RFC 6749 5.1, not Litestar's 201 for a POST
            media_type="application/json",
            headers=_NO_STORE,
        )

    @get("/.well-known/jwks.json", operation_id="getJwks")
    async def jwks() -> Response[bytes]:
        """The public keys access tokens are signed with (the two live keys)."""
        return Response(
            msgspec.json.encode(ring.keys.public_jwks()),
            media_type="application/json",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @get(
        ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"],
        operation_id="getIssuerMetadata",
    )
    async def issuer_metadata() -> dict[str, Any]:
        """Authorization server metadata (RFC 8414): issuer, token endpoint, JWKS URI."""
        return metadata

    @get("/health/live", operation_id="live")
    async def live() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @get("/health/ready", operation_id="ready")
    async def ready() -> dict[str, str]:
        """Keys are loaded and clients registered."""
        return {"status": "ok", "clients": str(len(registry))}

    app = Litestar(
        route_handlers=[issue_token, jwks, issuer_metadata, live, ready],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.keyring = ring
    return app
