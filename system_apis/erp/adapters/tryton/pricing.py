"""Pricing a channel's order as Tryton sale lines whose total is the channel's, without I/O.

A channel's order is posted so that the sale's total equals the channel's (Shopify's
``current_total_price``) to the minor unit: lines at their discounted net unit price with
their taxes, charges (shipping, duties, tips, fees, unallocated discounts) on non-stock
products, and, where Tryton's arithmetic can't reproduce the channel's, one adjustment line
named as such. :func:`sale_products` and :func:`tax_rates` say what a sale needs from the
ERP, :func:`check_products` that the ERP sells it; :func:`price_sale` builds the lines and
replays Tryton's rounding on them; :func:`settled_adjustment` says what the adjustment line
must become when the ERP's total still differs; :func:`sale_line` turns a priced line into
the values Tryton creates it from.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from shared.models import ChargeKind, LineKind, OrderLine, SalesOrderDraft, TaxLine, minor_unit
from system_apis.erp.adapters.tryton.catalogue import CachedProduct
from system_apis.erp.adapters.tryton.rows import Row
from system_apis.erp.adapters.tryton_settings import TrytonSettings
from system_apis.erp.port import ErpRejected, UnknownSku

# Tryton keeps unit prices to this many places (``[product] price_decimal``, default 4).
PRICE_PLACES = 4
_PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
# Prices tried either side of a line's exact unit price (a yen spans 10,000 of them).
_MAX_FIT_STEPS = 5_000


class SaleTax(msgspec.Struct, frozen=True):
    """A Tryton sales tax (``account.tax``, percentage) as a sale line needs it."""

    id: int
    rate: Decimal
    name: str


class PricedLine(msgspec.Struct, frozen=True, kw_only=True):
    """One sale line to post: ``product`` is a SKU (catalogue or charge product)."""

    product: str
    quantity: int
    unit_price: Decimal
    taxes: tuple[SaleTax, ...]
    description: str
    # The canonical line this comes from, or the charge's kind ("adjustment" for the one
    # line that makes the total equal the channel's).
    line: int | None = None
    charge: str | None = None


class PricedSale(msgspec.Struct, frozen=True, kw_only=True):
    """The lines to post and the totals Tryton will compute from them."""

    lines: list[PricedLine]
    untaxed: Decimal
    tax: Decimal
    adjustment: Decimal

    @property
    def total(self) -> Decimal:
        """What Tryton's ``total_amount`` will be."""
        return self.untaxed + self.tax


class ChargeProducts(msgspec.Struct, frozen=True, kw_only=True):
    """The codes of the non-stock products charges and special lines post on."""

    shipping: str = "SHIPPING"
    discount: str = "DISCOUNT"
    duty: str = "DUTY"
    tip: str = "TIP"
    fee: str = "FEE"
    gift_card: str = "GIFT-CARD"
    adjustment: str = "ADJUSTMENT"

    def for_charge(self, kind: ChargeKind) -> str:
        """The product code of charges of ``kind``."""
        code: str = getattr(self, kind.value)
        return code

    def kind_of(self, code: str) -> str | None:
        """The charge kind (or ``adjustment``) posted on product ``code``, if any."""
        for kind in (*ChargeKind, "adjustment"):
            name = kind.value if isinstance(kind, ChargeKind) else kind
            if getattr(self, name) == code:
                return name
        return None


def charge_products(settings: TrytonSettings) -> ChargeProducts:
    """The charge products the adapter's settings name."""
    return ChargeProducts(
        shipping=settings.shipping_product,
        discount=settings.discount_product,
        duty=settings.duty_product,
        tip=settings.tip_product,
        fee=settings.fee_product,
        gift_card=settings.gift_card_product,
        adjustment=settings.adjustment_product,
    )


def sale_products(draft: SalesOrderDraft, charges: ChargeProducts) -> list[str]:
    """The codes of the products the sale for ``draft`` posts on: its SKUs (gift cards
    aside), then the charge products its charges, gift cards and adjustment need."""
    skus = [line.sku for line in draft.lines if line.kind is not LineKind.GIFT_CARD]
    return [*skus, *sorted(_charge_codes(draft, charges))]


def _charge_codes(draft: SalesOrderDraft, charges: ChargeProducts) -> set[str]:
    codes = {charges.for_charge(charge.kind) for charge in draft.charges}
    if any(line.kind is LineKind.GIFT_CARD for line in draft.lines):
        codes.add(charges.gift_card)
    if draft.expected_total is not None:
        codes.add(charges.adjustment)
    return codes


