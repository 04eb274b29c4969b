"""ERP shipments to Shopify fulfillments, through the whole stack.

A sandbox order is posted to the EU Tryton; the demo warehouse (the test) ships it there, in
parcels with tracking numbers; the orders process follows Tryton's shipment change feed and
records each shipment in Shopify (the sandbox) as a fulfillment with every tracking number,
corrects tracking, and cancels a fulfillment whose shipment the ERP cancelled.
"""

from __future__ import annotations

import json
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.shopify.settings import SandboxSettings
from sandbox.tryton import cancel_shipment, set_tracking, ship_order
from strata.stack import Part
from tests.support.processes import RedisServer
from tests.support.stack import Sandbox, wait_until, whole_stack
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
EU = "demo-eu.myshopify.com"
ROOT = Path(__file__).resolve().parents[2]
TOPICS = list(SandboxSettings().webhook_topics)


@pytest.fixture(scope="module")
def stack(
    redis_server: RedisServer, tryton_template_dir: Path, token_mint: TokenMint
) -> Iterator[dict[str, Part]]:
    with whole_stack(
        redis_server.url,
        tryton_template_dir,
        ROOT / "var" / "log" / "e2e-fulfillment",
        token_mint,
        sandbox_env={"STRATA_SANDBOX_WEBHOOK_TOPICS": json.dumps(TOPICS)},
        # The EU demo shop's third-party warehouse fulfils in Shopify: the ERP records it.
        orders_env={"STRATA_ORDERS_FULFILLMENT_ERP_SHIPMENTS_FROM_SHOPIFY": json.dumps({EU: True})},
    ) as parts:
        yield parts


@pytest.fixture(scope="module")
def sandbox(stack: dict[str, Part]) -> Sandbox:
    return Sandbox(stack["shopify-sandbox"].address)


@pytest.fixture(scope="module")
def api(stack: dict[str, Part], token_mint: TokenMint) -> dict[str, httpx.Client]:
    headers = token_mint.headers("orders:read", "erp:read", client_id="e2e")
    return {
        name: httpx.Client(base_url=stack[name].address, headers=headers, timeout=30)
        for name in ("orders", "erp-eu")
    }


@pytest.fixture(scope="module")
def tryton_eu(stack: dict[str, Part]) -> Any:
    env = stack["erp-eu"].env
    return types.SimpleNamespace(
        url=env["STRATA_ERP_TRYTON_URL"],
        database=env["STRATA_ERP_TRYTON_DATABASE"],
        user=env["STRATA_ERP_TRYTON_USER"],
        password=env["STRATA_ERP_TRYTON_PASSWORD"],
    )


