"""Redis Streams with consumer groups: at-least-once delivery, delayed retries, dead letters.

A :class:`StreamWorker` reads its group's new entries, hands each to a handler, and settles
the outcome in one atomic script call on the stream the entry came from:

- success: ``XACK``;
- :class:`TransientFailure`: the entry goes to a delayed-retry sorted set with its attempt
  count and history (exponential backoff with full jitter, or the failure's ``retry_after``),
  and is acknowledged; a mover puts it back on the stream when it is due;
- :class:`PermanentFailure`, or a transient one past ``max_attempts``: the entry goes to the
  dead-letter stream with its history, is acknowledged, and ``on_dead_letter`` is called.

Entries a crashed worker held are reclaimed with ``XAUTOCLAIM`` after ``claim_idle``. The
stream, its retry set and its dead-letter stream share one hash tag (Redis Cluster safe).

Handlers must be idempotent: delivery is at least once, and a crash between the handler's
effect and the acknowledgement delivers the entry again.

A worker reads one stream, or every shard of a sharded family
(:meth:`shared.streams.WebhookStreams.streams`). Each shard keeps its own retry set and
dead-letter stream under its own hash tag, and an entry is acknowledged, retried,
dead-lettered, reclaimed and handed back on the shard it was read from (:attr:`Entry.stream`).
On one Redis node every shard is read in one ``XREADGROUP``; on a Redis Cluster client
(``redis.asyncio.RedisCluster``) the shards live in different slots, so each is read by its
own ``XREADGROUP`` (all at once, each with its share of the batch): a pass that finds nothing
waiting then blocks on every shard, and returns when the last of them does.

Trace context rides in the entry: :func:`publish` adds the current ``traceparent``, and the
worker handles each entry inside a consumer span that is its child, so one trace runs from
the producer's request through every attempt to the handler's own calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

import msgspec
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError, ResponseError

from shared.streams import WORKER_FIELD_PREFIX
from shared.telemetry.consumer import consumer_span, fail_span
from shared.telemetry.context import TRACEPARENT, current_traceparent
from shared.telemetry.spans import Tracing, process_tracing

log = logging.getLogger("strata.events")

ATTEMPT = "strata_attempt"
HISTORY = "strata_history"
ORIGINAL_ID = "strata_original_id"
FAILED_AT = "strata_failed_at"
ERROR = "strata_error"

#: A client of one Redis node or of a Redis Cluster; the worker and :func:`publish` take both.
RedisClient = Redis | RedisCluster


class TransientFailure(Exception):
    """Worth retrying (timeouts, 429, 5xx); ``retry_after`` in seconds overrides backoff."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """Retrying won't help (validation, mapping); goes straight to the dead letters."""

    def __init__(self, reason: str, *, kind: str = "permanent") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class Attempt(msgspec.Struct, frozen=True):
    at: float
    error: str
    kind: str


class Entry(msgspec.Struct, frozen=True):
    """One stream entry as a handler sees it; ``stream`` is the key it was read from (its
    shard, when the worker reads several)."""

    id: str
    fields: dict[str, str]
    attempt: int
    history: list[Attempt]
    stream: str = ""

    @property
    def payload(self) -> dict[str, str]:
        """The producer's own fields, without the worker's bookkeeping."""
        return {k: v for k, v in self.fields.items() if not k.startswith(WORKER_FIELD_PREFIX)}


Handler = Callable[[Entry], Awaitable[None]]
DeadLetterHook = Callable[[Entry, str, str], Awaitable[None]]

