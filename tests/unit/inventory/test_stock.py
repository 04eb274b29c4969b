"""The stock board: parallel fan-out, per-instance timeout, short cache, one read at a time."""

from __future__ import annotations

import asyncio
import time

from process_apis.inventory.clients import ErpStock
from process_apis.inventory.stock import StockBoard
from tests.unit.inventory.fake_erp import FakeErpStock


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def board(*erps: tuple[str, FakeErpStock], clock: Clock | None = None, **kw: float) -> StockBoard:
    options = {"timeout": 1.0, "ttl": 3.0, "failure_ttl": 1.0, **kw}
    return StockBoard(
        [ErpStock(name, erp.client()) for name, erp in erps],
        clock=clock or time.monotonic,
        **options,
    )


async def test_every_instance_is_read_and_unknown_skus_are_absent() -> None:
    eu = FakeErpStock({"MUG": {"WH": "4"}})
    us = FakeErpStock({"MUG": {"WH": "2", "WH2": "1"}, "CAP": {"WH": "9"}})
    readings = await board(("eu", eu), ("us", us)).read(["MUG", "CAP"])
    assert [r.instance for r in readings] == ["eu", "us"]
    assert all(r.ok for r in readings)
    assert "CAP" not in readings[0].levels
    assert [lvl.warehouse for lvl in readings[1].levels["MUG"]] == ["WH", "WH2"]


async def test_a_failed_instance_is_reported_and_the_rest_served() -> None:
    eu = FakeErpStock({"MUG": {"WH": "4"}})
    us = FakeErpStock({"MUG": {"WH": "2"}})
    us.status = 503
    eu_reading, us_reading = await board(("eu", eu), ("us", us)).read(["MUG"])
    assert eu_reading.ok
    assert eu_reading.levels["MUG"][0].available == 4
    assert not us_reading.ok
    assert us_reading.detail == "answered 503"
    assert us_reading.levels == {}


async def test_a_slow_instance_costs_the_timeout_not_its_delay() -> None:
    eu = FakeErpStock({"MUG": {"WH": "4"}})
    us = FakeErpStock({"MUG": {"WH": "2"}}, delay=5.0)
    started = time.monotonic()
    eu_reading, us_reading = await board(("eu", eu), ("us", us), timeout=0.1).read(["MUG"])
    assert time.monotonic() - started < 1.0
    assert eu_reading.ok
    assert not us_reading.ok
    assert "0.1s" in (us_reading.detail or "")


async def test_reads_are_cached_until_the_ttl_passes() -> None:
    clock = Clock()
    eu = FakeErpStock({"MUG": {"WH": "4"}})
    stock = board(("eu", eu), clock=clock)
    await stock.read(["MUG"])
    await stock.read(["MUG"])
    assert len(eu.calls) == 1
    await stock.read(["MUG", "CAP"])  # only the SKU not cached is asked for
    assert eu.calls[-1] == ["CAP"]
    clock.now += 3.5
    eu.stock["MUG"]["WH"] = "1"
    (reading,) = await stock.read(["MUG"])
    assert len(eu.calls) == 3
    assert reading.levels["MUG"][0].available == 1


async def test_concurrent_requests_share_one_erp_read() -> None:
    eu = FakeErpStock({"MUG": {"WH": "4"}, "CAP": {"WH": "1"}}, delay=0.05)
    stock = board(("eu", eu))
    readings = await asyncio.gather(*(stock.read(["MUG", "CAP"]) for _ in range(20)))
    assert len(eu.calls) == 1
    assert all(r[0].levels["MUG"][0].available == 4 for r in readings)


async def test_a_failed_instance_is_not_asked_again_at_once() -> None:
    clock = Clock()
    eu = FakeErpStock({"MUG": {"WH": "4"}})
    eu.status = 500
    stock = board(("eu", eu), clock=clock)
    assert not (await stock.read(["MUG"]))[0].ok
    assert not (await stock.read(["MUG"]))[0].ok
    assert len(eu.calls) == 1
    eu.status = 200
    clock.now += 1.5
    assert (await stock.read(["MUG"]))[0].ok
    assert len(eu.calls) == 2
