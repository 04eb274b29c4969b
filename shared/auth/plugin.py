"""One line in an app factory wires authentication: ``plugins=[AuthPlugin(settings.auth)]``."""

from __future__ import annotations

from collections.abc import Mapping

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from shared.auth.authentication import (
    BearerAuthGate,
    TokenAuthentication,
    bearer_auth_middleware,
    build_authentication,
)
from shared.auth.guards import oauth2_components
from shared.auth.settings import AuthSettings


class AuthPlugin(InitPluginProtocol):
    """Adds the bearer-token middleware, closes the JWKS client on shutdown and puts the OAuth2
    security scheme into the app's OpenAPI components.

    The middleware goes first in the app's middleware list (outermost), so that middleware
    after it (a per-client rate limit, say) sees ``scope["user"]``. With ``middleware=False``
    it adds no layer and another runs :attr:`gate`.
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        scopes: Mapping[str, str] | None = None,
        authentication: TokenAuthentication | None = None,
        middleware: bool = True,
    ) -> None:
        self.settings = settings
        self.scopes = dict(scopes or {})
        self.authentication = authentication or build_authentication(settings)
        self.middleware = middleware
        self.gate = BearerAuthGate(self.authentication, exclude=settings.exclude_paths)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register middleware, shutdown hook and OpenAPI components."""
        if self.middleware:
            layer = bearer_auth_middleware(self.authentication, exclude=self.settings.exclude_paths)
            app_config.middleware.insert(0, layer)
        app_config.on_shutdown.append(self.authentication.aclose)
        openapi = app_config.openapi_config
        if openapi is not None:
            components = oauth2_components(self.settings.resolved_token_url, self.scopes)
            existing = openapi.components
            openapi.components = (
                [*existing, components] if isinstance(existing, list) else [existing, components]
            )
        return app_config
