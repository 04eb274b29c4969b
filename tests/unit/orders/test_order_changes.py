"""Orders that change after posting: edits, partial and full cancels, cancels after shipment.

The orders service against in-memory stores and an in-memory ERP that amends and returns
(``FakeErp``; no Redis, no HTTP); the change detection on its own.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from process_apis.orders.changes import (
    describe_changes,
    line_changes,
    lines_fingerprint,
    quantities,
)
from process_apis.orders.downstream import NothingToReturn
from process_apis.orders.exceptions import exception_id
from process_apis.orders.ports import AmendedOrder, LineChange
from shared.events import PermanentFailure, TransientFailure
from shared.models import OrderLine
from shared.models import OrderStatus as ErpOrderStatus
from system_apis.erp.adapters.tryton.amendments import SaleLine, net_unit_price, plan_amendment
from tests.unit.orders.test_service import ORDER, ORDER_ID, SHOP, World, build, create, webhook


@pytest.fixture
def world() -> World:
    return build()


def shopify_order(*lines: tuple[str, int, int], **changes: Any) -> dict[str, Any]:
    """The order as Shopify has it: (sku, quantity ordered, current quantity) per line."""
    body = copy.deepcopy(ORDER)
    body["line_items"] = [
        {"sku": sku, "quantity": qty, "current_quantity": cur, "price": "19.90", "title": sku}
        for sku, qty, cur in lines
    ]
    body.update(changes)
    return body


def edited(order_id: str = ORDER_ID, edit_id: int = 77) -> dict[str, Any]:
    """An ``orders/edited`` body: the edit's deltas, not the order."""
    return {
        "order_edit": {
            "id": edit_id,
            "app_id": None,
            "created_at": "2026-11-21T10:00:00Z",
            "committed_at": "2026-11-21T10:00:00Z",
            "notify_customer": False,
            "order_id": int(order_id),
            "staff_note": "",
            "user_id": None,
            "line_items": {"additions": [{"id": 1, "delta": 1}], "removals": []},
            "discounts": {"line_item": {"additions": [], "removals": []}},
            "shipping_lines": {"additions": [], "removals": []},
        }
    }


def steps(world: World) -> list[str]:
    return world.pipeline.steps(SHOP, ORDER_ID)


def details(world: World) -> list[str | None]:
    return [s.detail for s in world.pipeline.history[(SHOP, ORDER_ID)]]


# -- change detection ---------------------------------------------------------------------------


def test_the_difference_names_each_sku_added_removed_or_changed() -> None:
    before = {"TEE": 2, "MUG": 1}
    after = {"TEE": 3, "POT": 2}
    changes = line_changes(before, after)
    assert changes == [
        LineChange(sku="TEE", before=2, after=3),
        LineChange(sku="MUG", before=1, after=0),
        LineChange(sku="POT", before=0, after=2),
    ]
    assert describe_changes(changes) == (
        "TEE 2 -> 3 (+1); MUG 1 -> 0 (removed); POT 0 -> 2 (added)"
    )
    assert line_changes(before, dict(reversed(before.items()))) == []
    assert describe_changes([]) == "no line changed"


def test_quantities_add_up_lines_of_one_sku_and_leave_other_kinds_out() -> None:
    lines = [
        OrderLine(sku="TEE", quantity=1, unit_price=Decimal("5")),
        OrderLine(sku="TEE", quantity=2, unit_price=Decimal("4")),
        OrderLine(sku="CARD", quantity=1, unit_price=Decimal("50"), kind="gift_card"),  # type: ignore[arg-type]
    ]
    assert quantities(lines) == {"TEE": 3}
    assert lines_fingerprint({"A": 1, "B": 2}) == lines_fingerprint({"B": 2, "A": 1})
    assert lines_fingerprint({"A": 1}) != lines_fingerprint({"A": 2})


