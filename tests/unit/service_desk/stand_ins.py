"""Test helpers: serve an ASGI app on a real loopback port, and a Shopify system API stand-in.

The stand-in answers the two reads the order context makes of the Shopify system API (the
order, its refunds) in the v1 contract's shapes, and can be told to fail or to be slow. It
exists because the real Shopify system API has no refunds read yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Litestar, Response, get
from litestar.params import FromPath

from tests.support.processes import free_port, wait_for_port


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread (its own event loop); yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class ShopifyStandIn:
    """Orders and refunds by (shop, order id); ``status`` other than 200 makes every read fail."""

    orders: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    refunds: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    status: int = 200
    delay: float = 0.0
    calls: int = 0

    def add_order(
        self,
        shop: str,
        order_id: int,
        *,
        name: str,
        email: str,
        created_at: str,
        total: str = "24.00",
        currency: str = "EUR",
        tracking: dict[str, str] | None = None,
    ) -> None:
        self.orders[(shop, order_id)] = {
            "id": order_id,
            "name": name,
            "email": email,
            "tags": [],
            "created_at": created_at,
            "updated_at": created_at,
            "cancelled_at": None,
            "financial_status": "PAID",
            "fulfillment_status": "FULFILLED" if tracking else "UNFULFILLED",
            "currency": currency,
            "total": {"amount": total, "currency": currency},
            "lines": [
                {
                    "id": 1,
                    "sku": "TOTE-NAT",
                    "title": "Tote bag, natural",
                    "quantity": 2,
                    "current_quantity": 2,
                    "unfulfilled_quantity": 0 if tracking else 2,
                    "refundable_quantity": 2,
                    "unit_price": {"amount": "12.00", "currency": currency},
                }
            ],
            "fulfillment_orders": [],
            "metafields": [],
            "fulfillments": (
                [{"id": 7, "name": f"{name}-F1", "status": "SUCCESS",
                  "created_at": created_at, "tracking": [tracking]}]
                if tracking else []
            ),
        }  # fmt: skip

    def app(self) -> Litestar:
        stand_in = self

        async def answer(body: Any) -> Response[Any]:
            stand_in.calls += 1
            if stand_in.delay:
                await asyncio.sleep(stand_in.delay)
            if stand_in.status != 200:
                return Response(
                    {"title": "Shopify is unavailable", "status": stand_in.status},
                    status_code=stand_in.status,
                    media_type="application/problem+json",
                )
            if body is None:
                return Response(
                    {"title": "Not found", "status": 404},
                    status_code=404,
                    media_type="application/problem+json",
                )
            return Response(body)

        @get("/shopify/v1/shops/{shop:str}/orders/{order_id:int}")
        async def order(shop: FromPath[str], order_id: FromPath[int]) -> Response[Any]:
            return await answer(stand_in.orders.get((shop, order_id)))

        @get("/shopify/v1/shops/{shop:str}/orders/{order_id:int}/refunds")
        async def refunds(shop: FromPath[str], order_id: FromPath[int]) -> Response[Any]:
            known = (shop, order_id) in stand_in.orders
            items = stand_in.refunds.get((shop, order_id), [])
            return await answer({"items": items} if known else None)

        return Litestar([order, refunds])


SIDEBAR = Path(__file__).resolve().parents[3] / "clients" / "zendesk-sidebar"


def build_sidebar_sdk() -> Path:
    """Build the sidebar's ``assets/zaf_sdk.js`` from npm (``npm ci`` the first time)."""
    if not (SIDEBAR / "node_modules" / "zendesk_app_framework_sdk").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=SIDEBAR, check=True, timeout=300
        )
    subprocess.run(["node", "scripts/vendor-sdk.mjs"], cwd=SIDEBAR, check=True, timeout=60)
    return SIDEBAR / "assets" / "zaf_sdk.js"
