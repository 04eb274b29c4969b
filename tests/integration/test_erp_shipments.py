"""Shipments with carriers, parcels and tracking, and their change feed, over a real Tryton.

The demo warehouse (:mod:`sandbox.tryton.fulfilment`) ships orders posted through the ERP
system API; the API reads them back and follows them through ``/shipments/changes``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from sandbox.tryton import TrytonServer, cancel_shipment, set_tracking, ship_order
from sandbox.tryton.fulfilment import parcel_contents
from strata import erp_ship
from system_apis.erp.app import create_app
from system_apis.erp.service import FeedPosition, decode_feed_cursor, encode_feed_cursor
from system_apis.erp.settings import ErpSettings
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Client = AsyncTestClient  # type: ignore[type-arg]


@pytest.fixture
async def api(
    tryton_eu: TrytonServer, redis_url: str, token_mint: TokenMint
) -> AsyncIterator[Client]:
    settings = ErpSettings(
        instance="eu",
        redis_url=redis_url,
        tryton_url=tryton_eu.url,
        tryton_database=tryton_eu.database,
        tryton_user=tryton_eu.user,
        tryton_password=tryton_eu.password,
        read_timeout=20,
    )
    app = create_app(settings, auth=token_mint.settings())
    async with AsyncTestClient(app=app, timeout=60) as client:
        client.headers.update(token_mint.headers("erp:read", "erp:write"))
        yield client


async def place(api: Client, *lines: tuple[str, int]) -> dict[str, Any]:
    reference = f"shopify:test:{uuid.uuid4().hex[:12]}"
    body = {
        "external_reference": reference,
        "currency": "EUR",
        "customer": {"email": f"{reference.replace(':', '-')}@example.com", "name": "Buyer"},
        "lines": [{"sku": sku, "quantity": qty, "unit_price": "10.00"} for sku, qty in lines],
        "shipping_address": {
            "name": "Buyer",
            "street": "1 Rue X",
            "city": "Lyon",
            "postal_code": "69001",
            "country": "FR",
        },
    }
    resp = await api.post(
        "/erp/v1/sales-orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert resp.status_code == 201, resp.text
    order: dict[str, Any] = resp.json()
    return order


async def shipments_of(api: Client, order_id: str) -> list[dict[str, Any]]:
    resp = await api.get(f"/erp/v1/sales-orders/{order_id}/shipments")
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return [s for s in items if not s["is_return"]]


def totals(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for line in lines:
        found[line["sku"]] = found.get(line["sku"], Decimal(0)) + Decimal(line["quantity"])
    return found


async def changes(api: Client, **params: Any) -> dict[str, Any]:
    resp = await api.get("/erp/v1/shipments/changes", params=params)
    assert resp.status_code == 200, resp.text
    page: dict[str, Any] = resp.json()
    return page


async def feed(api: Client, since: dt.datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Every shipment changed since ``since``, following the cursor."""
    page = await changes(api, since=since.isoformat(), limit=limit)
    items = list(page["items"])
    while page.get("next_cursor"):
        page = await changes(api, cursor=page["next_cursor"], limit=limit)
        items += page["items"]
    return items


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- shipping ---------------------------------------------------------------------------------


