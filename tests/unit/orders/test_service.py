"""The orders service on every path, against in-memory stores and clients (no Redis, no HTTP)."""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from process_apis.orders.downstream import NothingToReturn
from process_apis.orders.exceptions import exception_id
from process_apis.orders.locks import RedisOrderLocks
from process_apis.orders.mapping import external_reference
from process_apis.orders.service import NotReplayable, OrdersService
from process_apis.orders.settings import OrdersSettings
from shared.events import (
    Attempt,
    Entry,
    PermanentFailure,
    StreamWorker,
    TransientFailure,
    publish,
    stream_keys,
)
from shared.models import Customer, OrderLine, SalesOrderDraft
from shared.problems import Conflict, ServiceUnavailable
from shared.streams import ChannelOrder, WebhookEvent, encode_entry
from tests.unit.orders.fakes import (
    FakeAcknowledgements,
    FakeCustomerIndex,
    FakeErp,
    FakeExceptions,
    FakeLocks,
    FakeOrderStream,
    FakePipeline,
    FakeShopify,
)

SHOP = "demo-eu.myshopify.com"
ORDER_ID = "820982911946154508"
ORDER: dict[str, Any] = {
    "id": int(ORDER_ID),
    "name": "#1001",
    "email": "ada@example.com",
    "currency": "EUR",
    "created_at": "2026-11-20T10:00:00+01:00",
    "total_price": "59.70",
    "customer": {"first_name": "Ada", "last_name": "Lovelace"},
    "line_items": [
        {"sku": "TSHIRT-BLK-M", "quantity": 2, "price": "19.90", "title": "Tee"},
        {"sku": "MUG-WHT", "quantity": 1, "price": "19.90", "title": "Mug"},
    ],
    "shipping_address": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address1": "1 Main St",
        "city": "Paris",
        "zip": "75001",
        "country_code": "FR",
    },
}
BODY = msgspec.json.encode(ORDER).decode()
_ids = itertools.count(1)


@dataclass
class World:
    """The service and the fakes it was built on."""

    settings: OrdersSettings
    pipeline: FakePipeline = field(default_factory=FakePipeline)
    exceptions: FakeExceptions = field(default_factory=FakeExceptions)
    locks: FakeLocks = field(default_factory=FakeLocks)
    acks: FakeAcknowledgements = field(default_factory=FakeAcknowledgements)
    customers: FakeCustomerIndex = field(default_factory=FakeCustomerIndex)
    stream: FakeOrderStream = field(default_factory=FakeOrderStream)
    eu: FakeErp = field(default_factory=lambda: FakeErp("eu"))
    us: FakeErp = field(default_factory=lambda: FakeErp("us"))
    shopify: FakeShopify = field(default_factory=FakeShopify)

    def __post_init__(self) -> None:
        # One fencing counter per order, as the lock and the pipeline share it in Redis.
        self.pipeline.fences = self.locks.fences
        self.service = OrdersService(
            self.settings,
            pipeline=self.pipeline,
            exceptions=self.exceptions,
            locks=self.locks,
            acknowledgements=self.acks,
            customers=self.customers,
            stream=self.stream,
            erps={"eu": self.eu, "us": self.us},
            shopify=self.shopify,
        )


def build(settings: OrdersSettings | None = None) -> World:
    return World(settings or OrdersSettings())


@pytest.fixture
def world() -> World:
    return build()