def test_the_plan_spreads_a_quantity_over_a_skus_lines_and_reuses_freed_lines() -> None:
    current = [
        SaleLine(id=1, sku="A", quantity=2, unit_price=Decimal("10")),
        SaleLine(id=2, sku="A", quantity=2, unit_price=Decimal("8")),
        SaleLine(id=3, sku="B", quantity=1, unit_price=Decimal("5")),
        SaleLine(id=4, sku="C", quantity=0, unit_price=Decimal("5")),
    ]
    wanted = [
        OrderLine(sku="A", quantity=3, unit_price=Decimal("10")),
        OrderLine(sku="D", quantity=1, unit_price=Decimal("7")),
        OrderLine(sku="E", quantity=2, unit_price=Decimal("6")),
        OrderLine(sku="F", quantity=1, unit_price=Decimal("1")),
    ]
    plan = plan_amendment(current, wanted)
    assert [(e.line_id, e.sku, e.quantity, e.unit_price, e.replaces) for e in plan.edits] == [
        (2, "A", 1, Decimal("8"), None),
        (3, "D", 1, Decimal("7"), "B"),
        (4, "E", 2, Decimal("6"), "C"),
    ]
    assert [(i, line.sku) for i, line in plan.unplaced] == [(3, "F")]
    assert [(c.sku, c.before, c.after) for c in plan.changes] == [
        ("A", 4, 3),
        ("B", 1, 0),
        ("D", 0, 1),
        ("E", 0, 2),
        ("F", 0, 1),
    ]


def test_the_plan_of_the_lines_a_sale_has_is_empty() -> None:
    current = [SaleLine(id=1, sku="A", quantity=2, unit_price=Decimal("10"))]
    plan = plan_amendment(current, [OrderLine(sku="A", quantity=2, unit_price=Decimal("9"))])
    assert (plan.edits, plan.changes, plan.unplaced) == ([], [], [])


def test_a_new_line_takes_the_price_net_of_its_discounts() -> None:
    from shared.models import DiscountAllocation

    line = OrderLine(
        sku="A",
        quantity=3,
        unit_price=Decimal("10.00"),
        discounts=[DiscountAllocation(amount=Decimal("1.00"))],
    )
    assert net_unit_price(line) == Decimal("9.6667")


# -- edits before shipment ---------------------------------------------------------------------


async def test_an_edit_after_posting_amends_the_erp_order_to_shopifys_lines(world: World) -> None:
    await create(world)
    world.shopify.orders[(SHOP, ORDER_ID)] = shopify_order(
        ("TSHIRT-BLK-M", 2, 3), ("MUG-WHT", 1, 0), ("POT-TERRA-M", 2, 2)
    )
    await world.service.handle(webhook("orders/edited", edited()))

    assert world.shopify.fetched == [(SHOP, ORDER_ID)]
    [(order_id, lines, _)] = world.eu.amended
    assert (order_id, lines) == ("eu-1", {"TSHIRT-BLK-M": 3, "POT-TERRA-M": 2})
    assert steps(world)[-2:] == ["fetched", "amended"]
    assert details(world)[-1] == (
        "eu SO0001: TSHIRT-BLK-M 2 -> 3 (+1); MUG-WHT 1 -> 0 (removed); POT-TERRA-M 0 -> 2 (added)"
    )
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"
    assert world.locks.taken[-1] == (SHOP, ORDER_ID)

    # The same edit delivered again, and the orders/updated that follows: nothing more.
    await world.service.handle(webhook("orders/edited", edited()))
    await world.service.handle(webhook("orders/updated", world.shopify.orders[(SHOP, ORDER_ID)]))
    assert len(world.eu.amended) == 1
    assert steps(world)[-1] == "orders/updated noted"
    assert details(world)[-1] == "lines unchanged"


async def test_an_update_carrying_shopifys_total_amends_priced(world: World) -> None:
    await create(world)
    body = shopify_order(
        ("TSHIRT-BLK-M", 2, 3),
        ("MUG-WHT", 1, 1),
        taxes_included=True,
        current_total_price="79.60",
        current_total_price_set={
            "shop_money": {"amount": "79.60", "currency_code": "EUR"},
            "presentment_money": {"amount": "79.60", "currency_code": "EUR"},
        },
    )
    await world.service.handle(webhook("orders/updated", body))

    assert world.eu.priced == [("eu-1", True, Decimal("79.60"))]
    assert steps(world)[-1] == "amended"
    assert details(world)[-1] == "eu SO0001: TSHIRT-BLK-M 2 -> 3 (+1); total 79.60 EUR"
    # Delivered again: the lines and the total are the ERP's already.
    await world.service.handle(webhook("orders/updated", body))
    assert len(world.eu.priced) == 1
    assert steps(world)[-1] == "orders/updated noted"


