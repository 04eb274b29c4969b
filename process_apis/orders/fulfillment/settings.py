"""Settings of the fulfillment follower and sender (``STRATA_ORDERS_FULFILLMENT_*``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

#: The ERP's carrier names (Tryton's carrier party names) as Shopify knows them: Shopify
#: links tracking numbers of carriers it recognises by name, and shows others as plain text.
DEFAULT_CARRIERS: dict[str, str] = {
    "DHL": "DHL Express",
    "DHL Express": "DHL Express",
    "DHL Parcel": "DHL eCommerce",
    "UPS": "UPS",
    "FedEx": "FedEx",
    "USPS": "USPS",
    "La Poste": "La Poste",
    "Colissimo": "Colissimo",
    "DPD": "DPD",
    "GLS": "GLS",
    "PostNL": "PostNL",
    "Royal Mail": "Royal Mail",
}


class FulfillmentSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How ERP shipments are followed and sent to Shopify as fulfillments."""

    # Follow each ERP instance's shipment change feed (in every process that runs workers).
    enabled: bool = True
    # How often each ERP instance's feed is asked for changes (the lag's floor).
    poll_interval: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 2.0
    # Each poll asks again from this long before the newest change it saw: the ERP stamps a
    # change when it writes it, not when it commits it, so a slow transaction's shipment
    # would otherwise fall behind the watermark (changes seen twice are dropped by content).
    overlap: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 30.0
    # A first poll of an instance (no watermark yet) starts this long ago: a new deployment
    # does not re-send every shipment the ERP ever made.
    initial_lookback: Annotated[float, msgspec.Meta(ge=0)] = 86400.0
    page_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 100
    consumer_group: str = "fulfillment"
    worker_concurrency: Annotated[int, msgspec.Meta(ge=1, le=256)] = 8
    # A change a worker took and did not finish (it died) is taken over after this long.
    claim_idle: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # A change whose send failed for now (Shopify or its system API unavailable) is tried
    # again up to ``max_attempts`` times, waiting from ``retry_base_delay`` doubling up to
    # ``retry_max_delay`` seconds (or what Retry-After says), then becomes an exception.
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 12
    retry_base_delay: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    retry_max_delay: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    # Per shop (domain, or ``*``): whether Shopify e-mails the customer when a shipment is
    # recorded (and when its tracking changes). Shopify's own admin notifies by default.
    notify_customer: dict[str, bool] = msgspec.field(default_factory=lambda: {"*": True})
    # Per shop (domain, or ``*``): whether a fulfillment made in Shopify (a third-party
    # warehouse, the merchant in the admin) is also recorded as a shipment in the order's
    # ERP. Off by default: most shops ship from the ERP's warehouse, and a fulfillment made
    # in Shopify there is the merchant marking an order shipped by hand (the ERP's own
    # shipment follows, and would be counted twice). Turn it on for a shop whose
    # third-party warehouse fulfils in Shopify, so the ERP's stock and invoicing follow it.
    erp_shipments_from_shopify: dict[str, bool] = msgspec.field(
        default_factory=lambda: {"*": False}
    )
    # ERP carrier name -> Shopify's name for it (unlisted names are sent as they are).
    carriers: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_CARRIERS))
    # ``<instance>:<warehouse code>`` (or ``<instance>:*``) -> the Shopify location id its
    # shipments leave from, per shop as ``<shop>|<instance>:<warehouse>``. Unmapped: a
    # shipment's lines match the fulfillment orders of whichever one location has them all.
    locations: dict[str, int] = {}

    def notify(self, shop: str) -> bool:
        if shop in self.notify_customer:
            return self.notify_customer[shop]
        return self.notify_customer.get("*", True)

    def records_in_erp(self, shop: str) -> bool:
        if shop in self.erp_shipments_from_shopify:
            return self.erp_shipments_from_shopify[shop]
        return self.erp_shipments_from_shopify.get("*", False)

    def erp_carrier(self, shopify_name: str | None) -> str | None:
        """The ERP's name of a carrier Shopify names (None when the settings know none)."""
        if not shopify_name:
            return None
        return next((e for e, s in self.carriers.items() if s == shopify_name), None)

    def carrier(self, name: str | None) -> str | None:
        if not name:
            return None
        return self.carriers.get(name, name)

    def location(self, shop: str, instance: str, warehouse: str | None) -> int | None:
        for key in (
            f"{shop}|{instance}:{warehouse}",
            f"{shop}|{instance}:*",
            f"{instance}:{warehouse}",
            f"{instance}:*",
        ):
            if key in self.locations:
                return self.locations[key]
        return None
