"""The orders process's system-API clients over ``httpx.MockTransport``: encoded paths, and
each answer turned into the failure the stream worker and the service expect."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

from process_apis.orders.downstream import (
    AlreadyShipped,
    AnswerInvalid,
    ErpClient,
    NotFound,
    NothingToReturn,
    Rejected,
    ShopifyClient,
    TimedOut,
    Unavailable,
)
from process_apis.orders.service import OrdersService
from process_apis.orders.settings import OrdersSettings
from shared.events import Entry, PermanentFailure, TransientFailure
from shared.models import Customer, OrderLine, OrderStatus, SalesOrder, SalesOrderDraft
from shared.sibling import (
    SiblingError,
    SiblingNotFound,
    SiblingRejected,
    SiblingTimeout,
    SiblingUnavailable,
)
from shared.streams import ORDERS_CANCELLED, WebhookEvent, encode_entry
from tests.unit.orders.fakes import (
    FakeAcknowledgements,
    FakeCustomerIndex,
    FakeExceptions,
    FakeLocks,
    FakeOrderStream,
    FakePipeline,
    FakeShopify,
)

SHOP = "acme-eu.myshopify.com"
ODD_REFERENCE = f"shopify:{SHOP}:RL#90g/2"
ALREADY_SHIPPED = {
    "type": "https://strata.example/problems/order-already-shipped",
    "title": "The order has already shipped and can no longer be cancelled",
}


def sales_order(order_id: str = "SO/1#2", status: str = "confirmed") -> dict[str, Any]:
    return {
        "id": order_id,
        "number": "SO0001",
        "external_reference": ODD_REFERENCE,
        "status": status,
        "currency": "EUR",
        "customer_email": "ada@example.com",
        "lines": [{"sku": "TOTE-NAT", "quantity": 1, "unit_price": "12.00"}],
        "total": {"amount": "12.00", "currency": "EUR"},
    }


def draft(reference: str = ODD_REFERENCE) -> SalesOrderDraft:
    return SalesOrderDraft(
        external_reference=reference,
        currency="EUR",
        customer=Customer(email="ada@example.com", name="Ada Lovelace"),
        lines=[OrderLine(sku="TOTE-NAT", quantity=1, unit_price=Decimal("12.00"))],
    )


def problem(status: int, **fields: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": "refused", "status": status, **fields}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


class SystemApi:
    """A system API in memory: answers from a script, in turn; records every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def paths(self) -> list[str]:
        """The raw (still percent-encoded) paths asked for, in order."""
        return [r.url.raw_path.decode() for r in self.requests]


