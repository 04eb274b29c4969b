"""HMAC checks, header reading and stream naming, without Redis."""

from __future__ import annotations

from shared.streams import WebhookStreams
from system_apis.shopify.ingress import shopify_headers, sign, signature_matches


def test_signature_matches_current_or_previous_secret_only() -> None:
    body = b'{"id": 1}'
    signature = sign("old", body)
    assert signature_matches(body, signature, (b"new", b"old"))
    assert not signature_matches(body, signature, (b"new",))
    assert not signature_matches(body + b" ", signature, (b"new", b"old"))
    assert not signature_matches(body, "%%%not-base64", (b"old",))


def test_sign_agrees_with_shopifys_own_library() -> None:
    from shopify_app.verify.webhook import verify_webhook_req

    body = '{"id": 820982911946154508}'
    for name in ("X-Shopify-Hmac-Sha256", "shopify-hmac-sha256"):
        result = verify_webhook_req(
            {"method": "POST", "headers": {name: sign("secret", body.encode())}, "body": body},
            {"client_id": "id", "client_secret": "secret"},
        )
        assert result.ok, result


def test_prefixed_header_wins_and_unprefixed_is_read() -> None:
    raw = [
        (b"shopify-topic", b"orders/paid"),
        (b"x-shopify-topic", b"orders/create"),
        (b"shopify-event-id", b"ev-1"),
        (b"traceparent", b"00-abc"),
        (b"user-agent", b"Shopify-Captain-Hook"),
    ]
    headers = shopify_headers(raw)
    assert headers == {"topic": b"orders/create", "event-id": b"ev-1", "traceparent": b"00-abc"}


def test_streams_keep_the_seen_key_in_the_stream_slot() -> None:
    streams = WebhookStreams("strata:webhooks", shards=4)
    stream = streams.for_topic("orders/create", "demo-eu.myshopify.com")
    assert stream is not None
    assert stream == streams.for_topic("refunds/create", "demo-eu.myshopify.com")
    tag = stream[stream.index("{") : stream.index("}") + 1]
    assert tag.startswith("{orders-")
    assert tag in streams.seen_key(stream, "demo-eu.myshopify.com", "ev-1")
    assert streams.for_topic("app/uninstalled", "demo-eu.myshopify.com") is None
    single = WebhookStreams()
    assert single.streams("compliance") == ["strata:webhooks:{compliance}"]
