"""Orders from other channels (a POS sale, a marketplace order, a B2B order) through the stack.

Each is POSTed to the orders process's channel API (``POST /orders/v1/orders``), queued,
routed and posted by its workers to the ERP system API, and ends as a confirmed sale in the
real Tryton: under its channel's reference, at the channel's total to the cent, and, for the
business buyer, with the company as party, its payment terms and its purchase order number.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.tryton import TrytonConsole, admin_credentials
from sandbox.tryton.server import database_name
from strata.stack import Part
from tests.support.processes import RedisServer
from tests.support.stack import wait_until, whole_stack
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tryton_data(tryton_template_dir: Path) -> Path:
    return tryton_template_dir


@pytest.fixture(scope="module")
def stack(
    redis_server: RedisServer, tryton_data: Path, token_mint: TokenMint
) -> Iterator[dict[str, Part]]:
    with whole_stack(
        redis_server.url, tryton_data, ROOT / "var" / "log" / "e2e-channels", token_mint
    ) as parts:
        yield parts


@pytest.fixture(scope="module")
def api(stack: dict[str, Part], token_mint: TokenMint) -> dict[str, httpx.Client]:
    headers = token_mint.headers("orders:read", "orders:write", "erp:read", client_id="e2e")
    return {
        name: httpx.Client(base_url=stack[name].address, headers=headers, timeout=30)
        for name in ("orders", "erp-eu")
    }


@pytest.fixture(scope="module")
def tryton(stack: dict[str, Part], tryton_data: Path) -> Iterator[TrytonConsole]:
    credentials = admin_credentials("eu", tryton_data)
    with TrytonConsole(
        stack["tryton-eu"].address,
        database_name("eu"),
        credentials.user,
        credentials.password,
    ) as console:
        yield console


def submit(api: dict[str, httpx.Client], channel: str, order: dict[str, Any]) -> str:
    order_id = f"{channel.upper()}-{uuid.uuid4().hex[:10]}"
    response = api["orders"].post(
        "/orders/v1/orders",
        json={"channel": channel, "order_id": order_id, "order": order},
        headers={"Idempotency-Key": f"e2e-{order_id}"},
    )
    assert response.status_code == 202, response.text
    return order_id


def posted(api: dict[str, httpx.Client], channel: str, order_id: str) -> dict[str, Any]:
    """The ERP's sales order, once the pipeline has posted it."""

    def check() -> dict[str, Any] | None:
        status = api["orders"].get(f"/orders/v1/orders/{channel}/{order_id}")
        if status.status_code != 200 or not status.json().get("erp_order_id"):
            return None
        order = api["erp-eu"].get(f"/erp/v1/sales-orders/by-reference/channel:{channel}:{order_id}")
        return order.json() if order.status_code == 200 else None

    result: dict[str, Any] = wait_until(check, timeout=90, what=f"{channel} {order_id} posted")
    return result


def sale(tryton: TrytonConsole, order_id: str) -> dict[str, Any]:
    [row] = tryton.execute(
        "sale.sale",
        "read",
        [int(order_id)],
        [
            "state",
            "reference",
            "description",
            "comment",
            "total_amount",
            "tax_amount",
            "party.name",
            "contact.value",
            "payment_term.name",
            "lines.product.code",
            "lines.quantity",
            "lines.amount",
            "lines.taxes",
        ],
    )
    assert isinstance(row, dict)
    return row


def vat(rate: str, amount: str) -> dict[str, str]:
    return {"title": f"VAT {Decimal(rate) * 100:g}%", "rate": rate, "amount": amount}


def test_a_pos_sale_ends_in_the_erp_at_the_tills_total(
    api: dict[str, httpx.Client], tryton: TrytonConsole
) -> None:
    # A till in Amsterdam: prices include 21 % VAT, paid in cash, the buyer's receipt email.
    order = {
        "external_reference": "till-7:receipt-00912",
        "currency": "EUR",
        "customer": {"email": "emma.dejong@example.com", "name": "Emma de Jong"},
        "source": "pos",
        "taxes_included": True,
        "lines": [
            {
                "sku": "MUG-STONE-350",
                "quantity": 2,
                "unit_price": "14.00",
                "taxes": [vat("0.21", "4.86")],
            },
            {
                "sku": "CANDLE-FIG-200",
                "quantity": 1,
                "unit_price": "22.00",
                "discounts": [{"amount": "2.20", "title": "Loyalty 10%"}],
                "taxes": [vat("0.21", "3.44")],
            },
        ],
        "expected_total": "47.80",
        "payment_gateways": ["cash"],
    }
    order_id = submit(api, "pos-amsterdam", order)

    erp_order = posted(api, "pos-amsterdam", order_id)

    assert Decimal(erp_order["total"]["amount"]) == Decimal("47.80")
    assert erp_order["external_reference"] == f"channel:pos-amsterdam:{order_id}"
    row = sale(tryton, erp_order["id"])
    assert row["state"] in ("confirmed", "processing")
    assert row["total_amount"] == Decimal("47.80")
    assert row["tax_amount"] == Decimal("8.30")
    assert "Source: pos" in row["comment"]
    assert [line["product."]["code"] for line in row["lines."]] == [
        "MUG-STONE-350",
        "CANDLE-FIG-200",
    ]