def tax_rates(draft: SalesOrderDraft) -> set[Decimal]:
    """The tax rates the order's lines and charges carry, normalised."""
    return {t.rate.normalize() for line in draft.lines for t in line.taxes} | {
        t.rate.normalize() for charge in draft.charges for t in charge.taxes
    }


def check_products(
    draft: SalesOrderDraft, products: Mapping[str, CachedProduct], charges: ChargeProducts
) -> None:
    """UnknownSku naming each line whose SKU the ERP does not have or does not sell;
    ErpRejected naming each charge product of :func:`sale_products` it does not sell."""
    errors = [
        {"field": f"lines[{i}].sku", "message": f"unknown SKU {line.sku!r}"}
        if line.sku not in products
        else {"field": f"lines[{i}].sku", "message": f"SKU {line.sku!r} is not for sale"}
        for i, line in enumerate(draft.lines)
        if line.kind is not LineKind.GIFT_CARD
        and (line.sku not in products or not products[line.sku].salable)
    ]
    if errors:
        raise UnknownSku("; ".join(e["message"] for e in errors), errors=errors)
    codes = _charge_codes(draft, charges)
    missing = sorted(c for c in codes if c not in products or not products[c].salable)
    if missing:
        raise ErpRejected(
            f"the ERP has no salable product {', '.join(missing)} for the order's charges",
            errors=[
                {"field": "charges", "message": f"no salable charge product {code!r}"}
                for code in missing
            ],
        )


def price_sale(
    draft: SalesOrderDraft,
    taxes: Mapping[Decimal, Sequence[SaleTax]],
    products: ChargeProducts,
    *,
    max_adjustment: Decimal | None = None,
) -> PricedSale:
    """The sale lines for ``draft`` and the totals Tryton will compute for them.

    Each line is posted at its discounted net unit price (discounts folded in, as Tryton's
    own Shopify connector does, so each line's tax base is the channel's and per-line tax
    rounding lands on the channel's tax), to Tryton's four places; taxes included in a
    price are taken out using the channel's own tax amounts. Charges post on their non-stock
    products, an unallocated order discount at a negative price. Where Tryton's arithmetic
    (replayed here: amounts and each line's taxes rounded half-even to the currency) does
    not reach ``draft.expected_total``, one adjustment line carries the difference; beyond
    ``max_adjustment`` the order is refused (ErpRejected) rather than adjusted. Each tax rate
    must match a Tryton tax (ErpRejected naming the rate otherwise).
    """
    lines: list[PricedLine] = []
    errors: list[dict[str, str]] = []
    unit = minor_unit(draft.currency)

    def tryton_taxes(field: str, rates: Sequence[TaxLine]) -> tuple[SaleTax, ...]:
        chosen: list[SaleTax] = []
        for i, tax in enumerate(rates):
            percent = f"{(tax.rate * 100).normalize():f} %"
            candidates = [t for t in taxes.get(tax.rate.normalize(), ()) if t not in chosen]
            if not candidates:
                errors.append(
                    {
                        "field": f"{field}.taxes[{i}].rate",
                        "message": f"the ERP has no sales tax at rate {tax.rate} "
                        f"({percent}{', ' + tax.title if tax.title else ''})",
                    }
                )
                continue
            named = [
                t for t in candidates if tax.title and tax.title.casefold() in t.name.casefold()
            ]
            chosen.append((named or candidates)[0])
        return tuple(sorted(chosen, key=lambda t: t.id))

    for i, line in enumerate(draft.lines):
        net = line.unit_price * line.quantity - line.discount_total
        if draft.taxes_included:
            net -= line.tax_total
        gift_card = line.kind is LineKind.GIFT_CARD
        description = line_description(line)
        # A gift card sold is money owed, not a supply: never taxed.
        line_taxes = () if gift_card else tryton_taxes(f"lines[{i}]", line.taxes)
        lines.append(
            PricedLine(
                product=products.gift_card if gift_card else line.sku,
                quantity=line.quantity,
                unit_price=fit_unit_price(
                    net, line.quantity, line_taxes, None if gift_card else line.tax_total, unit
                ),
                taxes=line_taxes,
                description=description,
                line=i,
            )
        )
    for i, charge in enumerate(draft.charges):
        net = charge.amount - charge.discount_total
        if draft.taxes_included:
            net -= charge.tax_total
        if charge.kind is ChargeKind.DISCOUNT:
            net = -net
        description = charge.title or charge.kind.value.capitalize()
        if charge.discounts:
            description += f" (less {charge.discount_total})"
        charge_taxes = tryton_taxes(f"charges[{i}]", charge.taxes)
        tax_total = -charge.tax_total if charge.kind is ChargeKind.DISCOUNT else charge.tax_total
        lines.append(
            PricedLine(
                product=products.for_charge(charge.kind),
                quantity=1,
                unit_price=fit_unit_price(net, 1, charge_taxes, tax_total, unit),
                taxes=charge_taxes,
                description=description,
                charge=charge.kind.value,
            )
        )
    if errors:
        raise ErpRejected("; ".join(e["message"] for e in errors), errors=errors)
    untaxed = sum((tryton_amount(line, unit) for line in lines), Decimal(0))
    tax = sum((sum(tryton_line_taxes(line, unit), Decimal(0)) for line in lines), Decimal(0))
    adjustment = Decimal(0)
    if draft.expected_total is not None:
        adjustment = draft.expected_total - (untaxed + tax)
        if max_adjustment is not None and abs(adjustment) > max_adjustment:
            raise ErpRejected(
                f"the order's lines, charges and taxes come to {untaxed + tax} "
                f"{draft.currency}, not the channel's total of {draft.expected_total}: "
                f"a difference of {adjustment} is more than rounding",
                errors=[
                    {
                        "field": "expected_total",
                        "message": f"{draft.expected_total} differs from the sum of the "
                        f"order's parts ({untaxed + tax}) by {adjustment}",
                    }
                ],
            )
    if adjustment:
        lines.append(
            PricedLine(
                product=products.adjustment,
                quantity=1,
                unit_price=adjustment,
                taxes=(),
                description=adjustment_description(draft),
                charge="adjustment",
            )
        )
        untaxed += adjustment
    return PricedSale(lines=lines, untaxed=untaxed, tax=tax, adjustment=adjustment)


