"""Strata's auth kernel: who is calling, what they may do, and for which tenant.

- a resource server for OAuth2 JWT access tokens (RFC 9068, RFC 8725), keys from a JWKS URL;
- verifiers for Shopify session tokens and Zendesk signed requests, mapped to scopes and a tenant;
- a Litestar middleware (:class:`AuthPlugin` wires it), scope guards declared per route;
- a local client-credentials issuer (:mod:`sandbox.auth.issuer`);
- :class:`ServiceTokenAuth` for calls between services.
"""

from shared.auth.authentication import (
    EXCLUDE_FROM_AUTH,
    Authenticator,
    BearerAuthMiddleware,
    TokenAuthentication,
    build_authentication,
)
from shared.auth.cache import VerifiedTokenCache
from shared.auth.challenges import InsufficientScope, InvalidToken, MissingToken
from shared.auth.guards import (
    AUTH_RESPONSES,
    OAUTH2_SCHEME,
    oauth2_components,
    require_scopes,
    requires,
)
from shared.auth.keys import RemoteKeys, StaticKeys
from shared.auth.plugin import AuthPlugin
from shared.auth.principal import Principal, Tenant, ensure_tenant_may_see, normalise_shop
from shared.auth.service_tokens import ServiceTokenAuth
from shared.auth.settings import AuthSettings, ShopifyAppSettings, ZendeskAccountSettings
from shared.auth.shopify import ShopifySessionTokenVerifier
from shared.auth.tokens import AccessTokenVerifier
from shared.auth.zendesk import ZendeskVerifier

__all__ = [
    "AUTH_RESPONSES",
    "EXCLUDE_FROM_AUTH",
    "OAUTH2_SCHEME",
    "AccessTokenVerifier",
    "AuthPlugin",
    "AuthSettings",
    "Authenticator",
    "BearerAuthMiddleware",
    "InsufficientScope",
    "InvalidToken",
    "MissingToken",
    "Principal",
    "RemoteKeys",
    "ServiceTokenAuth",
    "ShopifyAppSettings",
    "ShopifySessionTokenVerifier",
    "StaticKeys",
    "Tenant",
    "TokenAuthentication",
    "VerifiedTokenCache",
    "ZendeskAccountSettings",
    "ZendeskVerifier",
    "build_authentication",
    "ensure_tenant_may_see",
    "normalise_shop",
    "oauth2_components",
    "require_scopes",
    "requires",
]