async def test_an_order_shipped_in_two_parcels_reads_back_with_both(
    api: Client, tryton_eu: TrytonServer
) -> None:
    order = await place(api, ("TOWEL-BATH-SGE", 2), ("THROW-OAT", 1))
    parcels = [
        {"carrier": "UPS", "tracking": "1Z999AA10123456784"},
        {"carrier": "UPS", "tracking": "1Z999AA10123456791"},
    ]
    done = await asyncio.to_thread(ship_order, tryton_eu, order["id"], packages=parcels)
    [shipment] = await shipments_of(api, order["id"])
    assert [int(shipment["id"])] == done
    assert shipment["state"] == "done"
    assert shipment["carrier"] == "UPS"
    assert shipment["carrier_service"] == "UPS Standard"
    assert shipment["order_id"] == order["id"]
    assert shipment["external_reference"] == order["external_reference"]
    assert shipment["warehouse"] == "WH"
    assert shipment["shipped_at"] is not None
    assert dt.date.fromisoformat(shipment["effective_date"]) == dt.datetime.now(dt.UTC).date()
    assert totals(shipment["lines"]) == {"TOWEL-BATH-SGE": 2, "THROW-OAT": 1}
    assert all(line["order_line_id"] for line in shipment["lines"])
    packages = shipment["packages"]
    assert [p["tracking_number"] for p in packages] == [p["tracking"] for p in parcels]
    assert [p["tracking_url"] for p in packages] == [
        f"https://www.ups.com/track?tracknum={p['tracking']}" for p in parcels
    ]
    # Three units in two parcels: each holds some, together they hold the shipment.
    assert all(p["lines"] for p in packages)
    assert totals([line for p in packages for line in p["lines"]]) == totals(shipment["lines"])
    # The first parcel's number stands for the shipment where one number is read.
    assert shipment["tracking_number"] == parcels[0]["tracking"]
    assert shipment["tracking_url"] == packages[0]["tracking_url"]


async def test_a_partial_shipment_then_the_rest(api: Client, tryton_eu: TrytonServer) -> None:
    order = await place(api, ("TOWEL-BATH-WHT", 3), ("MUG-STONE-350", 1))
    [first_id] = await asyncio.to_thread(
        ship_order,
        tryton_eu,
        order["id"],
        lines={"TOWEL-BATH-WHT": 1},
        packages=[{"carrier": "La Poste", "tracking": "6A12345678901"}],
    )
    shipments = {s["id"]: s for s in await shipments_of(api, order["id"])}
    first = shipments.pop(str(first_id))
    assert first["state"] == "done"
    assert totals(first["lines"]) == {"TOWEL-BATH-WHT": 1}
    assert first["carrier"] == "La Poste"
    [package] = first["packages"]
    assert package["tracking_url"] == (
        "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901"
    )
    # Tryton made a new shipment for what has not left.
    [rest] = shipments.values()
    assert rest["state"] == "waiting"
    assert totals(rest["lines"]) == {"TOWEL-BATH-WHT": 2, "MUG-STONE-350": 1}
    assert rest["packages"] == []
    assert rest["shipped_at"] is None
    resp = await api.get(f"/erp/v1/sales-orders/{order['id']}")
    assert resp.json()["shipped"] is True

    [second_id] = await asyncio.to_thread(
        ship_order,
        tryton_eu,
        order["id"],
        packages=[
            {"carrier": "DHL", "tracking": "JD014600006281230001"},
            {"carrier": "DHL", "tracking": "JD014600006281230002", "lines": {"MUG-STONE-350": 1}},
        ],
    )
    assert str(second_id) == rest["id"]
    shipments = {s["id"]: s for s in await shipments_of(api, order["id"])}
    assert {s["state"] for s in shipments.values()} == {"done"}
    second = shipments[rest["id"]]
    assert second["carrier"] == "DHL"
    by_number = {p["tracking_number"]: p for p in second["packages"]}
    assert totals(by_number["JD014600006281230002"]["lines"]) == {"MUG-STONE-350": 1}
    assert totals(by_number["JD014600006281230001"]["lines"]) == {"TOWEL-BATH-WHT": 2}
    shipped = totals([line for s in shipments.values() for line in s["lines"]])
    assert shipped == {"TOWEL-BATH-WHT": 3, "MUG-STONE-350": 1}


async def test_shipping_more_than_is_open_is_refused(api: Client, tryton_eu: TrytonServer) -> None:
    order = await place(api, ("TOTE-NAT", 1))
    with pytest.raises(ValueError, match="do not hold"):
        await asyncio.to_thread(ship_order, tryton_eu, order["id"], lines={"TOTE-NAT": 2})
    with pytest.raises(ValueError, match="one carrier"):
        await asyncio.to_thread(
            ship_order,
            tryton_eu,
            order["id"],
            packages=[{"carrier": "DHL", "tracking": "A"}, {"carrier": "UPS", "tracking": "B"}],
        )
    [shipment] = await shipments_of(api, order["id"])
    assert shipment["state"] == "waiting"