async def test_an_edit_read_without_totals_is_repriced_by_the_update_that_follows(
    world: World,
) -> None:
    await create(world)
    now = shopify_order(("TSHIRT-BLK-M", 2, 3), ("MUG-WHT", 1, 1))
    world.shopify.orders[(SHOP, ORDER_ID)] = now
    await world.service.handle(webhook("orders/edited", edited()))
    # The order read back carries no current total: quantities only.
    assert world.eu.priced == [("eu-1", False, None)]
    assert steps(world)[-1] == "amended"

    update = dict(now, taxes_included=True, current_total_price="79.60")
    await world.service.handle(webhook("orders/updated", update))
    assert world.eu.priced[-1] == ("eu-1", True, Decimal("79.60"))
    assert steps(world)[-1] == "repriced"
    assert details(world)[-1].endswith("-> 79.60")  # type: ignore[union-attr]
    assert world.eu.orders["eu-1"].total.amount == Decimal("79.60")
    # Priced now: the next update with the same lines and total calls no ERP.
    calls = len(world.eu.priced)
    await world.service.handle(webhook("orders/updated", update))
    assert len(world.eu.priced) == calls
    assert steps(world)[-1] == "orders/updated noted"


async def test_an_update_with_unchanged_lines_calls_no_erp(world: World) -> None:
    await create(world)
    lookups = len(world.eu.lookups)
    await world.service.handle(webhook("orders/updated", shopify_order(
        ("TSHIRT-BLK-M", 2, 2), ("MUG-WHT", 1, 1), tags="erp:eu:SO0001"
    )))  # fmt: skip
    assert len(world.eu.lookups) == lookups
    assert world.eu.amended == []
    assert steps(world)[-1] == "orders/updated noted"


async def test_a_partial_cancel_reduces_the_erp_line(world: World) -> None:
    await create(world)
    # A refund restocking an unfulfilled unit (or an edit removing it): current_quantity drops.
    await world.service.handle(
        webhook("orders/updated", shopify_order(("TSHIRT-BLK-M", 2, 1), ("MUG-WHT", 1, 1)))
    )
    [(_, lines, _)] = world.eu.amended
    assert lines == {"TSHIRT-BLK-M": 1, "MUG-WHT": 1}
    assert details(world)[-1] == "eu SO0001: TSHIRT-BLK-M 2 -> 1 (-1)"


async def test_every_unit_removed_cancels_the_erp_order(world: World) -> None:
    await create(world)
    await world.service.handle(
        webhook("orders/updated", shopify_order(("TSHIRT-BLK-M", 2, 0), ("MUG-WHT", 1, 0)))
    )
    assert world.eu.cancelled == ["eu-1"]
    assert world.eu.amended == []
    assert world.pipeline.state(SHOP, ORDER_ID) == "cancelled"


async def test_an_edit_the_erp_refuses_opens_an_exception_showing_the_difference(
    world: World,
) -> None:
    await create(world)
    world.eu.shipped.add("eu-1")
    world.shopify.orders[(SHOP, ORDER_ID)] = shopify_order(
        ("TSHIRT-BLK-M", 2, 1), ("MUG-WHT", 1, 1)
    )
    entry = webhook("orders/edited", edited())

    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(entry)
    assert failure.value.kind == "amendment-refused"
    assert "has shipped" in failure.value.reason
    assert "Difference (ERP -> Shopify): TSHIRT-BLK-M 2 -> 1 (-1)" in failure.value.reason
    assert steps(world)[-1] == "amendment refused"

    await world.service.on_dead_letter(entry, failure.value.reason, failure.value.kind)
    record = world.exceptions.records[exception_id(SHOP, ORDER_ID, "orders/edited")]
    assert (record.order_id, record.kind, record.state) == (ORDER_ID, "amendment-refused", "open")
    assert "TSHIRT-BLK-M 2 -> 1 (-1)" in record.error
    assert world.pipeline.state(SHOP, ORDER_ID) == "exception"


async def test_an_edit_before_posting_waits_for_the_posting(world: World) -> None:
    await world.pipeline.record(SHOP, ORDER_ID, "routed", state="routed", erp_instance="eu")
    with pytest.raises(TransientFailure, match="not posted yet"):
        await world.service.handle(webhook("orders/edited", edited()))
    assert world.eu.amended == []


