"""The Admin API operations the process layer needs, in the v1 contract's terms."""

from __future__ import annotations

import hashlib
from typing import Any

from system_apis.shopify.admin import AdminGraphQL
from system_apis.shopify.problems import ShopifyRecordNotFound
from system_apis.shopify.queries import (
    FULFILLMENT_CREATE,
    INVENTORY_ADJUST,
    INVENTORY_SET,
    METAFIELDS_SET,
    ORDER,
    ORDERS,
    REFUND_CREATE,
    REFUNDS,
    TAGS_ADD,
)
from system_apis.shopify.schemas import (
    Fulfillment,
    FulfillmentCreate,
    FulfillmentOrder,
    FulfillmentOrderLine,
    FulfillmentTracking,
    InventoryAdjust,
    InventoryChange,
    InventoryChanges,
    InventorySet,
    Metafield,
    MetafieldSet,
    Money,
    OrderLine,
    OrderPage,
    OrderSummary,
    OrderTags,
    Refund,
    RefundCreate,
    RefundList,
    ShippingAddress,
    ShopifyOrder,
    TagsAdd,
)


def gid(kind: str, number: int) -> str:
    """Shopify's global id of a numeric id, e.g. ``gid://shopify/Order/1``."""
    return f"gid://shopify/{kind}/{number}"


def number(global_id: str | None) -> int | None:
    """The numeric id inside a global id (None for None)."""
    if global_id is None:
        return None
    tail = global_id.rsplit("/", 1)[-1].split("?", 1)[0]
    return int(tail) if tail.isdigit() else None


def shopify_idempotency_key(scope: str, key: str) -> str:
    """The ``@idempotent`` key sent to Shopify for our caller's ``Idempotency-Key``.

    Hashed with the operation's scope so one caller key never collides across operations.
    """
    return hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()[:48]


def _money(bag: dict[str, Any] | None) -> Money:
    shop_money = (bag or {}).get("shopMoney") or {}
    return Money(
        amount=str(shop_money.get("amount", "0")), currency=str(shop_money.get("currencyCode", ""))
    )


def _id(global_id: str | None) -> int:
    value = number(global_id)
    if value is None:
        raise ShopifyRecordNotFound(f"Shopify returned an unexpected id {global_id!r}")
    return value


