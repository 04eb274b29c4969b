"""The sibling client: path encoding, typed answers, the error vocabulary, safe retries."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import httpx
import msgspec
import pytest

from shared.auth.service_tokens import ServiceTokenError
from shared.http import HttpClientSettings
from shared.models import SalesOrder
from shared.problems import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from shared.sibling import (
    NO_RETRIES,
    InvalidPathParameter,
    RetryPolicy,
    SiblingAnswerInvalid,
    SiblingClient,
    SiblingError,
    SiblingNotFound,
    SiblingProblem,
    SiblingRejected,
    SiblingTimeout,
    SiblingUnavailable,
    expand_path,
    parse_retry_after,
)
from shared.telemetry.tracing import Tracing

Handler = Callable[[httpx.Request], httpx.Response]


class Item(msgspec.Struct):
    sku: str
    quantity: int


class Sibling:
    """A sibling API in memory: answers from a script of responses, records every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers) or [httpx.Response(200, json={"sku": "MUG", "quantity": 1})]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(
    sibling: Sibling | Handler, *, retry: RetryPolicy | None = None, sleeps: Sleeps | None = None
) -> SiblingClient:
    http = httpx.AsyncClient(
        base_url="http://erp.test/base", transport=httpx.MockTransport(sibling)
    )
    return SiblingClient(
        "erp eu",
        http,
        retry=retry,
        default_retry_after=None,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


# -- paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("RL#90g", b"RL%2390g"),
        ("a/b", b"a%2Fb"),
        ("50%", b"50%25"),
        ("%2F", b"%252F"),
        ("two words", b"two%20words"),
        ("Grüße 😀", b"Gr%C3%BC%C3%9Fe%20%F0%9F%98%80"),
        ("?x=1&y", b"%3Fx%3D1%26y"),
        ("a+b@c.co", b"a%2Bb%40c.co"),
        ("..a", b"..a"),
        (42, b"42"),
    ],
)
async def test_every_path_parameter_is_one_encoded_segment(
    value: str | int, segment: bytes
) -> None:
    sibling = Sibling()
    await client(sibling).get_json("/erp/v1/orders/{ref}/lines", ref=value, type=Item)
    assert sibling.requests[0].url.raw_path == b"/base/erp/v1/orders/" + segment + b"/lines"


async def test_the_bug_report_order_id_reaches_the_sibling_whole() -> None:
    sibling = Sibling()
    await client(sibling).get_json(
        "/erp/v1/sales-orders/by-reference/{ref}", ref="X/RL#90g", type=Item
    )
    assert sibling.requests[0].url.path == "/base/erp/v1/sales-orders/by-reference/X/RL#90g"
    assert sibling.requests[0].url.raw_path.endswith(b"/by-reference/X%2FRL%2390g")


@pytest.mark.parametrize("value", ["", ".", ".."])
async def test_values_that_are_no_path_segment_are_refused(value: str) -> None:
    sibling = Sibling()
    with pytest.raises(InvalidPathParameter):
        await client(sibling).get_json("/orders/{shop}/{order}", shop="s", order=value, type=Item)
    assert sibling.requests == []


