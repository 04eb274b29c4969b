"""The durable step of webhook ingress: de-duplicate and append to a Redis Stream, atomically.

One Lua script per webhook checks the event's de-duplication key, appends the entry with
``XADD`` only when the event is new and then remembers the entry id under that key with a
TTL. It runs as one EVALSHA, so a webhook costs exactly one Redis command. Concurrent
webhooks are coalesced: each request queues its call and awaits a future, and a drain task
sends everything queued as one pipeline and resolves the futures, so a busy ingress pays one
round trip per batch instead of one per webhook. A second batch may leave while the first is
still out (``max_in_flight``), so the process keeps working while Redis answers.

Every entry has the same leading fields (:class:`EntryLayout`; for webhooks the contract's
``shared.streams.WEBHOOK_LAYOUT``), so the RESP command is packed from a template made once:
packing argument by argument cost more than the rest of an append.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

RedisClient = Redis | RedisCluster

#: KEYS[1]: the stream, KEYS[2]: the event's de-duplication key (same hash slot).
#: ARGV[1]: de-duplication TTL in seconds, ARGV[2]: approximate MAXLEN (0: no trimming),
#: ARGV[3..]: the entry's field/value pairs.
#: Returns {1, new entry id} or {0, the entry id of the first delivery}. XADD runs before
#: the key is set, so a failed append leaves no key behind and Shopify's retry is taken.
APPEND_ONCE = """
local seen = redis.call('GET', KEYS[2])
if seen then return {0, seen} end
local id
if ARGV[2] == '0' then
  id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