async def test_strata_erp_ship_ships_part_of_an_order_in_parcels(
    api: Client,
    tryton_eu: TrytonServer,
    tryton_template_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    order = await place(api, ("JEANS-IND-32", 2), ("BEANIE-CHR", 1))
    parser = argparse.ArgumentParser()
    erp_ship.add_parser(parser.add_subparsers(dest="erp_command"))
    argv = [
        "ship",
        "--instance",
        "eu",
        "--reference",
        order["external_reference"],
        "--url",
        tryton_eu.url,
        "--data-dir",
        str(tryton_template_dir),
        "--sku",
        "JEANS-IND-32=2",
        "--package",
        "FedEx:794644790132:JEANS-IND-32=1",
        "--package",
        "FedEx:794644790143",
    ]
    assert await asyncio.to_thread(erp_ship.run, parser.parse_args(argv)) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["order_id"] == order["id"]
    done = {s["id"]: s for s in await shipments_of(api, order["id"])}
    [shipment] = [done[str(i)] for i in printed["shipments"]]
    assert shipment["carrier"] == "FedEx"
    assert totals(shipment["lines"]) == {"JEANS-IND-32": 2}
    assert [p["tracking_url"] for p in shipment["packages"]] == [
        "https://www.fedex.com/fedextrack/?trknbr=794644790132",
        "https://www.fedex.com/fedextrack/?trknbr=794644790143",
    ]
    assert [totals(p["lines"]) for p in shipment["packages"]] == [
        {"JEANS-IND-32": 1},
        {"JEANS-IND-32": 1},
    ]
    # Bad input is named, and ships nothing.
    bad = [*argv[:-4], "--package", "FedEx"]
    assert await asyncio.to_thread(erp_ship.run, parser.parse_args(bad)) == 1
    assert "CARRIER:TRACKING" in capsys.readouterr().err


# -- the change feed --------------------------------------------------------------------------


async def test_the_feed_shows_a_shipment_once_it_changes_and_not_before(
    api: Client, tryton_eu: TrytonServer
) -> None:
    start = now()
    order = await place(api, ("POT-TERRA-M", 1))
    [created] = [s for s in await feed(api, start) if s["order_id"] == order["id"]]
    assert created["state"] == "waiting"
    assert created["external_reference"] == order["external_reference"]
    assert dt.datetime.fromisoformat(created["updated_at"]) >= start

    quiet = now()
    assert [s for s in await feed(api, quiet) if s["order_id"] == order["id"]] == []

    await asyncio.to_thread(ship_order, tryton_eu, order["id"], packages=[{"tracking": "JD0001"}])
    [shipped] = [s for s in await feed(api, quiet) if s["order_id"] == order["id"]]
    assert shipped["id"] == created["id"]
    assert shipped["state"] == "done"
    assert shipped["carrier"] == "DHL"  # the eu warehouse's default carrier
    assert [p["tracking_number"] for p in shipped["packages"]] == ["JD0001"]
    assert dt.datetime.fromisoformat(shipped["updated_at"]) >= quiet

    # A tracking correction touches only the package: the feed shows the shipment again.
    corrected_at = now()
    await asyncio.to_thread(set_tracking, tryton_eu, shipped["packages"][0]["id"], "JD0002")
    [corrected] = [s for s in await feed(api, corrected_at) if s["order_id"] == order["id"]]
    assert [p["tracking_number"] for p in corrected["packages"]] == ["JD0002"]
    assert corrected["packages"][0]["tracking_url"].endswith("tracking-id=JD0002")
    assert corrected["updated_at"] > shipped["updated_at"]


async def test_the_feed_pages_with_its_cursor_in_change_order(
    api: Client, tryton_eu: TrytonServer
) -> None:
    start = now()
    orders = [await place(api, ("CANDLE-FIG-200", 1)) for _ in range(5)]
    first = await changes(api, since=start.isoformat(), limit=2)
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    items = await feed(api, start, limit=2)
    ids = [s["id"] for s in items]
    assert len(ids) == len(set(ids)), "a page repeated a shipment"
    assert ids[:2] == [s["id"] for s in first["items"]]
    ours = {s["order_id"] for s in items}
    assert {o["id"] for o in orders} <= ours
    stamps = [(dt.datetime.fromisoformat(s["updated_at"]), int(s["id"])) for s in items]
    assert stamps == sorted(stamps)
    # Without since, the feed starts at the first shipment: ours come last.
    everything = await changes(api, limit=200)
    assert [s["id"] for s in everything["items"]][-len(ids) :] == ids
    last = await changes(api, since=start.isoformat(), limit=200)
    assert "next_cursor" not in last or last["next_cursor"] is None
    assert [s["id"] for s in last["items"]] == ids


async def test_the_feed_includes_cancelled_shipments(api: Client, tryton_eu: TrytonServer) -> None:
    start = now()
    unshipped = await place(api, ("BEANIE-CHR", 2))
    resp = await api.post(f"/erp/v1/sales-orders/{unshipped['id']}/cancel")
    assert resp.status_code == 200, resp.text
    shipped = await place(api, ("TOTE-NAT", 1))
    [shipment_id] = await asyncio.to_thread(
        ship_order, tryton_eu, shipped["id"], packages=[{"carrier": "UPS", "tracking": "1Z1"}]
    )
    returned_at = now()
    await asyncio.to_thread(cancel_shipment, tryton_eu, shipment_id)

    by_order = {s["order_id"]: s for s in await feed(api, start)}
    cancelled = by_order[unshipped["id"]]
    assert cancelled["state"] == "cancelled"
    assert totals(cancelled["lines"]) == {"BEANIE-CHR": 2}
    assert cancelled["shipped_at"] is None
    [after] = [s for s in await feed(api, returned_at) if s["order_id"] == shipped["id"]]
    assert after["state"] == "cancelled"
    assert [p["tracking_number"] for p in after["packages"]] == ["1Z1"]


async def test_the_feed_names_bad_input(api: Client) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"since": "yesterday"}, 400, "query.since"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, 422, "query.cursor"),
        ({"cursor": encode_feed_cursor(FeedPosition(now(), "x"))}, 422, "query.cursor"),
    ]
    for params, status, field in cases:
        resp = await api.get("/erp/v1/shipments/changes", params=params)
        assert resp.status_code == status, (params, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert field in resp.text, (params, resp.text)
    resp = await api.get(
        "/erp/v1/shipments/changes", params={"since": now().isoformat(), "limit": 0}
    )
    assert resp.status_code == 400


# -- pure parts ------------------------------------------------------------------------------


def test_a_cursor_round_trips() -> None:
    position = FeedPosition(dt.datetime(2026, 12, 3, 10, 15, 2, 123456, tzinfo=dt.UTC), "41")
    assert decode_feed_cursor(encode_feed_cursor(position)) == position


def test_parcels_share_what_no_parcel_names() -> None:
    units = {"A": 3, "B": 1}
    assert parcel_contents(units, [None, None]) == [{"A": 2}, {"A": 1, "B": 1}]
    assert parcel_contents(units, [{"B": 1}, None]) == [{"B": 1}, {"A": 3}]
    with pytest.raises(ValueError, match="stay empty"):
        parcel_contents({"A": 1}, [None, None])
    with pytest.raises(ValueError, match="nothing packs"):
        parcel_contents(units, [{"A": 3}])
    with pytest.raises(ValueError, match="does not hold"):
        parcel_contents(units, [{"B": 2}])
