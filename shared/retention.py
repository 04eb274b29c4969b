"""Stream retention: trim what every consumer group has acknowledged, and nothing else.

A stream entry may be removed once it is older than the retention *and* no consumer group of
its stream still needs it. A group needs every entry it holds unacknowledged (its pending
entries) and every entry it has not been given yet (after its ``last-delivered-id``). The
trim is ``XTRIM <stream> MINID = <id>``, which removes the entries whose id is below ``id``,
with ``id`` the smallest of:

- the retention cutoff (``<now - retention in ms>-0``);
- for each group, its oldest pending entry (``XPENDING``'s smallest id) and the first id after
  its last-delivered one (``XINFO GROUPS``).

A stream without consumer groups is not trimmed at all: nobody has read it yet, and its
consumer may create its group from the start of the stream (``XGROUP CREATE ... 0``).

Why reading the groups before their pending entries is safe: a group's last-delivered id only
grows, and an entry joins the pending list only when it is delivered, so with a larger id than
the last-delivered id read a moment earlier. An entry that becomes pending after the read is
therefore at or above the bound, and the trim leaves it. Two things move a group backwards and
are an operator's act: ``XGROUP SETID`` to an older id, and a new group created at ``0`` on a
stream already trimmed; entries trimmed before either are gone.

:func:`trim_bound` is the pure computation; :class:`StreamTrimmer` reads the groups of each
stream (one node or a Redis Cluster: every command names its stream's key, so it goes to the
node holding that stream) and trims them, one stream at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import msgspec
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

log = logging.getLogger("strata.retention")

RedisClient = Redis | RedisCluster

_SEQ_MAX = 2**64 - 1


class StreamId(NamedTuple):
    """A stream entry id: milliseconds and sequence number (``1700000000000-3``)."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, value: str | bytes) -> StreamId:
        """``"<ms>-<seq>"`` (or ``"<ms>"``, sequence 0) as a :class:`StreamId`."""
        text = value.decode() if isinstance(value, bytes) else value
        ms, _, seq = text.partition("-")
        try:
            parsed = cls(int(ms), int(seq or 0))
        except ValueError:
            raise ValueError(f"not a stream entry id: {text!r}") from None
        if parsed.ms < 0 or not 0 <= parsed.seq <= _SEQ_MAX:
            raise ValueError(f"not a stream entry id: {text!r}")
        return parsed

    def successor(self) -> StreamId:
        """The smallest id greater than this one."""
        if self.seq == _SEQ_MAX:
            return StreamId(self.ms + 1, 0)
        return StreamId(self.ms, self.seq + 1)

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


class GroupPosition(msgspec.Struct, frozen=True, kw_only=True):
    """How far one consumer group has got on a stream."""

    name: str
    last_delivered: StreamId
    oldest_pending: StreamId | None = None

    @property
    def needs_from(self) -> StreamId:
        """The smallest id this group still needs: nothing below it may be trimmed."""
        undelivered = self.last_delivered.successor()
        if self.oldest_pending is None:
            return undelivered
        return min(self.oldest_pending, undelivered)


def retention_cutoff(now: float, retention: float) -> StreamId:
    """The id below which entries are older than ``retention`` seconds at ``now`` (epoch)."""
    return StreamId(max(0, int((now - retention) * 1000)), 0)


def trim_bound(groups: Iterable[GroupPosition], cutoff: StreamId) -> StreamId | None:
    """The ``MINID`` to trim a stream to: the smallest of ``cutoff`` and what each group still
    needs; None when the stream has no consumer group (nothing may be trimmed)."""
    needs = [group.needs_from for group in groups]
    if not needs:
        return None
    return min(cutoff, *needs)


class Trimmed(msgspec.Struct, frozen=True, kw_only=True):
    """One stream's trim: the bound used (None: not trimmed) and how many entries went."""

    stream: str
    min_id: str | None
    removed: int = 0
    # The group that held the trim back, when it was a group and not the retention cutoff.
    held_by: str | None = None


OnPass = Callable[[Sequence[Trimmed]], None]


class StreamTrimmer:
    """Trims ``streams`` to ``retention`` seconds, never past an entry a group still needs."""

    def __init__(
        self,
        redis: RedisClient,
        streams: Sequence[str],
        retention: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention < 0:
            raise ValueError("retention must not be negative")
        self.redis = redis
        self.streams = tuple(dict.fromkeys(streams))
        self.retention = retention
        self.clock = clock

    async def positions(self, stream: str) -> list[GroupPosition]:
        """Each consumer group of ``stream`` with its last-delivered and oldest pending id
        (groups first, then their pending entries: see the module's docstring)."""
        try:
            groups: Any = await self.redis.xinfo_groups(stream)
        except RedisError as exc:
            if "no such key" in str(exc).lower():
                return []
            raise
        positions = []
        for group in groups:
            info = _text_keys(group)
            name = _text(info["name"])
            oldest: StreamId | None = None
            if int(info.get("pending") or 0) > 0:
                summary: Any = await self.redis.xpending(stream, name)
                smallest = _pending_min(summary)
                oldest = StreamId.parse(smallest) if smallest is not None else None
            positions.append(
                GroupPosition(
                    name=name,
                    last_delivered=StreamId.parse(_text(info["last-delivered-id"])),
                    oldest_pending=oldest,
                )
            )
        return positions

    async def trim(self, stream: str) -> Trimmed:
        """Trim one stream as far as retention and its groups allow."""
        cutoff = retention_cutoff(self.clock(), self.retention)
        groups = await self.positions(stream)
        bound = trim_bound(groups, cutoff)
        if bound is None:
            return Trimmed(stream=stream, min_id=None)
        holder = min(groups, key=lambda g: g.needs_from)
        held_by = holder.name if holder.needs_from < cutoff else None
        removed = await self.redis.xtrim(stream, minid=str(bound), approximate=False)
        return Trimmed(stream=stream, min_id=str(bound), removed=int(removed), held_by=held_by)

    async def trim_all(self) -> list[Trimmed]:
        """One pass over every stream (one at a time: trimming is background work)."""
        return [await self.trim(stream) for stream in self.streams]

    async def run(
        self, interval: float, on_pass: OnPass, on_error: Callable[[], None] | None = None
    ) -> None:
        """Trim every ``interval`` seconds until cancelled; a Redis error skips one pass."""
        while True:
            try:
                on_pass(await self.trim_all())
            except (RedisError, ValueError) as exc:
                log.warning("stream retention: trim pass failed: %s", exc)
                if on_error is not None:
                    on_error()
            await asyncio.sleep(interval)


def _pending_min(summary: Any) -> str | bytes | None:
    # redis-py parses the XPENDING summary into a dict; a raw reply is [count, min, max, ...].
    if isinstance(summary, Mapping):
        value = _text_keys(summary).get("min")
    elif isinstance(summary, list | tuple) and len(summary) > 1:
        value = summary[1]
    else:
        value = None
    return value if isinstance(value, str | bytes) else None


def _text_keys(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    return {_text(k): v for k, v in mapping.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