def test_a_marketplace_order_carries_its_shipping_and_fee(
    api: dict[str, httpx.Client], tryton: TrytonConsole
) -> None:
    # A marketplace sale in Germany: 19 % VAT on top, shipping taxed, a marketplace fee.
    order = {
        "external_reference": "bol-1204-558",
        "currency": "EUR",
        "customer": {"email": "lukas.schmidt@example.com", "name": "Lukas Schmidt"},
        "shipping_address": {
            "name": "Lukas Schmidt",
            "street": "Torstrasse 12",
            "city": "Berlin",
            "postal_code": "10119",
            "country": "DE",
        },
        "source": "marketplace",
        "lines": [
            {
                "sku": "HOODIE-GRY-M",
                "quantity": 1,
                "unit_price": "41.18",
                "taxes": [vat("0.19", "7.82")],
            }
        ],
        "charges": [
            {
                "kind": "shipping",
                "title": "DHL Paket",
                "amount": "4.19",
                "taxes": [vat("0.19", "0.80")],
            },
            {"kind": "fee", "title": "Marketplace service fee", "amount": "1.50"},
        ],
        "expected_total": "55.49",
    }
    order_id = submit(api, "marketplace-bol", order)

    erp_order = posted(api, "marketplace-bol", order_id)

    assert Decimal(erp_order["total"]["amount"]) == Decimal("55.49")
    assert {c["kind"] for c in erp_order["charges"]} == {"shipping", "fee"}
    row = sale(tryton, erp_order["id"])
    assert row["total_amount"] == Decimal("55.49")
    assert row["tax_amount"] == Decimal("8.62")
    amounts = {line["product."]["code"]: line["amount"] for line in row["lines."]}
    assert amounts == {
        "HOODIE-GRY-M": Decimal("41.18"),
        "SHIPPING": Decimal("4.19"),
        "FEE": Decimal("1.50"),
    }
    assert "Source: marketplace" in row["comment"]


def test_a_b2b_order_has_the_company_its_terms_and_its_po(
    api: dict[str, httpx.Client], tryton: TrytonConsole
) -> None:
    company = f"Hollands Interieur B.V. {uuid.uuid4().hex[:6]}"
    order = {
        "external_reference": "b2b-portal-88",
        "currency": "EUR",
        "customer": {"email": "inkoop@hollandsinterieur.example.nl", "name": "Sanne Visser"},
        "shipping_address": {
            "name": "Sanne Visser",
            "street": "Keizersgracht 120",
            "city": "Amsterdam",
            "postal_code": "1015 CW",
            "country": "NL",
        },
        "lines": [
            {
                "sku": "CUSHION-LIN-45",
                "quantity": 12,
                "unit_price": "18.00",
                "taxes": [vat("0.21", "45.36")],
            },
            {
                "sku": "THROW-OAT",
                "quantity": 4,
                "unit_price": "47.00",
                "discounts": [{"amount": "18.80", "title": "Trade 10%", "scope": "order"}],
                "taxes": [vat("0.21", "35.53")],
            },
        ],
        "expected_total": "466.09",
        "company_name": company,
        "purchase_order_number": "PO-2026-0042",
        "payment_terms": "Net 30",
    }
    order_id = submit(api, "b2b-portal", order)

    erp_order = posted(api, "b2b-portal", order_id)

    assert Decimal(erp_order["total"]["amount"]) == Decimal("466.09")
    row = sale(tryton, erp_order["id"])
    assert row["total_amount"] == Decimal("466.09")
    assert row["party."]["name"] == company
    assert row["contact."]["value"] == "inkoop@hollandsinterieur.example.nl"
    assert row["payment_term."]["name"] == "Net 30"
    assert row["description"].startswith("PO PO-2026-0042")
    assert "Purchase order: PO-2026-0042" in row["comment"]
    assert row["reference"] == f"channel:b2b-portal:{order_id}"


def test_a_payment_term_the_erp_lacks_is_an_exception_naming_it(
    api: dict[str, httpx.Client],
) -> None:
    order = {
        "external_reference": "b2b-portal-89",
        "currency": "EUR",
        "customer": {"email": "inkoop@hollandsinterieur.example.nl"},
        "lines": [{"sku": "TOTE-NAT", "quantity": 10, "unit_price": "12.00"}],
        "company_name": "Hollands Interieur B.V.",
        "payment_terms": "Net 45",
    }
    order_id = submit(api, "b2b-portal", order)

    def exception() -> dict[str, Any] | None:
        status = api["orders"].get(f"/orders/v1/orders/b2b-portal/{order_id}").json()
        return status if status.get("exception_id") else None

    status = wait_until(exception, timeout=90, what="the exception")
    record = api["orders"].get(f"/orders/v1/exceptions/{status['exception_id']}").json()
    assert "Net 45" in record["error"]
