"""Orders that change after posting: edits, updates with other lines, and cancellations.

:class:`OrderChanges` is called by :class:`~process_apis.orders.service.OrdersService` for
an entry of an order it knows, under the order's lock; every step is recorded under the
hold's fencing token, as the service records its own, and every ERP call has the service's
``erp_timeout`` as its deadline. It posts nothing: an edit of an order the pipeline never
saw is posted by the service, as Shopify has it now.

``orders/edited`` carries only the edit's deltas, so the order is read from Shopify;
``orders/updated`` carries it. The product lines Shopify has now (``current_quantity``) are
compared with what the ERP holds, and the ERP order is amended to them; equal lines change
nothing, so a replayed or echoed webhook costs no amendment. An order that carries Shopify's
``current_total_price`` (a webhook body) is amended priced: its lines' prices, discounts and
taxes, ``taxes_included`` and that total go with the lines, so that the ERP's total stays
Shopify's to the cent. One read from the Shopify system API carries no taxes or current
total: its amendment sets quantities only and is marked unpriced, and the next body that
carries the total reprices the ERP order even though its lines are equal. An ERP that can't amend
(shipped, or a change it can't express) makes an exception of kind ``amendment-refused``
whose error shows the difference (:func:`describe_changes`). An order with no unit left is
cancelled.

``orders/cancelled`` cancels the ERP order (found by its reference where routing would have
sent it, if the pipeline did not post it). A cancel the ERP refuses because goods shipped
becomes one return sale of what shipped; a refused cancel with nothing shipped to take back
is an exception of kind ``cancel-after-shipment``, for a person to refund or credit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar

import msgspec

from process_apis.orders.downstream import (
    NotAmendable,
    NothingToReturn,
    Rejected,
    answer_within,
    idempotency_key,
)
from process_apis.orders.mapping import MappingError, external_reference, to_sales_order
from process_apis.orders.ports import (
    FINAL_STATES,
    Acknowledgements,
    ErpOrders,
    HeldOrder,
    LineChange,
    OrderPipeline,
    ShopifyOrders,
)
from process_apis.orders.routing import NoRoute, choose_instance
from process_apis.orders.settings import OrdersSettings
from shared.events import PermanentFailure, TransientFailure
from shared.models import LineKind, OrderLine
from shared.streams import ORDERS_EDITED, ORDERS_UPDATED

#: Topics that may change an order's lines after it was posted.
ORDER_CHANGES: Final = frozenset({ORDERS_EDITED, ORDERS_UPDATED})
#: The exception kind of an order changed in Shopify that its ERP could not amend.
AMENDMENT_REFUSED: Final = "amendment-refused"
#: The exception kind of an order cancelled after shipment that the ERP could not take back.
CANCEL_AFTER_SHIPMENT: Final = "cancel-after-shipment"
#: The summary field set ("1") while the ERP order was last amended without Shopify's total.
UNPRICED: Final = "amended_unpriced"
#: The lines Shopify's order had when an operator replayed it with edited lines (a SKU
#: mapped by hand): Shopify keeps sending those, and they are no change to follow.
SHOPIFY_LINES: Final = "shopify_lines"
T = TypeVar("T")


# -- comparing lines -------------------------------------------------------------------------


def quantities(lines: Iterable[OrderLine]) -> dict[str, int]:
    """Quantity per SKU of the product lines (charges, gift cards and custom items aside)."""
    found: dict[str, int] = {}
    for line in lines:
        if line.kind == LineKind.PRODUCT:
            found[line.sku] = found.get(line.sku, 0) + line.quantity
    return found


def line_changes(before: Mapping[str, int], after: Mapping[str, int]) -> list[LineChange]:
    """Each SKU whose quantity differs, in the order first seen (before, then new ones)."""
    return [
        LineChange(sku=sku, before=before.get(sku, 0), after=after.get(sku, 0))
        for sku in dict.fromkeys([*before, *after])
        if before.get(sku, 0) != after.get(sku, 0)
    ]


def describe_changes(changes: Iterable[LineChange]) -> str:
    """``TOTE-NAT 2 -> 3 (+1); MUG 1 -> 0 (removed); POT 0 -> 2 (added)``."""
    parts = []
    for change in changes:
        if change.before == 0:
            what = "added"
        elif change.after == 0:
            what = "removed"
        else:
            what = f"{change.after - change.before:+d}"
        parts.append(f"{change.sku} {change.before} -> {change.after} ({what})")
    return "; ".join(parts) or "no line changed"


def lines_fingerprint(wanted: Mapping[str, int]) -> str:
    """A short digest of quantities by SKU: equal for equal lines, whatever their order."""
    text = "|".join(f"{sku}={qty}" for sku, qty in sorted(wanted.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class WantedOrder(msgspec.Struct, frozen=True, kw_only=True):
    """What the ERP order should become: Shopify's product lines now and, when the source
    carries it, Shopify's current total (shop money) with how lines carry their taxes."""

    lines: list[OrderLine]
    taxes_included: bool = False
    expected_total: Decimal | None = None