def http(api: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://system.test", transport=httpx.MockTransport(api))


def erp(api: SystemApi) -> ErpClient:
    return ErpClient("eu", http(api))


def shopify(api: SystemApi) -> ShopifyClient:
    return ShopifyClient(http(api))


# -- the ERP's refusal of a cancel ----------------------------------------------------------


async def test_a_409_to_a_cancel_is_the_rejection_the_service_buries_as_shipped() -> None:
    api = SystemApi(problem(409, **ALREADY_SHIPPED))
    with pytest.raises(AlreadyShipped) as caught:
        await erp(api).cancel("SO/1#2")
    error = caught.value
    # What service.py reads, and what the stream worker needs: permanent, status 409.
    assert isinstance(error, Rejected)
    assert isinstance(error, PermanentFailure)
    assert error.problem.get("status") == 409
    assert error.kind == "http-409"
    # And the shared vocabulary, with the sibling's own problem document.
    assert isinstance(error, SiblingRejected)
    assert error.sibling_status == 409
    assert error.problem.type.endswith("/order-already-shipped")
    assert error.reason == str(error)
    assert error.reason.startswith("erp eu cancel order SO/1#2: answered 409")
    assert "already shipped" in error.reason
    assert api.paths == ["/erp/v1/sales-orders/SO%2F1%232/cancel"]
    assert api.requests[0].method == "POST"


async def test_a_409_with_retry_after_to_a_cancel_is_busy_not_shipped() -> None:
    # Strata's idempotency store: a request with the same key is still being processed.
    api = SystemApi(httpx.Response(409, json={"title": "busy"}, headers={"Retry-After": "1"}))
    with pytest.raises(Unavailable) as caught:
        await erp(api).cancel("SO-1")
    assert isinstance(caught.value, TransientFailure)
    assert caught.value.retry_after == 1


async def test_the_service_buries_a_cancel_of_a_shipped_order_for_a_person() -> None:
    """The real ErpClient behind the service: a 409 to the cancel, then a 409 nothing-shipped
    to the return of what shipped, becomes cancel-after-shipment."""
    api = SystemApi(
        problem(409, **ALREADY_SHIPPED),
        problem(409, type="https://strata.example/problems/nothing-shipped"),
    )
    pipeline = FakePipeline()
    await pipeline.record(
        SHOP, "42", "posted", state="posted", erp_instance="eu", erp_order_id="SO/1#2"
    )
    service = OrdersService(
        OrdersSettings(erp_instances={"eu": "http://system.test"}),
        pipeline=pipeline,
        exceptions=FakeExceptions(),
        locks=FakeLocks(),
        acknowledgements=FakeAcknowledgements(),
        customers=FakeCustomerIndex(),
        stream=FakeOrderStream(),
        erps={"eu": erp(api)},
        shopify=FakeShopify(),
    )
    event = WebhookEvent(topic=ORDERS_CANCELLED, shop=SHOP, body='{"id": 42}', event_id="e-1")
    with pytest.raises(PermanentFailure) as caught:
        await service.handle(Entry("1-0", encode_entry(event), 1, []))
    assert caught.value.kind == "cancel-after-shipment"
    assert isinstance(caught.value.__cause__, NothingToReturn)
    assert api.paths == [
        "/erp/v1/sales-orders/SO%2F1%232/cancel",
        "/erp/v1/sales-orders/SO%2F1%232/return-shipped",
    ]
    assert api.requests[1].headers["Idempotency-Key"]


async def test_a_cancel_answers_the_cancelled_order() -> None:
    api = SystemApi(httpx.Response(200, json=sales_order(status="cancelled")))
    order = await erp(api).cancel("SO/1#2")
    assert order.status is OrderStatus.CANCELLED
    assert api.requests[0].content == b""


# -- transient failures ----------------------------------------------------------------------


async def test_a_503_with_retry_after_is_transient_with_its_seconds_and_not_retried() -> None:
    api = SystemApi(httpx.Response(503, json={"title": "down"}, headers={"Retry-After": "7"}))
    with pytest.raises(Unavailable) as caught:
        await erp(api).post_sales_order(draft())
    error = caught.value
    assert isinstance(error, TransientFailure)
    assert isinstance(error, SiblingUnavailable)
    assert error.retry_after == 7
    assert error.reason.startswith(f"erp eu create order {ODD_REFERENCE}: answered 503")
    assert len(api.requests) == 1, "the stream worker owns retries"
    assert api.requests[0].headers["Idempotency-Key"]


async def test_a_503_without_retry_after_leaves_the_wait_to_the_worker() -> None:
    api = SystemApi(httpx.Response(503))
    with pytest.raises(Unavailable) as caught:
        await shopify(api).get_order(SHOP, "42")
    assert caught.value.retry_after is None


async def test_an_unreachable_system_api_is_transient() -> None:
    api = SystemApi(httpx.ConnectError("refused"))
    with pytest.raises(TransientFailure) as caught:
        await erp(api).find_by_reference("shopify:x:1")
    assert isinstance(caught.value, SiblingUnavailable)
    assert "unreachable" in caught.value.reason


async def test_a_read_timeout_is_transient_and_a_timeout() -> None:
    api = SystemApi(httpx.ReadTimeout("slow"))
    with pytest.raises(TimedOut) as caught:
        await erp(api).cancel("SO-1")
    assert isinstance(caught.value, TransientFailure)
    assert isinstance(caught.value, SiblingTimeout)
    assert caught.value.status == 504


# -- not found and other refusals ------------------------------------------------------------


async def test_a_404_is_not_found_and_permanent() -> None:
    api = SystemApi(problem(404, title="No such order"))
    with pytest.raises(NotFound) as caught:
        await shopify(api).get_order(SHOP, "42")
    error = caught.value
    assert isinstance(error, SiblingNotFound)
    assert isinstance(error, Rejected)
    assert isinstance(error, PermanentFailure)
    assert error.problem.get("status") == 404
    assert error.kind == "http-404"
    assert api.paths == [f"/shopify/v1/shops/{SHOP}/orders/42"]


async def test_no_order_with_the_reference_is_none() -> None:
    api = SystemApi(problem(404))
    assert await erp(api).find_by_reference("shopify:x:1") is None


async def test_a_422_is_a_validation_rejection() -> None:
    api = SystemApi(problem(422, detail="unknown SKU TOTE-NAT", errors=[{"field": "lines"}]))
    with pytest.raises(Rejected) as caught:
        await erp(api).post_sales_order(draft())
    error = caught.value
    assert error.kind == "validation"
    assert error.problem.get("errors") == [{"field": "lines"}]
    assert error.problem.get("no such field") is None
    assert error.reason.endswith(": unknown SKU TOTE-NAT")


async def test_a_refusal_without_a_problem_body_keeps_its_status_and_text() -> None:
    api = SystemApi(httpx.Response(400, text="bad shop"))
    with pytest.raises(Rejected) as caught:
        await shopify(api).get_order(SHOP, "42")
    error = caught.value
    assert (error.sibling_status, error.problem.get("status"), error.kind) == (
        400,
        400,
        "validation",
    )
    assert error.reason == f"shopify read order 42 of {SHOP}: answered 400: bad shop"


async def test_a_reused_idempotency_key_answers_the_order_posted_first() -> None:
    api = SystemApi(
        problem(422, type="https://strata.example/problems/idempotency-key-reused"),
        httpx.Response(200, json=sales_order()),
    )
    order = await erp(api).post_sales_order(draft())
    assert order.id == "SO/1#2"
    assert api.paths[1] == (
        "/erp/v1/sales-orders/by-reference/shopify%3Aacme-eu.myshopify.com%3ARL%2390g%2F2"
    )


async def test_a_reused_key_whose_order_is_not_visible_yet_is_transient() -> None:
    api = SystemApi(
        problem(422, type="https://strata.example/problems/idempotency-key-reused"), problem(404)
    )
    with pytest.raises(TransientFailure, match="not visible yet"):
        await erp(api).post_sales_order(draft())


async def test_a_success_with_a_body_off_contract_is_permanent() -> None:
    api = SystemApi(httpx.Response(200, json={"id": "SO-1"}))
    with pytest.raises(AnswerInvalid) as caught:
        await erp(api).cancel("SO-1")
    assert isinstance(caught.value, PermanentFailure)
    assert caught.value.kind == "invalid-answer"


async def test_a_dot_segment_is_never_sent() -> None:
    api = SystemApi()
    with pytest.raises(PermanentFailure) as caught:
        await erp(api).cancel("..")
    assert caught.value.kind == "malformed"
    assert not isinstance(caught.value, SiblingError)
    assert api.requests == []


# -- encoded paths ---------------------------------------------------------------------------


async def test_a_reference_with_hash_and_slash_is_one_encoded_segment() -> None:
    api = SystemApi(httpx.Response(200, json=sales_order()))
    order = await erp(api).find_by_reference(ODD_REFERENCE)
    assert order is not None
    assert order.external_reference == ODD_REFERENCE
    [path] = api.paths
    assert path.endswith("/by-reference/shopify%3Aacme-eu.myshopify.com%3ARL%2390g%2F2")
    assert api.requests[0].url.fragment == ""


async def test_shopify_order_ids_are_encoded_in_reads_and_acknowledgements() -> None:
    shopify_order = {"id": 42, "name": "#1001", "customer_name": "Ada Lovelace", "lines": []}
    api = SystemApi(
        httpx.Response(200, json=shopify_order),
        httpx.Response(200, json={"tags": ["erp:eu:SO0001"]}),
        httpx.Response(200, json={}),
    )
    client = shopify(api)
    body = await client.get_order(SHOP, "RL#1 é")
    assert body["id"] == 42
    assert body["customer"] == {"first_name": "Ada", "last_name": "Lovelace"}
    await client.acknowledge(SHOP, "RL#1 é", "eu", msgspec.convert(sales_order(), SalesOrder))
    encoded = "RL%231%20%C3%A9"
    assert api.paths == [
        f"/shopify/v1/shops/{SHOP}/orders/{encoded}",
        f"/shopify/v1/shops/{SHOP}/orders/{encoded}/tags",
        f"/shopify/v1/shops/{SHOP}/orders/{encoded}/metafields",
    ]
    tag, metafield = api.requests[1], api.requests[2]
    assert msgspec.json.decode(tag.content) == {"tags": ["erp:eu:SO0001"]}
    assert tag.headers["Content-Type"] == "application/json"
    assert tag.headers["Idempotency-Key"] != metafield.headers["Idempotency-Key"]
    value = msgspec.json.decode(msgspec.json.decode(metafield.content)["value"])
    assert value == {"instance": "eu", "id": "SO/1#2", "number": "SO0001"}


# -- the constructor the service's fakes use -------------------------------------------------


def test_a_rejection_built_from_a_problem_mapping_reads_like_one() -> None:
    error = Rejected("erp eu cancel order: 409 already shipped", {"status": 409}, kind="http-409")
    assert error.problem.get("status") == 409
    assert error.sibling_status == 409
    assert error.kind == "http-409"
    assert isinstance(error, PermanentFailure)
