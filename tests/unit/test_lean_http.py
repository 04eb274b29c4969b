"""``shared.http``'s lean client and transport against small real servers on loopback: the
answers, errors and spans httpx's own path gives, on both event loops."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.http import (
    HttpClientSettings,
    LeanAsyncClient,
    LeanTransport,
    StaticBearer,
    make_client,
)
from shared.http_client import query_string
from shared.telemetry.context import parse_traceparent
from shared.telemetry.spans import Tracing
from tests.support.event_loops import BOTH_LOOPS_QUIET, event_loop_policy  # noqa: F401

pytestmark = BOTH_LOOPS_QUIET

Handler = Callable[[bytes, dict[bytes, bytes], bytes], Awaitable[bytes | None]]


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[bytes, dict[bytes, bytes], bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    headers: dict[bytes, bytes] = {}
    while (raw := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = raw.partition(b":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return line, headers, body


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Starts a keep-alive HTTP/1.1 server answering with what a handler returns (raw bytes;
    None closes the connection without an answer)."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while (request := await _read_request(reader)) is not None:
                    answer = await handler(*request)
                    if answer is None:
                        break
                    writer.write(answer)
                    await writer.drain()
                    if b"connection: close" in answer.split(b"\r\n\r\n", 1)[0]:
                        break  # the body ran until this close
            finally:
                writer.close()

        started = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(started)
        return f"http://127.0.0.1:{started.sockets[0].getsockname()[1]}"

    yield start
    for started in servers:
        started.close()


def _answer(body: bytes, *extra: bytes, status: bytes = b"200 OK") -> bytes:
    head = b"HTTP/1.1 %s\r\ncontent-length: %d\r\n" % (status, len(body))
    return head + b"".join(line + b"\r\n" for line in extra) + b"\r\n" + body


def _client(url: str, **kwargs: Any) -> httpx.AsyncClient:
    return make_client(url, tracing=Tracing.disabled(), **kwargs)


async def test_answers_read_as_httpx_reads_them(server: Any) -> None:
    seen: list[tuple[bytes, dict[bytes, bytes], bytes]] = []

    async def echo(line: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        seen.append((line, headers, body))
        return _answer(b'{"ok":true}', b"content-type: application/json", b"x-one: 1")

    client = _client(await server(echo), auth=StaticBearer("t0k"))
    assert isinstance(client, LeanAsyncClient)
    try:
        answer = await client.post("/orders/a b", params={"q": "1"}, json={"sku": "MUG"})
        await client.get("/orders/a b", headers={"X-Trace": "yes"})
    finally:
        await client.aclose()
    assert answer.status_code == 200
    assert answer.json() == {"ok": True}
    assert answer.text == '{"ok":true}'
    assert answer.headers["x-one"] == "1"
    assert answer.http_version == "HTTP/1.1"
    assert answer.reason_phrase == "OK"
    assert answer.is_closed
    assert answer.is_stream_consumed
    assert answer.elapsed.total_seconds() > 0
    assert str(answer.request.url).endswith("/orders/a%20b?q=1")
    line, headers, body = seen[0]
    assert line == b"POST /orders/a%20b?q=1 HTTP/1.1\r\n"
    assert headers[b"authorization"] == b"Bearer t0k"
    assert headers[b"content-type"] == b"application/json"
    assert body == b'{"sku":"MUG"}'
    assert seen[1][1][b"x-trace"] == b"yes"
    assert b"traceparent" not in seen[1][1], "tracing is off"


async def test_chunked_gzip_and_until_close_bodies(server: Any) -> None:
    packed = gzip.compress(b"hello gzip")

    async def answers(line: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        path = line.split()[1]
        if path == b"/chunked":
            return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        if path == b"/gzip":
            return _answer(packed, b"content-encoding: gzip")
        if path == b"/head":
            return b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close"

    client = _client(await server(answers))
    try:
        assert (await client.get("/chunked")).content == b"hello"
        assert (await client.get("/gzip")).content == b"hello gzip"
        assert (await client.head("/head")).content == b""
        assert (await client.get("/close")).content == b"until close"
        assert (await client.get("/chunked")).content == b"hello", "a new connection"
    finally:
        await client.aclose()


async def test_a_stale_keep_alive_connection_is_retried_once(server: Any) -> None:
    calls = 0

    async def once_then_hang_up(line: bytes, headers: dict[bytes, bytes], body: bytes) -> Any:
        nonlocal calls
        calls += 1
        # Every second request finds its connection closed under it, as a server's
        # keep-alive timeout does.
        return _answer(b"ok") if calls % 2 else None

    client = _client(await server(once_then_hang_up))
    try:
        assert (await client.get("/a")).content == b"ok"
        assert (await client.get("/b")).content == b"ok"
    finally:
        await client.aclose()
    assert calls == 3


async def test_errors_are_httpx_errors_with_their_request(server: Any) -> None:
    async def silent(line: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        await asyncio.sleep(5)
        return _answer(b"late")

    async def garbage(line: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        return b"NOT HTTP AT ALL\r\n\r\n"

    slow = _client(await server(silent), settings=HttpClientSettings(read_timeout=0.2))
    bad = _client(await server(garbage))
    refused = _client("http://127.0.0.1:9")
    try:
        with pytest.raises(httpx.ReadTimeout) as timed_out:
            await slow.get("/slow")
        assert timed_out.value.request.url.path == "/slow"
        with pytest.raises(httpx.RemoteProtocolError):
            await bad.get("/bad")
        with pytest.raises(httpx.ConnectError) as unreachable:
            await refused.get("/nothing")
        assert unreachable.value.request.url.port == 9
        with pytest.raises(httpx.LocalProtocolError):
            await bad.get("/x", headers={"X-Evil": "a\r\nInjected: 1"})
    finally:
        for client in (slow, bad, refused):
            await client.aclose()


async def test_the_pool_bounds_connections_and_times_out_waiting(server: Any) -> None:
    async def slow(line: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        await asyncio.sleep(0.3)
        return _answer(b"ok")

    settings = HttpClientSettings(max_connections=1, pool_timeout=0.1)
    client = _client(await server(slow), settings=settings)
    try:
        results = await asyncio.gather(client.get("/1"), client.get("/2"), return_exceptions=True)
    finally:
        await client.aclose()
    assert sum(isinstance(r, httpx.Response) for r in results) == 1
    assert sum(isinstance(r, httpx.PoolTimeout) for r in results) == 1


async def test_client_spans_and_traceparent_as_the_traced_transport_makes_them(
    server: Any, traced: tuple[Tracing, InMemorySpanExporter]
) -> None:
    tracing, exporter = traced
    sent: list[bytes] = []

    async def answers(line: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        sent.append(headers[b"traceparent"])
        failing = line.split()[1] == b"/busy"
        return _answer(b"{}", status=b"503 Busy" if failing else b"200 OK")

    client = make_client(await server(answers), tracing=tracing)
    try:
        await client.get(
            "/erp/v1/stock/TEE-M",
            headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
        )
        await client.post("/busy")
    finally:
        await client.aclose()
    assert tracing.force_flush()
    spans = list(exporter.get_finished_spans())
    assert [s.name for s in spans] == ["GET", "POST"]
    assert all(s.kind == SpanKind.CLIENT for s in spans)
    for span, header in zip(spans, sent, strict=True):
        context = parse_traceparent(header)
        assert context is not None
        assert (context.trace_id, context.span_id) == (span.context.trace_id, span.context.span_id)
    assert spans[0].attributes == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "url.path": "/erp/v1/stock/TEE-M",
        "http.response.status_code": 200,
    }
    assert spans[1].status.status_code == StatusCode.ERROR


async def test_calls_outside_the_short_path_take_httpx_own(server: Any) -> None:
    async def answers(line: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
        return _answer(b"ok", b"set-cookie: session=1; Path=/")

    url = await server(answers)
    hooked: list[str] = []

    async def hook(request: httpx.Request) -> None:
        hooked.append(request.url.path)

    client = LeanAsyncClient(
        base_url=url, transport=LeanTransport(), event_hooks={"request": [hook]}
    )
    try:
        await client.get("/hooked")
        assert hooked == ["/hooked"]
        assert client.cookies["session"] == "1"
        answer = await client.get(url + "/absolute", follow_redirects=False)
        assert answer.content == b"ok"
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "params",
    [
        {"sku": ["TEE-BLK.M", "mug_1~", "CAP"]},
        {"sku": "ONE", "limit": 20, "offset": -1},
        {"a": True},
        {"q": "two words", "x": "1"},
        {"name": "café"},
        {"a": [1, 2], "b": ("x", "y")},
        {"e": "", "f": []},
        {"x": None, "y": 1.5},
        {"a b": "1"},
        [("sku", "A"), ("sku", "B")],
        "sku=A&sku=B",
        {},
    ],
)
def test_query_strings_are_httpx_own(params: Any) -> None:
    assert query_string(params) == str(httpx.QueryParams(params))
