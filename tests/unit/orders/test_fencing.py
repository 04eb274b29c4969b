"""Exactly once without holes, in the orders service (fakes, no Redis, no HTTP): fencing
tokens on the order lock, unconfirmed ERP answers, reroutes, channels' reference namespaces."""

from __future__ import annotations

import msgspec
import pytest

from process_apis.orders.exceptions import exception_id
from process_apis.orders.ports import OrderLockLost
from process_apis.orders.service import (
    REROUTE_NEEDS_OPERATOR,
    ReferenceRefused,
    channel_order_draft,
)
from shared.events import PermanentFailure, TransientFailure
from shared.models import OrderStatus as ErpOrderStatus
from shared.models import SalesOrderDraft
from shared.streams import ChannelOrder, encode_entry
from tests.unit.orders.fakes import FakeErp, FakeLocks, FakePipeline
from tests.unit.orders.test_service import (
    ORDER,
    ORDER_ID,
    SHOP,
    World,
    build,
    channel_draft,
    create,
    delivered,
    order,
    webhook,
)

US_ORDER = order(shipping_address={**ORDER["shipping_address"], "country_code": "US"})


@pytest.fixture
def world() -> World:
    return build()


# -- fencing tokens -------------------------------------------------------------------------


async def test_each_hold_draws_a_newer_token_per_order() -> None:
    fences = FakeLocks()
    async with fences.hold("a", "1") as first:
        pass
    async with fences.hold("a", "1") as second:
        pass
    async with fences.hold("b", "1") as other:
        pass
    assert (first, second, other) == (1, 2, 1)


async def test_a_record_under_an_older_token_is_refused() -> None:
    locks = FakeLocks()
    pipeline = FakePipeline(locks.fences)
    async with locks.hold(SHOP, ORDER_ID) as token:
        await pipeline.record(SHOP, ORDER_ID, "routed", state="routed", fence=token)
        newer = locks.lose(SHOP, ORDER_ID)
        await pipeline.record(SHOP, ORDER_ID, "posted", state="posted", fence=newer)
        with pytest.raises(OrderLockLost):
            await pipeline.record(SHOP, ORDER_ID, "acknowledged", fence=token)
    assert pipeline.steps(SHOP, ORDER_ID) == ["routed", "posted"]
    assert pipeline.state(SHOP, ORDER_ID) == "posted"


async def test_every_step_is_recorded_under_the_holds_token(world: World) -> None:
    seen: list[int | None] = []
    record = world.pipeline.record

    async def spy(shop: str, order_id: str, step: str, **kwargs: object) -> None:
        seen.append(kwargs.get("fence"))  # type: ignore[arg-type]
        await record(shop, order_id, step, **kwargs)  # type: ignore[arg-type]

    world.pipeline.record = spy  # type: ignore[method-assign]
    await create(world)
    assert seen == [1, 1, 1, 1, 1]  # received, validated, routed, posted, acknowledged
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"


class LeaseLostDuringPost(FakeErp):
    """An ERP so slow that the order's lock passes to another worker meanwhile."""

    def __init__(self, instance: str, locks: FakeLocks) -> None:
        super().__init__(instance)
        self.locks = locks

    async def post_sales_order(self, draft: SalesOrderDraft):  # type: ignore[no-untyped-def]
        self.locks.lose(SHOP, ORDER_ID)
        return await super().post_sales_order(draft)


async def test_a_holder_whose_lease_ran_out_records_nothing_and_retries() -> None:
    locks = FakeLocks()
    world = World(build().settings, locks=locks, eu=LeaseLostDuringPost("eu", locks))

    with pytest.raises(TransientFailure, match="stale token"):
        await create(world)

    # Posted to the ERP (idempotent there), but neither recorded as posted nor acknowledged:
    # the entry is handled again under a fresh lock.
    assert len(world.eu.posted) == 1
    assert world.pipeline.state(SHOP, ORDER_ID) == "routed"
    assert [r[2] for r in world.pipeline.refused] == ["posted"]
    assert world.shopify.acknowledged == []
    assert world.locks.held == set()

    assert isinstance(world.eu, LeaseLostDuringPost)
    world.eu.locks = FakeLocks()  # the ERP is fast again: it takes no lease away
    await create(world)
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"
    assert len(world.eu.orders) == 1
    assert world.shopify.acknowledged == [(SHOP, ORDER_ID, "eu", "SO0001")]


