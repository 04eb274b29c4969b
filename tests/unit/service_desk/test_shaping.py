"""The service desk's reading and shaping of the orders process's answers (no network)."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from experience_apis.service_desk.clients import OrderNotFound, OrdersApi
from experience_apis.service_desk.schemas import UpCustomerOrderPage, UpOrderContext
from experience_apis.service_desk.service import agent_context, agent_order_list, headline
from experience_apis.service_desk.tracking import tracking_link
from shared.problems import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from tests.unit.service_desk.samples import customer_page, encode, order_context


def read(**kw: object) -> UpOrderContext:
    return msgspec.json.decode(encode(order_context(**kw)), type=UpOrderContext)  # type: ignore[arg-type]


def test_agent_sees_the_order_as_the_customer_saw_it_and_its_erp_number() -> None:
    view = agent_context(read())
    assert view.order is not None
    assert view.order.name == "#1001"
    assert view.order.total is not None
    assert view.order.total.amount == "24.00"
    assert view.erp is not None
    assert (view.erp.number, view.erp.status) == ("SO-0042", "processing")
    assert view.pipeline is not None
    assert view.pipeline.state == "acknowledged"
    assert [i.number for i in view.invoices] == ["INV-5"]
    assert [r.amount.amount for r in view.refunds if r.amount] == ["12.00"]
    assert view.complete is True
    assert {s.status for s in view.sections} == {"ok"}


def test_shipments_carry_tracking_links_and_returns_are_apart() -> None:
    view = agent_context(read())
    by_number = {s.number: s for s in view.shipments}
    assert by_number["OUT-9"].tracking_url == (
        "https://www.dhl.com/global-en/home/tracking.html?tracking-id=JD0001"
    )
    shopify = by_number["#1001-F1"]
    assert shopify.source == "shopify"
    assert shopify.tracking_url == "https://www.ups.com/track?tracknum=1Z999"
    assert [r.number for r in view.returns] == ["RET-10"]


def test_open_exception_puts_needs_attention_first() -> None:
    view = agent_context(read(open_exception=True))
    assert view.headline == "needs_attention"
    assert [e.kind for e in view.exceptions] == ["cancel-after-shipment"]
    assert any(e.title == "cancel-after-shipment" for e in view.timeline)


def test_unavailable_sections_are_named_with_their_reason() -> None:
    view = agent_context(read(shopify_down=True))
    assert view.complete is False
    assert view.order is None
    down = {s.name: s.reason for s in view.sections if s.status == "unavailable"}
    assert down == {"shopify_order": "shopify order: 503", "refunds": "shopify refunds: 503"}
    assert view.erp is not None
    assert view.erp.number == "SO-0042"


def test_timeline_is_in_time_order() -> None:
    instants = [e.at for e in agent_context(read()).timeline]
    assert instants == sorted(instants)
    assert len(instants) >= 6


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, "received"),
        ({"in_erp": True}, "processing"),
        ({"in_erp": True, "shipped": True}, "shipped"),
        ({"shipped": True, "returned": True}, "returned"),
        ({"shipped": True, "refunded": True}, "refunded"),
        ({"refunded": True, "cancelled": True}, "cancelled"),
        ({"cancelled": True, "open_exceptions": True}, "needs_attention"),
    ],
)
def test_headline_precedence(flags: dict[str, bool], expected: str) -> None:
    base = dict.fromkeys(
        ("open_exceptions", "cancelled", "refunded", "returned", "shipped", "in_erp"), False
    )
    assert headline(**{**base, **flags}) == expected


def test_tracking_links() -> None:
    assert tracking_link("UPS", "1Z 9", None) == "https://www.ups.com/track?tracknum=1Z%209"
    assert tracking_link("Unknown Co", "X", None) is None
    assert tracking_link(None, None, "https://carrier.example/t/1") == "https://carrier.example/t/1"
    # Only https links from the ERP are passed on; anything else is rebuilt or dropped.
    assert tracking_link(None, "1", "javascript:alert(1)") is None


def test_order_list_flags_orders_needing_attention() -> None:
    page = customer_page("ada@example.com", ["acme.myshopify.com"])
    page.items[0].open_exception = True
    listing = agent_order_list(msgspec.json.decode(encode(page), type=UpCustomerOrderPage))
    assert listing.items[0].needs_attention is True
    assert listing.items[0].erp_number == "SO-0"


def api(handler: object) -> OrdersApi:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return OrdersApi(httpx.AsyncClient(base_url="http://orders", transport=transport))


async def test_upstream_404_is_order_not_found() -> None:
    with pytest.raises(OrderNotFound):
        await api(lambda r: httpx.Response(404, json={"status": 404})).order_context("s", "1")


@pytest.mark.parametrize("order_id", ["..", "."])
async def test_a_dot_segment_is_no_order_and_is_never_sent(order_id: str) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(OrderNotFound):
        await api(seen.append).order_context("s", order_id)
    assert seen == []


async def test_order_ids_reach_the_orders_service_whole() -> None:
    seen: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(404, json={"status": 404})

    with pytest.raises(OrderNotFound):
        await api(answer).order_context("acme.myshopify.com", "POS:RL#90g")
    assert seen[0].raw_path == b"/orders/v1/orders/acme.myshopify.com/POS%3ARL%2390g/context"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, UpstreamUnavailable),
        (429, UpstreamUnavailable),
        (401, UpstreamError),
        (400, UpstreamError),
    ],
)
async def test_upstream_failures_are_named(status: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        await api(lambda r: httpx.Response(status, json={})).order_context("s", "1")


async def test_upstream_timeout_and_garbage() -> None:
    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(UpstreamTimeout):
        await api(stall).order_context("s", "1")
    with pytest.raises(UpstreamError):
        await api(lambda r: httpx.Response(200, json={"nope": 1})).order_context("s", "1")


async def test_customer_orders_ask_for_the_given_shops_only() -> None:
    seen: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, content=encode(customer_page("a@b.co", ["x.myshopify.com"])))

    await api(answer).customer_orders("A+b@b.co", ["x.myshopify.com", "y.myshopify.com"], 0, 5)
    # The email is one path segment, every reserved character encoded.
    assert seen[0].raw_path.split(b"?")[0] == b"/orders/v1/customers/A%2Bb%40b.co/orders"
    assert seen[0].path == "/orders/v1/customers/A+b@b.co/orders"
    assert seen[0].params.get_list("shop") == ["x.myshopify.com", "y.myshopify.com"]