def order(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(ORDER)
    body.update(changes)
    return body


def delivered(fields: dict[str, str], *, history: list[Attempt] | None = None) -> Entry:
    """An entry as the stream worker hands it to the handler."""
    return Entry(id=f"{next(_ids)}-0", fields=fields, attempt=1, history=history or [])


def webhook(topic: str, body: dict[str, Any] | None = None, *, shop: str = SHOP) -> Entry:
    event = WebhookEvent(
        topic=topic,
        shop=shop,
        body=msgspec.json.encode(ORDER if body is None else body).decode(),
        event_id=f"ev-{next(_ids)}",
    )
    return delivered(encode_entry(event))


async def create(world: World, body: dict[str, Any] | None = None) -> None:
    await world.service.handle(webhook("orders/create", body))


# -- orders/create ----------------------------------------------------------------------------


async def test_an_order_is_posted_to_its_erp_and_acknowledged_in_shopify(world: World) -> None:
    await create(world)

    [draft] = world.eu.posted
    assert draft.external_reference == external_reference(SHOP, ORDER_ID)
    assert world.us.posted == []
    assert world.pipeline.steps(SHOP, ORDER_ID) == [
        "received",
        "validated",
        "routed",
        "posted",
        "acknowledged",
    ]
    summary = await world.pipeline.summary(SHOP, ORDER_ID)
    assert summary["state"] == "acknowledged"
    assert summary["erp_instance"] == "eu"
    assert summary["erp_order_id"] == "eu-1"
    assert summary["erp_order_number"] == "SO0001"
    assert world.shopify.acknowledged == [(SHOP, ORDER_ID, "eu", "SO0001")]
    assert world.acks.waiting == {}
    assert world.acks.done == [(SHOP, ORDER_ID)]
    assert [(s, o) for s, o, _ in world.customers.added] == [(SHOP, ORDER_ID)]
    assert world.locks.taken == [(SHOP, ORDER_ID)]


async def test_routing_sends_an_american_order_to_the_us_erp(world: World) -> None:
    body = order(shipping_address={**ORDER["shipping_address"], "country_code": "US"})
    await create(world, body)
    assert world.eu.posted == []
    assert len(world.us.posted) == 1
    assert world.shopify.acknowledged == [(SHOP, ORDER_ID, "us", "SO0001")]


async def test_without_acknowledgement_the_order_stays_posted() -> None:
    world = build(OrdersSettings(acknowledge_in_shopify=False))
    await create(world)
    assert world.pipeline.state(SHOP, ORDER_ID) == "posted"
    assert world.shopify.acknowledged == []
    assert world.acks.waiting == {}
    assert len(world.eu.posted) == 1


async def test_a_duplicate_delivery_posts_nothing_more(world: World) -> None:
    await create(world)
    await create(world)

    assert len(world.eu.posted) == 1
    assert len(world.shopify.acknowledged) == 1
    assert world.pipeline.steps(SHOP, ORDER_ID)[-1] == "duplicate ignored"
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"


# -- late creates -----------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["orders/paid", "orders/updated"])
async def test_a_late_create_before_orders_create_fetches_the_order_and_posts_it(
    world: World, topic: str
) -> None:
    world.shopify.orders[(SHOP, ORDER_ID)] = order()
    # The webhook's own snapshot is not used: the order is read from Shopify.
    await world.service.handle(webhook(topic, {"id": int(ORDER_ID)}))

    assert world.shopify.fetched == [(SHOP, ORDER_ID)]
    assert len(world.eu.posted) == 1
    steps = world.pipeline.history[(SHOP, ORDER_ID)]
    assert (steps[0].step, steps[0].detail) == ("fetched", f"after {topic}")
    assert (steps[1].step, steps[1].detail) == ("received", topic)
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"
    assert world.shopify.acknowledged == [(SHOP, ORDER_ID, "eu", "SO0001")]


@pytest.mark.parametrize("topic", ["orders/paid", "orders/updated"])
async def test_a_late_create_after_orders_create_is_only_noted(world: World, topic: str) -> None:
    await create(world)
    await world.service.handle(webhook(topic))

    assert world.shopify.fetched == []
    assert len(world.eu.posted) == 1
    assert world.pipeline.steps(SHOP, ORDER_ID)[-1] == f"{topic} noted"
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"


# -- cancelling -------------------------------------------------------------------------------


async def test_a_cancel_before_posting_records_the_order_cancelled(world: World) -> None:
    await world.service.handle(webhook("orders/cancelled", order(cancelled_at="2026-11-20")))

    assert world.eu.lookups == [external_reference(SHOP, ORDER_ID)]
    assert world.eu.cancelled == []
    assert world.pipeline.steps(SHOP, ORDER_ID) == ["cancelled before posting"]
    assert world.pipeline.state(SHOP, ORDER_ID) == "cancelled"
    assert world.acks.done == [(SHOP, ORDER_ID)]
    # The orders/create that arrives after it does not post the cancelled order.
    await create(world)
    assert world.eu.posted == []
    assert world.pipeline.steps(SHOP, ORDER_ID)[-1] == "not posted"


async def test_a_cancel_after_posting_cancels_the_erp_order(world: World) -> None:
    await create(world)
    await world.service.handle(webhook("orders/cancelled", order(cancelled_at="2026-11-20")))

    assert world.eu.cancelled == ["eu-1"]
    assert world.eu.orders["eu-1"].status == "cancelled"
    assert world.eu.lookups == []  # the pipeline knew where it was posted
    history = world.pipeline.history[(SHOP, ORDER_ID)]
    assert (history[-1].step, history[-1].detail) == ("cancelled", "eu eu-1")
    assert world.pipeline.state(SHOP, ORDER_ID) == "cancelled"


async def test_a_cancelled_order_no_longer_awaits_acknowledgement(world: World) -> None:
    world.shopify.fail = TransientFailure("shopify tag order: 503")
    with pytest.raises(TransientFailure):
        await create(world)
    assert world.pipeline.state(SHOP, ORDER_ID) == "posted"
    assert (SHOP, ORDER_ID) in world.acks.waiting

    await world.service.handle(webhook("orders/cancelled", order(cancelled_at="2026-11-20")))
    assert world.eu.cancelled == ["eu-1"]
    assert world.acks.waiting == {}


async def test_a_cancel_finds_an_order_the_pipeline_lost_track_of(world: World) -> None:
    await create(world)
    world.pipeline.summaries.clear()
    await world.service.handle(webhook("orders/cancelled", order(cancelled_at="2026-11-20")))

    assert world.eu.lookups == [external_reference(SHOP, ORDER_ID)]
    assert world.eu.cancelled == ["eu-1"]
    assert world.pipeline.state(SHOP, ORDER_ID) == "cancelled"


async def test_a_cancel_after_shipment_returns_what_shipped(world: World) -> None:
    await create(world)
    world.eu.shipped.add("eu-1")
    await world.service.handle(webhook("orders/cancelled", order(cancelled_at="2026-11-21")))

    assert world.eu.cancelled == []
    assert list(world.eu.returned) == ["eu-1"]
    assert world.pipeline.steps(SHOP, ORDER_ID)[-1] == "returned after cancel"
    assert world.pipeline.state(SHOP, ORDER_ID) == "cancelled"
    assert world.exceptions.records == {}


async def test_a_cancel_refused_with_nothing_shipped_becomes_an_exception(world: World) -> None:
    await create(world)
    world.eu.uncancellable["eu-1"] = "the invoice is paid"
    cancel = webhook("orders/cancelled", order(cancelled_at="2026-11-21"))

    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(cancel)
    assert failure.value.kind == "cancel-after-shipment"
    assert "the invoice is paid" in failure.value.reason
    assert "refund or credit by hand" in failure.value.reason
    assert isinstance(failure.value.__cause__, NothingToReturn)
    assert world.eu.cancelled == []
    assert world.eu.returned == {}
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"

    await world.service.on_dead_letter(cancel, failure.value.reason, failure.value.kind)
    record = world.exceptions.records[exception_id(SHOP, ORDER_ID, "orders/cancelled")]
    assert (record.state, record.kind, record.topic) == (
        "open",
        "cancel-after-shipment",
        "orders/cancelled",
    )
    assert world.pipeline.state(SHOP, ORDER_ID) == "exception"


# -- failures ---------------------------------------------------------------------------------


async def test_an_erp_outage_is_a_transient_failure(world: World) -> None:
    world.eu.fail = TransientFailure("erp eu create order: 503 Tryton is down")

    with pytest.raises(TransientFailure, match="503"):
        await create(world)
    assert world.pipeline.state(SHOP, ORDER_ID) == "routed"
    assert world.shopify.acknowledged == []
    assert (SHOP, ORDER_ID) in world.acks.waiting
    assert world.customers.added == []
    assert world.locks.held == set()


async def test_a_slow_erp_is_cut_at_the_erp_timeout() -> None:
    world = build(OrdersSettings(erp_timeout=0.05))
    world.eu.delay = 1.0

    with pytest.raises(TransientFailure, match=r"erp eu create order: no answer within 0.05 s"):
        await create(world)
    assert world.eu.posted == []
    assert world.pipeline.state(SHOP, ORDER_ID) == "routed"


async def test_an_order_that_cannot_be_mapped_is_a_permanent_failure(world: World) -> None:
    with pytest.raises(PermanentFailure) as failure:
        await create(world, order(email=None, currency="euro"))

    assert failure.value.kind == "mapping"
    assert "email" in failure.value.reason
    assert "currency" in failure.value.reason
    assert world.eu.posted == world.us.posted == []
    assert world.pipeline.state(SHOP, ORDER_ID) == "received"


async def test_an_order_no_route_can_take_is_a_permanent_failure() -> None:
    world = build(OrdersSettings(default_instance="uk"))
    with pytest.raises(PermanentFailure) as failure:
        await create(world)
    assert failure.value.kind == "routing"
    assert world.eu.posted == world.us.posted == []


@pytest.mark.parametrize(
    "fields",
    [
        {"topic": "orders/create", "body": BODY},  # no shop
        {"topic": "orders/create", "shop": "", "body": BODY},
        {"topic": "orders/create", "shop": SHOP},  # no body
        {"topic": "orders/create", "shop": SHOP, "body": "not json"},
        {"topic": "orders/create", "shop": SHOP, "body": "[1, 2]"},
        {"topic": "orders/create", "shop": SHOP, "body": '{"name": "#1001"}'},  # no order id
        {"topic": "strata/orders.create", "shop": "pos", "order_id": "1", "body": "{}"},
    ],
)
async def test_a_malformed_entry_is_a_permanent_failure(
    world: World, fields: dict[str, str]
) -> None:
    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(delivered(fields))
    assert failure.value.kind in {"malformed", "mapping"}
    assert world.eu.posted == []


async def test_topics_of_other_processes_are_left_alone(world: World) -> None:
    await world.service.handle(webhook("refunds/create", {"id": 1, "order_id": int(ORDER_ID)}))
    assert world.pipeline.summaries == {}
    assert world.locks.taken == []


# -- the order's lock -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refusal", "words"),
    [
        (
            Conflict(
                f"order:{SHOP}:{ORDER_ID} is being processed by another request", retry_after=1
            ),
            "held by another worker",
        ),
        (
            ServiceUnavailable(
                "lock store unavailable: Error 111 connecting to 127.0.0.1:6379.\n"
                "Connection refused.",
                retry_after=2,
            ),
            "out of reach",
        ),
    ],
)
@pytest.mark.parametrize("topic", ["orders/create", "orders/cancelled"])
async def test_a_lock_that_cannot_be_taken_is_a_transient_failure_and_one_warning(
    world: World, caplog: pytest.LogCaptureFixture, refusal: Exception, words: str, topic: str
) -> None:
    world.locks.refuse = refusal
    entry = webhook(topic, order(cancelled_at="2026-11-21") if "cancel" in topic else None)

    with caplog.at_level(logging.DEBUG), pytest.raises(TransientFailure) as failure:
        await world.service.handle(entry)
    reason = failure.value.reason
    assert reason.startswith(f"{SHOP} {ORDER_ID}: the order's lock is {words} (")
    assert "\n" not in reason
    assert failure.value.retry_after == getattr(refusal, "retry_after", None)
    assert failure.value.__cause__ is refusal
    [line] = caplog.records
    assert (line.name, line.levelno, line.exc_info) == ("strata.orders", logging.WARNING, None)
    assert line.getMessage() == f"entry {entry.id}, attempt 1: {reason}"
    assert world.pipeline.summaries == {}
    assert world.eu.posted == []
    assert world.eu.lookups == []


