"""The lean HTTP/1.1 transport under :class:`shared.http_client.LeanAsyncClient`: keep-alive
connections on the running event loop, answers parsed by httptools.

:func:`shared.http.make_client` puts it under every client with ``transport="lean"`` (the
default); what it costs and saves is told there.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Any

import httptools
import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode


class ReadBody(httpx.ByteStream):
    """A body read whole by :class:`LeanTransport`, kept at hand for the client with what
    the transport saw of the headers (a lookup in httpx's ``Headers`` costs microseconds)."""

    def __init__(self, body: bytes, *, encoded: bool, sets_cookies: bool) -> None:
        super().__init__(body)
        self.body = body
        self.encoded = encoded
        self.sets_cookies = sets_cookies


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over keep-alive connections on the running loop, parsed by httptools.

    One pool per origin (at most ``max_connections`` open, ``max_keepalive`` kept idle for
    ``keepalive_expiry`` seconds), one request at a time per connection. A request that finds
    its reused connection closed by the server before any byte of the answer (the server's
    keep-alive timeout racing ours) is sent once more on a new connection, as aiohttp does.
    Timeouts are httpx's: ``connect``, ``pool`` (waiting for a free connection), ``write``
    and ``read`` (the longest silence while waiting for the answer). Errors are httpx's:
    ``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``, ``WriteTimeout``, ``ReadTimeout``,
    ``ReadError``, ``RemoteProtocolError``, ``LocalProtocolError``, ``UnsupportedProtocol``.

    With a ``tracer`` each request gets the client span :class:`TracedTransport` makes (same
    name, kind, attributes and status) and its ``traceparent`` goes straight into the bytes
    sent: setting it on the request's httpx ``Headers`` and the wrapper's layer cost about
    6 µs a request more.
    """

    def __init__(
        self,
        limits: httpx.Limits | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        limits = limits or httpx.Limits()
        self._tracer = tracer
        self.max_connections = limits.max_connections or 1_000_000
        self.max_keepalive = min(
            limits.max_keepalive_connections or self.max_connections, self.max_connections
        )
        self.keepalive_expiry = limits.keepalive_expiry
        self._ssl = ssl_context
        self._pools: dict[tuple[bytes, bytes, int | None], _Pool] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole answer (in a client span, with a tracer)."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pool(key, request)
        if self._tracer is None:
            return await self._send(pool, request, b"")
        span = self._tracer.start_span(
            request.method,
            None,
            SpanKind.CLIENT,
            {
                "http.request.method": request.method,
                "server.address": url.host,
                "url.path": url.path,
            },
        )
        # W3C traceparent, formatted straight to bytes from the span context's tuple
        # (trace id, span id, remote, flags, ...).
        trace_id, span_id, _, flags, *_ = span.get_span_context()
        traceparent = b"traceparent: 00-%032x-%016x-%02x\r\n" % (trace_id, span_id, flags & 1)
        try:
            response = await self._send(pool, request, traceparent)
        except BaseException as exc:
            if span.is_recording():
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        if span.is_recording():
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
        span.end()
        return response

    async def _send(self, pool: _Pool, request: httpx.Request, extra: bytes) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        message = await _serialised(request, extra)
        answer: _Answer | None = None
        for fresh in (False, True):
            connection = await pool.acquire(request, timeouts, fresh=fresh)
            try:
                answer = await connection.exchange(message, request, timeouts)
            except _StaleConnection:
                pool.discard(connection)
                continue
            except BaseException:
                pool.discard(connection)
                raise
            pool.release(connection, answer.keep_alive)
            break
        if answer is None:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=ReadBody(answer.body, encoded=answer.encoded, sets_cookies=answer.sets_cookies),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason},
        )

    def _pool(self, key: tuple[bytes, bytes, int | None], request: httpx.Request) -> _Pool:
        scheme, host, port = key
        if scheme not in (b"http", b"https") or not host:
            raise httpx.UnsupportedProtocol(
                f"Request URL {request.url} has an unsupported protocol or no host",
                request=request,
            )
        context: ssl.SSLContext | None = None
        if scheme == b"https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=False)
            context = self._ssl
        default = 443 if scheme == b"https" else 80
        pool = _Pool(self, host.decode("ascii"), port or default, context)
        self._pools[key] = pool
        return pool

    async def aclose(self) -> None:
        """Close every connection."""
        self._closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


async def _serialised(request: httpx.Request, extra: bytes = b"") -> bytes:
    """The request's bytes on the wire: request line, headers, blank line, body."""
    try:
        body = request.content
        headers = request.headers.raw
    except httpx.RequestNotRead:
        # A streamed body of unknown length: read it and send it with its length.
        body = await request.aread()
        request.headers.pop("transfer-encoding", None)
        request.headers["content-length"] = str(len(body))
        headers = request.headers.raw
    if extra and any(len(name) == 11 for name, _ in headers):
        # The transport's traceparent replaces any the caller set.
        headers = [pair for pair in headers if pair[0].lower() != b"traceparent"]
    head = b"%s %s HTTP/1.1\r\n%s%s\r\n" % (
        request.method.encode("ascii"),
        request.url.raw_path,
        b"".join([b"%s: %s\r\n" % pair for pair in headers]),
        extra,
    )
    # One line break per line: a CR or LF inside a header would start a header of its own.
    lines = len(headers) + 2 + extra.count(b"\n")
    if head.count(b"\n") != lines or head.count(b"\r") != lines:
        raise httpx.LocalProtocolError("A header holds a line break", request=request)
    return head + body if body else head


#: Lengths of the header names the transport notes as they arrive (a cheap first filter).
_NOTED_LENGTHS = frozenset(
    len(name)
    for name in (b"content-encoding", b"set-cookie", b"content-length", b"transfer-encoding")
)


class _StaleConnection(Exception):
    """A reused connection closed before any byte of the answer arrived."""


class _Answer:
    __slots__ = (
        "body",
        "encoded",
        "framed",
        "headers",
        "keep_alive",
        "reason",
        "sets_cookies",
        "status",
    )

    def __init__(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.keep_alive = False
        self.encoded = False  # a Content-Encoding to undo
        self.sets_cookies = False
        self.framed = False  # a Content-Length or Transfer-Encoding


class _Pool:
    """The connections to one origin: idle ones last in, first out; waiters in turn."""

    def __init__(
        self, owner: LeanTransport, host: str, port: int, context: ssl.SSLContext | None
    ) -> None:
        self.owner = owner
        self.host = host
        self.port = port
        self.context = context
        self.idle: list[_Connection] = []
        self.open = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(
        self, request: httpx.Request, timeouts: dict[str, float | None], *, fresh: bool
    ) -> _Connection:
        expiry = self.owner.keepalive_expiry
        while True:
            while self.idle and not fresh:
                connection = self.idle.pop()
                if connection.usable(expiry):
                    return connection
                self.discard(connection)
            if self.open < self.owner.max_connections:
                self.open += 1
                try:
                    return await self._connect(request, timeouts.get("connect"))
                except BaseException:
                    self.open -= 1
                    self._wake()
                    raise
            await self._wait(request, timeouts.get("pool"))

    async def _connect(self, request: httpx.Request, seconds: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = _Connection(loop)
        try:
            async with asyncio.timeout(seconds):
                await loop.create_connection(
                    lambda: connection,
                    self.host,
                    self.port,
                    ssl=self.context,
                    server_hostname=self.host if self.context is not None else None,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connecting to {self.host}:{self.port}", request=request
            ) from exc
        except OSError as exc:  # refused, unreachable, name not resolved, TLS handshake
            raise httpx.ConnectError(f"{self.host}:{self.port}: {exc}", request=request) from exc
        return connection

    async def _wait(self, request: httpx.Request, seconds: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no connection became free", request=request) from exc
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # woken but leaving: pass the turn on
            raise
        finally:
            if waiter in self.waiters:
                self.waiters.remove(waiter)

    def _wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def release(self, connection: _Connection, keep_alive: bool) -> None:
        if keep_alive and not connection.closed and len(self.idle) < self.owner.max_keepalive:
            connection.idle_since = connection.loop.time()
            self.idle.append(connection)
        else:
            connection.close()
            self.open -= 1
        self._wake()

    def discard(self, connection: _Connection) -> None:
        connection.close()
        self.open -= 1
        self._wake()

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, the answer parsed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.BaseTransport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.used = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future[_Answer] | None = None
        self.answer = _Answer()
        self.chunks: list[bytes] = []
        self.received = False
        self.headers_done = False
        self.last_read = 0.0
        self.read_timeout: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.writable: asyncio.Future[None] | None = None
        self.head = False
        self.request: httpx.Request | None = None

    def usable(self, expiry: float | None) -> bool:
        return not self.closed and (expiry is None or self.loop.time() - self.idle_since < expiry)

    async def exchange(
        self, message: bytes, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> _Answer:
        """Write ``message`` and wait for the whole answer."""
        if self.closed:
            raise _StaleConnection()
        reused, self.used = self.used, True
        self.answer = _Answer()
        self.chunks = []
        self.received = self.headers_done = False
        self.head = request.method == "HEAD"
        self.request = request
        waiter: asyncio.Future[_Answer] = self.loop.create_future()
        self.waiter = waiter
        transport: Any = self.transport
        transport.write(message)
        if self.writable is not None:
            await self._drained(request, timeouts.get("write"))
        self.read_timeout = timeouts.get("read")
        if self.read_timeout is not None:
            self.last_read = self.loop.time()
            self.timer = self.loop.call_at(self.last_read + self.read_timeout, self._silence)
        try:
            return await waiter
        except _StaleConnection:
            if reused:
                raise
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        finally:
            self.waiter = None
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

    async def _drained(self, request: httpx.Request, seconds: float | None) -> None:
        try:
            async with asyncio.timeout(seconds):
                while self.writable is not None:
                    await asyncio.shield(self.writable)
        except TimeoutError as exc:
            raise httpx.WriteTimeout("writing the request timed out", request=request) from exc

    def _silence(self) -> None:
        """The read timer: fail the request once nothing arrived for ``read_timeout``."""
        self.timer = None
        if self.read_timeout is None:
            return
        due = self.last_read + self.read_timeout
        if self.loop.time() < due:
            self.timer = self.loop.call_at(due, self._silence)
            return
        self._fail(httpx.ReadTimeout("no answer within the read timeout", request=self.request))

    def _fail(self, error: BaseException) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self.read_timeout is not None:
            self.last_read = self.loop.time()
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: the connection can't be trusted again
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"unreadable answer: {exc}", request=self.request))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and not self._framed():
            self._complete(keep_alive=False)  # the body ran until the server closed
        elif not self.received:
            waiter.set_exception(_StaleConnection())
        elif exc is not None:
            waiter.set_exception(httpx.ReadError(str(exc), request=self.request))
        else:
            waiter.set_exception(
                httpx.RemoteProtocolError("the answer was cut short", request=self.request)
            )
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # httptools callbacks

    def on_status(self, reason: bytes) -> None:
        self.answer.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        answer = self.answer
        answer.headers.append((name, value))
        if len(name) in _NOTED_LENGTHS:
            noted = name.lower()
            if noted == b"content-encoding":
                answer.encoded = value.strip().lower() not in (b"", b"identity")
            elif noted == b"set-cookie":
                answer.sets_cookies = True
            elif noted in (b"content-length", b"transfer-encoding"):
                answer.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.answer.status = self.parser.get_status_code()
        if self.head and self.answer.status >= 200:
            # No body follows, whatever the length says; the parser can't know, so the
            # connection is not reused.
            self._complete(keep_alive=False)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.answer.status < 200:  # 1xx: the answer proper follows
            self.answer = _Answer()
            self.headers_done = False
            return
        self._complete(self.parser.should_keep_alive())

    def _complete(self, keep_alive: bool) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        answer = self.answer
        chunks = self.chunks
        answer.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        answer.keep_alive = keep_alive and not self.closed
        waiter.set_result(answer)
        if not keep_alive:
            self.close()

    def _framed(self) -> bool:
        """Whether the answer's length is known (Content-Length, chunked, or no body)."""
        return self.answer.framed or self.answer.status in (204, 304) or self.head
