"""Orders that change after posting, through the whole stack.

The Shopify sandbox sends ``orders/edited`` (the edit's deltas) and ``orders/updated`` (the
order) for an order edit, and ``orders/cancelled`` for a cancel; the orders process amends,
cancels or returns in the regional Tryton ERP, which a warehouse (the test) ships from.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.shopify.settings import SandboxSettings
from sandbox.tryton import TrytonConsole, ship_order
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
        ROOT / "var" / "log" / "e2e-order-changes",
        token_mint,
        sandbox_env={"STRATA_SANDBOX_WEBHOOK_TOPICS": json.dumps(TOPICS)},
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
    """What the warehouse helpers need of the EU Tryton the stack runs."""
    env = stack["erp-eu"].env
    return types.SimpleNamespace(
        url=env["STRATA_ERP_TRYTON_URL"],
        database=env["STRATA_ERP_TRYTON_DATABASE"],
        user=env["STRATA_ERP_TRYTON_USER"],
        password=env["STRATA_ERP_TRYTON_PASSWORD"],
    )


def status(api: dict[str, httpx.Client], order_id: int) -> dict[str, Any] | None:
    response = api["orders"].get(f"/orders/v1/orders/{EU}/{order_id}")
    return response.json() if response.status_code == 200 else None


def reached(api: dict[str, httpx.Client], order_id: int, step: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        current = status(api, order_id)
        steps = [s["step"] for s in (current or {}).get("steps", [])]
        return current if step in steps else None

    found: dict[str, Any] = wait_until(check, timeout=90, what=f"{order_id}: {step}")
    return found


def erp_order(api: dict[str, httpx.Client], order_id: int) -> dict[str, Any]:
    response = api["erp-eu"].get(f"/erp/v1/sales-orders/by-reference/shopify:{EU}:{order_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def lines(order: dict[str, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in order["lines"]:
        found[line["sku"]] = found.get(line["sku"], 0) + line["quantity"]
    return found


def totals_agree(sandbox: Sandbox, api: dict[str, httpx.Client], order_id: int) -> Decimal:
    """Wait for the ERP sale's total to be the sandbox order's ``current_total_price`` (an
    edit settles over ``orders/edited`` and ``orders/updated``); that total."""
    shopify = Decimal(sandbox.order(EU, order_id)["current_total_price"])

    def check() -> bool:
        return Decimal(erp_order(api, order_id)["total"]["amount"]) == shopify

    wait_until(check, timeout=90, what=f"{order_id}: ERP total {shopify} as Shopify's")
    return shopify


def edit(sandbox: Sandbox, order_id: int, **body: Any) -> dict[str, Any]:
    response = sandbox.post(f"/shops/{EU}/orders/{order_id}/edit", body)
    assert response.status_code < 300, response.text
    edited: dict[str, Any] = response.json()
    return edited


def test_an_edit_before_shipment_amends_the_erp_order(
    sandbox: Sandbox, api: dict[str, httpx.Client]
) -> None:
    order = sandbox.create_order(
        EU,
        line_items=[{"sku": "TOTE-NAT", "quantity": 2}, {"sku": "BEANIE-CHR", "quantity": 1}],
    )
    reached(api, order["id"], "acknowledged")
    before = totals_agree(sandbox, api, order["id"])

    made = edit(
        sandbox,
        order["id"],
        set_quantities=[{"sku": "TOTE-NAT", "quantity": 3}, {"sku": "BEANIE-CHR", "quantity": 0}],
        add=[{"sku": "POT-TERRA-M", "quantity": 1}],
    )
    assert made["order_edit"]["order_id"] == order["id"]
    assert len(made["order_edit"]["line_items"]["removals"]) == 1
    assert len(made["order_edit"]["line_items"]["additions"]) == 2

    final = reached(api, order["id"], "amended")
    assert lines(erp_order(api, order["id"])) == {"TOTE-NAT": 3, "POT-TERRA-M": 1}
    amended = [s for s in final["steps"] if s["step"] == "amended"]
    assert len(amended) == 1
    assert "BEANIE-CHR 1 -> 0 (removed)" in amended[0]["detail"]
    # The added pot is priced net of the shop's included VAT, as Shopify has it.
    assert totals_agree(sandbox, api, order["id"]) != before
    deliveries = sandbox.deliveries(shop=EU, topic="orders/edited", include_body="true")
    assert any(str(order["id"]) in d["body"] for d in deliveries)


def test_a_partial_cancel_reduces_the_erp_line(
    sandbox: Sandbox, api: dict[str, httpx.Client]
) -> None:
    order = sandbox.create_order(EU, line_items=[{"sku": "TOTE-NAT", "quantity": 3}])
    reached(api, order["id"], "acknowledged")

    edit(sandbox, order["id"], set_quantities=[{"sku": "TOTE-NAT", "quantity": 1}])
    reached(api, order["id"], "amended")
    assert lines(erp_order(api, order["id"])) == {"TOTE-NAT": 1}
    totals_agree(sandbox, api, order["id"])
    shopify_line = sandbox.order(EU, order["id"])["line_items"][0]
    assert (shopify_line["quantity"], shopify_line["current_quantity"]) == (3, 1)

    # Up again, in a second edit: the quantity and the total follow once more.
    edit(sandbox, order["id"], set_quantities=[{"sku": "TOTE-NAT", "quantity": 2}])
    wait_until(
        lambda: lines(erp_order(api, order["id"])) == {"TOTE-NAT": 2},
        timeout=90,
        what="TOTE-NAT back to 2",
    )
    totals_agree(sandbox, api, order["id"])


def test_a_full_cancel_before_shipment_cancels_the_sale(
    sandbox: Sandbox, api: dict[str, httpx.Client]
) -> None:
    order = sandbox.create_order(EU, line_items=[{"sku": "BEANIE-CHR", "quantity": 1}])
    reached(api, order["id"], "acknowledged")

    assert sandbox.post(f"/shops/{EU}/orders/{order['id']}/cancel").status_code < 300
    final = reached(api, order["id"], "cancelled")
    assert final["state"] == "cancelled"
    assert erp_order(api, order["id"])["status"] == "cancelled"


def test_a_cancel_after_shipment_returns_what_shipped_once(
    sandbox: Sandbox, api: dict[str, httpx.Client], tryton_eu: Any
) -> None:
    order = sandbox.create_order(EU, line_items=[{"sku": "TOTE-NAT", "quantity": 2}])
    posted = reached(api, order["id"], "acknowledged")
    ship_order(tryton_eu, posted["erp_order_id"], force=True)

    # Shopify has not heard of the shipment yet: the merchant cancels.
    assert sandbox.post(f"/shops/{EU}/orders/{order['id']}/cancel").status_code < 300
    final = reached(api, order["id"], "returned after cancel")
    assert final["state"] == "cancelled"
    reference = f"shopify:{EU}:{order['id']}:cancel"
    [step] = [s for s in final["steps"] if s["step"] == "returned after cancel"]
    assert reference in step["detail"]
    assert "TOTE-NAT x2" in step["detail"]

    # The same cancel delivered again (the ingress drops repeats of an event) makes no
    # second return; the ERP system API's own idempotency is proven on Tryton directly.
    [delivery] = [
        d
        for d in sandbox.deliveries(shop=EU, topic="orders/cancelled", include_body="true")
        if str(order["id"]) in d["body"]
    ]
    assert sandbox.post(f"/deliveries/{delivery['webhook_id']}/redeliver", {"count": 2}).is_success
    wait_until(
        lambda: all(
            d["state"] != "queued"
            for d in sandbox.deliveries(shop=EU, topic="orders/cancelled")
            if d["event_id"] == delivery["event_id"]
        ),
        what="the redeliveries sent",
    )
    with TrytonConsole(
        tryton_eu.url, tryton_eu.database, tryton_eu.user, tryton_eu.password
    ) as console:
        returns = console.execute(
            "sale.sale", "search_read", [("reference", "=", reference)], 0, None, None, ["state"]
        )
    assert len(returns) == 1
    assert returns[0]["state"] in ("processing", "confirmed")
    shipments = api["erp-eu"].get(f"/erp/v1/sales-orders/{posted['erp_order_id']}/shipments")
    assert any(s["is_return"] for s in shipments.json()["items"])