async def test_an_edit_of_an_order_never_seen_posts_it_as_it_is_now(world: World) -> None:
    world.shopify.orders[(SHOP, ORDER_ID)] = shopify_order(("TSHIRT-BLK-M", 2, 3))
    await world.service.handle(webhook("orders/edited", edited()))

    [draft] = world.eu.posted
    assert quantities(draft.lines) == {"TSHIRT-BLK-M": 3}
    assert world.eu.amended == []
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"


async def test_an_edit_of_a_cancelled_order_is_noted(world: World) -> None:
    await create(world)
    await world.service.handle(webhook("orders/cancelled", shopify_order(
        ("TSHIRT-BLK-M", 2, 2), cancelled_at="2026-11-21"
    )))  # fmt: skip
    await world.service.handle(webhook("orders/edited", edited()))
    assert steps(world)[-1] == "orders/edited noted"
    assert world.shopify.fetched == []


async def test_an_edit_whose_amendment_outlives_the_lock_records_nothing(world: World) -> None:
    await create(world)
    world.shopify.orders[(SHOP, ORDER_ID)] = shopify_order(("TSHIRT-BLK-M", 5, 5))
    original = world.eu.amend

    async def slow_amend(
        order_id: str, lines: list[OrderLine], note: str | None, key: str, **pricing: Any
    ) -> AmendedOrder:
        world.locks.lose(SHOP, ORDER_ID)  # the lease ran out meanwhile
        return await original(order_id, lines, note, key, **pricing)

    world.eu.amend = slow_amend  # type: ignore[method-assign]
    with pytest.raises(TransientFailure):
        await world.service.handle(webhook("orders/edited", edited()))
    assert "amended" not in steps(world)


async def test_a_malformed_edit_is_a_permanent_failure(world: World) -> None:
    with pytest.raises(PermanentFailure, match="no order id"):
        await world.service.handle(webhook("orders/edited", {"order_edit": {"id": 1}}))


# -- cancellations --------------------------------------------------------------------------------


async def test_a_full_cancel_before_shipment_cancels_the_sale(world: World) -> None:
    await create(world)
    await world.service.handle(webhook("orders/cancelled", shopify_order(
        ("TSHIRT-BLK-M", 2, 2), cancelled_at="2026-11-21"
    )))  # fmt: skip
    assert world.eu.cancelled == ["eu-1"]
    assert world.eu.return_calls == 0
    assert world.pipeline.state(SHOP, ORDER_ID) == "cancelled"


async def test_a_cancel_after_shipment_makes_one_return_of_what_shipped(world: World) -> None:
    await create(world)
    world.eu.shipped.add("eu-1")
    cancel = webhook("orders/cancelled", shopify_order(
        ("TSHIRT-BLK-M", 2, 2), ("MUG-WHT", 1, 1), cancelled_at="2026-11-21"
    ))  # fmt: skip

    await world.service.handle(cancel)
    assert list(world.eu.returned) == ["eu-1"]
    assert world.pipeline.state(SHOP, ORDER_ID) == "cancelled"
    assert steps(world)[-1] == "returned after cancel"
    assert details(world)[-1] == (
        "eu SR0001 (shopify:demo-eu.myshopify.com:820982911946154508:cancel): "
        "TSHIRT-BLK-M x2, MUG-WHT x1"
    )
    assert world.pipeline.summaries[(SHOP, ORDER_ID)]["erp_return_id"] == "R-eu-1"
    assert (SHOP, ORDER_ID) in world.acks.done

    # Delivered again: the ERP answers the return it made; no second one.
    await world.service.handle(cancel)
    assert world.eu.return_calls == 2
    assert len(world.eu.returned) == 1


async def test_a_cancel_refused_with_nothing_shipped_is_an_exception(world: World) -> None:
    await create(world)
    world.eu.uncancellable["eu-1"] = "invoice paid"
    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(webhook("orders/cancelled", shopify_order(
            ("TSHIRT-BLK-M", 2, 2), cancelled_at="2026-11-21"
        )))  # fmt: skip
    assert failure.value.kind == "cancel-after-shipment"
    assert isinstance(failure.value.__cause__, NothingToReturn)
    assert "invoice paid" in failure.value.reason
    assert world.eu.returned == {}
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"
    assert world.eu.orders["eu-1"].status == ErpOrderStatus.CONFIRMED
