"""A Shopify order lands once, and only once, in the right regional ERP: the whole stack.

Real processes on loopback: Redis, two Tryton ERPs, both ERP system APIs, the Shopify
sandbox (signing and retrying webhooks like Shopify), the Shopify system API with its
webhook ingress, and the orders process with its stream workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strata.stack import Part, start_part, stop_part
from tests.support.processes import RedisServer
from tests.support.stack import Sandbox, wait_until, whole_stack
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
EU = "demo-eu.myshopify.com"
US = "demo-us.myshopify.com"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(
    redis_server: RedisServer, tryton_template_dir: Path, token_mint: TokenMint
) -> Iterator[dict[str, Part]]:
    with whole_stack(
        redis_server.url, tryton_template_dir, ROOT / "var" / "log" / "e2e", token_mint
    ) as parts:
        yield parts


@pytest.fixture(scope="module")
def sandbox(stack: dict[str, Part]) -> Sandbox:
    return Sandbox(stack["shopify-sandbox"].address)


@pytest.fixture(scope="module")
def api(stack: dict[str, Part], token_mint: TokenMint) -> dict[str, httpx.Client]:
    headers = token_mint.headers(
        "orders:read", "orders:write", "orders:replay", "erp:read", client_id="e2e"
    )
    return {
        name: httpx.Client(base_url=stack[name].address, headers=headers, timeout=30)
        for name in ("orders", "erp-eu", "erp-us")
    }


def status(api: dict[str, httpx.Client], shop: str, order_id: int) -> dict[str, Any] | None:
    response = api["orders"].get(f"/orders/v1/orders/{shop}/{order_id}")
    return response.json() if response.status_code == 200 else None


def acknowledged(api: dict[str, httpx.Client], shop: str, order_id: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        current = status(api, shop, order_id)
        return current if current and current["state"] == "acknowledged" else None

    result: dict[str, Any] = wait_until(check, timeout=90, what=f"{shop} {order_id} acknowledged")
    return result


def order_deliveries(sandbox: Sandbox, order_id: int) -> list[dict[str, Any]]:
    every = sandbox.deliveries(shop=EU, topic="orders/create", include_body="true")
    return [d for d in every if str(order_id) in str(d)]


def erp_orders(api: dict[str, httpx.Client], instance: str, shop: str, order_id: int) -> int:
    """How many sales orders the ERP holds for this Shopify order (0 or 1 by construction of
    the lookup; the ERP test suite proves a reference is never created twice)."""
    response = api[f"erp-{instance}"].get(
        f"/erp/v1/sales-orders/by-reference/shopify:{shop}:{order_id}"
    )
    return 1 if response.status_code == 200 else 0


def test_a_webhook_becomes_one_sales_order_in_the_right_region_and_is_tagged(
    sandbox: Sandbox, api: dict[str, httpx.Client]
) -> None:
    eu = sandbox.create_order(EU, line_items=[{"sku": "TOTE-NAT", "quantity": 2}])
    us = sandbox.create_order(US, line_items=[{"sku": "MUG-STONE-350", "quantity": 1}])
    eu_status = acknowledged(api, EU, eu["id"])
    us_status = acknowledged(api, US, us["id"])
    assert eu_status["erp_instance"] == "eu"
    assert us_status["erp_instance"] == "us"
    steps = [s["step"] for s in eu_status["steps"]]
    for step in ("received", "validated", "routed", "posted", "acknowledged"):
        assert step in steps
    assert erp_orders(api, "eu", EU, eu["id"]) == 1
    assert erp_orders(api, "us", EU, eu["id"]) == 0
    assert erp_orders(api, "us", US, us["id"]) == 1
    tags = sandbox.order(EU, eu["id"])["tag_list"]
    assert f"erp:eu:{eu_status['erp_order_number']}" in tags


def test_duplicate_deliveries_give_one_sales_order(
    sandbox: Sandbox, api: dict[str, httpx.Client]
) -> None:
    order = sandbox.create_order(EU, line_items=[{"sku": "BEANIE-CHR", "quantity": 1}])
    first = acknowledged(api, EU, order["id"])
    deliveries = order_deliveries(sandbox, order["id"])
    assert deliveries, "the sandbox logged no delivery for the order"
    webhook_id = deliveries[0]["webhook_id"]
    assert sandbox.post(f"/deliveries/{webhook_id}/redeliver", {"count": 3}).status_code < 300
    wait_until(
        lambda: len(order_deliveries(sandbox, order["id"])) >= 4,
        what="the redeliveries",
    )
    final = acknowledged(api, EU, order["id"])
    assert final["erp_order_id"] == first["erp_order_id"]
    assert erp_orders(api, "eu", EU, order["id"]) == 1


def test_paid_before_create_ends_posted_once(
    sandbox: Sandbox, api: dict[str, httpx.Client]
) -> None:
    assert sandbox.put("/webhooks/behaviour", {"hold": True}).status_code < 300
    try:
        order = sandbox.create_order(EU, line_items=[{"sku": "TOWEL-BATH-WHT", "quantity": 1}])
    finally:
        assert sandbox.post("/webhooks/release", {"order": "reverse"}).status_code < 300
        sandbox.put("/webhooks/behaviour", {"hold": False})
    final = acknowledged(api, EU, order["id"])
    assert erp_orders(api, "eu", EU, order["id"]) == 1
    assert final["erp_order_id"]


def test_erp_down_then_back_retries_and_posts_once(
    stack: dict[str, Part], sandbox: Sandbox, api: dict[str, httpx.Client]
) -> None:
    erp = stack["erp-eu"]
    stop_part(erp)
    try:
        order = sandbox.create_order(EU, line_items=[{"sku": "POT-TERRA-M", "quantity": 1}])
        wait_until(
            lambda: (s := status(api, EU, order["id"])) and s["state"] == "routed",
            what="the order to wait for the ERP",
        )
    finally:
        start_part(erp, ROOT / "var" / "log" / "e2e")
    acknowledged(api, EU, order["id"])
    assert erp_orders(api, "eu", EU, order["id"]) == 1


def test_permanent_error_goes_to_exceptions_then_replay_posts_once(
    sandbox: Sandbox, api: dict[str, httpx.Client]
) -> None:
    order = sandbox.create_order(EU, line_items=[{"sku": "GIFT-WRAP", "quantity": 1}])

    def opened() -> dict[str, Any] | None:
        current = status(api, EU, order["id"])
        return current if current and current["state"] == "exception" else None

    current = wait_until(opened, what="an exception for the unknown SKU")
    exception = api["orders"].get(f"/orders/v1/exceptions/{current['exception_id']}").json()
    assert exception["kind"] == "validation"
    assert "GIFT-WRAP" in exception["error"]
    assert exception["impact"]["customer_email"]
    assert exception["payload"]["topic"] == "orders/create"
    body = sandbox.order(EU, order["id"])
    body["line_items"] = [{**line, "sku": "TOTE-NAT"} for line in body["line_items"]]
    replay = api["orders"].post(
        f"/orders/v1/exceptions/{exception['id']}/replay", json={"body": body}
    )
    assert replay.status_code == 202, replay.text
    acknowledged(api, EU, order["id"])
    assert erp_orders(api, "eu", EU, order["id"]) == 1
    again = api["orders"].get(f"/orders/v1/exceptions/{exception['id']}").json()
    assert again["state"] == "replayed"