# -- unconfirmed ERP answers ------------------------------------------------------------------


@pytest.mark.parametrize("status", [ErpOrderStatus.DRAFT, ErpOrderStatus.QUOTED])
async def test_an_unconfirmed_erp_order_is_not_counted_as_posted(
    world: World, status: ErpOrderStatus
) -> None:
    world.eu.status = status

    with pytest.raises(TransientFailure, match="unconfirmed"):
        await create(world)
    assert world.pipeline.state(SHOP, ORDER_ID) == "routed"
    assert world.shopify.acknowledged == []
    assert (SHOP, ORDER_ID) in world.acks.waiting

    world.eu.orders = {
        k: msgspec.structs.replace(o, status=ErpOrderStatus.CONFIRMED)
        for k, o in world.eu.orders.items()
    }  # the ERP system API completed the sale
    await create(world)
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"
    assert world.shopify.acknowledged == [(SHOP, ORDER_ID, "eu", "SO0001")]


# -- replays that route elsewhere -------------------------------------------------------------


async def post_then_fail_acknowledging(world: World) -> str:
    """Post the order to the EU ERP, then bury it when Shopify refuses the acknowledgement."""
    world.shopify.fail = PermanentFailure("shopify: 422 order locked", kind="http-422")
    entry = webhook("orders/create")
    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(entry)
    await world.service.on_dead_letter(entry, failure.value.reason, failure.value.kind)
    world.shopify.fail = None
    return exception_id(SHOP, ORDER_ID, "orders/create")


async def test_an_edited_replay_routed_elsewhere_posts_nothing_new(world: World) -> None:
    ex_id = await post_then_fail_acknowledging(world)
    assert [o.id for o in world.eu.orders.values()] == ["eu-1"]

    await world.service.replay(ex_id, US_ORDER)  # shipping country now says US
    [replayed] = world.stream.entries
    entry = delivered(encode_entry(replayed))
    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(entry)

    assert failure.value.kind == REROUTE_NEEDS_OPERATOR
    assert "explicit operator action" in failure.value.reason
    assert world.us.posted == []
    assert world.us.orders == {}
    assert world.pipeline.steps(SHOP, ORDER_ID)[-1] == "reroute refused"
    summary = await world.pipeline.summary(SHOP, ORDER_ID)
    assert (summary["erp_instance"], summary["erp_order_id"]) == ("eu", "eu-1")

    await world.service.on_dead_letter(entry, failure.value.reason, failure.value.kind)
    record = world.exceptions.records[ex_id]
    assert (record.state, record.kind) == ("open", REROUTE_NEEDS_OPERATOR)


async def test_a_replay_unchanged_goes_to_the_instance_that_has_it(world: World) -> None:
    ex_id = await post_then_fail_acknowledging(world)

    await world.service.replay(ex_id, None)
    [replayed] = world.stream.entries
    await world.service.handle(delivered(encode_entry(replayed)))

    assert world.us.posted == []
    assert len(world.eu.orders) == 1
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"
    assert world.shopify.acknowledged == [(SHOP, ORDER_ID, "eu", "SO0001")]


async def test_a_replay_finds_the_order_where_the_pipeline_lost_track_of_it(
    world: World,
) -> None:
    ex_id = await post_then_fail_acknowledging(world)
    world.pipeline.summaries[(SHOP, ORDER_ID)].pop("erp_instance")

    await world.service.replay(ex_id, US_ORDER)
    [replayed] = world.stream.entries
    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(delivered(encode_entry(replayed)))

    assert failure.value.kind == REROUTE_NEEDS_OPERATOR
    assert world.eu.lookups == [f"shopify:{SHOP}:{ORDER_ID}"]
    assert world.us.orders == {}