class ShopifyService:
    """Order reads, write-backs, inventory, fulfillments and refunds on configured shops."""

    def __init__(self, admin: AdminGraphQL) -> None:
        self.admin = admin

    async def order(self, shop: str, order_id: int) -> ShopifyOrder:
        """One order with lines, open fulfillment orders, fulfillments, tags and metafields."""
        data = await self.admin.execute(shop, "StrataOrder", ORDER, {"id": gid("Order", order_id)})
        node = data.get("order")
        if node is None:
            raise ShopifyRecordNotFound(f"{shop} has no order {order_id}")
        return ShopifyOrder(
            id=_id(node["id"]),
            name=node["name"],
            email=node.get("email"),
            tags=list(node.get("tags") or ()),
            created_at=node["createdAt"],
            updated_at=node["updatedAt"],
            cancelled_at=node.get("cancelledAt"),
            financial_status=node.get("displayFinancialStatus"),
            fulfillment_status=node["displayFulfillmentStatus"],
            currency=node["currencyCode"],
            total=_money(node.get("totalPriceSet")),
            customer_name=_name(node.get("customer")),
            shipping_address=_address(node.get("shippingAddress")),
            lines=[
                OrderLine(
                    id=_id(line["id"]),
                    sku=line.get("sku"),
                    title=line["title"],
                    quantity=line["quantity"],
                    current_quantity=line["currentQuantity"],
                    unfulfilled_quantity=line["unfulfilledQuantity"],
                    refundable_quantity=line["refundableQuantity"],
                    unit_price=_money(line.get("originalUnitPriceSet")),
                )
                for line in node["lineItems"]["nodes"]
            ],
            fulfillment_orders=[
                FulfillmentOrder(
                    id=_id(fo["id"]),
                    status=fo["status"],
                    location_name=(fo.get("assignedLocation") or {}).get("name"),
                    location_id=number(
                        ((fo.get("assignedLocation") or {}).get("location") or {}).get("id")
                    ),
                    lines=[
                        FulfillmentOrderLine(
                            id=_id(fol["id"]),
                            line_item_id=_id(fol["lineItem"]["id"]),
                            sku=fol.get("sku"),
                            total_quantity=fol["totalQuantity"],
                            remaining_quantity=fol["remainingQuantity"],
                        )
                        for fol in fo["lineItems"]["nodes"]
                    ],
                )
                for fo in node["fulfillmentOrders"]["nodes"]
            ],
            fulfillments=[_fulfillment(f) for f in node.get("fulfillments") or ()],
            metafields=[
                Metafield(namespace=m["namespace"], key=m["key"], type=m["type"], value=m["value"])
                for m in node["metafields"]["nodes"]
            ],
        )

    async def refunds(self, shop: str, order_id: int) -> RefundList:
        """An order's refunds in Shopify's order, oldest first (the first ``REFUNDS_MAX``)."""
        data = await self.admin.execute(
            shop, "StrataOrderRefunds", REFUNDS, {"id": gid("Order", order_id)}
        )
        node = data.get("order")
        if node is None:
            raise ShopifyRecordNotFound(f"{shop} has no order {order_id}")
        return RefundList(items=[_refund(r) for r in node.get("refunds") or ()])

    async def orders(
        self, shop: str, *, first: int, after: str | None, updated_since: str | None
    ) -> OrderPage:
        """A page of orders by update time (reconciliation walks these)."""
        query = f"updated_at:>='{updated_since}'" if updated_since else None
        data = await self.admin.execute(
            shop, "StrataOrders", ORDERS, {"first": first, "after": after, "query": query}
        )
        connection = data["orders"]
        info = connection["pageInfo"]
        return OrderPage(
            items=[
                OrderSummary(
                    id=_id(o["id"]),
                    name=o["name"],
                    created_at=o["createdAt"],
                    updated_at=o["updatedAt"],
                    cancelled_at=o.get("cancelledAt"),
                    financial_status=o.get("displayFinancialStatus"),
                    fulfillment_status=o["displayFulfillmentStatus"],
                    total=_money(o.get("totalPriceSet")),
                )
                for o in connection["nodes"]
            ],
            next_cursor=info.get("endCursor") if info.get("hasNextPage") else None,
        )

    async def add_tags(self, shop: str, order_id: int, request: TagsAdd) -> OrderTags:
        """Add tags to an order (adding a tag it has is a no-op, so retries are safe)."""
        payload = await self.admin.mutate(
            shop,
            "StrataTagsAdd",
            TAGS_ADD,
            {"id": gid("Order", order_id), "tags": request.tags},
            field="tagsAdd",
        )
        node = payload.get("node") or {}
        return OrderTags(id=order_id, tags=list(node.get("tags") or request.tags))

    async def set_metafield(self, shop: str, order_id: int, request: MetafieldSet) -> Metafield:
        """Set one metafield of an order (setting the same value again is a no-op)."""
        payload = await self.admin.mutate(
            shop,
            "StrataMetafieldsSet",
            METAFIELDS_SET,
            {
                "metafields": [
                    {
                        "ownerId": gid("Order", order_id),
                        "namespace": request.namespace,
                        "key": request.key,
                        "value": request.value,
                        "type": request.type,
                    }
                ]
            },
            field="metafieldsSet",
        )
        written = (payload.get("metafields") or [{}])[0]
        return Metafield(
            namespace=written.get("namespace", request.namespace),
            key=written.get("key", request.key),
            type=written.get("type", request.type),
            value=written.get("value", request.value),
        )

    async def set_inventory(self, shop: str, request: InventorySet, key: str) -> InventoryChanges:
        """``inventorySetQuantities`` with ``changeFromQuantity`` on every quantity."""
        payload = await self.admin.mutate(
            shop,
            "StrataInventorySet",
            INVENTORY_SET,
            {
                "input": {
                    "name": request.name,
                    "reason": request.reason,
                    "referenceDocumentUri": request.reference_document_uri,
                    "quantities": [
                        {
                            "inventoryItemId": gid("InventoryItem", q.inventory_item_id),
                            "locationId": gid("Location", q.location_id),
                            "quantity": q.quantity,
                            "changeFromQuantity": q.change_from_quantity,
                        }
                        for q in request.quantities
                    ],
                },
                "key": shopify_idempotency_key("inventory-set", key),
            },
            field="inventorySetQuantities",
        )
        return _changes(payload)

    async def adjust_inventory(
        self, shop: str, request: InventoryAdjust, key: str
    ) -> InventoryChanges:
        """``inventoryAdjustQuantities`` (deltas), with its mandatory ``@idempotent`` key."""
        payload = await self.admin.mutate(
            shop,
            "StrataInventoryAdjust",
            INVENTORY_ADJUST,
            {
                "input": {
                    "name": request.name,
                    "reason": request.reason,
                    "referenceDocumentUri": request.reference_document_uri,
                    "changes": [
                        {
                            "inventoryItemId": gid("InventoryItem", c.inventory_item_id),
                            "locationId": gid("Location", c.location_id),
                            "delta": c.delta,
                        }
                        for c in request.changes
                    ],
                },
                "key": shopify_idempotency_key("inventory-adjust", key),
            },
            field="inventoryAdjustQuantities",
        )
        return _changes(payload)

    async def create_fulfillment(self, shop: str, request: FulfillmentCreate) -> Fulfillment:
        """``fulfillmentCreate`` against fulfillment orders, with tracking."""
        fulfillment: dict[str, Any] = {
            "lineItemsByFulfillmentOrder": [
                {
                    "fulfillmentOrderId": gid("FulfillmentOrder", fo.fulfillment_order_id),
                    **(
                        {
                            "fulfillmentOrderLineItems": [
                                {
                                    "id": gid("FulfillmentOrderLineItem", li.id),
                                    "quantity": li.quantity,
                                }
                                for li in fo.lines
                            ]
                        }
                        if fo.lines is not None
                        else {}
                    ),
                }
                for fo in request.fulfillment_orders
            ],
            "notifyCustomer": request.notify_customer,
        }
        if request.tracking is not None:
            fulfillment["trackingInfo"] = {
                "numbers": request.tracking.numbers,
                "urls": request.tracking.urls,
                "company": request.tracking.company,
            }
        payload = await self.admin.mutate(
            shop,
            "StrataFulfillmentCreate",
            FULFILLMENT_CREATE,
            {"fulfillment": fulfillment},
            field="fulfillmentCreate",
        )
        return _fulfillment(payload.get("fulfillment") or {})

    async def create_refund(
        self, shop: str, order_id: int, request: RefundCreate, key: str
    ) -> Refund:
        """``refundCreate`` with its mandatory ``@idempotent`` key."""
        refund: dict[str, Any] = {
            "orderId": gid("Order", order_id),
            "note": request.note,
            "notify": request.notify,
            "refundLineItems": [
                {
                    "lineItemId": gid("LineItem", line.line_item_id),
                    "quantity": line.quantity,
                    "restockType": line.restock_type,
                    "locationId": gid("Location", line.location_id) if line.location_id else None,
                }
                for line in request.lines
            ],
            "transactions": [
                {
                    "amount": t.amount,
                    "gateway": t.gateway,
                    "kind": t.kind,
                    "orderId": gid("Order", order_id),
                    "parentId": gid("OrderTransaction", t.parent_id) if t.parent_id else None,
                }
                for t in request.transactions
            ],
        }
        if request.shipping_amount is not None:
            refund["shipping"] = {"amount": request.shipping_amount}
        if request.currency is not None:
            refund["currency"] = request.currency
        payload = await self.admin.mutate(
            shop,
            "StrataRefundCreate",
            REFUND_CREATE,
            {"input": refund, "key": shopify_idempotency_key(f"refund:{order_id}", key)},
            field="refundCreate",
        )
        return _refund(payload.get("refund") or {})