async def test_a_conflict_under_the_lock_is_not_taken_for_the_locks(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.eu.fail = Conflict("not the lock's")
    with caplog.at_level(logging.WARNING), pytest.raises(Conflict, match="not the lock's"):
        await create(world)
    assert caplog.records == []
    assert world.locks.held == set()


@pytest.mark.integration
async def test_a_killed_workers_lock_is_retried_with_a_warning_not_a_traceback(
    redis_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real lock and stream worker: a holder that died keeps its lease until it runs out;
    meanwhile its order's entries wait and retry, and nothing logs an error."""
    from redis.asyncio import Redis

    from process_apis.orders import locks

    monkeypatch.setattr(locks, "WAIT_FOR_HOLDER", 0.2)
    redis = Redis.from_url(redis_url)
    prefix, stream = f"test-{uuid.uuid4().hex[:8]}", f"orders-{uuid.uuid4().hex[:8]}"
    # The killed worker: it took the lock and never let go (until the end of the test).
    killed = RedisOrderLocks(redis, ttl=30, prefix=prefix).hold(SHOP, ORDER_ID)
    await killed.__aenter__()
    world = build()
    service = OrdersService(
        world.settings,
        pipeline=world.pipeline,
        exceptions=world.exceptions,
        locks=RedisOrderLocks(redis, ttl=30, prefix=prefix),
        acknowledgements=world.acks,
        customers=world.customers,
        stream=world.stream,
        erps={"eu": world.eu, "us": world.us},
        shopify=world.shopify,
    )
    worker = StreamWorker(redis, stream, "orders", service.handle, block=0.05, base_delay=30)
    await worker.ensure_group()
    await publish(redis, stream, webhook("orders/create").payload)
    _, retry_set, _ = stream_keys(stream)
    task = asyncio.create_task(worker.run())
    try:
        with caplog.at_level(logging.INFO):
            async with asyncio.timeout(10):
                while not await redis.zcard(retry_set):
                    await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
        await killed.__aexit__(None, None, None)
        await redis.aclose()

    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    [line] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert line.name == "strata.orders"
    assert "the order's lock is held by another worker" in line.getMessage()
    assert world.eu.posted == []


# -- dead letters and replay ------------------------------------------------------------------


async def test_a_buried_entry_becomes_an_exception_record(world: World) -> None:
    body = order(email=None)
    entry = webhook("orders/create", body)
    attempts = [Attempt(at=1.0, error="erp eu create order: 503", kind="transient")]
    buried = msgspec.structs.replace(entry, history=attempts)

    await world.service.on_dead_letter(buried, "mapping failed: email", "mapping")

    ex_id = exception_id(SHOP, ORDER_ID, "orders/create")
    record = world.exceptions.records[ex_id]
    assert (record.state, record.kind, record.error) == ("open", "mapping", "mapping failed: email")
    assert (record.shop, record.order_id, record.topic) == (SHOP, ORDER_ID, "orders/create")
    assert record.correlation_id == entry.fields["event_id"]
    assert record.payload == entry.payload
    assert [(r.error, r.kind) for r in record.retry_history] == [
        ("erp eu create order: 503", "transient")
    ]
    assert record.impact.order_value == "59.70"
    assert record.impact.currency == "EUR"
    assert record.impact.line_count == 2
    summary = await world.pipeline.summary(SHOP, ORDER_ID)
    assert (summary["state"], summary["exception_id"]) == ("exception", ex_id)

    # Buried again (after a replay): the same record, reopened, its history kept.
    await world.service.on_dead_letter(buried, "mapping failed: email", "mapping")
    assert list(world.exceptions.records) == [ex_id]
    assert len(world.exceptions.records[ex_id].retry_history) == 2


async def test_a_malformed_entry_is_recorded_from_what_it_has(world: World) -> None:
    entry = delivered({"shop": SHOP, "body": "not json"})
    await world.service.on_dead_letter(entry, "not a WebhookEvent entry", "malformed")
    [record] = world.exceptions.records.values()
    assert (record.shop, record.topic, record.order_id) == (SHOP, "unknown", "unknown")
    assert record.payload == {"shop": SHOP, "body": "not json"}
    with pytest.raises(NotReplayable):
        await world.service.replay(record.id, None)
    assert world.stream.entries == []


async def bury_unmappable(world: World) -> str:
    entry = webhook("orders/create", order(email=None))
    with pytest.raises(PermanentFailure) as failure:
        await world.service.handle(entry)
    await world.service.on_dead_letter(entry, failure.value.reason, failure.value.kind)
    return exception_id(SHOP, ORDER_ID, "orders/create")


async def test_a_replay_puts_the_same_entry_back_on_the_stream(world: World) -> None:
    ex_id = await bury_unmappable(world)
    original = world.exceptions.records[ex_id]

    record, entry_id = await world.service.replay(ex_id, None)

    assert entry_id == "1-0"
    [replayed] = world.stream.entries
    assert isinstance(replayed, WebhookEvent)
    assert replayed.body == original.payload["body"]
    assert replayed.event_id == original.payload["event_id"]
    assert (replayed.replay_of, replayed.correlation_id) == (ex_id, original.correlation_id)
    assert (record.state, record.replays) == ("replayed", 1)
    assert world.pipeline.steps(SHOP, ORDER_ID)[-1] == "replayed"
    assert world.pipeline.state(SHOP, ORDER_ID) == "received"
    with pytest.raises(LookupError):
        await world.service.replay("0" * 20, None)


async def test_an_edited_replay_posts_the_edited_order(world: World) -> None:
    ex_id = await bury_unmappable(world)
    fixed = order(email="ada.lovelace@example.com")

    await world.service.replay(ex_id, fixed)

    [replayed] = world.stream.entries
    assert msgspec.json.decode(replayed.body) == fixed
    await world.service.handle(delivered(encode_entry(replayed)))
    [draft] = world.eu.posted
    assert draft.customer.email == "ada.lovelace@example.com"
    assert world.pipeline.state(SHOP, ORDER_ID) == "acknowledged"
    status = await world.pipeline.status(SHOP, ORDER_ID)
    assert status is not None
    assert status.correlation_id == world.exceptions.records[ex_id].correlation_id


# -- orders from other channels ---------------------------------------------------------------


def channel_draft(reference: str = "A-77") -> SalesOrderDraft:
    return SalesOrderDraft(
        external_reference=reference,
        currency="USD",
        customer=Customer(email="grace@example.com", name="Grace Hopper"),
        lines=[OrderLine(sku="MUG-WHT", quantity=1, unit_price=Decimal("19.90"))],
    )


async def test_a_channel_order_is_queued_then_posted_without_shopify(world: World) -> None:
    draft = channel_draft()
    entry_id = await world.service.accept_channel_order("pos.store-12", "A-77", draft)

    assert entry_id == "1-0"
    [queued] = world.stream.entries
    assert isinstance(queued, ChannelOrder)
    assert (queued.shop, queued.order_id, queued.topic) == (
        "pos.store-12",
        "A-77",
        "strata/orders.create",
    )
    # Posted under the channel's own reference, not the one the body carried.
    posted = msgspec.structs.replace(
        draft, external_reference="channel:pos.store-12:A-77", channel="pos.store-12"
    )
    assert msgspec.json.decode(queued.body, type=SalesOrderDraft) == posted
    assert queued.correlation_id
    assert world.pipeline.state("pos.store-12", "A-77") == "received"

    await world.service.handle(delivered(encode_entry(queued)))
    assert world.us.posted == [posted]  # USD routes to the US ERP
    assert world.locks.taken == [("pos.store-12", "A-77")]
    assert world.shopify.acknowledged == []
    assert world.pipeline.state("pos.store-12", "A-77") == "posted"
    assert world.pipeline.steps("pos.store-12", "A-77") == [
        "accepted",
        "received",
        "routed",
        "posted",
    ]
    status = await world.pipeline.status("pos.store-12", "A-77")
    assert status is not None
    assert status.correlation_id == queued.correlation_id
    # Delivered again: not posted a second time.
    await world.service.handle(delivered(encode_entry(queued)))
    assert len(world.us.posted) == 1
