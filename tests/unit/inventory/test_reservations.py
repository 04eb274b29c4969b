"""Reservations in a real Redis: all or nothing, released, expired, never oversold."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from process_apis.inventory.reservations import ReservationStore
from process_apis.inventory.schemas import ReservationLine

pytestmark = pytest.mark.integration  # real Redis


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[ReservationStore]:
    redis = Redis.from_url(redis_url)
    yield ReservationStore(redis, f"test:inv:{{{uuid.uuid4().hex[:8]}}}")
    await redis.aclose()


def line(sku: str, quantity: int) -> ReservationLine:
    return ReservationLine(sku=sku, quantity=quantity)


async def test_a_reservation_holds_stock_until_released(store: ReservationStore) -> None:
    outcome = await store.reserve([line("MUG", 3), line("CAP", 1)], {"MUG": 5, "CAP": 1}, 60)
    assert outcome.reservation is not None
    assert await store.held(["MUG", "CAP", "TEE"]) == {"MUG": 3, "CAP": 1, "TEE": 0}
    found = await store.get(outcome.reservation.id)
    assert found is not None
    assert found.lines == outcome.reservation.lines
    assert 59 <= found.expires_at - found.created_at <= 60
    assert await store.release(outcome.reservation.id)
    assert await store.held(["MUG", "CAP"]) == {"MUG": 0, "CAP": 0}
    assert not await store.release(outcome.reservation.id)
    assert await store.get(outcome.reservation.id) is None


async def test_all_lines_or_none(store: ReservationStore) -> None:
    await store.reserve([line("MUG", 4)], {"MUG": 5}, 60)
    outcome = await store.reserve([line("CAP", 1), line("MUG", 2)], {"MUG": 5, "CAP": 3}, 60)
    assert outcome.reservation is None
    [short] = outcome.shortfalls
    assert (short.index, short.sku, short.requested, short.left) == (1, "MUG", 2, 1)
    assert await store.held(["MUG", "CAP"]) == {"MUG": 4, "CAP": 0}


async def test_expired_reservations_give_their_stock_back(store: ReservationStore) -> None:
    first = await store.reserve([line("MUG", 5)], {"MUG": 5}, 1)
    assert first.reservation is not None
    assert (await store.reserve([line("MUG", 1)], {"MUG": 5}, 60)).reservation is None
    await asyncio.sleep(1.1)
    assert await store.held(["MUG"]) == {"MUG": 0}
    assert await store.get(first.reservation.id) is None
    assert (await store.reserve([line("MUG", 5)], {"MUG": 5}, 60)).reservation is not None


async def test_concurrent_reservations_never_oversell(store: ReservationStore) -> None:
    outcomes = await asyncio.gather(
        *(store.reserve([line("MUG", 1 + i % 2)], {"MUG": 17}, 60) for i in range(60))
    )
    held = [o.reservation for o in outcomes if o.reservation is not None]
    assert sum(r.lines[0].quantity for r in held) <= 17
    assert sum(r.lines[0].quantity for r in held) >= 16  # and nothing sellable is refused
    assert await store.held(["MUG"]) == {"MUG": sum(r.lines[0].quantity for r in held)}
