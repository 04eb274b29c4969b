"""Shopify's ``orders/*`` webhook body (REST Order) to Strata's canonical sales order."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from shared.models import Address, Customer, OrderLine, SalesOrderDraft


class MappingError(ValueError):
    """The payload can't become a canonical order; ``errors`` name each bad field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def external_reference(shop: str, order_id: int | str) -> str:
    """The ERP's external reference of a Shopify order: unique across shops."""
    return f"shopify:{shop}:{order_id}"


def to_sales_order(shop: str, payload: dict[str, Any]) -> SalesOrderDraft:
    """Map a Shopify order to a draft sales order, or raise MappingError naming the fields."""
    errors: list[dict[str, str]] = []
    order_id = payload.get("id")
    if not isinstance(order_id, int):
        errors.append({"field": "id", "message": "missing or not an integer"})
    currency = payload.get("currency")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isupper()):
        errors.append({"field": "currency", "message": "missing or not an ISO 4217 code"})
    customer = payload.get("customer") or {}
    email = payload.get("email") or payload.get("contact_email") or customer.get("email")
    if not email:
        errors.append({"field": "email", "message": "the order has no customer email"})
    lines = _lines(payload.get("line_items"), errors)
    if errors:
        raise MappingError(errors)
    shipping = _address(payload.get("shipping_address")) or _address(payload.get("billing_address"))
    name = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p) or (
        shipping.name if shipping else ""
    )
    draft = {
        "external_reference": external_reference(shop, order_id),  # type: ignore[arg-type]
        "currency": currency,
        "customer": Customer(
            email=str(email),
            name=name,
            phone=customer.get("phone"),
            addresses=[shipping] if shipping else [],
            id=str(customer["id"]) if customer.get("id") else None,
        ),
        "lines": lines,
        "shipping_address": shipping,
        "ordered_at": _datetime(payload.get("created_at")),
        "channel": "shopify",
        "note": f"Shopify {payload.get('name') or order_id} ({shop})",
    }
    try:
        return msgspec.convert(draft, SalesOrderDraft, from_attributes=True)
    except msgspec.ValidationError as exc:
        raise MappingError([{"field": _path(str(exc)), "message": str(exc)}]) from None


def _lines(raw: Any, errors: list[dict[str, str]]) -> list[OrderLine]:
    if not isinstance(raw, list) or not raw:
        errors.append({"field": "line_items", "message": "the order has no line items"})
        return []
    lines = []
    for i, item in enumerate(raw):
        sku = (item or {}).get("sku")
        quantity = (item or {}).get("current_quantity", item.get("quantity"))
        if quantity == 0:
            continue  # removed by an edit: nothing to ship
        if not sku:
            errors.append({"field": f"line_items[{i}].sku", "message": "the line has no SKU"})
            continue
        try:
            price = Decimal(str(item.get("price")))
        except InvalidOperation:
            errors.append({"field": f"line_items[{i}].price", "message": "not a decimal"})
            continue
        try:
            lines.append(
                OrderLine(
                    sku=sku, quantity=int(quantity), unit_price=price, description=item.get("title")
                )
            )
        except (TypeError, ValueError, msgspec.ValidationError) as exc:
            errors.append({"field": f"line_items[{i}]", "message": str(exc)})
    return lines


def _address(raw: Any) -> Address | None:
    if not isinstance(raw, dict):
        return None
    street = ", ".join(p for p in (raw.get("address1"), raw.get("address2")) if p)
    name = raw.get("name") or " ".join(
        p for p in (raw.get("first_name"), raw.get("last_name")) if p
    )
    country = raw.get("country_code")
    return Address(
        name=name or "",
        street=street,
        city=raw.get("city") or "",
        postal_code=raw.get("zip") or "",
        country=country.upper() if isinstance(country, str) and len(country) == 2 else None,
    )


def _datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _path(message: str) -> str:
    return message.partition("`$.")[2].rstrip("`") or "order"
