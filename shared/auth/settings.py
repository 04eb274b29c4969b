"""Settings of the auth kernel: the resource server, platform apps and the local token issuer.

Load them with ``shared.settings.load_settings(AuthSettings, prefix="STRATA_AUTH_")``; lists
and nested settings are given as JSON (``STRATA_AUTH_SHOPIFY_APPS='[{"client_id": ...}]'``).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

AuthenticatorName = Literal["oauth2", "shopify", "zendesk"]

# Only asymmetric algorithms verify access tokens: a shared secret would let every resource
# server mint tokens, and HS* opens the door to RSA-public-key-as-HMAC-secret confusion.
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "EdDSA", "Ed25519"})


class ShopifyAppSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One Shopify app whose session tokens this service accepts."""

    client_id: str
    client_secret: str
    # Shopify may still sign with the previous secret for a while after a rotation.
    old_client_secret: str | None = None
    # Shops (``acme.myshopify.com``) allowed to call; empty means every shop with the app.
    shops: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()


class ZendeskAccountSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One Zendesk account (by subdomain) whose sidebar app may call this service."""

    subdomain: str
    # Secret the ZAF proxy signs ``client.request({jwt: ...})`` tokens with (HS256).
    shared_secret: str | None = None
    # The app's public key (PEM) and installation audience for ZAF's RS256 app token.
    app_public_key: str | None = None
    app_audience: str | None = None
    # The Shopify shops this account's agents may see.
    shops: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()

    @property
    def host(self) -> str:
        return f"{self.subdomain}.zendesk.com"


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a service authenticates callers (read from ``STRATA_AUTH_*``)."""

    issuer: str = "http://127.0.0.1:8100"
    audience: str = "strata"
    # Keys: a JWKS URL, or a static JWKS document; neither means ``<issuer>/.well-known/jwks.json``.
    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    leeway_s: int = 10
    max_token_bytes: int = 8192
    max_token_lifetime_s: int = 86_400
    token_cache_size: int = 10_000
    token_cache_ttl_s: float = 300.0
    jwks_cache_ttl_s: float = 600.0
    jwks_min_refetch_interval_s: float = 60.0
    jwks_fetch_timeout_s: float = 3.0
    authenticators: tuple[AuthenticatorName, ...] = ("oauth2",)
    shopify_apps: tuple[ShopifyAppSettings, ...] = ()
    zendesk_accounts: tuple[ZendeskAccountSettings, ...] = ()
    exclude_paths: tuple[str, ...] = ("^/health", "^/metrics", "^/schema")
    # Shown in the OpenAPI document; defaults to ``<issuer>/oauth/token``.
    token_url: str | None = None

    def __post_init__(self) -> None:
        unsafe = set(self.algorithms) - ASYMMETRIC_ALGORITHMS
        if unsafe:
            raise ValueError(
                f"algorithms {sorted(unsafe)} are not allowed for access tokens; "
                f"choose from {sorted(ASYMMETRIC_ALGORITHMS)}"
            )
        if not self.algorithms:
            raise ValueError("algorithms must name at least one algorithm")
        if self.leeway_s < 0 or self.leeway_s > 300:
            raise ValueError("leeway_s must be between 0 and 300 seconds")
        if "shopify" in self.authenticators and not self.shopify_apps:
            raise ValueError("the shopify authenticator needs at least one of shopify_apps")
        if "zendesk" in self.authenticators and not self.zendesk_accounts:
            raise ValueError("the zendesk authenticator needs at least one of zendesk_accounts")

    @property
    def resolved_jwks_url(self) -> str:
        return self.jwks_url or self.issuer.rstrip("/") + "/.well-known/jwks.json"

    @property
    def resolved_token_url(self) -> str:
        return self.token_url or self.issuer.rstrip("/") + "/oauth/token"