# KEYS: stream, retry zset. ARGV: group, id, due_ms, encoded fields (msgpack map)
_SCHEDULE_RETRY = """
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
"""
# KEYS: stream, dead-letter stream. ARGV: group, id, maxlen, then field/value pairs
_DEAD_LETTER = """
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
"""
# KEYS: stream, retry zset. ARGV: now_ms, limit. Moves due retries back onto the stream.
_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, packed in ipairs(due) do
  local fields = cmsgpack.unpack(packed)
  local flat = {}
  for k, v in pairs(fields) do flat[#flat + 1] = k; flat[#flat + 1] = v end
  redis.call('XADD', KEYS[1], '*', unpack(flat))
  redis.call('ZREM', KEYS[2], packed)
end
return #due
"""

_HISTORY = msgspec.json.Decoder(list[Attempt])
_ENC = msgspec.json.Encoder()


class StreamKeys(NamedTuple):
    """The keys of one stream: the stream, its retry set and its dead-letter stream."""

    stream: str
    retry_set: str
    dead_letters: str


def stream_keys(name: str) -> StreamKeys:
    """The stream, its retry set and its dead-letter stream, under one hash tag.

    ``name`` is a full key that already carries a hash tag (``strata:webhooks:{orders}``) or
    a bare name that gets one (``strata:stream:{name}``).
    """
    key = name if "{" in name else f"strata:stream:{{{name}}}"
    return StreamKeys(key, f"{key}:retry", f"{key}:dead")


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0, min(cap, base * (2 ** max(0, attempt - 1))))


class StreamWorker:
    """One consumer in a consumer group; run several (in processes or tasks) to scale out.

    ``stream`` is one stream name, or several: every shard of a family, e.g.
    ``WebhookStreams(prefix, shards).streams(ORDERS)``, all read by this one consumer. The
    group is created on each of them. ``redis`` is one node's client or a Redis Cluster's.
    """

    def __init__(
        self,
        redis: RedisClient,
        stream: str | Sequence[str],
        group: str,
        handler: Handler,
        *,
        consumer: str | None = None,
        batch: int = 16,
        concurrency: int = 16,
        block: float = 1.0,
        claim_idle: float = 30.0,
        max_attempts: int = 8,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        dead_letter_maxlen: int = 1_000_000,
        on_dead_letter: DeadLetterHook | None = None,
        rng: random.Random | None = None,
        tracing: Tracing | None = None,
        shutdown_grace: float = 20.0,
    ) -> None:
        self.redis = redis
        names = [stream] if isinstance(stream, str) else list(stream)
        #: The keys of every stream read, by stream key, in the order given.
        self.shards: dict[str, StreamKeys] = {}
        for keys in map(stream_keys, names):
            self.shards.setdefault(keys.stream, keys)
        if not self.shards:
            raise ValueError("a stream worker needs at least one stream")
        #: The stream keys read (in one XREADGROUP on one node, one each on a cluster).
        self.streams: tuple[str, ...] = tuple(self.shards)
        # The first stream's keys, under the names single-stream callers know.
        self.stream, self.retry_set, self.dead_letters = next(iter(self.shards.values()))
        self._label = ", ".join(self.streams)
        self.group = group
        self.handler = handler
        self.consumer = consumer or f"{socket.gethostname()}-{id(self):x}"
        self.batch = batch
        self.block_ms = int(block * 1000)
        self.claim_idle_ms = int(claim_idle * 1000)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.dead_letter_maxlen = dead_letter_maxlen
        self.on_dead_letter = on_dead_letter
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._slots = asyncio.Semaphore(concurrency)
        #: Each running handler and the stream and id of the entry it holds.
        self._inflight: dict[asyncio.Task[None], tuple[str, str]] = {}
        self.shutdown_grace = shutdown_grace
        self._stopping = asyncio.Event()
        self._schedule = redis.register_script(_SCHEDULE_RETRY)
        self._dead = redis.register_script(_DEAD_LETTER)
        self._move = redis.register_script(_MOVE_DUE)
        traces = tracing or process_tracing()
        self._tracer = traces.tracer("strata.events") if traces.enabled else None

    async def ensure_group(self) -> None:
        """Create the consumer group on every stream read (and the streams), if missing."""
        for stream in self.streams:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)

    def stop(self) -> None:
        """Stop reading; in-flight entries finish or are handed back (see :meth:`run`)."""
        self._stopping.set()

    async def run(self) -> None:
        """Read, handle and settle until :meth:`stop`; then let in-flight entries finish
        for up to ``shutdown_grace`` seconds and hand back the rest (:meth:`hand_back`)."""
        await self.ensure_group()
        last_claim = 0.0
        try:
            while not self._stopping.is_set():
                try:
                    await self.move_due_retries()
                    now = time.monotonic()
                    if now - last_claim > self.claim_idle_ms / 2000:
                        last_claim = now
                        await self.reclaim_stale()
                    await self._read_new()
                except RedisError as exc:
                    log.warning("stream %s: redis error %s; retrying in 1s", self._label, exc)
                    await asyncio.sleep(1)
        finally:
            await self._finish_inflight()

    async def _finish_inflight(self) -> None:
        if not self._inflight:
            return
        _done, late = await asyncio.wait(set(self._inflight), timeout=self.shutdown_grace)
        if not late:
            return
        by_stream: dict[str, list[str]] = {}
        for task in late:
            stream, entry_id = self._inflight[task]
            by_stream.setdefault(stream, []).append(entry_id)
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for stream, entry_ids in by_stream.items():
            try:
                await self.hand_back(entry_ids, stream)
            except RedisError as exc:
                # Still pending under this consumer: XAUTOCLAIM takes them after claim_idle.
                log.warning("stream %s: could not hand back %s: %s", stream, entry_ids, exc)

    async def hand_back(self, entry_ids: Sequence[str], stream: str | None = None) -> None:
        """Give entries this consumer holds on ``stream`` back to the group, claimable at once.

        ``stream`` may be left out when the worker reads one stream. Redis has no "unclaim":
        the entries stay pending under this consumer, but with their idle time set to
        ``claim_idle``, so the next ``XAUTOCLAIM`` of any consumer takes them instead of
        waiting for them to look abandoned. Handlers are idempotent, so an entry cut off
        half-way is safe to handle again.
        """
        key = self._shard(stream).stream
        if not entry_ids:
            return
        ids: list[int | bytes | str | memoryview[int]] = list(entry_ids)
        await self.redis.xclaim(
            key,
            self.group,
            self.consumer,
            min_idle_time=0,
            message_ids=ids,
            idle=self.claim_idle_ms,
            justid=True,
        )
        log.info("stream %s: handed back %d in-flight entries", key, len(entry_ids))

    def _shard(self, stream: str | None) -> StreamKeys:
        if stream is None:
            if len(self.shards) > 1:
                raise ValueError("this worker reads several streams: name the entries' stream")
            return next(iter(self.shards.values()))
        keys = self.shards.get(stream_keys(stream).stream)
        if keys is None:
            raise ValueError(f"{stream} is not a stream this worker reads")
        return keys

    async def _read_new(self) -> None:
        free = max(1, self._slots._value)  # read no more than we can start now
        # COUNT bounds each stream's share, so what can start now is split across them.
        count = -(-min(self.batch, free) // len(self.streams))
        if isinstance(self.redis, RedisCluster) and len(self.streams) > 1:
            await self._read_each_shard(self.redis, count)
            return
        reply: Any = await self.redis.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self.streams, ">"),
            count=count,
            block=self.block_ms,
        )
        await self._start_all(reply)

    async def _read_each_shard(self, redis: RedisCluster, count: int) -> None:
        """One ``XREADGROUP`` per shard, all at once (a Redis Cluster keeps shards in different
        slots): first without blocking, and only when no shard had anything, blocking."""
        for block in (None, self.block_ms):
            replies: list[Any] = await asyncio.gather(*(
                redis.xreadgroup(
                    self.group, self.consumer, {stream: ">"}, count=count, block=block
                )
                for stream in self.streams
            ))  # fmt: skip
            if any(replies):
                for reply in replies:
                    await self._start_all(reply)
                return

    async def _start_all(self, reply: Any) -> None:
        # A list of [stream, entries] pairs in RESP2, a map of them in RESP3.
        for stream, entries in reply.items() if isinstance(reply, dict) else reply or []:
            key = _text(stream)
            for entry_id, fields in entries:
                await self._start(key, entry_id, fields)

    async def reclaim_stale(self) -> int:
        """Take over entries another consumer held longer than ``claim_idle`` (it crashed),
        on every stream read; returns how many were taken."""
        claimed = 0
        for stream in self.streams:
            claimed += await self._reclaim(stream)
        return claimed

    async def _reclaim(self, stream: str) -> int:
        claimed = 0
        cursor = "0-0"
        while True:
            result: Any = await self.redis.xautoclaim(
                stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=cursor,
                count=self.batch,
            )
            cursor, entries = result[0], result[1]
            for entry_id, fields in entries:
                if fields is None:  # deleted from the stream meanwhile
                    continue
                claimed += 1
                await self._start(stream, entry_id, fields)
            if _text(cursor) == "0-0" or not entries:
                return claimed

    async def move_due_retries(self, limit: int = 100) -> int:
        """Put retries that are due back on their streams (up to ``limit`` per stream)."""
        now_ms = int(time.time() * 1000)
        # One script call per shard: each touches its own hash slot.
        moved = await asyncio.gather(*(
            self._move(keys=[keys.stream, keys.retry_set], args=[now_ms, limit])
            for keys in self.shards.values()
        ))  # fmt: skip
        return sum(int(n) for n in moved)

    async def _start(self, stream: str, entry_id: Any, raw: Mapping[Any, Any]) -> None:
        await self._slots.acquire()
        entry = _text(entry_id)
        task = asyncio.create_task(self._handle(stream, entry, raw))
        self._inflight[task] = (stream, entry)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)

    async def _handle(self, stream: str, entry_id: str, raw: Mapping[Any, Any]) -> None:
        try:
            fields = {_text(k): _text(v) for k, v in raw.items()}
            attempt = int(fields.get(ATTEMPT, "0")) + 1
            history = _HISTORY.decode(fields[HISTORY]) if HISTORY in fields else []
            entry = Entry(entry_id, fields, attempt, history, stream)
            with self._consuming(entry) as span:
                try:
                    await self.handler(entry)
                except TransientFailure as exc:
                    fail_span(span, exc.reason)
                    await self._retry_or_bury(entry, exc.reason, exc.retry_after)
                except PermanentFailure as exc:
                    fail_span(span, exc.reason)
                    await self._bury(entry, exc.reason, exc.kind)
                except RedisError:
                    raise
                except Exception as exc:
                    # by max_attempts, rather than left pending or lost.
                    log.exception("stream %s: handler failed on %s", stream, entry.id)
                    fail_span(span, f"{type(exc).__name__}: {exc}")
                    await self._retry_or_bury(entry, f"{type(exc).__name__}: {exc}", None)
                else:
                    await self.redis.xack(stream, self.group, entry_id)
        except RedisError as exc:
            # Left pending: XAUTOCLAIM hands it out again after claim_idle.
            log.warning("stream %s: could not settle %s: %s", stream, entry_id, exc)
        finally:
            self._slots.release()

    def _consuming(self, entry: Entry) -> contextlib.AbstractContextManager[Any]:
        """The entry's consumer span (a child of its ``traceparent``), current meanwhile."""
        if self._tracer is None:
            return contextlib.nullcontext(None)
        fields = entry.fields
        correlation = (
            fields.get("correlation_id") or fields.get("event_id") or fields.get("webhook_id")
        )
        return consumer_span(
            self._tracer,
            entry.stream,
            entry.id,
            fields,
            attempt=entry.attempt,
            correlation=correlation,
        )

    async def _retry_or_bury(self, entry: Entry, reason: str, retry_after: float | None) -> None:
        history = [*entry.history, Attempt(time.time(), reason, "transient")]
        if entry.attempt >= self.max_attempts:
            await self._bury(
                entry, f"gave up after {entry.attempt} attempts: {reason}", "retries-exhausted"
            )
            return
        delay = backoff(entry.attempt, self.base_delay, self.max_delay, self.rng)
        if retry_after is not None:
            delay = max(delay, retry_after)
        fields = {
            **entry.payload,
            ATTEMPT: str(entry.attempt),
            HISTORY: _ENC.encode(history).decode(),
            ORIGINAL_ID: entry.fields.get(ORIGINAL_ID, entry.id),
        }
        packed = msgspec.msgpack.encode(fields)
        due_ms = int((time.time() + delay) * 1000)
        keys = self.shards[entry.stream]
        await self._schedule(
            keys=[keys.stream, keys.retry_set], args=[self.group, entry.id, due_ms, packed]
        )

    async def _bury(self, entry: Entry, reason: str, kind: str) -> None:
        history = [*entry.history, Attempt(time.time(), reason, kind)]
        fields = {
            **entry.payload,
            ATTEMPT: str(entry.attempt),
            HISTORY: _ENC.encode(history).decode(),
            ORIGINAL_ID: entry.fields.get(ORIGINAL_ID, entry.id),
            FAILED_AT: str(time.time()),
            ERROR: reason,
        }
        flat = [item for pair in fields.items() for item in pair]
        if self.on_dead_letter is not None:
            # The record is written first: a crash before XACK redelivers, never loses.
            await self.on_dead_letter(msgspec.structs.replace(entry, history=history), reason, kind)
        keys = self.shards[entry.stream]
        await self._dead(
            keys=[keys.stream, keys.dead_letters],
            args=[self.group, entry.id, self.dead_letter_maxlen, *flat],
        )


async def publish(redis: RedisClient, stream: str, fields: Mapping[str, str | bytes]) -> str:
    """Append one entry to ``stream`` (by its logical name).

    The current span's ``traceparent`` is added unless ``fields`` carry one already (a replay
    keeps the trace of the delivery it replays).
    """
    key, _, _ = stream_keys(stream)
    entry = dict(fields)
    if TRACEPARENT not in entry:
        traceparent = current_traceparent()
        if traceparent is not None:
            entry[TRACEPARENT] = traceparent
    entry_id = await redis.xadd(key, entry)  # type: ignore[arg-type]
    return _text(entry_id)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
