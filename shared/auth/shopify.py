"""Shopify session tokens (App Bridge ``id_token``): HS256 JWTs signed with the app's secret.

The shop in ``dest`` becomes the caller's tenant; ``iss`` must be that same shop's admin URL.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

import msgspec
from joserfc.jwk import OctKey

from shared.auth.challenges import InvalidToken
from shared.auth.compact import CompactToken, check_header
from shared.auth.keys import verify_signature
from shared.auth.principal import Principal, Tenant
from shared.auth.settings import ShopifyAppSettings
from shared.auth.tokens import Seconds, check_lifetime, decode_claims
from shared.problems import Forbidden

_SHOP_URL = re.compile(r"https://([a-z0-9][a-z0-9-]{0,99}\.myshopify\.com)")
# Session tokens say "JWT" or nothing; an access token (at+jwt) is never one.
_SESSION_TOKEN_TYPES = frozenset({"jwt", ""})


class SessionTokenClaims(msgspec.Struct, kw_only=True):
    """Claims of a Shopify session token."""

    iss: str
    dest: str
    aud: str
    exp: Seconds
    nbf: Seconds | None = None
    iat: Seconds | None = None
    sub: str | None = None
    jti: str | None = None
    sid: str | None = None


def shop_of(dest: str) -> str:
    """``https://acme.myshopify.com`` -> ``acme.myshopify.com``, else :class:`InvalidToken`."""
    match = _SHOP_URL.fullmatch(dest)
    if match is None:
        raise InvalidToken("The session token does not name a shop (dest)")
    return match.group(1)


class _App:
    __slots__ = ("keys", "settings", "shops")

    def __init__(self, settings: ShopifyAppSettings) -> None:
        self.settings = settings
        secrets = [settings.client_secret]
        if settings.old_client_secret:
            secrets.append(settings.old_client_secret)
        self.keys = [OctKey.import_key(secret.encode()) for secret in secrets]
        self.shops = frozenset(s.lower() for s in settings.shops)


class ShopifySessionTokenVerifier:
    """Verifies session tokens of the configured Shopify apps (several apps, several shops)."""

    kind = "shopify"

    def __init__(
        self,
        apps: Iterable[ShopifyAppSettings],
        *,
        leeway_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._apps = {app.client_id: _App(app) for app in apps}
        self.leeway_s = leeway_s
        self._clock = clock

    def recognises(self, token: CompactToken) -> bool:
        """True for tokens issued by a shop admin (``https://<shop>/admin``) with a ``dest``."""
        return token.issuer.endswith(".myshopify.com/admin") and "dest" in token.claims

    async def authenticate(self, token: CompactToken) -> tuple[Principal, float]:
        """Verify ``token`` and return a shop-tenant principal and the token's expiry."""
        check_header(token, algorithms=("HS256",), types=_SESSION_TOKEN_TYPES)
        aud = token.claims.get("aud")
        app = self._apps.get(aud) if isinstance(aud, str) else None
        if app is None:
            raise InvalidToken("The session token is for an unknown app (aud)")
        last_error: InvalidToken | None = None
        for key in app.keys:
            try:
                verify_signature(token, key)
                break
            except InvalidToken as exc:
                last_error = exc
        else:
            assert last_error is not None
            raise last_error
        claims: SessionTokenClaims = decode_claims(token, SessionTokenClaims)
        shop = shop_of(claims.dest)
        if claims.iss != f"https://{shop}/admin":
            raise InvalidToken("The session token's iss and dest name different shops")
        check_lifetime(
            exp=claims.exp,
            iat=claims.iat,
            nbf=claims.nbf,
            leeway_s=self.leeway_s,
            now=self._clock(),
        )
        if app.shops and shop not in app.shops:
            raise Forbidden(f"The shop {shop} may not use this service")
        principal = Principal(
            subject=claims.sub or shop,
            client_id=app.settings.client_id,
            scopes=app.settings.scopes,
            tenant=Tenant(kind="shop", id=shop, shops=frozenset({shop})),
            kind="shopify",
        )
        return principal, float(claims.exp)
