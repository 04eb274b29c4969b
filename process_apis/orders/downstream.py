"""Calls down to the system APIs, with every answer classified as done, transient or permanent.

Transient: connection errors, timeouts, 408, 409 (a concurrent request holds the key), 425,
429 and 5xx, honouring ``Retry-After``. Permanent: any other 4xx, whose problem body says what
to fix. Nothing here retries by itself: the stream worker owns retries, so one bad order never
holds a worker.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import msgspec

from shared.events import PermanentFailure, TransientFailure
from shared.models import SalesOrder, SalesOrderDraft

TRANSIENT_STATUSES = {408, 409, 425, 429}
_ENC = msgspec.json.Encoder()


class Rejected(PermanentFailure):
    """A system API refused the request for good; ``problem`` is its RFC 9457 body."""

    def __init__(self, reason: str, problem: dict[str, Any], *, kind: str) -> None:
        super().__init__(reason, kind=kind)
        self.problem = problem


def idempotency_key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def settle(
    response: httpx.Response, what: str, permanent: frozenset[int] = frozenset()
) -> httpx.Response:
    """Return the response if it succeeded; raise Transient/Rejected otherwise."""
    if response.status_code < 400:
        return response
    status = response.status_code
    try:
        problem = response.json()
    except ValueError:
        problem = {"status": status, "detail": response.text[:500]}
    if not isinstance(problem, dict):
        problem = {"status": status, "detail": str(problem)[:500]}
    detail = problem.get("detail") or problem.get("title") or response.reason_phrase
    if status not in permanent and (status >= 500 or status in TRANSIENT_STATUSES):
        raise TransientFailure(f"{what}: {status} {detail}", retry_after=_retry_after(response))
    kind = "validation" if status in (400, 422) else f"http-{status}"
    raise Rejected(f"{what}: {status} {detail}", problem, kind=kind)


async def send(
    client: httpx.AsyncClient,
    what: str,
    method: str,
    url: str,
    *,
    permanent: frozenset[int] = frozenset(),
    **kw: Any,
) -> httpx.Response:
    try:
        response = await client.request(method, url, **kw)
    except httpx.TimeoutException as exc:
        raise TransientFailure(f"{what}: timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise TransientFailure(f"{what}: unreachable ({type(exc).__name__}: {exc})") from exc
    return settle(response, what, permanent)


class ErpClient:
    """The ERP system API of one instance."""

    def __init__(self, instance: str, client: httpx.AsyncClient) -> None:
        self.instance = instance
        self.client = client

    async def post_sales_order(self, draft: SalesOrderDraft) -> SalesOrder:
        key = idempotency_key("sales-order", draft.external_reference)
        try:
            response = await send(
                self.client,
                f"erp {self.instance} create order",
                "POST",
                "/erp/v1/sales-orders",
                content=_ENC.encode(draft),
                headers={"Idempotency-Key": key, "Content-Type": "application/json"},
            )
        except Rejected as exc:
            if not str(exc.problem.get("type", "")).endswith("/idempotency-key-reused"):
                raise
            # Posted before from another snapshot of the same order (an edit, a replay with
            # a fix): the ERP has it, so that order is the answer.
            existing = await self.find_by_reference(draft.external_reference)
            if existing is None:
                raise TransientFailure(
                    "the first posting of this order is not visible yet"
                ) from exc
            return existing
        return msgspec.json.decode(response.content, type=SalesOrder)

    async def find_by_reference(self, reference: str) -> SalesOrder | None:
        try:
            response = await send(
                self.client,
                f"erp {self.instance} find order",
                "GET",
                f"/erp/v1/sales-orders/by-reference/{httpx.URL(path=reference).raw_path.decode()}",
            )
        except Rejected as exc:
            if exc.problem.get("status") == 404:
                return None
            raise
        return msgspec.json.decode(response.content, type=SalesOrder)

    async def cancel(self, order_id: str) -> SalesOrder:
        response = await send(
            self.client,
            f"erp {self.instance} cancel order",
            "POST",
            f"/erp/v1/sales-orders/{order_id}/cancel",
            permanent=frozenset({409}),  # 409 here means "already shipped", not "busy"
        )
        return msgspec.json.decode(response.content, type=SalesOrder)


class ShopifyClient:
    """The Shopify system API: read orders, and acknowledge them with a tag and a metafield."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get_order(self, shop: str, order_id: str) -> dict[str, Any]:
        """The order as Shopify has it now, in the webhook's (REST) shape."""
        response = await send(
            self.client, "shopify read order", "GET", f"/shopify/v1/shops/{shop}/orders/{order_id}"
        )
        return rest_shape(response.json())

    async def acknowledge(self, shop: str, order_id: str, instance: str, order: SalesOrder) -> None:
        number = order.number or order.id
        tag = f"erp:{instance}:{number}"
        await send(
            self.client,
            "shopify tag order",
            "POST",
            f"/shopify/v1/shops/{shop}/orders/{order_id}/tags",
            json={"tags": [tag]},
            headers={"Idempotency-Key": idempotency_key("tag", shop, order_id, tag)},
        )
        metafield = {
            "namespace": "strata",
            "key": "erp_order",
            "type": "json",
            "value": msgspec.json.encode(
                {"instance": instance, "id": order.id, "number": number}
            ).decode(),
        }
        await send(
            self.client,
            "shopify set metafield",
            "POST",
            f"/shopify/v1/shops/{shop}/orders/{order_id}/metafields",
            json=metafield,
            headers={"Idempotency-Key": idempotency_key("metafield", shop, order_id, number)},
        )


def rest_shape(order: dict[str, Any]) -> dict[str, Any]:
    """The Shopify system API's order in the shape of an ``orders/*`` webhook body."""
    name = (order.get("customer_name") or "").split(" ", 1)
    address = order.get("shipping_address") or None
    return {
        "id": order["id"],
        "name": order.get("name"),
        "email": order.get("email"),
        "currency": order.get("currency"),
        "created_at": order.get("created_at"),
        "cancelled_at": order.get("cancelled_at"),
        "total_price": (order.get("total") or {}).get("amount"),
        "customer": {"first_name": name[0], "last_name": name[1] if len(name) > 1 else ""},
        "shipping_address": None
        if address is None
        else {
            "name": address.get("name"),
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "city": address.get("city"),
            "zip": address.get("zip"),
            "country_code": address.get("country_code"),
        },
        "line_items": [
            {
                "sku": line.get("sku"),
                "title": line.get("title"),
                "quantity": line.get("quantity"),
                "current_quantity": line.get("current_quantity"),
                "price": (line.get("unit_price") or {}).get("amount"),
            }
            for line in order.get("lines", [])
        ],
    }