async def test_an_order_cancelled_where_it_was_may_be_posted_where_routing_says(
    world: World,
) -> None:
    ex_id = await post_then_fail_acknowledging(world)
    await world.eu.cancel("eu-1")  # the operator's move: cancel it there, then replay

    await world.service.replay(ex_id, US_ORDER)
    [replayed] = world.stream.entries
    await world.service.handle(delivered(encode_entry(replayed)))

    assert len(world.us.orders) == 1
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"
    assert world.shopify.acknowledged[-1][2] == "us"


async def test_a_first_delivery_asks_no_other_instance(world: World) -> None:
    await create(world)
    assert world.eu.lookups == world.us.lookups == []


async def test_a_failed_posting_routed_elsewhere_on_replay_is_posted_there(
    world: World,
) -> None:
    world.eu.fail = PermanentFailure("erp eu create order: 422 unknown SKU", kind="http-422")
    entry = webhook("orders/create")
    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(entry)
    await world.service.on_dead_letter(entry, failure.value.reason, failure.value.kind)
    world.eu.fail = None

    await world.service.replay(exception_id(SHOP, ORDER_ID, "orders/create"), US_ORDER)
    [replayed] = world.stream.entries
    await world.service.handle(delivered(encode_entry(replayed)))

    assert world.eu.lookups == [f"shopify:{SHOP}:{ORDER_ID}"]
    assert len(world.us.orders) == 1
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"


# -- channels' reference namespaces -----------------------------------------------------------


def test_a_channel_order_takes_its_channels_reference() -> None:
    draft = channel_order_draft("pos.store-12", "A-77", channel_draft("receipt 77"))
    assert draft.external_reference == "channel:pos.store-12:A-77"
    assert draft.channel == "pos.store-12"
    assert channel_order_draft("pos.store-12", "A-77", draft) == draft


@pytest.mark.parametrize(
    "claimed",
    [
        f"shopify:{SHOP}:{ORDER_ID}",
        "SHOPIFY:anything",
        "channel:web:A-77",
        "channel:pos.store-12:A-78",
    ],
)
def test_a_channel_order_cannot_claim_another_namespace(claimed: str) -> None:
    with pytest.raises(ReferenceRefused) as refused:
        channel_order_draft("pos.store-12", "A-77", channel_draft(claimed))
    [error] = refused.value.errors
    assert error["field"] == "order.external_reference"


def test_a_channel_cannot_be_named_like_a_shopify_shop() -> None:
    with pytest.raises(ReferenceRefused) as refused:
        channel_order_draft(SHOP, ORDER_ID, channel_draft())
    assert refused.value.errors[0]["field"] == "channel"


def test_a_reference_too_long_for_the_erp_is_refused() -> None:
    with pytest.raises(ReferenceRefused) as refused:
        channel_order_draft("c" * 64, "o" * 128, channel_draft())
    assert refused.value.errors[0]["field"] == "order_id"


async def test_intake_refuses_a_shopify_reference_and_queues_nothing(world: World) -> None:
    with pytest.raises(ReferenceRefused):
        await world.service.accept_channel_order(
            "pos.store-12", ORDER_ID, channel_draft(f"shopify:{SHOP}:{ORDER_ID}")
        )
    assert world.stream.entries == []
    assert world.pipeline.summaries == {}


async def test_a_queued_entry_claiming_shopifys_reference_is_never_posted(
    world: World,
) -> None:
    # Queued before references were namespaced, or replayed with an edited body.
    draft = channel_draft(f"shopify:{SHOP}:{ORDER_ID}")
    entry = ChannelOrder(
        shop="pos.store-12", order_id="A-77", body=msgspec.json.encode(draft).decode()
    )
    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(delivered(encode_entry(entry)))
    assert failure.value.kind == "mapping"
    assert world.eu.posted == world.us.posted == []