@pytest.mark.parametrize(
    ("template", "values", "message"),
    [
        ("/orders/{order}", {}, "no value for order"),
        ("/orders/{order}", {"order": "1", "odrer": "1"}, "has no {odrer}"),
        ("/orders/{order!r}", {"order": "1"}, "plain name"),
        ("/orders/{0}", {"0": "1"}, "plain name"),
        ("/orders?shop={shop}", {"shop": "s"}, "query parameters go in params"),
        ("/orders/{type}", {"type": "x"}, "reserved"),
    ],
)
def test_templates_fail_loudly(template: str, values: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expand_path(template, values)


async def test_query_parameters_are_encoded_by_httpx() -> None:
    sibling = Sibling()
    await client(sibling).get_json(
        "/erp/v1/stock", params={"sku": ["A B", "C&D"], "limit": 5}, type=Item
    )
    url = sibling.requests[0].url
    assert url.params.get_list("sku") == ["A B", "C&D"]
    assert url.params["limit"] == "5"


@pytest.fixture
async def wire() -> AsyncIterator[tuple[str, list[str]]]:
    """A bare HTTP server that records each request line as it came over the socket."""
    lines: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.append((await reader.readline()).decode().strip())
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        body = b'{"sku":"MUG","quantity":1}'
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", lines
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_escapes_survive_the_real_transports(
    wire: tuple[str, list[str]], transport: str
) -> None:
    url, lines = wire
    erp = SiblingClient.connect(
        "erp eu",
        url,
        settings=HttpClientSettings(transport=transport),  # type: ignore[arg-type]
        tracing=Tracing.disabled(),
    )
    try:
        for ref in ("RL#90g", "a/b", "50%", "a b", "Grüße", "x?y"):
            await erp.get_json("/erp/v1/sales-orders/by-reference/{ref}", ref=ref, type=Item)
    finally:
        await erp.aclose()
    paths = [
        line.split(" ")[1].removeprefix("/erp/v1/sales-orders/by-reference/") for line in lines
    ]
    assert paths == ["RL%2390g", "a%2Fb", "50%25", "a%20b", "Gr%C3%BC%C3%9Fe", "x%3Fy"]


# -- answers ---------------------------------------------------------------------------------


async def test_get_json_decodes_into_the_given_type() -> None:
    sibling = Sibling(httpx.Response(200, json=[{"sku": "MUG", "quantity": 3}]))
    items = await client(sibling).get_json("/items", type=list[Item])
    assert items == [Item(sku="MUG", quantity=3)]


async def test_post_json_sends_json_with_its_idempotency_key() -> None:
    sibling = Sibling(httpx.Response(201, json={"sku": "MUG", "quantity": 2}))
    made = await client(sibling).post_json(
        "/shops/{shop}/items", shop="acme", body=Item("MUG", 2), type=Item, idempotency_key="k1"
    )
    assert made == Item("MUG", 2)
    sent = sibling.requests[0]
    assert sent.method == "POST"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Idempotency-Key"] == "k1"
    assert msgspec.json.decode(sent.content) == {"sku": "MUG", "quantity": 2}


@pytest.mark.parametrize(
    "body",
    [b'{"sku": "MUG"}', b"<html>oops</html>", b'{"sku": "MUG", "quantity": "many"}'],
)
async def test_a_body_outside_the_contract_is_an_invalid_answer(body: bytes) -> None:
    sibling = Sibling(httpx.Response(200, content=body))
    with pytest.raises(SiblingAnswerInvalid) as caught:
        await client(sibling).get_json("/items/{sku}", sku="MUG", type=Item)
    assert caught.value.reason.startswith("answered an unreadable body")
    assert str(caught.value).startswith("erp eu answered an unreadable body")
    assert len(sibling.requests) == 1


async def test_a_redirect_is_an_invalid_answer() -> None:
    sibling = Sibling(httpx.Response(302, headers={"Location": "http://elsewhere.test/"}))
    with pytest.raises(SiblingAnswerInvalid, match="answered 302"):
        await client(sibling).get_json("/items", type=Item)


# -- errors --------------------------------------------------------------------------------


async def test_404_is_not_found_with_the_problem_document() -> None:
    problem = {"type": "https://strata.dev/problems/order-not-found", "title": "No such order",
               "status": 404, "detail": "No order RL#90g"}  # fmt: skip
    sibling = Sibling(httpx.Response(404, json=problem))
    with pytest.raises(SiblingNotFound) as caught:
        await client(sibling).get_json("/orders/{ref}", ref="RL#90g", type=Item)
    error = caught.value
    assert isinstance(error, SiblingRejected)
    assert error.sibling_status == 404
    assert error.problem.type.endswith("/order-not-found")
    assert error.problem.title == "No such order"
    assert error.problem.detail == "No order RL#90g"
    assert error.reason == "answered 404"
    assert len(sibling.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 409, 410, 422])
