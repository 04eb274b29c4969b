"""Verification keys: a static JWKS or a JWKS URL, cached, refetched on an unknown ``kid``.

Each key is bound to the algorithms its type allows (RFC 8725 3.1): an RSA key verifies RS256
or PS256 only, never HS256, so a token signed with the public key as an HMAC secret fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from shared.auth.challenges import InvalidToken
from shared.auth.compact import CompactToken
from shared.problems import ServiceUnavailable

log = logging.getLogger("strata.auth.keys")

AsymmetricKey = RSAKey | ECKey | OKPKey

# Which algorithms a key type may verify; an HMAC algorithm is never listed.
ALGORITHMS_BY_KEY_TYPE: Mapping[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "PS256"}),
    "EC": frozenset({"ES256"}),
    "OKP": frozenset({"EdDSA", "Ed25519"}),
}
_KEY_CLASSES: Mapping[str, type[AsymmetricKey]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}
MIN_RSA_BITS = 2048


class KeyNotFound(InvalidToken):
    """No verification key carries the token's ``kid``."""


def import_jwks(jwks: Mapping[str, Any]) -> dict[str, AsymmetricKey]:
    """Import the public signing keys of a JWKS document, by ``kid``.

    Keys without a ``kid``, not for signing, symmetric, or RSA under 2048 bits are skipped.
    """
    keys: dict[str, AsymmetricKey] = {}
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ValueError("a JWKS document needs a 'keys' list")
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        if not isinstance(kid, str) or not isinstance(kty, str) or kty not in _KEY_CLASSES:
            log.warning("skipping JWKS key without kid or of key type %r", kty)
            continue
        if entry.get("use", "sig") != "sig":
            continue
        public = {k: v for k, v in entry.items() if k not in _PRIVATE_MEMBERS}
        try:
            key = _KEY_CLASSES[kty].import_key(public)
        except (JoseError, ValueError, TypeError) as exc:
            log.warning("skipping JWKS key %r: %s", kid, exc)
            continue
        if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
            log.warning("skipping JWKS key %r: RSA key under %d bits", kid, MIN_RSA_BITS)
            continue
        keys[kid] = key
    return keys


_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def verify_signature(token: CompactToken, key: AsymmetricKey | Any) -> None:
    """Check the token's signature with ``key`` under the algorithm the key type allows."""
    alg_name = token.alg
    alg = JWSRegistry.algorithms.get(alg_name)
    if alg is None:
        raise InvalidToken("The token's signing algorithm is not accepted")
    try:
        # joserfc checks the key type, the key's own "alg" and "use" against the algorithm.
        alg.check_key(key)
        valid = alg.verify(token.signing_input, token.signature, key)
    except JoseError:
        raise InvalidToken("The token's key does not fit its algorithm") from None
    if not valid:
        raise InvalidToken("The token signature is not valid")


class VerificationKeys(Protocol):
    """Where a verifier finds the public key for a ``kid``."""

    async def key_for(self, kid: str) -> AsymmetricKey:
        """Return the key with ``kid`` or raise :class:`KeyNotFound`."""
        ...


class StaticKeys:
    """Keys from a JWKS document given in settings."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = import_jwks(jwks)

    async def key_for(self, kid: str) -> AsymmetricKey:
        """Return the key with ``kid`` or raise :class:`KeyNotFound`."""
        try:
            return self._keys[kid]
        except KeyError:
            raise KeyNotFound("The token's signing key (kid) is unknown") from None


class RemoteKeys:
    """Keys from a JWKS URL: cached for ``ttl_s``, refetched on an unknown ``kid`` at most
    once every ``min_refetch_interval_s`` so that forged kids cannot hammer the issuer.

    Refetches are single-flight. When the issuer is down, the last good keys stay in use; with
    no keys at all, verification answers 503.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        ttl_s: float = 600.0,
        min_refetch_interval_s: float = 60.0,
        timeout_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = client
        self._owns_client = client is None
        self._ttl_s = ttl_s
        self._min_interval_s = min_refetch_interval_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._keys: dict[str, AsymmetricKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def key_for(self, kid: str) -> AsymmetricKey:
        """Return the key with ``kid``, refreshing the JWKS when stale or when ``kid`` is new."""
        key = self._keys.get(kid)
        now = self._clock()
        if (
            key is not None
            and self._fetched_at is not None
            and now - self._fetched_at < self._ttl_s
        ):
            return key
        if self._lock.locked():
            # A refresh is in flight: wait for it rather than answer "unknown kid" too early.
            async with self._lock:
                pass
            key = self._keys.get(kid)
        elif self._may_fetch(now):
            await self._refresh()
            key = self._keys.get(kid)
        if key is None:
            raise KeyNotFound("The token's signing key (kid) is unknown")
        return key

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_interval_s

    async def _refresh(self) -> None:
        attempted_before = self._attempted_at
        async with self._lock:
            if self._attempted_at != attempted_before:
                return  # another request refreshed while this one waited
            self._attempted_at = self._clock()
            self.fetch_count += 1
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                if not self._keys:
                    raise ServiceUnavailable(
                        "The signing keys of the token issuer cannot be fetched"
                    ) from exc
                log.warning("JWKS refresh from %s failed, keeping cached keys: %s", self.url, exc)
                return
            self._keys = keys
            self._fetched_at = self._attempted_at

    async def _fetch(self) -> dict[str, AsymmetricKey]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        response = await self._client.get(self.url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the JWKS is not a JSON object")
        return import_jwks(document)

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
