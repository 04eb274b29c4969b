"""Ready tokens: one for each kind of client of the stack, as ``strata up`` prints them.

The operator's comes from the running token issuer; the storefront's is a session token of
the sandbox's Shopify app and the service desk's a signed request of the demo Zendesk
account, both signed here with the demo's well-known secrets.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey

from shared.auth.clients import demo_secret
from strata.stack.parts import (
    DEMO_APP_CLIENT_ID,
    DEMO_AUDIENCE,
    DEMO_SHOPS,
    DEMO_ZENDESK_SECRET,
    DEMO_ZENDESK_SUBDOMAIN,
    SANDBOX_SECRET,
)

# The printed Shopify and Zendesk tokens live this long (the operator's: the issuer's TTL).
DEMO_TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class ReadyToken:
    """A token for one kind of client, what it is for and when it expires."""

    client: str
    kind: str
    token: str
    expires_in: int
    try_url: str


def operator_token(issuer: str, timeout: float = 10.0) -> tuple[str, int]:
    """An access token for the demo ``operator`` client (every scope) and its lifetime."""
    response = httpx.post(
        issuer.rstrip("/") + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "operator",
            "client_secret": demo_secret("operator"),
        },
        timeout=timeout,
    )
    response.raise_for_status()
    body = response.json()
    return str(body["access_token"]), int(body.get("expires_in", 0))


def _hs256(claims: dict[str, object], secret: str) -> str:
    token: str = jwt.encode(
        {"alg": "HS256", "typ": "JWT"}, claims, OctKey.import_key(secret.encode())
    )
    return token


def shopify_session_token(
    shop: str = DEMO_SHOPS[0], lifetime: int = DEMO_TOKEN_LIFETIME, *, now: float | None = None
) -> str:
    """A session token of the sandbox's Shopify app for ``shop``, as App Bridge gives one.

    Shopify's live a minute; this one lives ``lifetime`` seconds, to be pasted into curl.
    """
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": DEMO_APP_CLIENT_ID,
        "sub": "42",
        "exp": issued + lifetime,
        "nbf": issued,
        "iat": issued,
        "jti": secrets.token_hex(16),
        "sid": secrets.token_hex(16),
    }
    return _hs256(claims, SANDBOX_SECRET)


def zendesk_token(
    agent: str = "agent@strata-demo.example",
    lifetime: int = DEMO_TOKEN_LIFETIME,
    *,
    now: float | None = None,
) -> str:
    """A signed request of the demo Zendesk account, as the ZAF proxy signs one."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "iss": f"{DEMO_ZENDESK_SUBDOMAIN}.zendesk.com",
        "aud": DEMO_AUDIENCE,
        "sub": agent,
        "iat": issued,
        "exp": issued + lifetime,
    }
    return _hs256(claims, DEMO_ZENDESK_SECRET)


def ready_tokens(addresses: Mapping[str, str]) -> list[ReadyToken]:
    """A token for each kind of client of the stack whose parts listen at ``addresses``."""
    tokens: list[ReadyToken] = []
    shop = DEMO_SHOPS[0]
    if "auth" in addresses:
        token, ttl = operator_token(addresses["auth"])
        orders = addresses.get("orders", "")
        tokens.append(
            ReadyToken(
                "operator",
                "OAuth2 access token, every scope",
                token,
                ttl,
                f"{orders}/orders/v1/exceptions",
            )
        )
    if "storefront" in addresses:
        tokens.append(
            ReadyToken(
                "storefront",
                f"Shopify session token of {shop}",
                shopify_session_token(shop),
                DEMO_TOKEN_LIFETIME,
                f"{addresses['storefront']}/storefront/v1/availability?sku=TOTE-NAT",
            )
        )
    if "service-desk" in addresses:
        tokens.append(
            ReadyToken(
                "service desk",
                f"Zendesk signed request of {DEMO_ZENDESK_SUBDOMAIN}.zendesk.com",
                zendesk_token(),
                DEMO_TOKEN_LIFETIME,
                f"{addresses['service-desk']}/service-desk/v1/customers/ada@example.com/orders",
            )
        )
    return tokens