async def test_other_4xx_are_rejections_and_never_retried(status: int) -> None:
    problem = {"title": "Invalid input", "detail": "lines[0].sku is required"}
    sibling = Sibling(httpx.Response(status, json=problem))
    with pytest.raises(SiblingRejected) as caught:
        await client(sibling).get_json("/items", type=Item)
    error = caught.value
    assert not isinstance(error, SiblingNotFound)
    assert error.sibling_status == status
    assert error.problem.status == status  # filled in when the document has none
    assert (error.problem.title, error.problem.detail) == (problem["title"], problem["detail"])
    assert len(sibling.requests) == 1


async def test_a_refusal_without_a_problem_document_keeps_the_start_of_its_body() -> None:
    sibling = Sibling(httpx.Response(400, content=b"bad request: sku"))
    with pytest.raises(SiblingRejected) as caught:
        await client(sibling).get_json("/items", type=Item)
    assert caught.value.problem.detail == "bad request: sku"
    assert caught.value.problem.title is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_408_429_and_5xx_are_unavailable(status: int) -> None:
    sibling = Sibling(httpx.Response(status, json={"status": status}))
    with pytest.raises(SiblingUnavailable) as caught:
        await client(sibling, retry=NO_RETRIES).get_json("/items", type=Item)
    assert not isinstance(caught.value, SiblingTimeout)
    assert caught.value.reason == f"answered {status}"
    assert str(caught.value) == f"erp eu answered {status}"


async def test_a_409_with_retry_after_is_a_key_still_in_progress() -> None:
    busy = Sibling(httpx.Response(409, headers={"Retry-After": "1"}, json={"status": 409}))
    with pytest.raises(SiblingUnavailable) as caught:
        await client(busy, retry=NO_RETRIES).post_json(
            "/orders", body={}, type=Item, idempotency_key="k"
        )
    assert caught.value.retry_after == 1
    settled = Sibling(httpx.Response(409, json={"title": "Order already shipped"}))
    with pytest.raises(SiblingRejected):
        await client(settled).post_json("/orders", body={}, type=Item, idempotency_key="k")


async def test_a_read_timeout_is_a_timeout_and_a_connect_failure_is_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(SiblingTimeout) as timed_out:
        await client(slow).get_json("/items", type=Item)
    assert isinstance(timed_out.value, SiblingUnavailable)
    assert timed_out.value.reason == "timed out (ReadTimeout)"
    for failure in (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError):

        def down(request: httpx.Request, failure: type[httpx.TransportError] = failure) -> None:
            raise failure("down", request=request)

        with pytest.raises(SiblingUnavailable) as unreachable:
            await client(down, retry=NO_RETRIES).get_json("/items", type=Item)  # type: ignore[arg-type]
        assert not isinstance(unreachable.value, SiblingTimeout)
        assert unreachable.value.reason == f"unreachable ({failure.__name__})"
        assert isinstance(unreachable.value.__cause__, failure)


async def test_each_error_answers_as_the_upstream_problem_it_also_is() -> None:
    cases: list[tuple[SiblingError, type[Exception], int, str]] = [
        (SiblingUnavailable("orders", "answered 503", retry_after=7), UpstreamUnavailable, 503,
         "upstream-unavailable"),
        (SiblingTimeout("orders", "timed out (ReadTimeout)"), UpstreamTimeout, 504,
         "upstream-timeout"),
        (SiblingRejected("orders", "answered 400", sibling_status=400, problem=_problem()),
         UpstreamError, 502, "upstream-error"),
        (SiblingNotFound("orders", "answered 404", sibling_status=404, problem=_problem()),
         UpstreamError, 502, "upstream-error"),
        (SiblingAnswerInvalid("orders", "answered an unreadable body"), UpstreamError, 502,
         "upstream-error"),
    ]  # fmt: skip
    for error, upstream, status, slug in cases:
        assert isinstance(error, upstream)
        problem = error.to_problem()
        assert (problem.status, problem.type.rsplit("/", 1)[1]) == (status, slug)
        assert problem.detail == str(error)
        assert error.sibling == "orders"
    assert cases[0][0].headers == {"Retry-After": "7"}


def _problem() -> SiblingProblem:
    return SiblingProblem()


