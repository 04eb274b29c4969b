"""The stream contract: names of every family and shard, and typed entries both ways."""

from __future__ import annotations

import pytest

from shared.events import ATTEMPT, HISTORY, ORIGINAL_ID
from shared.streams import (
    CATALOG,
    CHANNEL_ORDER_TOPIC,
    COMPLIANCE,
    COMPLIANCE_TOPICS,
    FAMILIES,
    INVENTORY,
    ORDERS,
    ORDERS_CREATE,
    REFUNDS_CREATE,
    TOPIC_FAMILIES,
    WEBHOOK_LAYOUT,
    ChannelOrder,
    MalformedEntry,
    WebhookEvent,
    WebhookStreams,
    decode_entry,
    encode_entry,
)

SHOP = "demo-eu.myshopify.com"

EVENT = WebhookEvent(
    topic=ORDERS_CREATE,
    shop=SHOP,
    body='{"id": 820982911946154508}',
    event_id="ev-1",
    webhook_id="wh-1",
    triggered_at="2026-05-01T10:00:00.000Z",
    api_version="2026-10",
    received_at="2026-05-01T10:00:00.123Z",
    traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
)
CHANNEL = ChannelOrder(shop="pos:store-12", order_id="R-77", body='{"lines": []}')


@pytest.mark.parametrize("entry", [EVENT, CHANNEL], ids=["webhook", "channel"])
def test_an_entry_survives_encoding_and_decoding(entry: WebhookEvent | ChannelOrder) -> None:
    assert decode_entry(encode_entry(entry)) == entry


def test_fields_left_at_none_are_not_written() -> None:
    fields = encode_entry(EVENT)
    assert "tracestate" not in fields
    assert "replay_of" not in fields
    assert fields["traceparent"] == EVENT.traceparent
    assert encode_entry(CHANNEL) == {
        "shop": "pos:store-12",
        "order_id": "R-77",
        "body": '{"lines": []}',
        "topic": CHANNEL_ORDER_TOPIC,
    }


def test_the_workers_own_fields_never_reach_the_entry() -> None:
    fields = {
        **encode_entry(EVENT),
        ATTEMPT: "3",
        HISTORY: '[{"at": 1.0, "error": "erp 503", "kind": "transient"}]',
        ORIGINAL_ID: "1714557600000-0",
        "strata_error": "gave up",
    }
    assert decode_entry(fields) == EVENT


def test_fields_the_contract_does_not_know_are_ignored() -> None:
    # A newer producer may add fields; an older consumer still reads the entry.
    assert decode_entry({**encode_entry(EVENT), "added_later": "x"}) == EVENT
    assert decode_entry({**encode_entry(CHANNEL), "channel_version": "2"}) == CHANNEL


def test_missing_optional_fields_take_their_defaults() -> None:
    entry = decode_entry({"topic": REFUNDS_CREATE, "shop": SHOP, "body": "{}"})
    assert entry == WebhookEvent(topic=REFUNDS_CREATE, shop=SHOP, body="{}")
    assert isinstance(entry, WebhookEvent)
    assert entry.event_id == ""
    assert entry.traceparent is None


def test_the_topic_chooses_the_struct() -> None:
    assert isinstance(decode_entry(encode_entry(CHANNEL)), ChannelOrder)
    assert isinstance(decode_entry(encode_entry(EVENT)), WebhookEvent)
    # Only the channel topic makes a channel order, whatever else the fields hold.
    webhook = decode_entry({"topic": ORDERS_CREATE, "shop": SHOP, "body": "{}", "order_id": "1"})
    assert isinstance(webhook, WebhookEvent)


@pytest.mark.parametrize(
    ("fields", "kind", "names"),
    [
        ({"topic": ORDERS_CREATE, "body": "{}"}, "WebhookEvent", "shop"),
        ({"topic": ORDERS_CREATE, "shop": SHOP}, "WebhookEvent", "body"),
        ({}, "WebhookEvent", "topic"),
        ({"topic": CHANNEL_ORDER_TOPIC, "shop": "pos:1", "body": "{}"}, "ChannelOrder", "order_id"),
    ],
)
def test_a_malformed_entry_says_what_is_wrong(
    fields: dict[str, str], kind: str, names: str
) -> None:
    with pytest.raises(MalformedEntry, match=kind) as raised:
        decode_entry(fields)
    assert names in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_the_webhook_layout_names_fields_of_the_webhook_event() -> None:
    assert set(WEBHOOK_LAYOUT) <= set(WebhookEvent.__struct_fields__)
    assert len(set(WEBHOOK_LAYOUT)) == len(WEBHOOK_LAYOUT)
    # Every required field is written by the ingress.
    required = {"topic", "shop", "body"}
    assert required <= set(WEBHOOK_LAYOUT)


def test_every_topic_has_a_family_and_compliance_topics_are_its_own() -> None:
    assert set(TOPIC_FAMILIES.values()) == set(FAMILIES) == {ORDERS, INVENTORY, COMPLIANCE, CATALOG}
    assert {t for t, f in TOPIC_FAMILIES.items() if f == COMPLIANCE} == COMPLIANCE_TOPICS
    assert CHANNEL_ORDER_TOPIC not in TOPIC_FAMILIES


def test_a_sharded_family_is_read_from_every_shard_and_a_shop_stays_on_one() -> None:
    streams = WebhookStreams("strata:webhooks", shards=3)
    assert streams.streams(ORDERS) == [
        "strata:webhooks:{orders-0}",
        "strata:webhooks:{orders-1}",
        "strata:webhooks:{orders-2}",
    ]
    shards = {streams.for_shop(ORDERS, f"shop-{n}.myshopify.com") for n in range(50)}
    assert shards == set(streams.streams(ORDERS))
    assert streams.for_topic(ORDERS_CREATE, SHOP) == streams.for_shop(ORDERS, SHOP)
    assert streams.for_topic(ORDERS_CREATE, SHOP) == streams.for_topic(REFUNDS_CREATE, SHOP)
    assert WebhookStreams().streams(ORDERS) == ["strata:webhooks:{orders}"]
    with pytest.raises(ValueError, match="at least 1"):
        WebhookStreams(shards=0)