def wanted_order(
    shop: str, order: dict[str, Any], custom_item_sku: str | None = None
) -> WantedOrder | None:
    """Shopify's order as it is now, for amending; None when no unit is left."""
    items = order.get("line_items")
    if (
        isinstance(items, list)
        and items
        and all(
            isinstance(i, dict) and i.get("current_quantity", i.get("quantity")) == 0 for i in items
        )
    ):
        return None
    try:
        draft = to_sales_order(shop, order, custom_item_sku=custom_item_sku)
    except MappingError as exc:
        raise PermanentFailure(f"mapping failed: {exc}", kind="mapping") from exc
    # Without current_total_price the mapping falls back on total_price, which an edit
    # leaves as it was: no total to hold the ERP to.
    current = "current_total_price_set" in order or "current_total_price" in order
    return WantedOrder(
        lines=[line for line in draft.lines if line.kind == LineKind.PRODUCT],
        taxes_included=draft.taxes_included,
        expected_total=draft.expected_total if current else None,
    )


def wanted_lines(
    shop: str, order: dict[str, Any], custom_item_sku: str | None = None
) -> list[OrderLine] | None:
    """The product lines of Shopify's order as it is now; None when no unit is left."""
    wanted = wanted_order(shop, order, custom_item_sku)
    return None if wanted is None else wanted.lines


# -- following the changes in the ERP --------------------------------------------------------


