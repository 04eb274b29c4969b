"""A Shopify simulator faithful to Shopify's documented behaviour, for tests and the demo.

Admin GraphQL (cost bucket, ``THROTTLED``, ``userErrors``, ``@idempotent``,
``changeFromQuantity``), webhooks signed and retried like Shopify's, session tokens, and a
``/_sandbox`` control API. Start it with ``uvicorn --factory sandbox.shopify.app:create_app``.
"""

from sandbox.shopify.catalogue import DemoShop, seed_demo_shop
from sandbox.shopify.commerce import AddressDraft, OrderDraft, OrderLineDraft, OrderPatch
from sandbox.shopify.service import ShopifySandbox
from sandbox.shopify.session_tokens import mint_session_token
from sandbox.shopify.settings import LocationSpec, SandboxSettings, ShopSpec, load_sandbox_settings
from sandbox.shopify.webhooks import sign

__all__ = [
    "AddressDraft",
    "DemoShop",
    "LocationSpec",
    "OrderDraft",
    "OrderLineDraft",
    "OrderPatch",
    "SandboxSettings",
    "ShopSpec",
    "ShopifySandbox",
    "load_sandbox_settings",
    "mint_session_token",
    "seed_demo_shop",
    "sign",
]