class RefusingAuth(httpx.Auth):
    """Raises what ServiceTokenAuth raises when it cannot get a token."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        raise self.error
        yield request  # pragma: no cover - makes this a generator


async def test_service_token_failures_are_in_the_same_vocabulary() -> None:
    sibling = Sibling()
    down = UpstreamUnavailable("The token issuer cannot be reached", retry_after=3)
    http = httpx.AsyncClient(
        base_url="http://orders.test",
        transport=httpx.MockTransport(sibling),
        auth=RefusingAuth(down),
    )
    with pytest.raises(SiblingUnavailable) as unavailable:
        await SiblingClient("orders", http, retry=NO_RETRIES).get_json("/x", type=Item)
    assert unavailable.value.retry_after == 3
    assert "service token" in unavailable.value.reason
    refused = ServiceTokenError("The token issuer answered invalid_client")
    http = httpx.AsyncClient(
        base_url="http://orders.test",
        transport=httpx.MockTransport(sibling),
        auth=RefusingAuth(refused),
    )
    with pytest.raises(SiblingRejected) as rejected:
        await SiblingClient("orders", http).get_json("/x", type=Item)
    assert rejected.value.sibling_status == 401
    assert sibling.requests == []


# -- Retry-After -----------------------------------------------------------------------------

NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7),
        (" 0 ", 0),
        ("1.2", 2),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30),
        ("Sat, 01 Mar 2025 12:00:10 GMT", 10),
        ("Sat, 01 Mar 2025 12:00:10 -0000", 10),  # no zone said: GMT, as every HTTP-date
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0),  # already past
        ("-5", None),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_parsed_in_whole_seconds(value: str | None, seconds: int | None) -> None:
    assert parse_retry_after(value, now=lambda: NOW) == seconds


async def test_the_error_carries_the_siblings_retry_after_else_the_default() -> None:
    sibling = Sibling(httpx.Response(503, headers={"Retry-After": "120"}))
    with pytest.raises(SiblingUnavailable) as given:
        await client(sibling).get_json("/items", type=Item)
    assert given.value.retry_after == 120
    assert given.value.headers["Retry-After"] == "120"
    http = httpx.AsyncClient(
        base_url="http://orders.test", transport=httpx.MockTransport(Sibling(httpx.Response(503)))
    )
    defaulted = SiblingClient("orders", http, retry=NO_RETRIES, default_retry_after=5)
    with pytest.raises(SiblingUnavailable) as fallback:
        await defaulted.get_json("/items", type=Item)
    assert fallback.value.retry_after == 5
    with pytest.raises(SiblingUnavailable) as none:
        await client(Sibling(httpx.Response(503)), retry=NO_RETRIES).get_json("/x", type=Item)
    assert none.value.retry_after is None
    assert "Retry-After" not in none.value.headers


# -- retries ---------------------------------------------------------------------------------

OK = httpx.Response(200, json={"sku": "MUG", "quantity": 1})


async def test_a_get_is_retried_after_a_transient_failure() -> None:
    sleeps = Sleeps()
    sibling = Sibling(httpx.Response(503), OK)
    item = await client(sibling, sleeps=sleeps).get_json("/items/{sku}", sku="MUG", type=Item)
    assert item.sku == "MUG"
    assert len(sibling.requests) == 2
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= 0.1  # backoff with full jitter


async def test_a_connect_failure_is_retried_for_a_get() -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return OK

    assert (await client(flaky).get_json("/items", type=Item)).quantity == 1
    assert calls == 2


async def test_a_post_without_an_idempotency_key_is_never_retried() -> None:
    sibling = Sibling(httpx.Response(503), OK)
    with pytest.raises(SiblingUnavailable):
        await client(sibling, retry=RetryPolicy(attempts=5)).post_json(
            "/orders", body={}, type=Item
        )
    assert len(sibling.requests) == 1
    resent = Sibling(httpx.Response(503), OK)
    with pytest.raises(SiblingUnavailable):  # not GET or HEAD, and no key: the 503 stands
        await client(resent, retry=RetryPolicy(attempts=5)).request(
            "DELETE", "/orders/{id}", id="1"
        )
    assert len(resent.requests) == 1


async def test_a_post_with_an_idempotency_key_is_retried_with_the_same_key_and_body() -> None:
    sibling = Sibling(httpx.Response(502), httpx.Response(429), OK)
    await client(sibling, retry=RetryPolicy(attempts=3)).post_json(
        "/orders", body={"ref": "A"}, type=Item, idempotency_key="order-A"
    )
    assert len(sibling.requests) == 3
    assert {r.headers["Idempotency-Key"] for r in sibling.requests} == {"order-A"}
    assert {r.content for r in sibling.requests} == {b'{"ref":"A"}'}
    keyed = Sibling(httpx.Response(503), OK)  # a key given as a header counts the same
    await client(keyed).request("PUT", "/x", headers={"idempotency-key": "k"})
    assert len(keyed.requests) == 2


async def test_timeouts_and_rejections_are_not_retried() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        slow.calls += 1  # type: ignore[attr-defined]
        raise httpx.ReadTimeout("slow", request=request)

    slow.calls = 0  # type: ignore[attr-defined]
    with pytest.raises(SiblingTimeout):
        await client(slow, retry=RetryPolicy(attempts=3)).get_json("/items", type=Item)
    assert slow.calls == 1  # type: ignore[attr-defined]
    refused = Sibling(httpx.Response(422), OK)
    with pytest.raises(SiblingRejected):
        await client(refused, retry=RetryPolicy(attempts=3)).get_json("/items", type=Item)
    assert len(refused.requests) == 1


async def test_a_short_retry_after_is_waited_for_and_a_long_one_handed_back() -> None:
    sleeps = Sleeps()
    short = Sibling(httpx.Response(429, headers={"Retry-After": "1"}), OK)
    await client(short, sleeps=sleeps, retry=RetryPolicy(max_wait=1.0)).get_json("/x", type=Item)
    assert sleeps == [1]
    assert len(short.requests) == 2
    sleeps.clear()
    long = Sibling(httpx.Response(503, headers={"Retry-After": "30"}), OK)
    with pytest.raises(SiblingUnavailable) as caught:
        await client(long, sleeps=sleeps, retry=RetryPolicy(max_wait=1.0)).get_json("/x", type=Item)
    assert caught.value.retry_after == 30
    assert sleeps == []
    assert len(long.requests) == 1


async def test_attempts_bound_the_tries_and_backoff_grows() -> None:
    sleeps = Sleeps()
    sibling = Sibling(httpx.Response(503))
    policy = RetryPolicy(attempts=4, backoff=0.1, max_wait=10.0)
    with pytest.raises(SiblingUnavailable):
        await client(sibling, sleeps=sleeps, retry=policy).get_json("/x", type=Item)
    assert len(sibling.requests) == 4
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, (0.1, 0.2, 0.4), strict=True))
    once = Sibling(httpx.Response(503), OK)
    with pytest.raises(SiblingUnavailable):
        await client(once, retry=NO_RETRIES).get_json("/x", type=Item)
    assert len(once.requests) == 1


async def test_connect_builds_on_make_client() -> None:
    settings = HttpClientSettings(read_timeout=3.5, connect_timeout=0.5, transport="httpx")
    orders = SiblingClient.connect("orders", "http://orders.test", settings=settings)
    try:
        assert orders.http.base_url == httpx.URL("http://orders.test")
        assert orders.http.timeout.read == 3.5
        assert orders.http.timeout.connect == 0.5
        assert orders.name == "orders"
    finally:
        await orders.aclose()
    assert orders.http.is_closed


async def test_a_sales_order_reads_by_reference_whatever_its_reference_holds() -> None:
    order = {
        "id": "42", "number": "SO-42", "external_reference": "X/RL#90g", "status": "confirmed",
        "currency": "EUR", "customer_email": None, "lines": [],
        "total": {"amount": "0", "currency": "EUR"},
    }  # fmt: skip
    sibling = Sibling(httpx.Response(200, json=order))
    found = await client(sibling).get_json(
        "/erp/v1/sales-orders/by-reference/{ref}", ref="X/RL#90g", type=SalesOrder
    )
    assert found.external_reference == "X/RL#90g"
    assert sibling.requests[0].url.raw_path.endswith(b"/by-reference/X%2FRL%2390g")
