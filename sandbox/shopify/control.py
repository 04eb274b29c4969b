"""The sandbox's control API (not Shopify's) under ``/_sandbox``: drive and inspect it."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from sandbox.shopify import commerce
from sandbox.shopify.bulk import BulkViews
from sandbox.shopify.catalogue import delete_product
from sandbox.shopify.commerce import CommerceError, OrderDraft, OrderEditRequest, OrderPatch
from sandbox.shopify.fulfillments import (
    AdminFulfillment,
    AdminTrackingUpdate,
    cancel_fulfillment,
    find_fulfillment,
    fulfil_in_admin,
    fulfillment_view,
    update_tracking,
)
from sandbox.shopify.payloads import order_payload
from sandbox.shopify.service import ShopifySandbox, UnknownShop
from sandbox.shopify.settings import LocationSpec, ShopSpec
from sandbox.shopify.state import Fulfillment, Order, Shop
from shared.problems import NotFound, ValidationFailed


class ShopCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    domain: FromPath[str]
    currency: str = "EUR"
    country_code: str = "FR"
    access_token: str | None = None
    tax_rate: str = "0.20"
    taxes_included: bool = True
    shipping_price: str = "4.90"
    locations: tuple[LocationSpec, ...] = ()
    products: tuple[tuple[str, str, str], ...] = ()


class SubscriptionCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    topic: str
    address: str
    api_version: str | None = None
    name: str | None = None


class CancelRequest(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    reason: str = "CUSTOMER"


class StockSet(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    sku: str
    available: int
    location_id: int | None = None


class BucketConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    maximum_available: float | None = None
    restore_rate: float | None = None
    currently_available: float | None = None


class FailureInjection(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    count: int
    status: int = 503
    shop: FromQuery[str | None] = None
    retry_after: float | None = None


class WebhookBehaviour(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    hold: bool | None = None
    duplicates: int | None = None
    duplicates_keep_webhook_id: bool | None = None


class ReleaseRequest(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    order: str | list[str] = "fifo"


class RedeliverRequest(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    count: int = 1
    keep_webhook_id: bool = True


class SecretRotation(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    new_secret: str
    old_secret_for: float = 0.0


class SessionTokenRequest(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    shop: str
    user_id: str = "42"
    lifetime: int = 60


def sandbox_of(state: State) -> ShopifySandbox:
    sandbox: ShopifySandbox = state.sandbox
    return sandbox


def order_view(shop: Shop, order: Order) -> dict[str, Any]:
    """The REST order (as in webhooks) plus what Strata writes back: tags and metafields."""
    view = order_payload(shop, order)
    view["tag_list"] = list(order.tags)
    view["metafields"] = [
        {"namespace": m.namespace, "key": m.key, "type": m.type, "value": m.value}
        for m in order.metafields.values()
    ]
    view["fulfillment_orders"] = [
        {
            "id": fo.id,
            "admin_graphql_api_id": f"gid://shopify/FulfillmentOrder/{fo.id}",
            "status": fo.status.lower(),
            "assigned_location_id": fo.location_id,
            "line_items": [
                {
                    "id": fol.id,
                    "line_item_id": fol.line_item_id,
                    "quantity": fol.total_quantity,
                    "fulfillable_quantity": fol.remaining_quantity,
                }
                for fol in fo.lines
            ],
        }
        for fo in order.fulfillment_orders
    ]
    return view


def _shop(sandbox: ShopifySandbox, domain: FromPath[str]) -> Shop:
    try:
        return sandbox.shop(domain)
    except UnknownShop:
        raise NotFound(f"No sandbox shop {domain}") from None


def _order(
    sandbox: ShopifySandbox, domain: FromPath[str], order_id: FromPath[int]
) -> tuple[Shop, Order]:
    shop = _shop(sandbox, domain)
    order = shop.orders.get(order_id)
    if order is None:
        raise NotFound(f"No order {order_id} in {shop.domain}")
    return shop, order


def _fulfillment(
    sandbox: ShopifySandbox, domain: FromPath[str], fulfillment_id: FromPath[int]
) -> tuple[Shop, Order, Fulfillment]:
    shop = _shop(sandbox, domain)
    found = find_fulfillment(shop, fulfillment_id)
    if found is None:
        raise NotFound(f"No fulfillment {fulfillment_id} in {shop.domain}")
    return shop, *found


def _rejected(exc: CommerceError) -> ValidationFailed:
    return ValidationFailed(
        exc.message, errors=[{"field": exc.field, "message": exc.message, "code": exc.code}]
    )


class SandboxControl(Controller):
    """Test and demo controls. Not part of Shopify; never exposed outside a sandbox."""

    path = "/_sandbox"
    tags = ["sandbox"]

    @get("/health", operation_id="sandboxHealth")
    async def health(self) -> dict[str, str]:
        """Liveness of the sandbox."""
        return {"status": "ok"}

    @get("/shops", operation_id="listSandboxShops")
    async def list_shops(self, state: State) -> list[dict[str, Any]]:
        """Every shop with its domain, currency, access tokens and locations."""
        sandbox = sandbox_of(state)
        return [
            {
                "domain": shop.domain,
                "name": shop.name,
                "currency": shop.currency,
                "access_tokens": sorted(shop.access_tokens),
                "locations": [
                    {"id": loc.id, "name": loc.name, "country_code": loc.country_code}
                    for loc in shop.locations.values()
                ],
                "skus": sorted(p.sku for p in shop.products.values()),
                "orders": len(shop.orders),
            }
            for shop in sandbox.state.shops.values()
        ]

    @post("/shops", operation_id="createSandboxShop")
    async def create_shop(self, state: State, data: JSONBody[ShopCreate]) -> dict[str, Any]:
        """Create (or replace) a shop selling ``products`` as ``[sku, title, price]`` rows."""
        sandbox = sandbox_of(state)
        spec = ShopSpec(
            domain=data.domain,
            currency=data.currency,
            country_code=data.country_code,
            access_token=data.access_token,
            tax_rate=data.tax_rate,
            taxes_included=data.taxes_included,
            shipping_price=data.shipping_price,
            locations=data.locations,
        )
        shop = sandbox.add_shop(spec, data.products)
        return {"domain": shop.domain, "access_tokens": sorted(shop.access_tokens)}

    @post("/shops/{domain:str}/orders", operation_id="createSandboxOrder")
    async def create_order(
        self, state: State, domain: FromPath[str], data: JSONBody[OrderDraft]
    ) -> dict[str, Any]:
        """A buyer places an order; subscribers get ``orders/create`` (and ``orders/paid``)."""
        sandbox = sandbox_of(state)
        shop = _shop(sandbox, domain)
        try:
            order = sandbox.create_order(shop.domain, data)
        except CommerceError as exc:
            raise _rejected(exc) from None
        return order_view(shop, order)

    @get("/shops/{domain:str}/orders", operation_id="listSandboxOrders")
    async def list_orders(self, state: State, domain: FromPath[str]) -> list[dict[str, Any]]:
        """Every order of the shop with tags, metafields, fulfillments and refunds."""
        shop = _shop(sandbox_of(state), domain)
        return [order_view(shop, o) for o in shop.orders.values()]

    @get("/shops/{domain:str}/orders/{order_id:int}", operation_id="getSandboxOrder")
    async def get_order(
        self, state: State, domain: FromPath[str], order_id: FromPath[int]
    ) -> dict[str, Any]:
        """One order with tags, metafields, fulfillments and refunds."""
        shop, order = _order(sandbox_of(state), domain, order_id)
        return order_view(shop, order)

    @patch("/shops/{domain:str}/orders/{order_id:int}", operation_id="updateSandboxOrder")
    async def update_order(
        self,
        state: State,
        domain: FromPath[str],
        order_id: FromPath[int],
        data: JSONBody[OrderPatch],
    ) -> dict[str, Any]:
        """A merchant edits the order; subscribers get ``orders/updated``."""
        sandbox = sandbox_of(state)
        shop, order = _order(sandbox, domain, order_id)
        sandbox.update_order(shop.domain, order.id, data)
        return order_view(shop, order)

    @post("/shops/{domain:str}/orders/{order_id:int}/edit", operation_id="editSandboxOrder")
    async def edit_order(
        self,
        state: State,
        domain: FromPath[str],
        order_id: FromPath[int],
        data: JSONBody[OrderEditRequest],
    ) -> dict[str, Any]:
        """A merchant edits the order's items (quantities set, variants added) and commits:
        subscribers get ``orders/edited`` (the edit's deltas) then ``orders/updated``."""
        sandbox = sandbox_of(state)
        shop, order = _order(sandbox, domain, order_id)
        try:
            edit, events = commerce.edit_order(sandbox.state, shop, order, data)
        except CommerceError as exc:
            raise _rejected(exc) from None
        sandbox.webhooks.publish(shop.domain, events)
        return order_view(shop, order) | edit

    @post("/shops/{domain:str}/orders/{order_id:int}/pay", operation_id="paySandboxOrder")
    async def pay_order(
        self, state: State, domain: FromPath[str], order_id: FromPath[int]
    ) -> dict[str, Any]:
        """Payment captured; subscribers get ``orders/paid`` and ``orders/updated``."""
        sandbox = sandbox_of(state)
        shop, order = _order(sandbox, domain, order_id)
        try:
            sandbox.pay_order(shop.domain, order.id)
        except CommerceError as exc:
            raise _rejected(exc) from None
        return order_view(shop, order)

    @post("/shops/{domain:str}/orders/{order_id:int}/cancel", operation_id="cancelSandboxOrder")
    async def cancel_order(
        self,
        state: State,
        domain: FromPath[str],
        order_id: FromPath[int],
        data: JSONBody[CancelRequest | None] = None,
    ) -> dict[str, Any]:
        """Cancelled; stock released; ``orders/cancelled`` and ``orders/updated`` go out."""
        sandbox = sandbox_of(state)
        shop, order = _order(sandbox, domain, order_id)
        try:
            sandbox.cancel_order(shop.domain, order.id, (data or CancelRequest()).reason)
        except CommerceError as exc:
            raise _rejected(exc) from None
        return order_view(shop, order)

    @post(
        "/shops/{domain:str}/orders/{order_id:int}/fulfillments",
        operation_id="fulfilSandboxOrder",
        status_code=201,
    )
    async def fulfil_order(
        self,
        state: State,
        domain: FromPath[str],
        order_id: FromPath[int],
        data: JSONBody[AdminFulfillment | None] = None,
    ) -> dict[str, Any]:
        """A merchant or a third-party warehouse fulfils in the admin: ``lines`` by line item
        id or SKU (none: everything left) from one location, with tracking. Subscribers get
        ``fulfillments/create`` and ``orders/fulfilled`` or ``orders/partially_fulfilled``;
        more than is left, or nothing left, is refused with 422."""
        sandbox = sandbox_of(state)
        shop, order = _order(sandbox, domain, order_id)
        try:
            fulfillment, events = fulfil_in_admin(
                sandbox.state, shop, order, data or AdminFulfillment()
            )
        except CommerceError as exc:
            raise _rejected(exc) from None
        sandbox.webhooks.publish(shop.domain, events)
        return fulfillment_view(order, fulfillment)

    @post(
        "/shops/{domain:str}/fulfillments/{fulfillment_id:int}/tracking",
        operation_id="updateSandboxFulfillmentTracking",
    )
    async def update_fulfillment_tracking(
        self,
        state: State,
        domain: FromPath[str],
        fulfillment_id: FromPath[int],
        data: JSONBody[AdminTrackingUpdate],
    ) -> dict[str, Any]:
        """A tracking correction made in the admin (every number and URL replaced);
        ``fulfillments/update``. A cancelled fulfillment is refused with 422."""
        sandbox = sandbox_of(state)
        shop, order, fulfillment = _fulfillment(sandbox, domain, fulfillment_id)
        try:
            events = update_tracking(
                order, fulfillment, data.tracking.to_tracking(), data.notify_customer
            )
        except CommerceError as exc:
            raise _rejected(exc) from None
        sandbox.webhooks.publish(shop.domain, events)
        return fulfillment_view(order, fulfillment)

    @post(
        "/shops/{domain:str}/fulfillments/{fulfillment_id:int}/cancel",
        operation_id="cancelSandboxFulfillment",
    )
    async def cancel_order_fulfillment(
        self, state: State, domain: FromPath[str], fulfillment_id: FromPath[int]
    ) -> dict[str, Any]:
        """A fulfillment cancelled in the admin: its units are unfulfilled again;
        ``fulfillments/update`` (status ``cancelled``) and ``orders/updated``. Cancelling twice
        is refused with 422."""
        sandbox = sandbox_of(state)
        shop, order, fulfillment = _fulfillment(sandbox, domain, fulfillment_id)
        try:
            events = cancel_fulfillment(sandbox.state, shop, order, fulfillment)
        except CommerceError as exc:
            raise _rejected(exc) from None
        sandbox.webhooks.publish(shop.domain, events)
        return fulfillment_view(order, fulfillment)

    @get("/shops/{domain:str}/inventory", operation_id="listSandboxInventory")
    async def inventory(
        self, state: State, domain: FromPath[str], sku: FromQuery[str | None] = None
    ) -> list[dict[str, Any]]:
        """Inventory levels: SKU, location, ``available``, ``on_hand``, ``committed``."""
        sandbox = sandbox_of(state)
        return sandbox.inventory(_shop(sandbox, domain).domain, sku=sku)

    @put("/shops/{domain:str}/inventory", operation_id="setSandboxStock")
    async def set_stock(
        self, state: State, domain: FromPath[str], data: JSONBody[StockSet]
    ) -> list[dict[str, Any]]:
        """Set ``available`` of a SKU (at one location or all); ``inventory_levels/update``."""
        sandbox = sandbox_of(state)
        try:
            return sandbox.set_stock(
                _shop(sandbox, domain).domain, data.sku, data.available, data.location_id
            )
        except CommerceError as exc:
            raise NotFound(exc.message) from None

    @delete(
        "/shops/{domain:str}/products/{product_id:int}",
        operation_id="deleteSandboxProduct",
        status_code=204,
    )
    async def delete_product(
        self, state: State, domain: FromPath[str], product_id: FromPath[int]
    ) -> None:
        """A merchant deletes a product in the admin; ``products/delete``."""
        sandbox = sandbox_of(state)
        shop = _shop(sandbox, domain)
        events = delete_product(shop, product_id)
        if events is None:
            raise NotFound(f"No product {product_id} in {shop.domain}")
        sandbox.webhooks.publish(shop.domain, events)

    @get("/shops/{domain:str}/bulk-operations", operation_id="listSandboxBulkOperations")
    async def bulk_operations(
        self, request: Request[Any, Any, Any], state: State, domain: FromPath[str]
    ) -> list[dict[str, Any]]:
        """Every bulk operation of the shop (as Admin GraphQL shows it), oldest first."""
        shop = _shop(sandbox_of(state), domain)
        views = BulkViews(str(request.base_url).rstrip("/"))
        return [
            {**(views.operation(op) or {}), "lines": op.lines, "app": op.app}
            for op in shop.bulk_operations.values()
        ]

    @get("/shops/{domain:str}/fulfillments", operation_id="listSandboxFulfillments")
    async def fulfillments(self, state: State, domain: FromPath[str]) -> list[dict[str, Any]]:
        """Every fulfillment with tracking (REST shape), newest last."""
        shop = _shop(sandbox_of(state), domain)
        return [
            order_view(shop, o)["fulfillments"][i] | {"order_name": o.name}
            for o in shop.orders.values()
            for i in range(len(o.fulfillments))
        ]

    @get("/shops/{domain:str}/refunds", operation_id="listSandboxRefunds")
    async def refunds(self, state: State, domain: FromPath[str]) -> list[dict[str, Any]]:
        """Every refund (REST shape), newest last."""
        shop = _shop(sandbox_of(state), domain)
        return [
            order_view(shop, o)["refunds"][i] | {"order_name": o.name}
            for o in shop.orders.values()
            for i in range(len(o.refunds))
        ]

    @get("/shops/{domain:str}/bucket", operation_id="getSandboxBucket")
    async def get_bucket(self, state: State, domain: FromPath[str]) -> dict[str, Any]:
        """The cost bucket's throttle status (first app of the shop)."""
        sandbox = sandbox_of(state)
        return msgspec.to_builtins(sandbox.bucket(_shop(sandbox, domain).domain).status())  # type: ignore[no-any-return]

    @put("/shops/{domain:str}/bucket", operation_id="configureSandboxBucket")
    async def configure_bucket(
        self, state: State, domain: FromPath[str], data: JSONBody[BucketConfig]
    ) -> dict[str, Any]:
        """Resize, re-rate or refill the cost buckets of the shop (every app)."""
        sandbox = sandbox_of(state)
        buckets = sandbox.configure_buckets(
            _shop(sandbox, domain).domain,
            maximum=data.maximum_available,
            restore_rate=data.restore_rate,
            currently_available=data.currently_available,
        )
        return msgspec.to_builtins(buckets[0].status())  # type: ignore[no-any-return]

    @post("/faults/graphql", operation_id="injectGraphQLFailures")
    async def inject_failures(
        self, state: State, data: JSONBody[FailureInjection]
    ) -> dict[str, Any]:
        """Make the next ``count`` GraphQL calls (to ``shop`` or any) answer ``status``."""
        failure = sandbox_of(state).inject_graphql_failures(
            data.count, data.status, data.shop, data.retry_after
        )
        return msgspec.to_builtins(failure)  # type: ignore[no-any-return]

    @delete("/faults/graphql", operation_id="clearGraphQLFailures", status_code=204)
    async def clear_failures(self, state: State) -> None:
        """Forget every injected failure."""
        sandbox_of(state).failures.clear()

    @get("/shops/{domain:str}/webhooks", operation_id="listSandboxSubscriptions")
    async def subscriptions(self, state: State, domain: FromPath[str]) -> list[dict[str, Any]]:
        """Webhook subscriptions of the shop (removed ones show ``active: false``)."""
        sandbox = sandbox_of(state)
        return msgspec.to_builtins(sandbox.webhooks.subscriptions(_shop(sandbox, domain).domain))  # type: ignore[no-any-return]

    @post("/shops/{domain:str}/webhooks", operation_id="createSandboxSubscription")
    async def subscribe(
        self, state: State, domain: FromPath[str], data: JSONBody[SubscriptionCreate]
    ) -> dict[str, Any]:
        """Subscribe a callback URL to a topic of the shop."""
        sandbox = sandbox_of(state)
        sub = sandbox.webhooks.subscribe(
            _shop(sandbox, domain).domain,
            data.topic,
            data.address,
            api_version=data.api_version,
            name=data.name,
        )
        return msgspec.to_builtins(sub)  # type: ignore[no-any-return]

    @delete(
        "/webhooks/{subscription_id:int}", operation_id="deleteSandboxSubscription", status_code=204
    )
    async def unsubscribe(self, state: State, subscription_id: FromPath[int]) -> None:
        """Remove a subscription."""
        if not sandbox_of(state).webhooks.unsubscribe(subscription_id):
            raise NotFound(f"No subscription {subscription_id}")

    @put("/webhooks/behaviour", operation_id="setWebhookBehaviour")
    async def behaviour(self, state: State, data: JSONBody[WebhookBehaviour]) -> dict[str, Any]:
        """Hold deliveries (to reorder them later) and/or duplicate every new delivery."""
        sender = sandbox_of(state).webhooks
        if data.hold is not None:
            sender.hold_deliveries = data.hold
        if data.duplicates is not None:
            sender.duplicates_per_delivery = data.duplicates
        if data.duplicates_keep_webhook_id is not None:
            sender.duplicates_keep_webhook_id = data.duplicates_keep_webhook_id
        return {
            "hold": sender.hold_deliveries,
            "duplicates": sender.duplicates_per_delivery,
            "duplicates_keep_webhook_id": sender.duplicates_keep_webhook_id,
            "held": len(sender.held()),
        }

    @post("/webhooks/release", operation_id="releaseHeldWebhooks")
    async def release(self, state: State, data: JSONBody[ReleaseRequest]) -> list[dict[str, Any]]:
        """Send held deliveries in order: ``fifo``, ``reverse`` or a list of topics/webhook ids."""
        released = await sandbox_of(state).webhooks.release(data.order)
        return [d.view() for d in released]

    @post("/webhooks/rotate-secret", operation_id="rotateWebhookSecret")
    async def rotate(self, state: State, data: JSONBody[SecretRotation]) -> dict[str, Any]:
        """Rotate the app's client secret (keep signing with the old one for a while if asked)."""
        sandbox_of(state).webhooks.rotate_secret(
            data.new_secret, old_secret_for=data.old_secret_for
        )
        return {"rotated": True, "old_secret_for": data.old_secret_for}

    @get("/deliveries", operation_id="listWebhookDeliveries")
    async def deliveries(
        self,
        state: State,
        shop: FromQuery[str | None] = None,
        topic: FromQuery[str | None] = None,
        delivery_state: FromQuery[str | None] = None,
        include_body: FromQuery[bool] = False,
    ) -> list[dict[str, Any]]:
        """The delivery log: every delivery with its attempts, oldest first."""
        sender = sandbox_of(state).webhooks
        domain = _shop(sandbox_of(state), shop).domain if shop else None
        return [
            d.view(include_body) for d in sender.log(shop=domain, topic=topic, state=delivery_state)
        ]

    @post("/deliveries/{webhook_id:str}/redeliver", operation_id="redeliverWebhook")
    async def redeliver(
        self, state: State, webhook_id: FromPath[str], data: JSONBody[RedeliverRequest]
    ) -> list[dict[str, Any]]:
        """Send duplicates of an earlier delivery (same ``X-Shopify-Event-Id``)."""
        try:
            copies = sandbox_of(state).webhooks.redeliver(
                webhook_id, data.count, keep_webhook_id=data.keep_webhook_id
            )
        except KeyError:
            raise NotFound(f"No delivery {webhook_id}") from None
        return [c.view() for c in copies]

    @post("/session-tokens", operation_id="mintSessionToken")
    async def session_token(
        self, state: State, data: JSONBody[SessionTokenRequest]
    ) -> dict[str, str]:
        """A Shopify session token for the shop, signed with the app's client secret."""
        sandbox = sandbox_of(state)
        token = sandbox.session_token(
            _shop(sandbox, data.shop).domain, data.user_id, lifetime=data.lifetime
        )
        return {"token": token}

    @get("/settings", operation_id="getSandboxSettings")
    async def settings(self, request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
        """Client id, API version, bucket defaults and time scale in force."""
        settings = sandbox_of(state).settings
        return {
            "client_id": settings.client_id,
            "api_version": settings.api_version,
            "bucket_size": settings.bucket_size,
            "restore_rate": settings.restore_rate,
            "max_query_cost": settings.max_query_cost,
            "time_scale": settings.time_scale,
        }
