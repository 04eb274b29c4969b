"""Shopify's ``orders/*`` webhook body (REST Order) to Strata's canonical sales order."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from shared.models import (
    Address,
    ChargeKind,
    Customer,
    DiscountAllocation,
    DiscountScope,
    LineKind,
    OrderCharge,
    OrderLine,
    OrderSource,
    SalesOrderDraft,
    TaxLine,
    round_money,
)

_SKU = re.compile(r"[A-Za-z0-9._\-]{1,64}")
# Shopify's ``source_name``: where the order was placed (an app's id for other channels).
_SOURCES = {
    "web": OrderSource.WEB,
    "iphone": OrderSource.WEB,
    "android": OrderSource.WEB,
    "pos": OrderSource.POS,
    "shopify_draft_order": OrderSource.DRAFT_ORDER,
}


class MappingError(ValueError):
    """The payload can't become a canonical order; ``errors`` name each bad field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def external_reference(shop: str, order_id: int | str) -> str:
    """The ERP's external reference of a Shopify order: unique across shops."""
    return f"shopify:{shop}:{order_id}"


def to_sales_order(
    shop: str, payload: dict[str, Any], *, custom_item_sku: str | None = None
) -> SalesOrderDraft:
    """Map a Shopify order to a draft sales order, or raise MappingError naming the fields.

    Every amount posted is the shop's money (``*_set.shop_money``, the shop currency), so the
    ERP's total can equal ``current_total_price``: lines at ``current_quantity`` with their
    discount allocations and tax lines, shipping lines with theirs, duties, tips, additional
    fees. A purchased gift card is a line of its own kind; a gift card used to pay is a
    payment, recorded and never subtracted. A custom item (no SKU) is sold as the shop's
    ``custom_item_sku`` product, or refused when the shop has none.
    """
    errors: list[dict[str, str]] = []
    order_id = payload.get("id")
    if not isinstance(order_id, int):
        errors.append({"field": "id", "message": "missing or not an integer"})
    currency = payload.get("currency")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isupper()):
        errors.append({"field": "currency", "message": "missing or not an ISO 4217 code"})
        currency = "XXX"
    customer = payload.get("customer") or {}
    email = payload.get("email") or payload.get("contact_email") or customer.get("email")
    if not email:
        errors.append({"field": "email", "message": "the order has no customer email"})
    reader = _Amounts(currency, payload.get("discount_applications"), errors)
    tip_total = reader.shop(payload, "total_tip_received", None) or Decimal(0)
    lines, charges = _lines(
        payload.get("line_items"),
        reader,
        custom_item_sku,
        tip_total,
        taxes_included=payload.get("taxes_included") is True,
    )
    charges += _shipping(payload.get("shipping_lines"), reader)
    fees = reader.shop(payload, "current_total_additional_fees", "current_total_additional_fees")
    if fees:
        charges.append(OrderCharge(kind=ChargeKind.FEE, amount=fees, title="Additional fees"))
    expected = reader.shop(payload, "current_total_price_set", "current_total_price")
    if expected is None:
        expected = reader.shop(payload, "total_price_set", "total_price")
    if errors:
        raise MappingError(errors)
    billing = _address(payload.get("billing_address"))
    shipping = _address(payload.get("shipping_address")) or billing
    name = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p) or (
        shipping.name if shipping else ""
    )
    presentment = _presentment_total(payload, currency)
    company = _company_name(payload)
    payment_terms = payload.get("payment_terms") or {}
    draft = {
        "external_reference": external_reference(shop, order_id),  # type: ignore[arg-type]
        "currency": currency,
        "customer": Customer(
            email=str(email),
            name=name,
            phone=customer.get("phone"),
            addresses=[address] if (address := billing or shipping) else [],
            id=str(customer["id"]) if customer.get("id") else None,
        ),
        "lines": lines,
        "shipping_address": _address(payload.get("shipping_address")),
        "ordered_at": _datetime(payload.get("created_at")),
        "channel": "shopify",
        "note": f"Shopify {payload.get('name') or order_id} ({shop})",
        "source": _source(payload.get("source_name")),
        "taxes_included": bool(payload.get("taxes_included")),
        "charges": charges,
        "expected_total": expected,
        "presentment_currency": presentment[0] if presentment else None,
        "presentment_total": presentment[1] if presentment else None,
        "discount_codes": [
            str(d["code"]) for d in payload.get("discount_codes") or [] if d.get("code")
        ],
        "payment_gateways": [str(g) for g in payload.get("payment_gateway_names") or []],
        "company_name": company,
        "purchase_order_number": payload.get("po_number") or None,
        "payment_terms": payment_terms.get("payment_terms_name") or None,
    }
    try:
        converted = msgspec.convert(draft, SalesOrderDraft, from_attributes=True)
    except msgspec.ValidationError as exc:
        raise MappingError([{"field": _path(str(exc)), "message": str(exc)}]) from None
    inexact = converted.inexact_amounts()
    if inexact:
        raise MappingError(inexact)
    return converted


