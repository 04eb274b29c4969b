"""Sandbox objects as Admin GraphQL values: dicts keyed by field name, lazy where costly.

A callable value is called by the executor with ``(info, **arguments)``; a list returned for a
``...Connection`` field is paginated by :func:`field_resolver`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, get_named_type

from sandbox.shopify.state import (
    Customer,
    Fulfillment,
    FulfillmentOrder,
    FulfillmentOrderLine,
    InventoryItem,
    InventoryLevel,
    LineItem,
    Location,
    MailingAddress,
    Metafield,
    Order,
    Refund,
    Shop,
    Transaction,
    gid,
    money,
    parse_gid,
)

Node = dict[str, Any]
Info = GraphQLResolveInfo[Any]
MAX_PAGE_SIZE = 250


def stamp(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def money_bag(amount: Decimal | int, currency: str) -> Node:
    value = {"amount": money(amount), "currencyCode": currency}
    return {"shopMoney": value, "presentmentMoney": dict(value)}


def invalid_id(value: str) -> GraphQLError:
    return GraphQLError(
        f"Invalid global id '{value}'",
        extensions={"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"},
    )


# -- pagination ------------------------------------------------------------------------------


def _cursor(offset: int) -> str:
    raw = json.dumps({"last_id": offset, "last_value": offset}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def _offset(cursor: str) -> int:
    try:
        return int(json.loads(base64.b64decode(cursor.encode()))["last_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}") from exc


def paginate(items: list[Any], args: Mapping[str, Any]) -> Node:
    """A Relay connection over ``items`` with Shopify's first/last/after/before rules."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            raise GraphQLError(
                f"The {name} argument must be between 0 and {MAX_PAGE_SIZE}",
                extensions={"code": "BAD_REQUEST"},
            )
    ordered = list(reversed(items)) if args.get("reverse") else list(items)
    start, end = 0, len(ordered)
    if args.get("after"):
        start = _offset(args["after"]) + 1
    if args.get("before"):
        end = min(end, _offset(args["before"]))
    window = list(range(start, max(start, end)))
    if first is not None:
        window = window[:first]
    if last is not None:
        window = window[-last:] if last else []
    edges = [{"cursor": _cursor(i), "node": ordered[i]} for i in window]
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": (bool(window) and window[-1] < end - 1) or (not window and start < end),
            "hasPreviousPage": bool(window) and window[0] > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def field_resolver(source: Any, info: Info, **args: Any) -> Any:
    """Default resolution, plus pagination of lists returned for connection fields."""
    name = info.field_name
    value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
    if callable(value):
        value = value(info, **args)
    if isinstance(value, list) and get_named_type(info.return_type).name.endswith("Connection"):
        return paginate(value, args)
    return value


# -- views -----------------------------------------------------------------------------------