def _changes(payload: dict[str, Any]) -> InventoryChanges:
    group = payload.get("inventoryAdjustmentGroup") or {}
    return InventoryChanges(
        adjustment_group_id=group.get("id"),
        changes=[
            InventoryChange(
                inventory_item_id=number((c.get("item") or {}).get("id")),
                location_id=number((c.get("location") or {}).get("id")),
                name=c["name"],
                delta=c["delta"],
                quantity_after_change=c.get("quantityAfterChange"),
            )
            for c in group.get("changes") or ()
        ],
    )


def _fulfillment(node: dict[str, Any]) -> Fulfillment:
    return Fulfillment(
        id=_id(node.get("id")),
        name=node.get("name") or "",
        status=node.get("status") or "",
        created_at=node.get("createdAt"),
        tracking=[
            FulfillmentTracking(number=t.get("number"), url=t.get("url"), company=t.get("company"))
            for t in node.get("trackingInfo") or ()
        ],
    )


def _refund(node: dict[str, Any]) -> Refund:
    return Refund(
        id=_id(node.get("id")),
        created_at=node.get("createdAt"),
        note=node.get("note"),
        total_refunded=_money(node.get("totalRefundedSet")),
    )


def _name(customer: dict[str, Any] | None) -> str | None:
    if not customer:
        return None
    return " ".join(p for p in (customer.get("firstName"), customer.get("lastName")) if p) or None


def _address(node: dict[str, Any] | None) -> ShippingAddress | None:
    if not node:
        return None
    return ShippingAddress(
        name=node.get("name"),
        address1=node.get("address1"),
        address2=node.get("address2"),
        city=node.get("city"),
        zip=node.get("zip"),
        country_code=node.get("countryCodeV2"),
    )
