"""Routes that declare scopes show OAuth2 security, with those scopes, in the OpenAPI document."""

from __future__ import annotations

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from shared.auth import AuthPlugin, AuthSettings, requires
from shared.problems import EXCEPTION_HANDLERS
from tests.unit.auth.conftest import Reached, build_app


def test_requires_refuses_an_empty_scope_list() -> None:
    with pytest.raises(ValueError, match="at least one scope"):
        requires()


async def test_openapi_shows_oauth2_client_credentials_and_route_scopes(
    auth_settings: AuthSettings,
) -> None:
    app = build_app(auth_settings, Reached())
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/schema/openapi.json")  # excluded from auth
    assert response.status_code == 200, response.text
    document = response.json()
    scheme = document["components"]["securitySchemes"]["oauth2"]
    assert scheme["type"] == "oauth2"
    flow = scheme["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "https://issuer.strata.test/oauth/token"
    assert flow["scopes"]["erp:write"] == "Post to the ERP"
    read_stock = document["paths"]["/erp/v1/stock"]["get"]
    assert read_stock["security"] == [{"oauth2": ["erp:read"]}]
    assert {"401", "403"} <= set(read_stock["responses"])
    assert document["paths"]["/erp/v1/orders"]["get"]["security"] == [{"oauth2": ["erp:write"]}]
    assert "security" not in document["paths"]["/health/live"]["get"]


async def test_scopes_are_enforced_even_on_an_excluded_path(auth_settings: AuthSettings) -> None:
    @get("/health/debug", **requires("ops:debug"))
    async def debug() -> dict[str, str]:
        """Declared scopes win over a path exclusion."""
        return {"secret": "yes"}

    app = Litestar(
        [debug], plugins=[AuthPlugin(auth_settings)], exception_handlers=EXCEPTION_HANDLERS
    )
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/health/debug")
    assert response.status_code == 401
