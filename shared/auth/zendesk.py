"""Zendesk sidebar apps: signed requests from the ZAF proxy and ZAF app tokens.

Two kinds of JWT reach a Strata service from a Zendesk app, both naming the account in ``iss``
(``<subdomain>.zendesk.com``):

- a **signed request**: ``client.request({jwt: {algorithm: "HS256", secret_key:
  "{{setting.shared_secret}}", claims: {iss: "<subdomain>.zendesk.com", aud: "<service
  audience>", sub: "<agent>"}}})``; the proxy signs it with the account's shared secret, which
  never reaches the browser;
- a **ZAF app token** (RS256), verified with the app's public key and installation audience;
  it means "came from this app installation", and none of its other claims are trusted.

The tenant is the Zendesk account; settings map it to the shops its agents may see.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import msgspec
from joserfc.jwk import OctKey, RSAKey

from shared.auth.challenges import InvalidToken
from shared.auth.compact import CompactToken, check_header
from shared.auth.keys import verify_signature
from shared.auth.principal import Principal, Tenant, normalise_shop
from shared.auth.settings import ZendeskAccountSettings
from shared.auth.tokens import Seconds, check_lifetime, decode_claims

_ZENDESK_TYPES = frozenset({"jwt", ""})


class ZendeskClaims(msgspec.Struct, kw_only=True):
    """The claims Strata reads from a Zendesk JWT."""

    iss: str
    aud: str | list[str]
    exp: Seconds
    iat: Seconds | None = None
    nbf: Seconds | None = None
    sub: str | None = None


class _Account:
    __slots__ = ("app_key", "secret_key", "settings", "tenant")

    def __init__(self, settings: ZendeskAccountSettings) -> None:
        self.settings = settings
        self.secret_key = (
            OctKey.import_key(settings.shared_secret.encode()) if settings.shared_secret else None
        )
        self.app_key = (
            RSAKey.import_key(settings.app_public_key) if settings.app_public_key else None
        )
        self.tenant = Tenant(
            kind="zendesk_account",
            id=settings.subdomain,
            shops=frozenset(normalise_shop(shop) for shop in settings.shops),
        )


class ZendeskVerifier:
    """Verifies signed requests (HS256) and ZAF app tokens (RS256) of configured accounts."""

    kind = "zendesk"

    def __init__(
        self,
        accounts: Iterable[ZendeskAccountSettings],
        *,
        audience: str,
        leeway_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._accounts = {account.host: _Account(account) for account in accounts}
        self.audience = audience
        self.leeway_s = leeway_s
        self._clock = clock

    def recognises(self, token: CompactToken) -> bool:
        """True for tokens whose issuer is a Zendesk account host."""
        return token.issuer.endswith(".zendesk.com")

    async def authenticate(self, token: CompactToken) -> tuple[Principal, float]:
        """Verify ``token`` and return a Zendesk-account principal and the token's expiry."""
        check_header(token, algorithms=("HS256", "RS256"), types=_ZENDESK_TYPES)
        account = self._accounts.get(token.issuer)
        if account is None:
            raise InvalidToken("The token names an unknown Zendesk account")
        if token.alg == "HS256":
            key: OctKey | RSAKey | None = account.secret_key
            audience = self.audience
        else:
            key = account.app_key
            audience = account.settings.app_audience or ""
        if key is None or not audience:
            raise InvalidToken("This Zendesk account is not set up for this kind of token")
        verify_signature(token, key)
        claims: ZendeskClaims = decode_claims(token, ZendeskClaims)
        audiences = [claims.aud] if isinstance(claims.aud, str) else claims.aud
        if audience not in audiences:
            raise InvalidToken("The token is meant for another audience")
        check_lifetime(
            exp=claims.exp,
            iat=claims.iat,
            nbf=claims.nbf,
            leeway_s=self.leeway_s,
            now=self._clock(),
        )
        subdomain = account.settings.subdomain
        principal = Principal(
            # An app token's other claims are not to be trusted: it names the installation only.
            subject=(claims.sub if token.alg == "HS256" and claims.sub else f"zendesk:{subdomain}"),
            client_id=f"zendesk:{subdomain}",
            scopes=account.settings.scopes,
            tenant=account.tenant,
            kind="zendesk",
        )
        return principal, float(claims.exp)