def line_description(line: OrderLine) -> str:
    """A sale line's description: the channel's, with the discounts it is posted net of."""
    description = line.description or line.sku
    if line.discounts:
        titles = ", ".join(sorted({d.title for d in line.discounts if d.title}))
        description += f" (less {line.discount_total}{' ' + titles if titles else ''})"
    return description


def line_amounts(lines: Sequence[OrderLine], *, taxes_included: bool) -> tuple[Decimal, Decimal]:
    """What ``lines`` come to together as :func:`price_sale` posts them: their amount net of
    discounts (and of their taxes, when prices include them), and their taxes."""
    net = sum((line.unit_price * line.quantity - line.discount_total for line in lines), Decimal(0))
    tax = sum((line.tax_total for line in lines), Decimal(0))
    return (net - tax if taxes_included else net), tax


def tryton_line_total(line: PricedLine, unit: Decimal) -> Decimal:
    """A sale line's amount and taxes together, as Tryton computes them."""
    return tryton_amount(line, unit) + sum(tryton_line_taxes(line, unit), Decimal(0))


def fit_line_total(
    total: Decimal, quantity: int, taxes: tuple[SaleTax, ...], unit: Decimal
) -> Decimal | None:
    """The unit price nearest ``total`` net of ``taxes`` for which a line of ``quantity``
    comes to ``total`` with its taxes (Tryton's arithmetic), or None when no price does."""
    rate = sum((tax.rate for tax in taxes), Decimal(0))
    exact = (total / (1 + rate) / quantity).quantize(_PRICE_QUANTUM, ROUND_HALF_EVEN)
    reach = int((unit / quantity / _PRICE_QUANTUM).to_integral_value()) + 1
    for step in range(min(reach, _MAX_FIT_STEPS) + 1):
        for price in (exact + step * _PRICE_QUANTUM, exact - step * _PRICE_QUANTUM):
            line = PricedLine(
                product="", quantity=quantity, unit_price=price, taxes=taxes, description=""
            )
            if tryton_line_total(line, unit) == total:
                return price
    return None


