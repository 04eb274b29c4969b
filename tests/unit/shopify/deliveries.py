"""Shopify-like webhook deliveries for tests: realistic bodies and signed headers."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from system_apis.shopify.ingress import sign
from system_apis.shopify.settings import ShopConfig, ShopifySettings

SHOP = "demo-eu.myshopify.com"
OTHER_SHOP = "demo-us.myshopify.com"
SECRET = "eu-webhook-secret"
PREVIOUS_SECRET = "eu-webhook-secret-before-rotation"
OTHER_SECRET = "us-webhook-secret"


def settings(prefix: str, **overrides: Any) -> ShopifySettings:
    """Two shops (one mid-rotation) and streams under ``prefix``."""
    base: dict[str, Any] = {
        "shops": {
            SHOP: ShopConfig(secret=SECRET, previous_secret=PREVIOUS_SECRET),
            OTHER_SHOP: ShopConfig(secret=OTHER_SECRET),
        },
        "stream_prefix": prefix,
    }
    base.update(overrides)
    return ShopifySettings(**base)


def order_body(order_id: int = 820982911946154508, lines: int = 3) -> bytes:
    """An ``orders/create`` payload shaped like Shopify's."""
    return msgspec.json.encode(
        {
            "id": order_id,
            "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
            "name": f"#{order_id % 10000}",
            "email": "jon@example.com",
            "currency": "EUR",
            "total_price": "74.70",
            "financial_status": "paid",
            "line_items": [
                {"id": 466157049 + n, "sku": f"STR-TEE-{n}", "quantity": 1, "price": "24.90"}
                for n in range(lines)
            ],
            "shipping_address": {"country_code": "FR", "city": "Lyon", "zip": "69007"},
        }
    )


def headers(
    body: bytes,
    *,
    topic: str = "orders/create",
    shop: str = SHOP,
    secret: str = SECRET,
    event_id: str | None = None,
    webhook_id: str | None = None,
    prefixed: bool = True,
    **extra: str,
) -> dict[str, str]:
    """The headers Shopify sends with ``body``, signed with ``secret``."""
    x = "X-" if prefixed else ""
    found = {
        f"{x}Shopify-Hmac-Sha256": sign(secret, body),
        f"{x}Shopify-Topic": topic,
        f"{x}Shopify-Shop-Domain": shop,
        f"{x}Shopify-Event-Id": event_id or str(uuid.uuid4()),
        f"{x}Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        f"{x}Shopify-Triggered-At": "2026-05-01T10:00:00.000Z",
        f"{x}Shopify-API-Version": "2026-10",
        "Content-Type": "application/json",
    }
    found.update(extra)
    return found
