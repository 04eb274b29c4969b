"""Shopify session tokens (App Bridge ID tokens), minted the way Shopify signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from sandbox.shopify.state import normalise_domain

SESSION_TOKEN_LIFETIME = 60


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_session_token(
    *,
    shop: str,
    client_id: str,
    client_secret: str,
    user_id: str | int = "42",
    issued_at: int | None = None,
    lifetime: int = SESSION_TOKEN_LIFETIME,
    session_id: str | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """An HS256 JWT signed with the app's client secret, with Shopify's claims.

    ``iss`` is ``https://<shop>/admin``, ``dest`` ``https://<shop>``, ``aud`` the client id,
    ``sub`` the staff user id, ``exp`` one minute after ``nbf``/``iat``, plus ``jti`` and ``sid``.
    """
    domain = normalise_domain(shop)
    now = int(time.time()) if issued_at is None else issued_at
    claims: dict[str, Any] = {
        "iss": f"https://{domain}/admin",
        "dest": f"https://{domain}",
        "aud": client_id,
        "sub": str(user_id),
        "exp": now + lifetime,
        "nbf": now,
        "iat": now,
        "jti": secrets.token_hex(16),
        "sid": session_id or secrets.token_hex(16),
        **(extra_claims or {}),
    }
    header = _segment(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _segment(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{body}".encode("ascii")
    signature = hmac.new(client_secret.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return f"{header}.{body}.{_segment(signature)}"
