"""The sandbox's webhook sender signs, retries, duplicates and reorders like Shopify."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import httpx
import pytest
from shopify_app import ShopifyApp

from sandbox.shopify import OrderDraft, OrderLineDraft, SandboxSettings, ShopifySandbox
from sandbox.shopify.webhooks import backoff_schedule

SHOP = "demo-eu.myshopify.com"
HOOK = "https://ingress.example/webhooks"


class Receiver:
    """A webhook endpoint answering with ``answer(n)`` for its n-th request."""

    def __init__(self, answer: Callable[[int], int] = lambda n: 200) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.answer(len(self.requests)))


def make_sandbox(receiver: Receiver, time_scale: float = 100_000.0) -> ShopifySandbox:
    sandbox = ShopifySandbox(
        SandboxSettings(time_scale=time_scale),
        webhook_transport=httpx.MockTransport(receiver),
    )
    sandbox.webhooks.subscribe(SHOP, "orders/create", HOOK)
    sandbox.webhooks.subscribe(SHOP, "orders/paid", HOOK)
    return sandbox


def place(sandbox: ShopifySandbox, financial_status: str = "pending") -> int:
    draft = OrderDraft(
        line_items=[OrderLineDraft(sku="STR-HOOD-GRY-M", quantity=1)],
        financial_status=financial_status,
    )
    return sandbox.create_order(SHOP, draft).id


def test_backoff_is_eight_doubling_delays_over_four_hours() -> None:
    delays = backoff_schedule(8, 4 * 3600)
    assert len(delays) == 8
    assert sum(delays) == pytest.approx(4 * 3600)
    assert all(b == pytest.approx(2 * a) for a, b in itertools.pairwise(delays))


async def test_signature_verifies_with_shopify_library() -> None:
    receiver = Receiver()
    sandbox = make_sandbox(receiver)
    order_id = place(sandbox)
    await sandbox.webhooks.drain()
    request = receiver.requests[0]
    body = request.content.decode()
    app = ShopifyApp(client_id=sandbox.client_id, client_secret=sandbox.client_secret)
    result = app.verify_webhook_req(
        {"method": "POST", "headers": dict(request.headers), "url": HOOK, "body": body}
    )
    assert result.ok, result.log
    assert result.shop == "demo-eu"
    headers = request.headers
    assert headers["x-shopify-topic"] == "orders/create"
    assert headers["x-shopify-shop-domain"] == SHOP
    assert headers["x-shopify-api-version"] == "2026-04"
    assert headers["content-type"] == "application/json"
    for name in ("x-shopify-webhook-id", "x-shopify-event-id", "x-shopify-triggered-at"):
        assert headers[name]
    payload = request.read()
    assert str(order_id).encode() in payload
    assert 2500 < len(payload) < 8000
    tampered = ShopifyApp(client_id=sandbox.client_id, client_secret="not-the-secret")
    assert not tampered.verify_webhook_req(
        {"method": "POST", "headers": dict(headers), "url": HOOK, "body": body}
    ).ok
    await sandbox.close()


async def test_failing_receiver_gets_eight_retries_then_subscription_removed() -> None:
    receiver = Receiver(lambda n: 500)
    sandbox = make_sandbox(receiver)
    place(sandbox)
    await sandbox.webhooks.drain(within=10)
    [delivery] = sandbox.webhooks.log(topic="orders/create")
    assert len(delivery.attempts) == 9  # first try + 8 retries
    assert [a.status for a in delivery.attempts] == [500] * 9
    assert delivery.state == "failed"
    ids = {r.headers["x-shopify-webhook-id"] for r in receiver.requests}
    assert ids == {delivery.webhook_id}  # one delivery, retried under the same id
    sub = next(s for s in sandbox.webhooks.subscriptions(SHOP) if s.topic == "orders/create")
    assert sub.active is False
    await sandbox.close()


async def test_retries_stop_on_first_2xx() -> None:
    receiver = Receiver(lambda n: 503 if n < 3 else 200)
    sandbox = make_sandbox(receiver)
    place(sandbox)
    await sandbox.webhooks.drain(within=10)
    [delivery] = sandbox.webhooks.log(topic="orders/create")
    assert [a.status for a in delivery.attempts] == [503, 503, 200]
    assert delivery.state == "delivered"
    await sandbox.close()


async def test_backoff_waits_scale_with_time_scale() -> None:
    receiver = Receiver(lambda n: 500 if n < 3 else 200)
    # At 7,200x, the first two delays (56.5 s, 113 s of sandbox time) take ~24 ms of real time.
    sandbox = make_sandbox(receiver, time_scale=7200.0)
    place(sandbox)
    await sandbox.webhooks.drain(within=10)
    [delivery] = sandbox.webhooks.log(topic="orders/create")
    assert delivery.state == "delivered"
    assert len(delivery.attempts) == 3
    await sandbox.close()


async def test_duplicates_share_the_event_id() -> None:
    receiver = Receiver()
    sandbox = make_sandbox(receiver)
    sandbox.webhooks.duplicates_per_delivery = 2
    place(sandbox)
    await sandbox.webhooks.drain()
    event_ids = {r.headers["x-shopify-event-id"] for r in receiver.requests}
    webhook_ids = [r.headers["x-shopify-webhook-id"] for r in receiver.requests]
    assert len(receiver.requests) == 3
    assert len(event_ids) == 1
    assert len(set(webhook_ids)) == 1
    sandbox.webhooks.duplicates_keep_webhook_id = False
    place(sandbox)
    await sandbox.webhooks.drain()
    fresh = [r.headers["x-shopify-webhook-id"] for r in receiver.requests[3:]]
    assert len(set(fresh)) == 3
    await sandbox.close()


async def test_held_deliveries_are_released_in_the_asked_order() -> None:
    receiver = Receiver()
    sandbox = make_sandbox(receiver)
    sandbox.webhooks.hold_deliveries = True
    place(sandbox, financial_status="paid")  # orders/create then orders/paid
    assert receiver.requests == []
    await sandbox.webhooks.release(["orders/paid"])
    await sandbox.webhooks.drain()
    assert [r.headers["x-shopify-topic"] for r in receiver.requests] == [
        "orders/paid",
        "orders/create",
    ]
    await sandbox.close()


async def test_secret_rotation_signs_with_the_old_secret_for_a_while() -> None:
    receiver = Receiver()
    sandbox = make_sandbox(receiver, time_scale=1.0)
    old = sandbox.client_secret
    sandbox.webhooks.rotate_secret("rotated-secret", old_secret_for=3600)
    place(sandbox)
    await sandbox.webhooks.drain()
    request = receiver.requests[0]
    message = {
        "method": "POST",
        "headers": dict(request.headers),
        "url": HOOK,
        "body": request.content.decode(),
    }
    assert (
        not ShopifyApp(client_id="x", client_secret="rotated-secret").verify_webhook_req(message).ok
    )
    assert (
        ShopifyApp(client_id="x", client_secret="rotated-secret", old_client_secret=old)
        .verify_webhook_req(message)
        .ok
    )
    sandbox.webhooks.rotate_secret("newest-secret")
    place(sandbox)
    await sandbox.webhooks.drain()
    latest = receiver.requests[-1]
    message = {
        "method": "POST",
        "headers": dict(latest.headers),
        "url": HOOK,
        "body": latest.content.decode(),
    }
    assert ShopifyApp(client_id="x", client_secret="newest-secret").verify_webhook_req(message).ok
    await sandbox.close()


async def test_redeliver_sends_a_duplicate_of_an_old_delivery() -> None:
    receiver = Receiver()
    sandbox = make_sandbox(receiver)
    place(sandbox)
    await sandbox.webhooks.drain()
    [original] = sandbox.webhooks.log(topic="orders/create")
    sandbox.webhooks.redeliver(original.webhook_id, 2)
    await sandbox.webhooks.drain()
    assert len(receiver.requests) == 3
    assert {r.content for r in receiver.requests} == {original.body}
    await sandbox.close()
