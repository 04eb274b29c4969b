"""``Idempotency-Key`` for unsafe POSTs, stored in Redis with the request fingerprint.

The first request with a key claims it (one atomic script call); a repeat with the same
fingerprint gets the first response back, a repeat with another fingerprint gets 422, and a
repeat that arrives while the first is still running waits for its outcome. A request that
fails releases its claim, so the caller may retry with the same key; a request that crashes
leaves a claim that expires after ``claim_ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response
from litestar.enums import MediaType
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from shared.problems import (
    BadRequest,
    Conflict,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    ServiceUnavailable,
)

log = logging.getLogger("strata.idempotency")
_ENCODER = msgspec.json.Encoder()

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"
IdempotencyKey = Annotated[
    str, msgspec.Meta(min_length=8, max_length=255, pattern=IDEMPOTENCY_KEY_PATTERN)
]

_CLAIM = """
local fp = redis.call('HGET', KEYS[1], 'fp')
if not fp then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'pending', 'owner', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'claimed'}
end
if fp ~= ARGV[1] then return {'mismatch'} end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' then
  return {'done', redis.call('HGET', KEYS[1], 'status'), redis.call('HGET', KEYS[1], 'body')}
end
return {'pending'}
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1]
   and redis.call('HGET', KEYS[1], 'state') == 'pending' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class StoredResponse(msgspec.Struct, frozen=True):
    status: int
    body: bytes


class Claim(msgspec.Struct, frozen=True):
    """The outcome of claiming a key: run the request, or replay what it answered before."""

    kind: Literal["claimed", "replay"]
    owner: str
    stored: StoredResponse | None = None


def fingerprint(*parts: bytes) -> str:
    """A stable fingerprint of what makes two requests "the same"."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def require_key(value: str | None) -> str:
    """Validate the header value: present, printable ASCII, 8 to 255 characters."""
    if value is None or not value.strip():
        raise IdempotencyKeyMissing(
            "Send an Idempotency-Key header (a unique value per order, e.g. a UUID) so that "
            "a retry never creates a second record."
        )
    try:
        return msgspec.convert(value, IdempotencyKey)
    except msgspec.ValidationError:
        raise BadRequest(
            "Idempotency-Key must be 8 to 255 printable ASCII characters without spaces",
            errors=[{"field": "header.Idempotency-Key", "message": "invalid format"}],
        ) from None


class IdempotencyStore:
    """Keys and locks in Redis under ``prefix``; one hash tag per key (Redis Cluster safe:
    ``redis`` may be one node's client or a ``RedisCluster``)."""

    def __init__(
        self,
        redis: Redis | RedisCluster,
        prefix: str,
        *,
        claim_ttl: float = 120.0,
        keep_for: float = 24 * 3600.0,
        wait_for_pending: float = 30.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._claim_ttl_ms = int(claim_ttl * 1000)
        self._keep_for_ms = int(keep_for * 1000)
        self._wait = wait_for_pending
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._unlock = redis.register_script(_UNLOCK)

    def _key(self, scope: str, key: str) -> str:
        return f"{self._prefix}:idem:{{{scope}:{key}}}"

    async def claim(self, scope: str, key: str, fp: str) -> Claim:
        """Claim ``key`` for this request, or return the stored response of the first one."""
        owner = secrets.token_hex(8)
        rkey = self._key(scope, key)
        deadline = time.monotonic() + self._wait
        delay = 0.02
        while True:
            try:
                result = await self._claim(keys=[rkey], args=[fp, owner, self._claim_ttl_ms])
            except RedisError as exc:
                raise ServiceUnavailable(
                    f"idempotency store unavailable: {exc}", retry_after=2
                ) from exc
            outcome = _text(result[0])
            if outcome == "claimed":
                return Claim("claimed", owner)
            if outcome == "mismatch":
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was first used with a different request body; use a "
                    "new key for a different request.",
                    errors=[{"field": "header.Idempotency-Key", "message": "reused"}],
                )
            if outcome == "done":
                stored = StoredResponse(int(_text(result[1])), _bytes(result[2]))
                return Claim("replay", owner, stored)
            if time.monotonic() >= deadline:
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed",
                    retry_after=1,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    async def complete(self, scope: str, key: str, owner: str, status: int, body: bytes) -> None:
        """Store the response of the request that holds the claim."""
        rkey = self._key(scope, key)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(rkey, mapping={"state": "done", "status": status, "body": body})
                pipe.pexpire(rkey, self._keep_for_ms)
                await pipe.execute()
        except RedisError as exc:
            # The work is done and its answer goes out; a retry finds the claim pending until
            # it expires, then runs again, which callers make safe (the ERP looks the order
            # up by reference before creating it).
            log.warning("could not record the answer for idempotency key %s: %s", key, exc)

    async def release(self, scope: str, key: str, owner: str) -> None:
        """Give the claim up after a failure, so a retry with the same key runs again."""
        # On a Redis error the claim expires on its own after claim_ttl.
        with contextlib.suppress(RedisError):
            await self._release(keys=[self._key(scope, key)], args=[owner])

    async def respond_once(
        self,
        scope: str,
        key: str,
        fp: str,
        run: Callable[[], Awaitable[tuple[int, object]]],
    ) -> Response[Any]:
        """Run an unsafe request at most once per key; a repeat gets the first answer's bytes.

        The answer is the encoded result (``Any``, so routes keep their documented type).

        ``run`` returns the status and the result to encode. A failure releases the claim
        (the caller may retry with the same key) and propagates.
        """
        claim = await self.claim(scope, key, fp)
        if claim.stored is not None:
            return Response(
                claim.stored.body,
                status_code=claim.stored.status,
                media_type=MediaType.JSON,
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            status, result = await run()
        except BaseException:
            await self.release(scope, key, claim.owner)
            raise
        body = _ENCODER.encode(result)
        await self.complete(scope, key, claim.owner, status, body)
        return Response(body, status_code=status, media_type=MediaType.JSON)

    @asynccontextmanager
    async def exclusive(
        self,
        name: str,
        *,
        ttl: float = 60.0,
        keep_on: tuple[type[BaseException], ...] = (),
    ) -> AsyncIterator[None]:
        """Hold a short Redis lock across replicas (e.g. one external reference at a time).

        An exception of a ``keep_on`` type leaves the lock to expire after ``ttl`` instead of
        releasing it: after a call that timed out, the other side may still be doing the work,
        and nobody may start it again before that work is done or abandoned.
        """
        lock_key = f"{self._prefix}:lock:{{{name}}}"
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self._wait
        delay = 0.02
        try:
            while not await self._redis.set(lock_key, token, nx=True, px=int(ttl * 1000)):
                if time.monotonic() >= deadline:
                    raise Conflict(f"{name} is being processed by another request", retry_after=1)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
        except RedisError as exc:
            raise ServiceUnavailable(f"lock store unavailable: {exc}", retry_after=2) from exc
        try:
            yield
        except keep_on:
            raise  # the lock stays until ttl: the work may still be under way elsewhere
        except BaseException:
            with contextlib.suppress(RedisError):  # else the lock expires after ttl
                await self._unlock(keys=[lock_key], args=[token])
            raise
        else:
            with contextlib.suppress(RedisError):  # else the lock expires after ttl
                await self._unlock(keys=[lock_key], args=[token])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