class ShopViews:
    """Builds the GraphQL values of one shop's objects."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    def shop_node(self) -> Node:
        return {
            "id": gid("Shop", abs(hash(self.shop.domain)) % 10**11),
            "name": self.shop.name,
            "myshopifyDomain": self.shop.domain,
            "currencyCode": self.shop.currency,
        }

    def address(self, address: MailingAddress | None, owner: int) -> Node | None:
        if address is None:
            return None
        return {
            "id": f"gid://shopify/MailingAddress/{owner}?model_name=Address",
            "firstName": address.first_name,
            "lastName": address.last_name,
            "name": f"{address.first_name} {address.last_name}".strip(),
            "company": address.company,
            "address1": address.address1,
            "address2": address.address2,
            "city": address.city,
            "province": address.province,
            "provinceCode": address.province_code,
            "zip": address.zip,
            "country": address.country,
            "countryCode": address.country_code or None,
            "countryCodeV2": address.country_code or None,
            "phone": address.phone,
        }

    def customer(self, customer: Customer | None) -> Node | None:
        if customer is None:
            return None
        return {
            "id": gid("Customer", customer.id),
            "legacyResourceId": str(customer.id),
            "email": customer.email,
            "firstName": customer.first_name,
            "lastName": customer.last_name,
            "displayName": f"{customer.first_name} {customer.last_name}".strip() or customer.email,
            "phone": customer.phone,
            "numberOfOrders": str(customer.orders_count),
            "createdAt": stamp(customer.created_at),
        }

    def location(self, location: Location | None) -> Node | None:
        if location is None:
            return None
        return {
            "id": gid("Location", location.id),
            "legacyResourceId": str(location.id),
            "name": location.name,
            "isActive": location.active,
            "fulfillsOnlineOrders": True,
            "address": {
                "address1": location.address1,
                "city": location.city,
                "zip": location.zip,
                "country": location.country_code,
                "countryCode": location.country_code,
            },
            "inventoryLevel": lambda info, inventoryItemId: self._level_by_gids(
                inventoryItemId, gid("Location", location.id)
            ),
        }

    def _level_by_gids(self, item_gid: str, location_gid: str) -> Node | None:
        item_id = parse_gid(item_gid, "InventoryItem")
        location_id = parse_gid(location_gid, "Location")
        if item_id is None:
            raise invalid_id(item_gid)
        if location_id is None:
            raise invalid_id(location_gid)
        level = self.shop.levels.get((item_id, location_id))
        return self.level(level) if level else None

    def product(self, product_id: int | None) -> Node | None:
        product = self.shop.products.get(product_id) if product_id else None
        if product is None:
            return None
        return {
            "id": gid("Product", product.id),
            "legacyResourceId": str(product.id),
            "title": product.title,
            "vendor": product.vendor,
        }

    def variant(self, variant_id: int | None) -> Node | None:
        product = self.shop.product_by_variant(variant_id) if variant_id else None
        if product is None:
            return None
        item = self.shop.inventory_items[product.inventory_item_id]
        return {
            "id": gid("ProductVariant", product.variant_id),
            "legacyResourceId": str(product.variant_id),
            "sku": product.sku,
            "title": "Default Title",
            "displayName": f"{product.title} - Default Title",
            "price": money(product.price),
            "product": lambda info: self.product(product.id),
            "inventoryItem": lambda info: self.inventory_item(item),
            "inventoryQuantity": sum(lv.get("available") for lv in self.shop.levels_of(item.id)),
        }

    def inventory_item(self, item: InventoryItem | None) -> Node | None:
        if item is None:
            return None
        return {
            "id": gid("InventoryItem", item.id),
            "legacyResourceId": str(item.id),
            "sku": item.sku,
            "tracked": item.tracked,
            "variant": lambda info: self.variant(item.variant_id),
            "inventoryLevel": lambda info, locationId: self._level_by_gids(
                gid("InventoryItem", item.id), locationId
            ),
            "inventoryLevels": lambda info, **page: [
                self.level(lv) for lv in self.shop.levels_of(item.id)
            ],
        }

    def level(self, level: InventoryLevel) -> Node:
        level_id = (
            f"gid://shopify/InventoryLevel/{level.location_id}"
            f"?inventory_item_id={level.inventory_item_id}"
        )

        def quantities(info: Info, names: list[str]) -> list[Node]:
            return [
                {
                    "id": f"gid://shopify/InventoryQuantity/{level.location_id}"
                    f"?inventory_item_id={level.inventory_item_id}&name={name}",
                    "name": name,
                    "quantity": level.get(name),
                    "updatedAt": stamp(level.updated_at),
                }
                for name in names
            ]

        return {
            "id": level_id,
            "item": lambda info: self.inventory_item(
                self.shop.inventory_items.get(level.inventory_item_id)
            ),
            "location": lambda info: self.location(self.shop.locations.get(level.location_id)),
            "quantities": quantities,
            "updatedAt": stamp(level.updated_at),
        }

    def metafield(self, field: Metafield | None) -> Node | None:
        if field is None:
            return None
        return {
            "id": gid("Metafield", field.id),
            "legacyResourceId": str(field.id),
            "namespace": field.namespace,
            "key": field.key,
            "type": field.type,
            "value": field.value,
            "ownerType": field.owner_gid.split("/")[3].upper(),
            "compareDigest": compare_digest(field.value),
            "createdAt": stamp(field.created_at),
            "updatedAt": stamp(field.updated_at),
        }

    def line_item(self, order: Order, line: LineItem) -> Node:
        return {
            "id": gid("LineItem", line.id),
            "name": line.title,
            "title": line.title,
            "sku": line.sku,
            "vendor": line.vendor,
            "quantity": line.quantity,
            "currentQuantity": line.quantity - line.refunded_quantity,
            "unfulfilledQuantity": line.fulfillable_quantity,
            "refundableQuantity": line.quantity - line.refunded_quantity,
            "requiresShipping": True,
            "originalUnitPriceSet": money_bag(line.price, order.currency),
            "discountedUnitPriceSet": money_bag(line.price, order.currency),
            "originalTotalSet": money_bag(line.price * line.quantity, order.currency),
            "variant": lambda info: self.variant(line.variant_id),
            "product": lambda info: self.product(line.product_id),
        }

    def fulfillment_order(self, order: Order, fo: FulfillmentOrder) -> Node:
        location = self.shop.locations.get(fo.location_id)

        def line(fol: FulfillmentOrderLine) -> Node:
            item = order.line_item(fol.line_item_id)
            inventory = self.shop.item_by_sku(item.sku) if item else None
            return {
                "id": gid("FulfillmentOrderLineItem", fol.id),
                "totalQuantity": fol.total_quantity,
                "remainingQuantity": fol.remaining_quantity,
                "sku": item.sku if item else None,
                "lineItem": lambda info: self.line_item(order, item) if item else None,
                "inventoryItemId": gid("InventoryItem", inventory.id) if inventory else None,
            }

        return {
            "id": gid("FulfillmentOrder", fo.id),
            "status": fo.status,
            "createdAt": stamp(fo.created_at),
            "orderId": gid("Order", order.id),
            "assignedLocation": {
                "name": location.name if location else "",
                "countryCode": location.country_code if location else None,
                "location": lambda info: self.location(location),
            },
            "lineItems": lambda info, **page: [line(fol) for fol in fo.lines],
        }

    def fulfillment(self, order: Order, fulfillment: Fulfillment) -> Node:
        def lines(info: Info, **page: Any) -> list[Node]:
            shown = []
            for index, fl in enumerate(fulfillment.lines):
                item = order.line_item(fl.line_item_id)
                if item is not None:
                    shown.append(
                        {
                            "id": gid("FulfillmentLineItem", fulfillment.id * 100 + index),
                            "quantity": fl.quantity,
                            "lineItem": self.line_item(order, item),
                        }
                    )
            return shown

        return {
            "id": gid("Fulfillment", fulfillment.id),
            "legacyResourceId": str(fulfillment.id),
            "name": fulfillment.name,
            "status": fulfillment.status,
            "createdAt": stamp(fulfillment.created_at),
            "updatedAt": stamp(fulfillment.created_at),
            "location": lambda info: self.location(
                self.shop.locations.get(fulfillment.location_id)
            ),
            "order": lambda info: self.order(order),
            "trackingInfo": lambda info, first=None: [
                {"number": t.number, "url": t.url, "company": t.company}
                for t in fulfillment.tracking
            ][: first if first is not None else None],
            "fulfillmentLineItems": lines,
            "totalQuantity": sum(fl.quantity for fl in fulfillment.lines),
            "displayStatus": _display_status(fulfillment),
            "deliveredAt": None,
            "inTransitAt": None,
            "estimatedDeliveryAt": None,
            "requiresShipping": True,
            "fulfillmentOrders": lambda info, **page: [
                self.fulfillment_order(order, fo)
                for fo in fulfillment_orders_of(order, fulfillment)
            ],
        }

    def transaction(self, order: Order, transaction: Transaction) -> Node:
        return {
            "id": gid("OrderTransaction", transaction.id),
            "kind": transaction.kind,
            "status": transaction.status,
            "gateway": transaction.gateway,
            "amountSet": money_bag(transaction.amount, order.currency),
            "createdAt": stamp(transaction.created_at),
        }

    def refund(self, order: Order, refund: Refund) -> Node:
        def lines(info: Info, **page: Any) -> list[Node]:
            shown = []
            for rl in refund.lines:
                item = order.line_item(rl.line_item_id)
                if item is not None:
                    shown.append(
                        {
                            "id": gid("RefundLineItem", rl.id),
                            "quantity": rl.quantity,
                            "restockType": rl.restock_type,
                            "restocked": rl.restock_type != "NO_RESTOCK",
                            "location": self.location(self.shop.locations.get(rl.location_id or 0)),
                            "lineItem": self.line_item(order, item),
                            "subtotalSet": money_bag(rl.subtotal, order.currency),
                        }
                    )
            return shown

        return {
            "id": gid("Refund", refund.id),
            "legacyResourceId": str(refund.id),
            "note": refund.note,
            "createdAt": stamp(refund.created_at),
            "order": lambda info: self.order(order),
            "totalRefundedSet": money_bag(refund.total, order.currency),
            "refundLineItems": lines,
            "transactions": lambda info, first=None: [
                self.transaction(order, t) for t in refund.transactions
            ][: first if first is not None else None],
        }

    def order(self, order: Order | None) -> Node | None:
        if order is None:
            return None
        currency = order.currency

        def first_n(items: list[Node], first: int | None) -> list[Node]:
            return items[:first] if first is not None else items

        def metafield(info: Info, key: str, namespace: str | None = None) -> Node | None:
            namespace, key = split_metafield_key(namespace, key)
            return self.metafield(order.metafields.get((namespace, key)))

        def metafields(
            info: Info,
            namespace: str | None = None,
            keys: list[str] | None = None,
            **page: Any,
        ) -> list[Node]:
            chosen = [
                f
                for f in order.metafields.values()
                if (namespace is None or f.namespace == namespace)
                and (keys is None or f"{f.namespace}.{f.key}" in keys)
            ]
            return [node for node in (self.metafield(f) for f in chosen) if node is not None]

        return {
            "id": gid("Order", order.id),
            "legacyResourceId": str(order.id),
            "name": order.name,
            "email": order.email,
            "phone": None,
            "note": order.note,
            "tags": list(order.tags),
            "createdAt": stamp(order.created_at),
            "updatedAt": stamp(order.updated_at),
            "processedAt": stamp(order.created_at),
            "cancelledAt": stamp(order.cancelled_at),
            "cancelReason": order.cancel_reason,
            "closed": order.closed_at is not None,
            "closedAt": stamp(order.closed_at),
            "confirmed": True,
            "test": False,
            "sourceName": order.source_name,
            "currencyCode": currency,
            "presentmentCurrencyCode": currency,
            "displayFinancialStatus": order.financial_status,
            "displayFulfillmentStatus": order.fulfillment_status,
            "fullyPaid": order.financial_status in ("PAID", "PARTIALLY_REFUNDED", "REFUNDED"),
            "taxesIncluded": order.taxes_included,
            "subtotalPriceSet": money_bag(order.subtotal_price, currency),
            "totalPriceSet": money_bag(order.total_price, currency),
            "totalTaxSet": money_bag(order.total_tax, currency),
            "totalShippingPriceSet": money_bag(order.shipping_price, currency),
            "totalRefundedSet": money_bag(order.total_refunded, currency),
            "currentTotalPriceSet": money_bag(order.current_total_price, currency),
            "customer": lambda info: self.customer(
                self.shop.customers.get(order.customer_id) if order.customer_id else None
            ),
            "shippingAddress": self.address(order.shipping_address, order.id),
            "billingAddress": self.address(order.billing_address, order.id + 1),
            "lineItems": lambda info, **page: [
                self.line_item(order, li) for li in order.line_items
            ],
            "fulfillmentOrders": lambda info, **page: [
                self.fulfillment_order(order, fo) for fo in order.fulfillment_orders
            ],
            "fulfillments": lambda info, first=None: first_n(
                [self.fulfillment(order, f) for f in order.fulfillments], first
            ),
            "refunds": lambda info, first=None: first_n(
                [self.refund(order, r) for r in order.refunds], first
            ),
            "transactions": lambda info, first=None: first_n(
                [self.transaction(order, t) for t in order.transactions], first
            ),
            "metafield": metafield,
            "metafields": metafields,
        }


def _display_status(fulfillment: Fulfillment) -> str:
    """Shopify's ``displayStatus`` before any carrier event: shipped with tracking or not."""
    if fulfillment.status == "CANCELLED":
        return "CANCELED"
    if any(t.number for t in fulfillment.tracking):
        return "FULFILLED"
    return "MARKED_AS_FULFILLED"


def fulfillment_orders_of(order: Order, fulfillment: Fulfillment) -> list[FulfillmentOrder]:
    """The fulfillment orders a fulfillment drew on: its location's, holding its line items."""
    items = {fl.line_item_id for fl in fulfillment.lines}
    return [
        fo
        for fo in order.fulfillment_orders
        if fo.location_id == fulfillment.location_id
        and any(fol.line_item_id in items for fol in fo.lines)
    ]


def split_metafield_key(namespace: str | None, key: str) -> tuple[str, str]:
    """``metafield(key: "ns.key")`` and ``metafield(namespace: "ns", key: "key")`` agree."""
    if namespace is None and "." in key:
        head, _, tail = key.partition(".")
        return head, tail
    return namespace or "$app", key


def compare_digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