class OrderChanges:
    """Edits, updates and cancellations of known orders, followed in their ERP."""

    def __init__(
        self,
        settings: OrdersSettings,
        *,
        pipeline: OrderPipeline,
        acknowledgements: Acknowledgements,
        erps: Mapping[str, ErpOrders],
        shopify: ShopifyOrders,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.acknowledgements = acknowledgements
        self.erps = dict(erps)
        self.shopify = shopify

    async def _record(self, held: HeldOrder, step: str, **fields: Any) -> None:
        """Record a step of the held order, fenced by the hold's token."""
        await self.pipeline.record(held.shop, held.order_id, step, fence=held.fence, **fields)

    async def _erp_call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        return await answer_within(self.settings.erp_timeout, what, call)

    async def order_changed(
        self, held: HeldOrder, topic: str, body: dict[str, Any], summary: dict[str, str]
    ) -> None:
        """Amend the ERP order to the lines Shopify has now, if they differ.

        ``summary`` is the pipeline's for the order, which has a state (the service posts an
        order it never saw instead).
        """
        shop, order_id = held.shop, held.order_id
        state = summary.get("state")
        if state == "cancelled":
            await self._record(held, f"{topic} noted", detail="the order is cancelled")
            return
        instance, erp_id = summary.get("erp_instance"), summary.get("erp_order_id")
        if state not in FINAL_STATES or not erp_id or instance not in self.erps:
            if state == "exception":
                await self._record(
                    held, f"{topic} noted", detail="not posted: an exception is open"
                )
                return
            raise TransientFailure(
                f"{topic} for {shop} {order_id}: the order is not posted yet ({state}); "
                "the change waits for it"
            )
        if topic == ORDERS_EDITED:
            # The body holds the edit's deltas only: read the order as it is now.
            current = await self.shopify.get_order(shop, order_id)
            await self._record(held, "fetched", detail=f"after {topic}")
        else:
            current = body
        if current.get("cancelled_at"):
            await self._record(held, f"{topic} noted", detail="cancelled in Shopify")
            return
        wanted = wanted_order(shop, current, self.settings.custom_item_sku(shop))
        if wanted is None:
            # Every unit removed or refunded before shipping: the order is cancelled.
            await self.cancel(held, current)
            return
        reprice = wanted.expected_total is not None and bool(summary.get(UNPRICED))
        now = lines_fingerprint(quantities(wanted.lines))
        if now in (summary.get("lines"), summary.get(SHOPIFY_LINES)) and not reprice:
            await self._record(held, f"{topic} noted", detail="lines unchanged")
            return
        await self._amend(held, topic, instance, erp_id, summary, wanted)

    async def _amend(
        self,
        held: HeldOrder,
        topic: str,
        instance: str,
        erp_id: str,
        summary: dict[str, str],
        wanted: WantedOrder,
    ) -> None:
        erp = self.erps[instance]
        reference = external_reference(held.shop, held.order_id)
        number = summary.get("erp_order_number") or erp_id
        order = await self._erp_call(
            f"erp {instance} find order", lambda: erp.find_by_reference(reference)
        )
        if order is None or order.id != erp_id:
            raise PermanentFailure(
                f"ERP {instance} no longer has order {number} ({reference}) the pipeline posted",
                kind=AMENDMENT_REFUSED,
            )
        after = quantities(wanted.lines)
        changes = line_changes(quantities(order.lines), after)
        fingerprint = lines_fingerprint(after)
        expected = wanted.expected_total
        # Priced now: an earlier amendment without Shopify's total is made good.
        priced = {UNPRICED: ""} if expected is not None else {}
        reprice = expected is not None and bool(summary.get(UNPRICED))
        if not changes and not (reprice and order.total.amount != expected):
            await self._record(
                held, f"{topic} noted", detail="lines unchanged", lines=fingerprint, **priced
            )
            return
        difference = describe_changes(changes)
        if not changes:
            difference = f"total {order.total.amount} -> {expected} {order.currency}"
        # One key per hold of the lock: a retry compares again rather than replaying an
        # answer that an edit back and forth since may have outdated.
        parts = ["amend", reference, str(held.fence), fingerprint]
        key = idempotency_key(*parts, *([str(expected)] if expected is not None else []))
        note = f"Shopify {topic} of {held.shop} order {held.order_id}"
        try:
            amended = await self._erp_call(
                f"erp {instance} amend order",
                lambda: erp.amend(
                    erp_id,
                    wanted.lines,
                    note,
                    key,
                    taxes_included=wanted.taxes_included,
                    expected_total=expected,
                ),
            )
        except NotAmendable as exc:
            why = exc.problem.get("detail") or exc.reason
            await self._record(held, "amendment refused", detail=f"{difference} ({why})")
            raise PermanentFailure(
                f"changed in Shopify, but ERP {instance} order {number} can't be amended: "
                f"{why}. Difference (ERP -> Shopify): {difference}",
                kind=AMENDMENT_REFUSED,
            ) from exc
        total = amended.order.total
        detail = f"{instance} {number}: {describe_changes(amended.changes or changes)}"
        if not changes:
            detail = f"{instance} {number}: total {order.total.amount} -> {total.amount}"
        elif expected is not None:
            detail += f"; total {total.amount} {total.currency}"
        await self._record(
            held,
            "amended" if changes else "repriced",
            detail=detail,
            lines=fingerprint,
            **(priced or {UNPRICED: "1"}),
        )

    async def cancel(self, held: HeldOrder, body: dict[str, Any]) -> None:
        """Cancel the order in its ERP (or record it cancelled before posting); take back
        what shipped when the ERP refuses because goods left."""
        shop, order_id = held.shop, held.order_id
        summary = await self.pipeline.summary(shop, order_id)
        instance = summary.get("erp_instance")
        erp_id = summary.get("erp_order_id")
        reference = external_reference(shop, order_id)
        if not (instance and erp_id) or instance not in self.erps:
            # Not posted by us (yet): look for it where routing would have sent it.
            try:
                draft = to_sales_order(
                    shop, body, custom_item_sku=self.settings.custom_item_sku(shop)
                )
                instance = choose_instance(
                    draft,
                    shop,
                    self.settings.routes,
                    self.settings.default_instance,
                    set(self.erps),
                )
            except (MappingError, NoRoute):
                instance = self.settings.default_instance
            erp = self.erps[instance]
            found = await self._erp_call(
                f"erp {instance} find order", lambda: erp.find_by_reference(reference)
            )
            if found is None:
                await self._record(
                    held,
                    "cancelled before posting",
                    state="cancelled",
                    correlation_id=held.correlation,
                )
                # It will never have an ERP number: stop counting it as awaiting one.
                await self.acknowledgements.acknowledged(shop, order_id)
                return
            erp_id = found.id
        erp = self.erps[instance]
        try:
            await self._erp_call(f"erp {instance} cancel order", lambda: erp.cancel(erp_id))
        except Rejected as exc:
            if exc.problem.get("status") != 409:
                raise
            # Goods left already: the ERP takes back what shipped in one return sale.
            await self._return_shipped(held, instance, erp_id, exc)
            return
        await self._record(held, "cancelled", state="cancelled", detail=f"{instance} {erp_id}")
        await self.acknowledgements.acknowledged(shop, order_id)

    async def _return_shipped(
        self, held: HeldOrder, instance: str, erp_id: str, refusal: Rejected
    ) -> None:
        """Make (once) the return of what a cancelled order shipped, and record it."""
        erp = self.erps[instance]
        key = idempotency_key("return-shipped", instance, erp_id)
        try:
            made = await self._erp_call(
                f"erp {instance} return shipped goods", lambda: erp.return_shipped(erp_id, key)
            )
        except NothingToReturn as exc:
            why = refusal.problem.get("detail") or refusal.reason
            raise PermanentFailure(
                f"cancelled in Shopify, but ERP {instance} refused to cancel order {erp_id} "
                f"({why}) and has nothing shipped to take back: refund or credit by hand",
                kind=CANCEL_AFTER_SHIPMENT,
            ) from exc
        returned = ", ".join(f"{line.sku} x{line.quantity}" for line in made.lines)
        await self._record(
            held,
            "returned after cancel",
            state="cancelled",
            detail=f"{instance} {made.return_number or made.return_order_id} "
            f"({made.reference}): {returned or 'nothing'}",
            erp_return_id=made.return_order_id,
        )
        await self.acknowledgements.acknowledged(held.shop, held.order_id)
