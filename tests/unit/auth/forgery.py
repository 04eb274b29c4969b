"""Hand-made tokens for auth tests: honest ones and every kind of forgery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

ISSUER = "https://issuer.strata.test"
AUDIENCE = "strata-erp"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def sign(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    """Sign with whatever algorithm the header names, with no checks at all."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    alg = JWSRegistry.algorithms[header["alg"]]
    return f"{signing_input}.{b64url(alg.sign(signing_input.encode(), key))}"


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes | str) -> str:
    """HS256 by hand, so any bytes (an RSA public key, say) can be the secret."""
    secret = secret.encode() if isinstance(secret, str) else secret
    signing_input = f"{segment(header)}.{segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"{segment(header)}.{segment(claims)}.{signature}"


def access_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "orders",
        "aud": AUDIENCE,
        "client_id": "orders",
        "scope": "erp:read",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "t-1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def access_header(key: RSAKey, **overrides: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid}
    header.update(overrides)
    return {k: v for k, v in header.items() if v is not None}


def access_token(key: RSAKey, header: dict[str, Any] | None = None, **claims: Any) -> str:
    return sign(header or access_header(key), access_claims(**claims), key)


def shopify_claims(shop: str, client_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": client_id,
        "sub": "42",
        "exp": now + 60,
        "nbf": now,
        "iat": now,
        "jti": "s-1",
        "sid": "session-1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def shopify_session_token(shop: str, client_id: str, secret: str, **overrides: Any) -> str:
    return hs256(
        {"alg": "HS256", "typ": "JWT"}, shopify_claims(shop, client_id, **overrides), secret
    )


def zendesk_claims(subdomain: str, audience: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"{subdomain}.zendesk.com",
        "aud": audience,
        "sub": "agent-7",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}
