"""The shelf keeps each SKU's answer for its time to live, asks once for SKUs being read, and
keeps nothing from a partial answer or a failure."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import pytest

from experience_apis.storefront.clients import InventoryClient
from experience_apis.storefront.shelf import Shelf
from shared.sibling import SiblingUnavailable


class Inventory:
    """The inventory process in memory: counts calls, can be held, failed or partial."""

    def __init__(self) -> None:
        self.available = {"MUG": 40, "CAP": 2, "TEE": 0}
        self.complete = True
        self.status = 200
        self.asked: list[list[str]] = []
        self.gate: asyncio.Event | None = None

    async def handle(self, request: httpx.Request) -> httpx.Response:
        skus = request.url.params.get_list("sku")
        self.asked.append(skus)
        if self.gate is not None:
            await self.gate.wait()
        if self.status != 200:
            return httpx.Response(self.status, headers={"Retry-After": "3"})
        items = [{"sku": s, "available_to_sell": self.available.get(s, 0)} for s in skus]
        body = {"items": items, "complete": self.complete}
        return httpx.Response(200, content=msgspec.json.encode(body))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def inventory() -> Inventory:
    return Inventory()


def shelf_for(inventory: Inventory, clock: Clock, ttl: float = 1.0) -> Shelf:
    http = httpx.AsyncClient(
        base_url="http://inventory.test", transport=httpx.MockTransport(inventory.handle)
    )
    client = InventoryClient(http, timeout=5)
    return Shelf(client, low_stock_threshold=5, ttl=ttl, clock=clock)


def words(shown: object) -> list[tuple[str, str]]:
    return [(item.sku, item.stock) for item in shown.items]  # type: ignore[attr-defined]


async def test_an_answer_is_kept_for_its_time_to_live(inventory: Inventory) -> None:
    clock = Clock()
    shelf = shelf_for(inventory, clock)
    first = await shelf.availability(["MUG", "CAP"])
    assert words(first) == [("MUG", "in_stock"), ("CAP", "low_stock")]
    inventory.available["MUG"] = 0
    clock.now += 0.4
    assert words(await shelf.availability(["CAP", "MUG"])) == [
        ("CAP", "low_stock"),
        ("MUG", "in_stock"),
    ]
    assert inventory.asked == [["MUG", "CAP"]]
    # Only the SKUs not kept are asked for.
    await shelf.availability(["MUG", "TEE"])
    assert inventory.asked[-1] == ["TEE"]
    clock.now += 0.7  # past the first answer's time to live
    assert words(await shelf.availability(["MUG"])) == [("MUG", "out_of_stock")]
    assert inventory.asked[-1] == ["MUG"]


async def test_past_half_its_time_a_kept_answer_is_read_again_in_the_background(
    inventory: Inventory,
) -> None:
    clock = Clock()
    shelf = shelf_for(inventory, clock)
    await shelf.availability(["MUG"])
    inventory.available["MUG"] = 0
    inventory.gate = asyncio.Event()
    clock.now += 0.6
    # Answered at once from what is kept, while the new read waits on the inventory.
    for _ in range(3):
        shown = await asyncio.wait_for(shelf.availability(["MUG"]), 1)
        assert words(shown) == [("MUG", "in_stock")]
    await asyncio.sleep(0.01)
    assert inventory.asked == [["MUG"], ["MUG"]]  # one read, however many requests
    inventory.gate.set()
    await shelf.aclose()
    assert words(await shelf.availability(["MUG"])) == [("MUG", "out_of_stock")]
    assert len(inventory.asked) == 2


async def test_a_failed_background_read_is_not_repeated_before_expiry(
    inventory: Inventory,
) -> None:
    clock = Clock()
    shelf = shelf_for(inventory, clock)
    await shelf.availability(["MUG"])
    inventory.status = 503
    clock.now += 0.6
    await shelf.availability(["MUG"])
    await shelf.aclose()
    asked = len(inventory.asked)
    assert words(await shelf.availability(["MUG"])) == [("MUG", "in_stock")]
    await shelf.aclose()
    assert len(inventory.asked) == asked
    clock.now += 0.5  # expired: the next request waits for a read, and gets its error
    with pytest.raises(SiblingUnavailable):
        await shelf.availability(["MUG"])


async def test_no_time_to_live_asks_every_time(inventory: Inventory) -> None:
    shelf = shelf_for(inventory, Clock(), ttl=0)
    await shelf.availability(["MUG"])
    await shelf.availability(["MUG"])
    assert inventory.asked == [["MUG"], ["MUG"]]


async def test_concurrent_requests_for_skus_being_read_wait_for_that_read(
    inventory: Inventory,
) -> None:
    shelf = shelf_for(inventory, Clock())
    inventory.gate = asyncio.Event()
    first = asyncio.create_task(shelf.availability(["MUG", "CAP"]))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(shelf.availability(["CAP", "TEE"]))
    await asyncio.sleep(0.01)
    inventory.gate.set()
    shown = await asyncio.gather(first, second)
    assert words(shown[1]) == [("CAP", "low_stock"), ("TEE", "out_of_stock")]
    assert inventory.asked == [["MUG", "CAP"], ["TEE"]]


async def test_a_caller_that_goes_away_leaves_the_read_to_the_others(
    inventory: Inventory,
) -> None:
    shelf = shelf_for(inventory, Clock())
    inventory.gate = asyncio.Event()
    gone = asyncio.create_task(shelf.availability(["MUG"]))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(shelf.availability(["MUG"]))
    await asyncio.sleep(0.01)
    gone.cancel()
    inventory.gate.set()
    assert words(await waiting) == [("MUG", "in_stock")]
    assert inventory.asked == [["MUG"]]
    await shelf.aclose()


async def test_a_partial_answer_is_shown_but_not_kept(inventory: Inventory) -> None:
    shelf = shelf_for(inventory, Clock())
    inventory.complete = False
    assert words(await shelf.availability(["TEE", "MUG"])) == [
        ("TEE", "unknown"),
        ("MUG", "in_stock"),
    ]
    inventory.complete = True
    assert words(await shelf.availability(["TEE"])) == [("TEE", "out_of_stock")]
    assert len(inventory.asked) == 2


async def test_a_failure_reaches_every_waiter_and_is_not_kept(inventory: Inventory) -> None:
    shelf = shelf_for(inventory, Clock())
    inventory.status = 503
    inventory.gate = asyncio.Event()
    first = asyncio.create_task(shelf.availability(["MUG"]))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(shelf.availability(["MUG"]))
    await asyncio.sleep(0.01)
    inventory.gate.set()
    for outcome in await asyncio.gather(first, second, return_exceptions=True):
        assert isinstance(outcome, SiblingUnavailable)
        assert outcome.retry_after == 3
    inventory.status = 200
    inventory.gate = None
    assert words(await shelf.availability(["MUG"])) == [("MUG", "in_stock")]


async def test_a_list_asked_again_is_kept_until_one_of_its_skus_is_due(
    inventory: Inventory,
) -> None:
    clock = Clock()
    shelf = shelf_for(inventory, clock)
    await shelf.availability(["MUG"])
    clock.now += 0.3
    await shelf.availability(["CAP"])
    first = await shelf.availability(["MUG", "CAP"])  # both kept: this answer is kept too
    assert await shelf.availability(["MUG", "CAP"]) is first
    assert inventory.asked == [["MUG"], ["CAP"]]
    inventory.available["MUG"] = 3
    clock.now += 0.3  # MUG's answer is 0.6 s old: due to be read again, CAP's not
    assert words(await shelf.availability(["MUG", "CAP"])) == words(first)
    await shelf.aclose()
    assert inventory.asked[-1] == ["MUG"]
    shown = await shelf.availability(["MUG", "CAP"])
    assert [(i.sku, i.stock, i.quantity) for i in shown.items] == [
        ("MUG", "low_stock", 3),
        ("CAP", "low_stock", 2),
    ]
