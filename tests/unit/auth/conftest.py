from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from joserfc.jwk import RSAKey
from litestar import Litestar, Request, get
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath
from litestar.testing import AsyncTestClient

from sandbox.auth.issuer import SigningKeys
from shared.auth import (
    AuthPlugin,
    AuthSettings,
    Principal,
    ShopifyAppSettings,
    ZendeskAccountSettings,
    ensure_tenant_may_see,
    requires,
)
from shared.problems import EXCEPTION_HANDLERS
from tests.unit.auth.forgery import AUDIENCE, ISSUER

SHOPIFY_APP = "shopify-app-storefront"
SHOPIFY_SECRET = "shpss_" + "a1" * 16
SHOPIFY_OLD_SECRET = "shpss_" + "b2" * 16
SHOPIFY_RESTRICTED_APP = "shopify-app-acme-only"
SHOPIFY_RESTRICTED_SECRET = "shpss_" + "c3" * 16
ZENDESK_SECRET = "zendesk-shared-secret-acme-0123456789"
GLOBEX_ZENDESK_SECRET = "zendesk-shared-secret-globex-987654"
ZAF_AUDIENCE = "https://acme-support.zendesk.com/api/v2/apps/installations/123.json"


@pytest.fixture(scope="session")
def signing_keys() -> SigningKeys:
    return SigningKeys.generate()


@pytest.fixture(scope="session")
def signing_key(signing_keys: SigningKeys) -> RSAKey:
    return signing_keys.current


@pytest.fixture(scope="session")
def zaf_key() -> RSAKey:
    return RSAKey.generate_key(2048)


@pytest.fixture(scope="session")
def attacker_key() -> RSAKey:
    return RSAKey.generate_key(2048, auto_kid=True)


@pytest.fixture
def auth_settings(signing_keys: SigningKeys, zaf_key: RSAKey) -> AuthSettings:
    pem = zaf_key.as_pem(private=False)
    return AuthSettings(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks=signing_keys.public_jwks(),
        authenticators=("oauth2", "shopify", "zendesk"),
        shopify_apps=(
            ShopifyAppSettings(
                client_id=SHOPIFY_APP,
                client_secret=SHOPIFY_SECRET,
                old_client_secret=SHOPIFY_OLD_SECRET,
                scopes=frozenset({"orders:read"}),
            ),
            ShopifyAppSettings(
                client_id=SHOPIFY_RESTRICTED_APP,
                client_secret=SHOPIFY_RESTRICTED_SECRET,
                shops=("acme.myshopify.com",),
                scopes=frozenset({"orders:read"}),
            ),
        ),
        zendesk_accounts=(
            ZendeskAccountSettings(
                subdomain="acme-support",
                shared_secret=ZENDESK_SECRET,
                app_public_key=pem.decode() if isinstance(pem, bytes) else pem,
                app_audience=ZAF_AUDIENCE,
                shops=("acme.myshopify.com", "acme-eu"),
                scopes=frozenset({"orders:read"}),
            ),
            ZendeskAccountSettings(
                subdomain="globex",
                shared_secret=GLOBEX_ZENDESK_SECRET,
                shops=("globex.myshopify.com",),
                scopes=frozenset({"orders:read"}),
            ),
        ),
    )


class Reached:
    """Records every handler call, so a test can prove a request never got that far."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Principal | None]] = []


def build_app(settings: AuthSettings, reached: Reached) -> Litestar:
    @get("/erp/v1/stock", operation_id="readStock", **requires("erp:read"))
    async def read_stock(request: Request[Principal, Any, Any]) -> dict[str, Any]:
        """Read stock (needs erp:read)."""
        reached.calls.append(("read_stock", request.user))
        return {"subject": request.user.subject, "kind": request.user.kind}

    @get("/erp/v1/orders", operation_id="postOrders", **requires("erp:write"))
    async def write_orders(request: Request[Principal, Any, Any]) -> dict[str, str]:
        """Post orders (needs erp:write)."""
        reached.calls.append(("write_orders", request.user))
        return {"ok": "yes"}

    @get("/shops/{shop:str}/orders", operation_id="listShopOrders", **requires("orders:read"))
    async def shop_orders(
        request: Request[Principal, Any, Any], shop: FromPath[str]
    ) -> dict[str, Any]:
        """Orders of one shop, for its own tenant only."""
        ensure_tenant_may_see(request.user, shop)
        reached.calls.append(("shop_orders", request.user))
        tenant = request.user.tenant
        return {"shop": shop, "tenant": tenant.id if tenant else None, "kind": request.user.kind}

    @get("/health/live", operation_id="live")
    async def live() -> dict[str, str]:
        """Liveness, open to all."""
        reached.calls.append(("live", None))
        return {"status": "ok"}

    return Litestar(
        route_handlers=[read_stock, write_orders, shop_orders, live],
        plugins=[
            AuthPlugin(
                settings,
                scopes={
                    "erp:read": "Read ERP data",
                    "erp:write": "Post to the ERP",
                    "orders:read": "Read orders",
                },
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(title="auth test", version="1.0.0"),
    )


@pytest.fixture
def reached() -> Reached:
    return Reached()


@pytest.fixture
async def client(
    auth_settings: AuthSettings, reached: Reached
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=build_app(auth_settings, reached)) as test_client:
        yield test_client