def fit_unit_price(
    net: Decimal,
    quantity: int,
    taxes: tuple[SaleTax, ...],
    tax_total: Decimal | None,
    unit: Decimal,
) -> Decimal:
    """The unit price (Tryton's four places) nearest ``net / quantity`` for which Tryton's
    amount is ``net`` and its taxes sum to ``tax_total`` (the channel's), when one exists.

    The channel takes taxes out of a tax-included price (or rounds half up) where Tryton adds
    them to a net price (half-even): at four places there is usually a price on which both
    agree. Failing one, the nearest price is posted and the adjustment line takes the rest.
    """
    exact = (net / quantity).quantize(_PRICE_QUANTUM, ROUND_HALF_EVEN)
    # Prices whose amount rounds to ``net``: within half a minor unit of it, over quantity.
    reach = int((unit / 2 / quantity / _PRICE_QUANTUM).to_integral_value()) + 1
    for step in range(min(reach, _MAX_FIT_STEPS) + 1):
        for price in {exact + step * _PRICE_QUANTUM, exact - step * _PRICE_QUANTUM}:
            line = PricedLine(
                product="", quantity=quantity, unit_price=price, taxes=taxes, description=""
            )
            if tryton_amount(line, unit) != net:
                continue
            if tax_total is None or sum(tryton_line_taxes(line, unit), Decimal(0)) == tax_total:
                return price
    return exact


def tryton_amount(line: PricedLine, unit: Decimal) -> Decimal:
    """A sale line's amount as Tryton computes it: quantity times price, currency-rounded."""
    return (Decimal(line.quantity) * line.unit_price).quantize(unit, ROUND_HALF_EVEN)


def tryton_line_taxes(line: PricedLine, unit: Decimal) -> list[Decimal]:
    """A sale line's taxes as Tryton computes them with ``tax_rounding = line``: each tax of
    the unit price times the quantity, rounded half-even, the rounding remainder of the
    line's taxes given back one minor unit at a time (``TaxableMixin._round_taxes``)."""
    raw = [line.unit_price * tax.rate * Decimal(line.quantity) for tax in line.taxes]
    rounded = [amount.quantize(unit, ROUND_HALF_EVEN) for amount in raw]
    remainder = sum((r - a for r, a in zip(rounded, raw, strict=True)), Decimal(0))
    remainder = remainder.quantize(unit, ROUND_HALF_EVEN)
    if abs(remainder) >= unit:
        offset = unit.copy_sign(remainder)
        for i in itertools.islice(itertools.cycle(range(len(rounded))), 4 * len(rounded)):
            if rounded[i]:
                rounded[i] -= offset
                remainder -= offset
                if abs(remainder) < unit:
                    break
    return rounded


def adjustment_description(draft: SalesOrderDraft) -> str:
    """The description of the line that makes the sale's total the channel's."""
    return channel_adjustment_description(draft.channel)


def channel_adjustment_description(channel: str) -> str:
    """The description of the line that makes a sale's total that of ``channel``."""
    name = "Shopify" if channel == "shopify" else channel
    return f"Rounding adjustment vs {name} total"


def settled_adjustment(
    draft: SalesOrderDraft,
    erp_total: Decimal,
    adjustment: Decimal,
    *,
    max_adjustment: Decimal | None = None,
) -> Decimal:
    """What the adjustment line (now ``adjustment``, 0 when there is none) must become for a
    sale the ERP totals ``erp_total`` to total ``draft.expected_total``.

    Beyond ``max_adjustment`` the difference is not a rounding but a part of the order the
    sale does not hold: ErpRejected naming ``expected_total``.
    """
    if draft.expected_total is None:
        return adjustment
    return settle_adjustment(
        draft.expected_total,
        erp_total,
        adjustment,
        currency=draft.currency,
        max_adjustment=max_adjustment,
    )


def settle_adjustment(
    expected: Decimal,
    erp_total: Decimal,
    adjustment: Decimal,
    *,
    currency: str,
    max_adjustment: Decimal | None = None,
) -> Decimal:
    """What the adjustment line (now ``adjustment``) must become for a sale the ERP totals
    ``erp_total`` to total ``expected``; ErpRejected naming ``expected_total`` beyond
    ``max_adjustment``."""
    settled = adjustment + expected - erp_total
    if max_adjustment is not None and abs(settled) > max_adjustment:
        raise ErpRejected(
            f"the ERP totals the sale {erp_total} {currency}, not the channel's total "
            f"of {expected}: a difference of {expected - erp_total} is more than rounding",
            errors=[
                {
                    "field": "expected_total",
                    "message": f"{expected} differs from the ERP's total ({erp_total}) "
                    f"by {expected - erp_total}",
                }
            ],
        )
    return settled


def sale_line(line: PricedLine, product: CachedProduct) -> Row:
    """The values Tryton creates ``line`` from, on ``product`` (its id and sale unit)."""
    values: Row = {
        "type": "line",
        "product": product.id,
        "quantity": float(line.quantity),
        "unit": product.unit,
        "unit_price": line.unit_price,
        "description": line.description or product.name,
    }
    if line.taxes:
        values["taxes"] = [["add", [tax.id for tax in line.taxes]]]
    return values
