"""The resource server: verify OAuth2 JWT access tokens (RFC 9068) by the rules of RFC 8725."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

import msgspec

from shared.auth.challenges import InvalidToken
from shared.auth.compact import CompactToken, check_header
from shared.auth.keys import ALGORITHMS_BY_KEY_TYPE, VerificationKeys, verify_signature
from shared.auth.principal import Principal

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})

Seconds = int | float


class AccessTokenClaims(msgspec.Struct, kw_only=True):
    """The claims an RFC 9068 access token must carry (others are ignored)."""

    iss: str
    sub: str
    aud: str | list[str]
    exp: Seconds
    iat: Seconds
    scope: str
    nbf: Seconds | None = None
    client_id: str | None = None
    jti: str | None = None


def check_lifetime(
    *,
    exp: Seconds,
    iat: Seconds | None,
    nbf: Seconds | None,
    leeway_s: float,
    now: float,
    max_lifetime_s: float | None = None,
) -> None:
    """Check ``exp``, ``nbf`` and ``iat`` against ``now`` with ``leeway_s`` of clock skew."""
    if exp + leeway_s <= now:
        raise InvalidToken("The token has expired")
    if nbf is not None and nbf - leeway_s > now:
        raise InvalidToken("The token is not valid yet (nbf)")
    if iat is not None and iat - leeway_s > now:
        raise InvalidToken("The token was issued in the future (iat)")
    if max_lifetime_s is not None and iat is not None and exp - iat > max_lifetime_s:
        raise InvalidToken("The token lives longer than this service accepts")


def decode_claims(token: CompactToken, shape: type[Any]) -> Any:
    """Convert the token's (already verified) claims to ``shape``, naming a missing claim."""
    try:
        return msgspec.convert(token.claims, shape)
    except msgspec.ValidationError as exc:
        raise InvalidToken(f"The token claims are incomplete or malformed: {exc}") from None


class AccessTokenVerifier:
    """Verifies access tokens from one issuer for one audience; yields service principals."""

    kind = "oauth2"

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: VerificationKeys,
        algorithms: Collection[str] = ("RS256", "ES256", "EdDSA"),
        leeway_s: float = 10.0,
        max_lifetime_s: float | None = 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.algorithms = frozenset(algorithms)
        self.leeway_s = leeway_s
        self.max_lifetime_s = max_lifetime_s
        self._clock = clock

    def recognises(self, token: CompactToken) -> bool:
        """True for tokens that name this verifier's issuer."""
        return token.issuer == self.issuer

    async def authenticate(self, token: CompactToken) -> tuple[Principal, float]:
        """Verify ``token`` and return its principal and expiry (epoch seconds)."""
        check_header(token, algorithms=self.algorithms, types=ACCESS_TOKEN_TYPES, require_kid=True)
        key = await self.keys.key_for(token.header["kid"])
        if token.alg not in ALGORITHMS_BY_KEY_TYPE.get(key.key_type, ()):
            raise InvalidToken("The token's algorithm does not fit its signing key")
        verify_signature(token, key)
        claims: AccessTokenClaims = decode_claims(token, AccessTokenClaims)
        if claims.iss != self.issuer:
            raise InvalidToken("The token was issued by an untrusted issuer")
        audiences = [claims.aud] if isinstance(claims.aud, str) else claims.aud
        if self.audience not in audiences:
            raise InvalidToken("The token is meant for another audience")
        check_lifetime(
            exp=claims.exp,
            iat=claims.iat,
            nbf=claims.nbf,
            leeway_s=self.leeway_s,
            now=self._clock(),
            max_lifetime_s=self.max_lifetime_s,
        )
        principal = Principal(
            subject=claims.sub,
            client_id=claims.client_id or claims.sub,
            scopes=frozenset(claims.scope.split()),
            tenant=None,
            kind="service",
        )
        return principal, float(claims.exp)
