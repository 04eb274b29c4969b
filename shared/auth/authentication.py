"""Authentication for Litestar apps: one middleware, a list of verifiers, a verified-token cache.

The middleware reads ``Authorization: Bearer <token>``, asks the first verifier that recognises
the token's issuer to verify it, and puts the :class:`Principal` on ``request.user`` (and on
``scope["auth"]``). Nothing reaches a handler without a verified principal unless its path is
excluded (health, metrics, schema) or its handler has ``opt={"exclude_from_auth": True}``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import httpx
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from shared.auth.cache import VerifiedTokenCache
from shared.auth.challenges import InsufficientScope, InvalidToken, MissingToken
from shared.auth.compact import CompactToken, parse_compact
from shared.auth.keys import RemoteKeys, StaticKeys, VerificationKeys
from shared.auth.principal import Principal
from shared.auth.settings import AuthSettings
from shared.auth.shopify import ShopifySessionTokenVerifier
from shared.auth.tokens import AccessTokenVerifier
from shared.auth.zendesk import ZendeskVerifier

EXCLUDE_FROM_AUTH = "exclude_from_auth"
REQUIRED_SCOPES = "required_scopes"


class Authenticator(Protocol):
    """A verifier for one family of tokens (OAuth2 access tokens, Shopify, Zendesk)."""

    kind: str

    def recognises(self, token: CompactToken) -> bool:
        """Cheap, unverified check: is this token of the family this verifier owns?"""
        ...

    async def authenticate(self, token: CompactToken) -> tuple[Principal, float]:
        """Verify the token; return its principal and its expiry in epoch seconds."""
        ...


class TokenAuthentication:
    """Turns a bearer token into a :class:`Principal`, remembering tokens already verified."""

    def __init__(
        self,
        authenticators: Iterable[Authenticator],
        *,
        cache: VerifiedTokenCache | None = None,
        max_token_bytes: int = 8192,
        keys: Sequence[VerificationKeys] = (),
    ) -> None:
        self.authenticators = tuple(authenticators)
        self.cache = cache if cache is not None else VerifiedTokenCache()
        self.max_token_bytes = max_token_bytes
        self._keys = tuple(keys)

    async def authenticate(self, raw: str, *, cache_key: str | bytes | None = None) -> Principal:
        """Verify ``raw`` (the token alone) or raise :class:`InvalidToken`.

        The verified principal is remembered under ``cache_key`` (default: the token itself).
        """
        key = raw if cache_key is None else cache_key
        principal = self.cache.get(key)
        if principal is not None:
            return principal
        token = parse_compact(raw, max_bytes=self.max_token_bytes)
        for authenticator in self.authenticators:
            if authenticator.recognises(token):
                principal, expires_at = await authenticator.authenticate(token)
                self.cache.put(key, principal, expires_at)
                return principal
        raise InvalidToken("The token was issued by an untrusted issuer")

    def cached(self, authorization: bytes) -> Principal | None:
        """The principal for a raw ``Authorization`` header value verified before, if any.

        Synchronous and keyed by the header's bytes as they arrived, so a repeated token costs
        one hash and one dict lookup: no decoding, slicing or coroutine.
        """
        return self.cache.get(authorization)

    async def authenticate_header(self, authorization: str | bytes | None) -> Principal:
        """Verify the value of an ``Authorization`` header (``Bearer <token>``)."""
        if not authorization:
            raise MissingToken()
        if isinstance(authorization, bytes):
            key: str | bytes | None = authorization
            authorization = authorization.decode("latin-1")
        else:
            key = None
        scheme, _, raw = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise MissingToken("Only Bearer tokens are accepted")
        raw = raw.strip()
        if not raw:
            raise InvalidToken("The bearer token is empty")
        return await self.authenticate(raw, cache_key=key)

    async def aclose(self) -> None:
        """Close the JWKS clients this object owns."""
        for keys in self._keys:
            if isinstance(keys, RemoteKeys):
                await keys.aclose()


def build_authentication(
    settings: AuthSettings,
    *,
    http_client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> TokenAuthentication:
    """Build the verifiers named in ``settings.authenticators``, in that order."""
    authenticators: list[Authenticator] = []
    keys: list[VerificationKeys] = []
    for name in settings.authenticators:
        if name == "oauth2":
            source: VerificationKeys
            if settings.jwks is not None:
                source = StaticKeys(settings.jwks)
            else:
                source = RemoteKeys(
                    settings.resolved_jwks_url,
                    client=http_client,
                    ttl_s=settings.jwks_cache_ttl_s,
                    min_refetch_interval_s=settings.jwks_min_refetch_interval_s,
                    timeout_s=settings.jwks_fetch_timeout_s,
                )
            keys.append(source)
            authenticators.append(
                AccessTokenVerifier(
                    issuer=settings.issuer,
                    audience=settings.audience,
                    keys=source,
                    algorithms=settings.algorithms,
                    leeway_s=settings.leeway_s,
                    max_lifetime_s=settings.max_token_lifetime_s,
                    clock=clock,
                )
            )
        elif name == "shopify":
            authenticators.append(
                ShopifySessionTokenVerifier(
                    settings.shopify_apps, leeway_s=settings.leeway_s, clock=clock
                )
            )
        elif name == "zendesk":
            authenticators.append(
                ZendeskVerifier(
                    settings.zendesk_accounts,
                    audience=settings.audience,
                    leeway_s=settings.leeway_s,
                    clock=clock,
                )
            )
    cache = VerifiedTokenCache(
        max_entries=settings.token_cache_size, ttl_s=settings.token_cache_ttl_s, clock=clock
    )
    return TokenAuthentication(
        authenticators, cache=cache, max_token_bytes=settings.max_token_bytes, keys=keys
    )


def _authorization(scope: Scope) -> bytes | None:
    found: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if found is not None:
                # Two credentials are ambiguous: a proxy and this service might pick different ones.
                raise InvalidToken("The request carries more than one Authorization header")
            found = value
    return found


class BearerAuthGate:
    """Verify the bearer token, and the route's scopes, before any handler.

    Runs per route after routing, so an unknown path is still a 404. A route skips
    authentication when its path matches ``exclude`` or its handler has
    ``opt={"exclude_from_auth": True}`` -- unless it declares required scopes (see
    :func:`shared.auth.guards.requires`), which always wins. ``OPTIONS`` (CORS preflight) passes
    without a token. Checking scopes here rather than in a Litestar guard saves a thread hop
    and a handler copy per request.

    :class:`BearerAuthMiddleware` runs it as its own layer; ``build_service_app`` runs it
    inside the request's telemetry layer instead (one layer a request, not three).
    """

    def __init__(
        self,
        authentication: TokenAuthentication,
        *,
        exclude: Sequence[str] | re.Pattern[str] | None = (),
    ) -> None:
        self.authentication = authentication
        if exclude is None or isinstance(exclude, re.Pattern):
            self._exclude: re.Pattern[str] | None = exclude
        else:
            self._exclude = exclusion_pattern(exclude)
        self._policies: dict[tuple[int, str], tuple[bool, frozenset[str]]] = {}

    def _policy(self, scope: Scope) -> tuple[bool, frozenset[str]]:
        handler = scope["route_handler"]
        # The route's full template ("/shops/{shop:str}/orders"): stable, so the policy caches.
        template: str = scope.get("path_template") or scope["path"]
        key = (id(handler), template)
        policy = self._policies.get(key)
        if policy is None:
            required = frozenset(handler.opt.get(REQUIRED_SCOPES, ()))
            exempt = not required and (
                bool(handler.opt.get(EXCLUDE_FROM_AUTH))
                or (self._exclude is not None and self._exclude.search(template) is not None)
            )
            policy = (exempt, required)
            self._policies[key] = policy
        return policy

    async def admit(self, scope: Scope, send: Send) -> tuple[()]:
        """Authenticate the connection and check the route's scopes (raises if refused);
        the answer gets no headers from here."""
        if scope["type"] in _AUTHENTICATED:
            exempt, required = self._policy(scope)
            if not exempt and scope.get("method") != "OPTIONS":
                authorization = _authorization(scope)
                principal = (
                    self.authentication.cached(authorization) if authorization else None
                ) or await self.authentication.authenticate_header(authorization)
                if required and not required <= principal.scopes:
                    raise InsufficientScope(required - principal.scopes)
                scope["user"] = principal
                scope["auth"] = principal
        return ()


class BearerAuthMiddleware:
    """:class:`BearerAuthGate` as a pure-ASGI layer (installed with
    :func:`bearer_auth_middleware`): Litestar's ``ASGIMiddleware`` wrapper would add a layer
    and its own checks per request."""

    def __init__(
        self,
        app: ASGIApp,
        authentication: TokenAuthentication,
        *,
        exclude: Sequence[str] | re.Pattern[str] | None = (),
    ) -> None:
        self.app = app
        self.authentication = authentication
        self.gate = BearerAuthGate(authentication, exclude=exclude)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate the connection, check the route's scopes, then pass it on."""
        await self.gate.admit(scope, send)
        await self.app(scope, receive, send)


_AUTHENTICATED = frozenset({ScopeType.HTTP, ScopeType.WEBSOCKET})


def exclusion_pattern(exclude: Sequence[str]) -> re.Pattern[str] | None:
    """One pattern matching any of the ``exclude`` path patterns (None when there are none)."""
    return re.compile("|".join(f"(?:{p})" for p in exclude)) if exclude else None


def bearer_auth_middleware(
    authentication: TokenAuthentication, *, exclude: Sequence[str] = ()
) -> DefineMiddleware:
    """The middleware for ``Litestar(middleware=[...])``; list it before rate limiting."""
    return DefineMiddleware(
        BearerAuthMiddleware, authentication=authentication, exclude=exclusion_pattern(exclude)
    )