end
redis.call('SET', KEYS[2], id, 'EX', ARGV[1])
return {1, id}
"""
APPEND_ONCE_SHA = hashlib.sha1(APPEND_ONCE.encode(), usedforsecurity=False).hexdigest()


class Appended(msgspec.Struct, frozen=True):
    """The outcome of one append: the stream entry id and whether it was a repeat."""

    entry_id: str
    duplicate: bool


class EntryLayout:
    """The field names every entry starts with, and the RESP template of their values."""

    __slots__ = ("_format", "names")

    def __init__(self, names: Sequence[str]) -> None:
        encoded = tuple(name.encode() for name in names)
        if not encoded or any(b"%" in name for name in encoded):
            raise ValueError("field names must be given and must not contain '%'")
        self.names = encoded
        self._format = b"".join(b"$%d\r\n%b\r\n$%%d\r\n%%b\r\n" % (len(n), n) for n in encoded)

    def pack(self, values: Sequence[bytes], extra: Sequence[bytes] = ()) -> bytes:
        """The RESP bulk strings of ``values`` under :attr:`names`, then ``extra`` pairs."""
        if len(values) != len(self.names):
            raise ValueError(f"expected {len(self.names)} values, got {len(values)}")
        lengths_and_values: list[int | bytes] = []
        for value in values:
            lengths_and_values += (len(value), value)
        packed = self._format % tuple(lengths_and_values)
        if not extra:
            return packed
        return packed + b"".join([b"$%d\r\n%b\r\n" % (len(e), e) for e in extra])

    def fields(self, values: Sequence[bytes], extra: Sequence[bytes] = ()) -> list[bytes]:
        """Names and values interleaved, as plain command arguments."""
        return [*(x for pair in zip(self.names, values, strict=True) for x in pair), *extra]


class _Call:
    __slots__ = ("extra", "future", "seen_key", "stream", "values")

    def __init__(
        self,
        stream: bytes,
        seen_key: bytes,
        values: Sequence[bytes],
        extra: Sequence[bytes],
        future: asyncio.Future[Appended],
    ) -> None:
        self.stream = stream
        self.seen_key = seen_key
        self.values = values
        self.extra = extra
        self.future = future


class StreamAppender:
    """Coalesces concurrent de-duplicated appends into pipelines of EVALSHA calls."""

    def __init__(
        self,
        redis: RedisClient,
        layout: EntryLayout,
        *,
        ttl: int,
        maxlen: int = 0,
        max_batch: int = 256,
        max_in_flight: int = 1,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self.redis = redis
        self.layout = layout
        self.ttl = ttl
        self.maxlen = maxlen
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._limits = b"$%d\r\n%d\r\n$%d\r\n%d\r\n" % (
            len(str(ttl)),
            ttl,
            len(str(maxlen)),
            maxlen,
        )
        self._queue: list[_Call] = []
        self._drains: set[asyncio.Task[None]] = set()
        #: Drain tasks not yet finished, counted without waiting for their done callbacks.
        self._active = 0
        #: A drain task is scheduled but has not taken its batch yet.
        self._starting = False
        #: Batches sent and calls made, for the metrics and the benchmark.
        self.batches = 0
        self.calls = 0

    async def append(
        self, stream: bytes, seen_key: bytes, values: Sequence[bytes], extra: Sequence[bytes] = ()
    ) -> Appended:
        """Append an entry (``values`` under the layout's names, then the ``extra`` name/value
        pairs) to ``stream`` unless ``seen_key`` exists; one EVALSHA.

        Raises :class:`redis.exceptions.RedisError` when Redis could not be reached or
        refused the script; the entry may then or may not have been appended, and a retry
        of the same event is either taken or reported as a duplicate, never appended twice.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Appended] = loop.create_future()
        self._queue.append(_Call(stream, seen_key, values, extra, future))
        if not self._starting and self._active < self.max_in_flight:
            self._starting = True
            self._active += 1
            task = loop.create_task(self._drain())
            self._drains.add(task)
            task.add_done_callback(self._drains.discard)
        return await future

    async def aclose(self) -> None:
        """Wait for the batches in flight (requests already queued still get their answer)."""
        while pending := [task for task in self._drains if not task.done()]:
            await asyncio.shield(asyncio.gather(*pending, return_exceptions=True))

    async def _drain(self) -> None:
        self._starting = False
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                try:
                    results = await self._send(batch)
                except Exception as exc:
                    # Not swallowed: every waiting request raises it (RedisError: a 503).
                    _fail(batch, exc)
                    continue
                for call, result in zip(batch, results, strict=True):
                    future = call.future
                    if future.done():  # the request was cancelled (client went away)
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(Appended(_text(result[1]), duplicate=result[0] == 0))
        finally:
            # In the task itself, not a done callback: an append arriving in between must
            # see a free slot, or its call would wait with no drain to take it.
            self._active -= 1

    async def _send(self, batch: list[_Call]) -> list[Any]:
        results = await self._pipeline(batch)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            # A restarted Redis has an empty script cache; NOSCRIPT calls did not run.
            await self.redis.script_load(APPEND_ONCE)
            retried = await self._pipeline([batch[i] for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        self.batches += 1
        self.calls += len(batch)
        if isinstance(self.redis, Redis):
            return await self._pipeline_on_one_connection(self.redis, batch)
        # A cluster client routes each call by its keys (several nodes when sharded).
        pipe = self.redis.pipeline(transaction=False)
        for call in batch:
            pipe.execute_command(
                "EVALSHA", APPEND_ONCE_SHA, 2, call.stream, call.seen_key, self.ttl,
                self.maxlen, *self.layout.fields(call.values, call.extra),
            )  # fmt: skip
        results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    def _pack(self, call: _Call) -> bytes:
        stream, seen_key = call.stream, call.seen_key
        return b"".join((
            b"*%d\r\n" % (_FIXED_ARGS + 2 * len(call.values) + len(call.extra)),
            _EVALSHA,
            b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(stream), stream, len(seen_key), seen_key),
            self._limits,
            self.layout.pack(call.values, call.extra),
        ))  # fmt: skip

    async def _pipeline_on_one_connection(self, redis: Redis, batch: list[_Call]) -> list[Any]:
        # redis-py packs each argument through its encoder in Python, which costs more than
        # the rest of a webhook's append; the calls are packed here from the layout instead.
        payload = [self._pack(call) for call in batch]
        pool = redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                await connection.send_packed_command(payload, check_health=False)
            except (ConnectionError, OSError, RedisConnectionError):
                # A pooled connection left from before a Redis restart: nothing was sent,
                # so one fresh attempt is safe.
                await connection.disconnect()
                await connection.send_packed_command(payload, check_health=False)
            results: list[Any] = []
            # One deadline for the whole batch rather than a timer per reply.
            async with asyncio.timeout(connection.socket_timeout):
                for _ in batch:
                    try:
                        results.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as exc:
                        results.append(exc)
            return results
        except TimeoutError as exc:
            await connection.disconnect()
            raise RedisTimeoutError("Redis did not answer the batch in time") from exc
        except BaseException:
            # Replies may still be on the wire: never hand this connection out again.
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)


#: EVALSHA, the script's SHA, the key count, 2 keys, TTL and MAXLEN.
_FIXED_ARGS = 7
_EVALSHA = b"$7\r\nEVALSHA\r\n$40\r\n%b\r\n$1\r\n2\r\n" % APPEND_ONCE_SHA.encode()


def _fail(batch: list[_Call], exc: BaseException) -> None:
    for call in batch:
        if not call.future.done():
            call.future.set_exception(exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
