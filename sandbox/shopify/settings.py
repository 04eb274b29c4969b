"""Settings of the Shopify sandbox, read from ``STRATA_SANDBOX_*`` environment variables."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from shared.settings import load_settings

# Shopify's Standard plan as seen in live responses: a 2,000-point bucket restored at
# 100 points/s (the docs state the restore rate; the bucket size is 20x the rate).
STANDARD_BUCKET_SIZE = 2000.0
STANDARD_RESTORE_RATE = 100.0
SINGLE_QUERY_MAX_COST = 1000
# 100 objects/s: a shop's 5,000-variant back-fill takes under a minute, as with the restore
# rate of a Standard bucket (100 points/s) spent on one-variant writes.
BULK_OBJECTS_PER_SECOND = 100.0

DEMO_PRODUCTS: tuple[tuple[str, str, str], ...] = (
    ("STR-TEE-BLK-M", "Strata organic tee, black, M", "24.90"),
    ("STR-TEE-WHT-L", "Strata organic tee, white, L", "24.90"),
    ("STR-HOOD-GRY-M", "Strata hoodie, grey, M", "69.00"),
    ("STR-CAP-NVY", "Strata cap, navy", "19.50"),
    ("STR-BAG-CNV", "Strata canvas tote", "15.00"),
)


class LocationSpec(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A stock location of a sandbox shop."""

    name: str
    country_code: str
    city: str = ""
    address1: str = ""
    zip: str = ""
    stock: int = 100


class ShopSpec(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One sandbox shop: its myshopify domain, currency, token and locations."""

    domain: str
    currency: str = "EUR"
    access_token: str | None = None
    name: str | None = None
    country_code: str = "FR"
    tax_rate: str = "0.20"
    taxes_included: bool = True
    shipping_price: str = "4.90"
    locations: tuple[LocationSpec, ...] = ()


DEFAULT_SHOPS: tuple[ShopSpec, ...] = (
    ShopSpec(
        domain="demo-eu.myshopify.com",
        currency="EUR",
        country_code="FR",
        locations=(
            LocationSpec(name="Lyon warehouse", country_code="FR", city="Lyon", zip="69007"),
            LocationSpec(name="Berlin store", country_code="DE", city="Berlin", zip="10115"),
        ),
    ),
    ShopSpec(
        domain="demo-us.myshopify.com",
        currency="USD",
        country_code="US",
        tax_rate="0.00",
        taxes_included=False,
        shipping_price="6.50",
        locations=(
            LocationSpec(name="Newark warehouse", country_code="US", city="Newark", zip="07102"),
        ),
    ),
)


class SandboxSettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Everything the Shopify sandbox can be told at start-up."""

    shops: tuple[ShopSpec, ...] = DEFAULT_SHOPS
    client_id: str = "strata-sandbox-client-id"
    client_secret: str = "strata-sandbox-client-secret-change-me"  # noqa: S105 - sandbox-only secret
    # Token for shops whose spec names none: ``<access_token>`` for every such shop.
    access_token: str = "shpat_sandbox_token"  # noqa: S105 - sandbox-only token
    api_version: str = "2026-04"
    bucket_size: float = STANDARD_BUCKET_SIZE
    restore_rate: float = STANDARD_RESTORE_RATE
    max_query_cost: int = SINGLE_QUERY_MAX_COST
    # Objects a bulk mutation writes per sandbox second (a productSet line: its variants).
    # Shopify runs bulk operations outside the cost bucket and states no throughput for them;
    # this pace is what the sandbox's limits allow a back-fill (the benchmark's bound).
    bulk_objects_per_second: float = BULK_OBJECTS_PER_SECOND
    time_scale: float = 1.0
    webhook_timeout: float = 5.0
    webhook_connect_timeout: float = 1.0
    webhook_retries: int = 8
    webhook_retry_window: float = 4 * 3600.0
    remove_failing_subscriptions: bool = True
    # Subscribe every shop's order topics to this URL at start (the demo's webhook ingress).
    webhook_address: str | None = None
    webhook_topics: tuple[str, ...] = (
        "orders/create",
        "orders/updated",
        "orders/edited",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "fulfillments/create",
        "fulfillments/update",
        "refunds/create",
    )
    seed_demo: bool = True
    demo_products: tuple[tuple[str, str, str], ...] = DEMO_PRODUCTS


def load_sandbox_settings(environ: Mapping[str, str] | None = None) -> SandboxSettings:
    """Read :class:`SandboxSettings` from ``STRATA_SANDBOX_*`` variables (JSON for lists)."""
    return load_settings(SandboxSettings, environ, prefix="STRATA_SANDBOX_")
