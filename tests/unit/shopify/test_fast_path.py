"""The webhook fast path's own answers: what it takes, what it leaves to the router."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from system_apis.shopify.appender import Appended
from system_apis.shopify.fast_path import WEBHOOK_PATH, RouteMetrics, WebhookFastPath
from system_apis.shopify.problems import EventStoreUnavailable


class StubIngress:
    def __init__(self, outcome: Appended | BaseException) -> None:
        self.outcome = outcome
        self.calls = 0

    async def receive(self, raw_headers: Iterable[tuple[bytes, bytes]], receive: Any) -> Appended:
        self.calls += 1
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class Router:
    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)


def fast_path(outcome: Appended | BaseException) -> tuple[WebhookFastPath, Router, StubIngress]:
    path = WebhookFastPath()
    router = Router()
    ingress = StubIngress(outcome)
    path.app = router
    path.ingress = ingress  # type: ignore[assignment]
    path.metrics = RouteMetrics(CollectorRegistry(), "shopify")  # no HTTP metrics registered
    return path, router, ingress


async def call(path: WebhookFastPath, method: str = "POST", url: str = WEBHOOK_PATH) -> list[Any]:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": url, "headers": []}
    await path(scope, receive, send)  # type: ignore[arg-type]
    return sent


async def test_accepted_and_duplicate_answers_carry_the_entry_id() -> None:
    path, router, _ = fast_path(Appended("1-0", duplicate=True))
    start, body = await call(path)
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"strata-stream-entry"] == b"1-0"
    assert headers[b"strata-webhook-duplicate"] == b"true"
    assert body["body"] == b""
    assert router.scopes == []


async def test_a_refusal_is_a_problem_document_with_its_headers() -> None:
    path, _, _ = fast_path(EventStoreUnavailable("down", retry_after=5))
    start, body = await call(path)
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"retry-after"] == b"5"
    assert int(headers[b"content-length"]) == len(body["body"])
    problem = msgspec.json.decode(body["body"])
    assert problem["type"].endswith("event-store-unavailable")
    assert problem["instance"] == WEBHOOK_PATH


async def test_a_surprise_is_logged_and_answered_500(caplog: pytest.LogCaptureFixture) -> None:
    path, _, _ = fast_path(RuntimeError("bug"))
    start, body = await call(path)
    assert start["status"] == 500
    assert msgspec.json.decode(body["body"])["type"].endswith("internal-error")
    assert "unhandled error on POST /shopify/v1/webhooks" in caplog.text


@pytest.mark.parametrize(
    ("method", "url"), [("GET", WEBHOOK_PATH), ("POST", WEBHOOK_PATH + "/"), ("POST", "/health")]
)
async def test_anything_else_goes_on_to_the_router(method: str, url: str) -> None:
    path, router, ingress = fast_path(Appended("1-0", duplicate=False))
    assert await call(path, method, url) == []
    assert [s["path"] for s in router.scopes] == [url]
    assert ingress.calls == 0


async def test_before_the_lifespan_deliveries_go_to_the_router() -> None:
    path, router, _ = fast_path(Appended("1-0", duplicate=False))
    path.ingress = None
    await call(path)
    assert len(router.scopes) == 1