class _Amounts:
    """Reads Shopify money in shop currency and the discounts and taxes attached to it."""

    def __init__(self, currency: str, applications: Any, errors: list[dict[str, str]]) -> None:
        self.currency = currency
        self.applications = applications if isinstance(applications, list) else []
        self.errors = errors

    def shop(self, raw: dict[str, Any], set_key: str, plain_key: str | None) -> Decimal | None:
        """The shop-money amount of ``raw[set_key]`` (a MoneyBag), else ``raw[plain_key]``;
        None when neither is there, and an error named after the field when not a decimal."""
        bag = raw.get(set_key)
        value: Any = None
        if isinstance(bag, dict):
            value = (bag.get("shop_money") or {}).get("amount")
        elif bag is not None and plain_key is None:
            value = bag
        if value is None and plain_key is not None:
            value = raw.get(plain_key)
        if value is None:
            return None
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite():
            self.errors.append({"field": plain_key or set_key, "message": "not a decimal"})
            return None
        return amount

    def presentment(self, raw: dict[str, Any], set_key: str) -> Decimal | None:
        bag = raw.get(set_key)
        if not isinstance(bag, dict):
            return None
        value = (bag.get("presentment_money") or {}).get("amount")
        try:
            return Decimal(str(value)) if value is not None else None
        except InvalidOperation:
            return None

    def discounts(
        self, raw: dict[str, Any], ratio: Decimal, field: str
    ) -> list[DiscountAllocation]:
        allocations = []
        for i, allocation in enumerate(raw.get("discount_allocations") or []):
            amount = self.shop(allocation, "amount_set", "amount")
            if amount is None:
                self.errors.append(
                    {"field": f"{field}.discount_allocations[{i}]", "message": "no amount"}
                )
                continue
            if not amount:
                continue
            index = allocation.get("discount_application_index")
            application: dict[str, Any] = (
                self.applications[index]
                if isinstance(index, int) and 0 <= index < len(self.applications)
                else {}
            )
            allocations.append(
                DiscountAllocation(
                    amount=self._prorated(amount, ratio),
                    title=str(application.get("code") or application.get("title") or ""),
                    scope=_scope(application),
                )
            )
        return allocations

    def taxes(self, raw: dict[str, Any], ratio: Decimal, field: str) -> list[TaxLine]:
        taxes = []
        for i, tax in enumerate(raw.get("tax_lines") or []):
            amount = self.shop(tax, "price_set", "price")
            try:
                rate = Decimal(str(tax.get("rate")))
            except InvalidOperation:
                rate = Decimal("NaN")
            if amount is None or not rate.is_finite():
                self.errors.append(
                    {"field": f"{field}.tax_lines[{i}]", "message": "no amount or rate"}
                )
                continue
            taxes.append(
                TaxLine(
                    title=str(tax.get("title") or ""),
                    rate=rate,
                    amount=self._prorated(amount, ratio),
                )
            )
        return taxes

    def _prorated(self, amount: Decimal, ratio: Decimal) -> Decimal:
        # A line edited down (current_quantity < quantity) keeps its share of each amount.
        return amount if ratio == 1 else round_money(amount * ratio, self.currency)


def _tax_on(base: Decimal, rate: Decimal, taxes_included: bool, currency: str) -> Decimal:
    """The tax at ``rate`` on ``base`` (which includes it, or not), in the currency's units."""
    return round_money(base * rate / (1 + rate) if taxes_included else base * rate, currency)


