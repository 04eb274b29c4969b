"""Scope guards and the OpenAPI description of OAuth2 security, declared once per route.

``@get("/orders/{id}", **requires("orders:read"))`` both guards the route (the authentication
middleware answers 403 with an ``insufficient_scope`` challenge) and lists
``oauth2: [orders:read]`` in its OpenAPI security, with the 401 and 403 problem responses.

:func:`require_scopes` is the same check as a Litestar guard, for routers, controllers or apps
that are not behind :class:`~shared.auth.authentication.BearerAuthMiddleware` checks. A guard
costs more per request (Litestar copies the handler for each guard call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityScheme
from litestar.types import Guard

from shared.auth.authentication import REQUIRED_SCOPES
from shared.auth.challenges import InsufficientScope, MissingToken
from shared.auth.principal import Principal
from shared.problems import PROBLEM_JSON, Problem

OAUTH2_SCHEME = "oauth2"


def require_scopes(*scopes: str) -> Guard:
    """A Litestar guard: the caller's principal must hold every one of ``scopes``."""
    required = frozenset(scopes)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal):
            # A scoped route without authentication is a wiring mistake: deny, don't guess.
            raise MissingToken()
        if not required <= principal.scopes:
            raise InsufficientScope(required - principal.scopes)

    guard.__name__ = f"require_scopes({' '.join(sorted(required))})"
    return guard


AUTH_RESPONSES: Mapping[int, ResponseSpec] = {
    401: ResponseSpec(
        data_container=Problem,
        media_type=PROBLEM_JSON,
        description="The bearer token is missing or not valid",
        generate_examples=False,
    ),
    403: ResponseSpec(
        data_container=Problem,
        media_type=PROBLEM_JSON,
        description="The token lacks a required scope, or the tenant may not see this data",
        generate_examples=False,
    ),
}


def requires(
    *scopes: str,
    responses: Mapping[int, ResponseSpec] | None = None,
    opt: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Route keyword arguments declaring the OAuth2 scopes a route needs.

    Use as ``@get("/x", **requires("erp:read"))``. The scopes go into the handler's ``opt``
    (checked by the authentication middleware, even on an excluded path) and its OpenAPI
    ``security``. Pass the route's other documented responses and opt through ``responses=``
    and ``opt=`` (the 401 and 403 problem responses are added).
    """
    if not scopes:
        raise ValueError("requires() needs at least one scope")
    return {
        "opt": {**(opt or {}), REQUIRED_SCOPES: frozenset(scopes)},
        "security": [{OAUTH2_SCHEME: list(scopes)}],
        "responses": {**AUTH_RESPONSES, **(responses or {})},
    }


def oauth2_components(token_url: str, scopes: Mapping[str, str]) -> Components:
    """OpenAPI components with the OAuth2 client-credentials scheme routes refer to.

    ``scopes`` maps each scope this service knows to a one-line description.
    """
    return Components(
        security_schemes={
            OAUTH2_SCHEME: SecurityScheme(
                type="oauth2",
                description="OAuth2 client credentials; a JWT access token (RFC 9068).",
                flows=OAuthFlows(
                    client_credentials=OAuthFlow(token_url=token_url, scopes=dict(scopes))
                ),
            )
        }
    )