def posted(api: dict[str, httpx.Client], order_id: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = api["orders"].get(f"/orders/v1/orders/{EU}/{order_id}")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if any(s["step"] == "acknowledged" for s in body["steps"]) else None

    found: dict[str, Any] = wait_until(check, timeout=90, what=f"{order_id} acknowledged")
    return found


def shipments(api: dict[str, httpx.Client], erp_order_id: str) -> list[dict[str, Any]]:
    response = api["erp-eu"].get(f"/erp/v1/sales-orders/{erp_order_id}/shipments")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return [s for s in items if not s.get("is_return")]


def live(sandbox: Sandbox, order_id: int) -> list[dict[str, Any]]:
    order = sandbox.order(EU, order_id)
    return [f for f in order.get("fulfillments", []) if f.get("status") != "cancelled"]


def fulfilled(sandbox: Sandbox, order_id: int, count: int) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        found = live(sandbox, order_id)
        return found if len(found) >= count else None

    made: list[dict[str, Any]] = wait_until(
        check, timeout=60, what=f"{order_id}: {count} fulfillment(s) in Shopify"
    )
    return made


def numbers(fulfillment: dict[str, Any]) -> list[str]:
    found = fulfillment.get("tracking_numbers")
    if found is None:
        found = [t["number"] for t in fulfillment.get("tracking", []) if t.get("number")]
    return sorted(found)


def units(fulfillment: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in fulfillment.get("line_items", []):
        out[line["sku"]] = out.get(line["sku"], 0) + int(line["quantity"])
    return out


def test_two_parcels_become_one_fulfillment_with_both_numbers(
    sandbox: Sandbox, api: dict[str, httpx.Client], tryton_eu: Any
) -> None:
    order = sandbox.create_order(EU, line_items=[{"sku": "TOTE-NAT", "quantity": 2}])
    status = posted(api, order["id"])
    ship_order(
        tryton_eu,
        status["erp_order_id"],
        force=True,
        packages=[
            {"carrier": "DHL", "tracking": "JD0146000061", "lines": {"TOTE-NAT": 1}},
            {"carrier": "DHL", "tracking": "JD0146000062", "lines": {"TOTE-NAT": 1}},
        ],
    )
    [made] = fulfilled(sandbox, order["id"], 1)
    assert numbers(made) == ["JD0146000061", "JD0146000062"]
    assert made.get("tracking_company") in ("DHL Express", None) or any(
        t.get("company") == "DHL Express" for t in made.get("tracking", [])
    )
    assert units(made) == {"TOTE-NAT": 2}
    assert sandbox.order(EU, order["id"])["fulfillment_status"] == "fulfilled"

    def recorded() -> dict[str, Any] | None:
        body = api["orders"].get(f"/orders/v1/orders/{EU}/{order['id']}").json()
        return body if any(s["step"] == "fulfilled" for s in body["steps"]) else None

    final = wait_until(recorded, timeout=30, what="the fulfilled step")
    [step] = [s for s in final["steps"] if s["step"] == "fulfilled"]
    assert "JD0146000061" in step["detail"]
    # Nothing more is sent while nothing changes: still exactly one fulfillment.
    time.sleep(5)
    assert len(sandbox.order(EU, order["id"]).get("fulfillments", [])) == 1


def test_a_partial_shipment_then_the_rest(
    sandbox: Sandbox, api: dict[str, httpx.Client], tryton_eu: Any
) -> None:
    order = sandbox.create_order(
        EU, line_items=[{"sku": "TOTE-NAT", "quantity": 2}, {"sku": "BEANIE-CHR", "quantity": 1}]
    )
    status = posted(api, order["id"])
    ship_order(
        tryton_eu,
        status["erp_order_id"],
        force=True,
        lines={"TOTE-NAT": 2},
        packages=[{"carrier": "UPS", "tracking": "1Z999AA10000000001"}],
    )
    [first] = fulfilled(sandbox, order["id"], 1)
    assert units(first) == {"TOTE-NAT": 2}
    wait_until(
        lambda: sandbox.order(EU, order["id"])["fulfillment_status"] == "partial",
        timeout=30,
        what="partially fulfilled",
    )

    ship_order(
        tryton_eu,
        status["erp_order_id"],
        force=True,
        packages=[{"carrier": "UPS", "tracking": "1Z999AA10000000002"}],
    )
    made = fulfilled(sandbox, order["id"], 2)
    assert sorted(numbers(f)[0] for f in made) == ["1Z999AA10000000001", "1Z999AA10000000002"]
    assert sandbox.order(EU, order["id"])["fulfillment_status"] == "fulfilled"


def test_a_tracking_correction_reaches_shopify(
    sandbox: Sandbox, api: dict[str, httpx.Client], tryton_eu: Any
) -> None:
    order = sandbox.create_order(EU, line_items=[{"sku": "BEANIE-CHR", "quantity": 1}])
    status = posted(api, order["id"])
    ship_order(
        tryton_eu,
        status["erp_order_id"],
        force=True,
        packages=[{"carrier": "DHL", "tracking": "JD0000000001"}],
    )
    [made] = fulfilled(sandbox, order["id"], 1)
    assert numbers(made) == ["JD0000000001"]
    [shipment] = shipments(api, status["erp_order_id"])
    set_tracking(tryton_eu, shipment["packages"][0]["id"], "JD0000000002")

    def corrected() -> bool:
        [now] = live(sandbox, order["id"])
        return numbers(now) == ["JD0000000002"]

    wait_until(corrected, timeout=60, what="the corrected tracking number in Shopify")
    assert len(sandbox.order(EU, order["id"]).get("fulfillments", [])) == 1


def test_a_cancelled_shipment_cancels_its_fulfillment(
    sandbox: Sandbox, api: dict[str, httpx.Client], tryton_eu: Any
) -> None:
    order = sandbox.create_order(EU, line_items=[{"sku": "TOTE-NAT", "quantity": 1}])
    status = posted(api, order["id"])
    [shipment_id] = ship_order(
        tryton_eu,
        status["erp_order_id"],
        force=True,
        packages=[{"carrier": "DHL", "tracking": "JD0000000009"}],
    )
    fulfilled(sandbox, order["id"], 1)
    cancel_shipment(tryton_eu, shipment_id)

    wait_until(
        lambda: not live(sandbox, order["id"]),
        timeout=60,
        what="the fulfillment cancelled in Shopify",
    )
    all_made = sandbox.order(EU, order["id"]).get("fulfillments", [])
    assert len(all_made) == 1
    assert all_made[0]["status"] == "cancelled"


def test_a_fulfillment_made_in_shopify_is_recorded_in_the_erp_once(
    sandbox: Sandbox, api: dict[str, httpx.Client]
) -> None:
    order = sandbox.create_order(
        EU, line_items=[{"sku": "TOTE-NAT", "quantity": 2}, {"sku": "BEANIE-CHR", "quantity": 1}]
    )
    status = posted(api, order["id"])
    answer = sandbox.post(
        f"/shops/{EU}/orders/{order['id']}/fulfillments",
        {
            "lines": [{"sku": "TOTE-NAT", "quantity": 2}],
            "tracking": {"company": "DHL Express", "numbers": ["JD3PL0000001"]},
        },
    )
    assert answer.status_code == 201, answer.text
    made_id = answer.json()["id"]
    reference = f"shopify:{EU}:fulfillment:{made_id}"

    def recorded() -> list[dict[str, Any]]:
        # Recording takes several ERP steps (assign, pick, pack, done): wait for the last.
        return [
            s
            for s in shipments(api, status["erp_order_id"])
            if s.get("reference") == reference and s["state"] == "done"
        ]

    [shipment] = wait_until(recorded, timeout=120, what="the ERP shipment of the fulfillment")
    assert shipment["reference"] == reference
    assert shipment["state"] == "done"
    assert {(line["sku"], float(line["quantity"])) for line in shipment["lines"]} == {
        ("TOTE-NAT", 2.0)
    }
    assert [p["tracking_number"] for p in shipment["packages"]] == ["JD3PL0000001"]
    # The ERP's shipment is not sent back to Shopify: still the one fulfillment.
    time.sleep(5)
    assert [f["id"] for f in sandbox.order(EU, order["id"]).get("fulfillments", [])] == [made_id]
    body = api["orders"].get(f"/orders/v1/orders/{EU}/{order['id']}").json()
    [view] = body["fulfillments"]
    assert view["source"] == "shopify"
