"""Webhook bodies in Shopify's REST resource shapes (snake_case, money as strings)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.shopify.state import (
    BulkOperation,
    Fulfillment,
    InventoryLevel,
    LineItem,
    MailingAddress,
    Order,
    Product,
    Refund,
    Shop,
    Variant,
    gid,
    money,
)

JSON = dict[str, Any]


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def price_set(amount: Decimal | str | int, currency: str) -> JSON:
    value = money(amount)
    return {
        "shop_money": {"amount": value, "currency_code": currency},
        "presentment_money": {"amount": value, "currency_code": currency},
    }


def address_payload(address: MailingAddress | None) -> JSON | None:
    if address is None:
        return None
    name = f"{address.first_name} {address.last_name}".strip()
    return {
        "first_name": address.first_name,
        "address1": address.address1,
        "phone": address.phone,
        "city": address.city,
        "zip": address.zip,
        "province": address.province,
        "country": address.country,
        "last_name": address.last_name,
        "address2": address.address2,
        "company": address.company,
        "latitude": None,
        "longitude": None,
        "name": name,
        "country_code": address.country_code,
        "province_code": address.province_code,
    }


def line_item_payload(order: Order, line: LineItem) -> JSON:
    fulfilled = line.fulfilled_quantity
    return {
        "id": line.id,
        "admin_graphql_api_id": gid("LineItem", line.id),
        "attributed_staffs": [],
        "current_quantity": line.quantity - line.refunded_quantity,
        "fulfillable_quantity": line.fulfillable_quantity,
        "fulfillment_service": "manual",
        "fulfillment_status": None
        if fulfilled == 0
        else ("fulfilled" if line.fulfillable_quantity == 0 else "partial"),
        "gift_card": False,
        "grams": line.grams,
        "name": line.title,
        "price": money(line.price),
        "price_set": price_set(line.price, order.currency),
        "product_exists": line.product_id is not None,
        "product_id": line.product_id,
        "properties": [],
        "quantity": line.quantity,
        "requires_shipping": True,
        "sku": line.sku,
        "taxable": True,
        "title": line.title,
        "total_discount": "0.00",
        "total_discount_set": price_set(0, order.currency),
        "variant_id": line.variant_id,
        "variant_inventory_management": "shopify",
        "variant_title": None,
        "vendor": line.vendor,
        "tax_lines": _line_tax(order, line),
        "duties": [],
        "discount_allocations": [],
    }


def _line_tax(order: Order, line: LineItem) -> list[JSON]:
    return _tax_lines(order, line.price * line.quantity)


def _tax_lines(order: Order, amount: Decimal) -> list[JSON]:
    if order.tax_rate == 0:
        return []
    tax = order.tax_on(amount)
    return [
        {
            "channel_liable": False,
            "price": money(tax),
            "price_set": price_set(tax, order.currency),
            "rate": float(order.tax_rate),
            "title": "VAT" if order.taxes_included else "Sales tax",
        }
    ]


def customer_payload(shop: Shop, order: Order) -> JSON | None:
    customer = shop.customers.get(order.customer_id) if order.customer_id else None
    if customer is None:
        return None
    return {
        "id": customer.id,
        "email": customer.email,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.created_at),
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "state": "disabled",
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "phone": customer.phone,
        "email_marketing_consent": {
            "state": "not_subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": None,
        },
        "currency": order.currency,
        "tax_exemptions": [],
        "admin_graphql_api_id": gid("Customer", customer.id),
        "default_address": address_payload(order.billing_address),
    }


def order_payload(shop: Shop, order: Order) -> JSON:
    """The ``orders/*`` webhook body (Shopify's REST Order resource)."""
    currency = order.currency
    financial = order.financial_status.lower()
    fulfillment = {"UNFULFILLED": None, "PARTIALLY_FULFILLED": "partial"}.get(
        order.fulfillment_status, "fulfilled"
    )
    shipping = order.shipping_price
    return {
        "id": order.id,
        "admin_graphql_api_id": gid("Order", order.id),
        "app_id": 580111,
        "browser_ip": "198.51.100.23",
        "buyer_accepts_marketing": False,
        "cancel_reason": order.cancel_reason.lower() if order.cancel_reason else None,
        "cancelled_at": iso(order.cancelled_at),
        "cart_token": None,
        "checkout_id": order.id + 17,
        "checkout_token": order.token[:32],
        "client_details": {
            "accept_language": "en",
            "browser_height": None,
            "browser_ip": "198.51.100.23",
            "browser_width": None,
            "session_hash": None,
            "user_agent": "Mozilla/5.0",
        },
        "closed_at": iso(order.closed_at),
        "confirmation_number": order.token[:9].upper(),
        "confirmed": True,
        "contact_email": order.email,
        "created_at": iso(order.created_at),
        "currency": currency,
        "current_subtotal_price": money(order.subtotal_price),
        "current_subtotal_price_set": price_set(order.subtotal_price, currency),
        "current_total_discounts": "0.00",
        "current_total_price": money(order.current_total_price),
        "current_total_price_set": price_set(order.current_total_price, currency),
        "current_total_tax": money(order.total_tax),
        "current_total_tax_set": price_set(order.total_tax, currency),
        "customer_locale": "en",
        "discount_codes": [],
        "email": order.email,
        "estimated_taxes": False,
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "landing_site": "/",
        "name": order.name,
        "note": order.note,
        "note_attributes": [],
        "number": order.number,
        "order_number": order.order_number,
        "order_status_url": f"https://{shop.domain}/{order.id}/orders/{order.token}/authenticate",
        "payment_gateway_names": [order.gateway],
        "phone": None,
        "presentment_currency": currency,
        "processed_at": iso(order.created_at),
        "reference": None,
        "source_identifier": None,
        "source_name": order.source_name,
        "subtotal_price": money(order.subtotal_price),
        "subtotal_price_set": price_set(order.subtotal_price, currency),
        "tags": ", ".join(order.tags),
        "tax_lines": [
            {"price": money(order.total_tax), "rate": float(order.tax_rate), "title": "VAT"}
        ]
        if order.tax_rate
        else [],
        "taxes_included": order.taxes_included,
        "test": False,
        "token": order.token,
        "total_discounts": "0.00",
        "total_discounts_set": price_set(0, currency),
        "total_line_items_price": money(order.line_items_total),
        "total_line_items_price_set": price_set(order.line_items_total, currency),
        "total_outstanding": "0.00" if financial == "paid" else money(order.total_price),
        "total_price": money(order.total_price),
        "total_price_set": price_set(order.total_price, currency),
        "total_shipping_price_set": price_set(shipping, currency),
        "total_tax": money(order.total_tax),
        "total_tax_set": price_set(order.total_tax, currency),
        "total_tip_received": "0.00",
        "total_weight": sum(li.grams * li.quantity for li in order.line_items),
        "updated_at": iso(order.updated_at),
        "user_id": None,
        "billing_address": address_payload(order.billing_address),
        "customer": customer_payload(shop, order),
        "discount_applications": [],
        "fulfillments": [fulfillment_payload(order, f) for f in order.fulfillments],
        "line_items": [line_item_payload(order, li) for li in order.line_items],
        "payment_terms": None,
        "refunds": [refund_payload(order, r) for r in order.refunds],
        "shipping_address": address_payload(order.shipping_address),
        "shipping_lines": [
            {
                "id": order.id + 3,
                "code": "Standard",
                "discounted_price": money(shipping),
                "discounted_price_set": price_set(shipping, currency),
                "price": money(shipping),
                "price_set": price_set(shipping, currency),
                "source": "shopify",
                "title": "Standard",
                "tax_lines": _tax_lines(order, shipping),
            }
        ],
    }


def order_edit_payload(
    order: Order,
    edit_id: int,
    committed_at: datetime,
    *,
    additions: list[JSON],
    removals: list[JSON],
    notify_customer: bool = False,
    staff_note: str | None = None,
) -> JSON:
    """The ``orders/edited`` body: the committed edit's deltas by line item, not the order."""
    return {
        "order_edit": {
            "id": edit_id,
            "app_id": None,
            "created_at": iso(committed_at),
            "committed_at": iso(committed_at),
            "notify_customer": notify_customer,
            "order_id": order.id,
            "staff_note": staff_note or "",
            "user_id": None,
            "line_items": {"additions": additions, "removals": removals},
            "discounts": {"line_item": {"additions": [], "removals": []}},
            "shipping_lines": {"additions": [], "removals": []},
        }
    }


def fulfillment_payload(order: Order, fulfillment: Fulfillment) -> JSON:
    """The ``fulfillments/create`` body (REST Fulfillment resource)."""
    first = fulfillment.tracking[0] if fulfillment.tracking else None
    lines = []
    for fl in fulfillment.lines:
        line = order.line_item(fl.line_item_id)
        if line is not None:
            lines.append(line_item_payload(order, line) | {"quantity": fl.quantity})
    return {
        "id": fulfillment.id,
        "admin_graphql_api_id": gid("Fulfillment", fulfillment.id),
        "created_at": iso(fulfillment.created_at),
        "location_id": fulfillment.location_id,
        "name": fulfillment.name,
        "order_id": order.id,
        "origin_address": {},
        "receipt": {},
        "service": "manual",
        "shipment_status": None,
        "status": fulfillment.status.lower(),
        "tracking_company": first.company if first else None,
        "tracking_number": first.number if first else None,
        "tracking_numbers": [t.number for t in fulfillment.tracking if t.number],
        "tracking_url": first.url if first else None,
        "tracking_urls": [t.url for t in fulfillment.tracking if t.url],
        "updated_at": iso(fulfillment.created_at),
        "line_items": lines,
    }


def refund_payload(order: Order, refund: Refund) -> JSON:
    """The ``refunds/create`` body (REST Refund resource)."""
    lines = []
    for rl in refund.lines:
        line = order.line_item(rl.line_item_id)
        lines.append(
            {
                "id": rl.id,
                "line_item_id": rl.line_item_id,
                "location_id": rl.location_id,
                "quantity": rl.quantity,
                "restock_type": rl.restock_type.lower(),
                "subtotal": money(rl.subtotal),
                "subtotal_set": price_set(rl.subtotal, order.currency),
                "total_tax": "0.00",
                "total_tax_set": price_set(0, order.currency),
                "line_item": line_item_payload(order, line) if line else None,
            }
        )
    return {
        "id": refund.id,
        "admin_graphql_api_id": gid("Refund", refund.id),
        "created_at": iso(refund.created_at),
        "note": refund.note,
        "order_id": order.id,
        "processed_at": iso(refund.created_at),
        "restock": any(rl.restock_type != "NO_RESTOCK" for rl in refund.lines),
        "total_duties_set": price_set(0, order.currency),
        "user_id": None,
        "order_adjustments": [],
        "transactions": [
            {
                "id": t.id,
                "admin_graphql_api_id": gid("OrderTransaction", t.id),
                "amount": money(t.amount),
                "currency": order.currency,
                "gateway": t.gateway,
                "kind": t.kind.lower(),
                "order_id": order.id,
                "status": t.status.lower(),
                "created_at": iso(t.created_at),
            }
            for t in refund.transactions
        ],
        "refund_line_items": lines,
        "duties": [],
    }


def inventory_level_payload(level: InventoryLevel) -> JSON:
    """The ``inventory_levels/update`` body."""
    return {
        "inventory_item_id": level.inventory_item_id,
        "location_id": level.location_id,
        "available": level.get("available"),
        "updated_at": iso(level.updated_at),
        "admin_graphql_api_id": (
            f"gid://shopify/InventoryLevel/{level.location_id}"
            f"?inventory_item_id={level.inventory_item_id}"
        ),
    }


def _variant_payload(shop: Shop, product: Product, variant: Variant, position: int) -> JSON:
    options = ([*list(variant.option_values), None, None, None])[:3]
    available = sum(lv.get("available") for lv in shop.levels_of(variant.inventory_item_id))
    return {
        "id": variant.id,
        "product_id": product.id,
        "title": variant.title,
        "price": money(variant.price),
        "sku": variant.sku,
        "position": position,
        "inventory_policy": "deny",
        "compare_at_price": money(variant.compare_at_price)
        if variant.compare_at_price is not None
        else None,
        "option1": options[0],
        "option2": options[1],
        "option3": options[2],
        "created_at": iso(variant.created_at),
        "updated_at": iso(variant.updated_at),
        "taxable": variant.taxable,
        "barcode": variant.barcode,
        "grams": variant.grams,
        "inventory_item_id": variant.inventory_item_id,
        "inventory_quantity": available,
        "old_inventory_quantity": available,
        "image_id": None,
        "admin_graphql_api_id": gid("ProductVariant", variant.id),
    }


def product_payload(shop: Shop, product: Product) -> JSON:
    """The ``products/create`` and ``products/update`` body: Shopify's REST Product."""
    return {
        "admin_graphql_api_id": gid("Product", product.id),
        "body_html": product.description_html,
        "created_at": iso(product.created_at),
        "handle": product.handle,
        "id": product.id,
        "product_type": product.product_type,
        "published_at": iso(product.created_at) if product.status == "ACTIVE" else None,
        "template_suffix": None,
        "title": product.title,
        "updated_at": iso(product.updated_at),
        "vendor": product.vendor,
        "status": product.status.lower(),
        "published_scope": "global",
        "tags": ", ".join(product.tags),
        "variants": [
            _variant_payload(shop, product, v, i + 1) for i, v in enumerate(product.variants)
        ],
        "options": [
            {
                "name": option.name,
                "id": option.id,
                "product_id": product.id,
                "position": i + 1,
                "values": [
                    value
                    for value in option.values
                    if any(v.option_values[i : i + 1] == [value] for v in product.variants)
                ],
            }
            for i, option in enumerate(product.options)
        ],
        "images": [],
        "image": None,
        "media": [],
        "variant_gids": [
            {"admin_graphql_api_id": gid("ProductVariant", v.id), "updated_at": iso(v.updated_at)}
            for v in product.variants
        ],
        "has_variants_that_requires_components": False,
        "category": None,
    }


def product_delete_payload(product_id: int) -> JSON:
    """The ``products/delete`` body: the id alone, as Shopify sends it."""
    return {"id": product_id}


def bulk_operation_finish_payload(op: BulkOperation) -> JSON:
    """The ``bulk_operations/finish`` body (status and error code in lower case)."""
    return {
        "admin_graphql_api_id": gid("BulkOperation", op.id),
        "completed_at": iso(op.completed_at),
        "created_at": iso(op.created_at),
        "error_code": op.error_code.lower() if op.error_code else None,
        "status": op.status.lower(),
        "type": "mutation",
    }