def _lines(
    raw: Any,
    reader: _Amounts,
    custom_item_sku: str | None,
    tip_total: Decimal,
    taxes_included: bool = False,
) -> tuple[list[OrderLine], list[OrderCharge]]:
    errors = reader.errors
    currency = reader.currency
    if not isinstance(raw, list) or not raw:
        errors.append({"field": "line_items", "message": "the order has no line items"})
        return [], []
    lines: list[OrderLine] = []
    charges: list[OrderCharge] = []
    for i, item in enumerate(raw):
        item = item or {}
        field = f"line_items[{i}]"
        ordered = item.get("quantity")
        quantity = item.get("current_quantity", ordered)
        if quantity == 0:
            continue  # removed by an edit: nothing to ship
        if not isinstance(quantity, int) or quantity < 0:
            errors.append({"field": f"{field}.quantity", "message": "not a whole number"})
            continue
        price = reader.shop(item, "price_set", "price")
        if price is None:
            if not any(e["field"].startswith(f"{field}.price") for e in errors):
                errors.append({"field": f"{field}.price", "message": "not a decimal"})
            continue
        ratio = (
            Decimal(quantity) / Decimal(ordered)
            if isinstance(ordered, int) and ordered > quantity
            else Decimal(1)
        )
        discounts = reader.discounts(item, ratio, field)
        taxes = reader.taxes(item, ratio, field)
        if ratio != 1:
            # Edited down: Shopify taxes what is left of the line, rounded per tax, rather
            # than keeping a share of the first tax (which can differ by a cent).
            base = price * quantity - sum((d.amount for d in discounts), Decimal(0))
            taxes = [
                msgspec.structs.replace(t, amount=_tax_on(base, t.rate, taxes_included, currency))
                for t in taxes
            ]
        for d, duty in enumerate(item.get("duties") or []):
            amount = reader.shop(duty, "price_set", "price")
            if amount:
                code = duty.get("harmonized_system_code")
                charges.append(
                    OrderCharge(
                        kind=ChargeKind.DUTY,
                        amount=amount,
                        title=f"Duty {code}" if code else "Duty",
                        code=code,
                        taxes=reader.taxes(duty, Decimal(1), f"{field}.duties[{d}]"),
                    )
                )
        sku = item.get("sku")
        title = item.get("title") or item.get("name")
        if tip_total and _is_tip(item):
            charges.append(
                OrderCharge(kind=ChargeKind.TIP, amount=price * quantity, title=title or "Tip")
            )
            continue
        kind = LineKind.PRODUCT
        if item.get("gift_card"):
            kind = LineKind.GIFT_CARD
            sku = sku if isinstance(sku, str) and _SKU.fullmatch(sku) else "GIFT-CARD"
        elif not sku:
            if item.get("product_id") or item.get("variant_id") or not custom_item_sku:
                reason = (
                    "the line has no SKU"
                    if item.get("product_id") or item.get("variant_id")
                    else "a custom item without SKU, and the shop names no product for custom "
                    "items (STRATA_ORDERS_CUSTOM_ITEM_SKUS)"
                )
                errors.append({"field": f"{field}.sku", "message": reason})
                continue
            kind, sku = LineKind.CUSTOM, custom_item_sku
        try:
            lines.append(
                OrderLine(
                    sku=sku,
                    quantity=quantity,
                    unit_price=price,
                    description=title,
                    kind=kind,
                    discounts=discounts,
                    taxes=taxes,
                    presentment_unit_price=reader.presentment(item, "price_set"),
                )
            )
        except (TypeError, ValueError, msgspec.ValidationError) as exc:
            errors.append({"field": field, "message": str(exc)})
    return lines, charges


def _shipping(raw: Any, reader: _Amounts) -> list[OrderCharge]:
    charges = []
    for i, line in enumerate(raw if isinstance(raw, list) else []):
        field = f"shipping_lines[{i}]"
        amount = reader.shop(line, "price_set", "price")
        if amount is None:
            reader.errors.append({"field": f"{field}.price", "message": "not a decimal"})
            continue
        try:
            charges.append(
                OrderCharge(
                    kind=ChargeKind.SHIPPING,
                    amount=amount,
                    title=str(line.get("title") or "Shipping"),
                    code=line.get("code"),
                    discounts=reader.discounts(line, Decimal(1), field),
                    taxes=reader.taxes(line, Decimal(1), field),
                )
            )
        except ValueError as exc:
            reader.errors.append({"field": field, "message": str(exc)})
    return charges


def _is_tip(item: dict[str, Any]) -> bool:
    # Shopify sells a tip as a line item of its own: no product, no SKU, nothing to ship.
    return (
        not item.get("product_id")
        and not item.get("variant_id")
        and not item.get("sku")
        and not item.get("requires_shipping", False)
        and str(item.get("title") or item.get("name") or "").strip().casefold() == "tip"
    )


def _scope(application: dict[str, Any]) -> DiscountScope:
    if application.get("target_type") == "shipping_line":
        return DiscountScope.SHIPPING
    if (
        application.get("target_selection") == "all"
        and application.get("allocation_method") == "across"
    ):
        return DiscountScope.ORDER
    return DiscountScope.LINE


def _source(name: Any) -> OrderSource:
    return _SOURCES.get(str(name or "web"), OrderSource.OTHER)


def _presentment_total(payload: dict[str, Any], shop_currency: str) -> tuple[str, Decimal] | None:
    currency = payload.get("presentment_currency")
    if not isinstance(currency, str) or currency == shop_currency:
        return None
    bag = payload.get("current_total_price_set") or payload.get("total_price_set") or {}
    value = (bag.get("presentment_money") or {}).get("amount")
    try:
        return (currency, Decimal(str(value))) if value is not None else None
    except InvalidOperation:
        return None


def _company_name(payload: dict[str, Any]) -> str | None:
    # The REST order names the company by id only; its name travels on the addresses.
    if not payload.get("company") and not payload.get("po_number"):
        return None
    for key in ("billing_address", "shipping_address"):
        address = payload.get(key) or {}
        if address.get("company"):
            return str(address["company"])
    return None


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
