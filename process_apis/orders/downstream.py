"""Calls down to the system APIs, through the shared sibling client, failing as the worker needs.

Every call goes through :class:`shared.sibling.SiblingClient` (paths from templates, each
parameter percent-encoded as one segment; typed answers) with ``retry=NO_RETRIES``: the stream
worker owns retries, with backoff and dead letters, so one bad order never holds a worker.

Each failure is the shared client's error and, at once, the stream worker's failure:

- :class:`Unavailable` (a :class:`~shared.sibling.SiblingUnavailable` and a
  :class:`~shared.events.TransientFailure`): unreachable, 408, 429, 5xx, or a 409 with
  Retry-After (a concurrent request holds the Idempotency-Key); ``retry_after`` is the system
  API's Retry-After, which the worker waits at least. :class:`TimedOut` when it took the
  request and did not answer in time.
- :class:`Rejected` (a :class:`~shared.sibling.SiblingRejected` and a
  :class:`~shared.events.PermanentFailure`): any other 4xx, whose ``problem`` says what to
  fix; :class:`NotFound` for a 404, :class:`AlreadyShipped` for the ERP's 409 to a cancel,
  :class:`NotAmendable` to an amendment, :class:`NothingToReturn` to a return of shipped
  goods.
- :class:`AnswerInvalid` (permanent): a success whose body breaks the contract; asking again
  gets the same answer.

A path parameter that can be no path segment (empty, ``.`` or ``..``) is a
:class:`~shared.events.PermanentFailure` of kind ``malformed``. :func:`answer_within` puts one
deadline on a whole call (the service's ``erp_timeout``), a transient failure when it passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import msgspec

from process_apis.orders.ports import AmendedOrder, ShippedReturn
from shared.events import PermanentFailure, TransientFailure
from shared.models import OrderLine, SalesOrder, SalesOrderDraft, Shipment, ShipmentRecord
from shared.sibling import (
    NO_RETRIES,
    InvalidPathParameter,
    SiblingAnswerInvalid,
    SiblingClient,
    SiblingError,
    SiblingNotFound,
    SiblingProblem,
    SiblingRejected,
    SiblingTimeout,
    SiblingUnavailable,
)

__all__ = [
    "AlreadyShipped",
    "AnswerInvalid",
    "ErpClient",
    "NotAmendable",
    "NotFound",
    "NothingToReturn",
    "Rejected",
    "ShopifyClient",
    "SystemApiProblem",
    "TimedOut",
    "Unavailable",
    "answer_within",
    "idempotency_key",
    "rest_shape",
]

_ENC = msgspec.json.Encoder()
_JSON = {"Content-Type": "application/json"}
T = TypeVar("T")


def idempotency_key(*parts: str) -> str:
    """A stable Idempotency-Key for one effect: the same parts give the same key."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


async def answer_within(seconds: float, what: str, call: Callable[[], Awaitable[T]]) -> T:
    """``call``'s answer within ``seconds``, all of it (the call's one deadline); a
    :class:`~shared.events.TransientFailure` naming ``what`` when none came in time."""
    try:
        async with asyncio.timeout(seconds):
            return await call()
    except TimeoutError as exc:
        raise TransientFailure(f"{what}: no answer within {seconds:g} s") from exc


# -- failures: the shared errors, as the stream worker needs them ----------------------------


class SystemApiProblem(SiblingProblem, kw_only=True):
    """A system API's RFC 9457 body, also readable as a mapping (``problem.get("status")``)."""

    def get(self, field: str, default: Any = None) -> Any:
        """The field's value, or ``default`` for a name that is no field."""
        return getattr(self, field) if field in self.__struct_fields__ else default

    @classmethod
    def of(cls, problem: SiblingProblem | Mapping[str, Any]) -> SystemApiProblem:
        """The same document as a :class:`SystemApiProblem`."""
        if isinstance(problem, cls):
            return problem
        if isinstance(problem, SiblingProblem):
            return cls(**msgspec.structs.asdict(problem))
        return msgspec.convert(dict(problem), cls)


class Rejected(SiblingRejected, PermanentFailure):
    """A system API refused the request for good: the stream worker buries the entry at once.

    ``reason`` is the whole sentence, the system API's name first (``str(error)``, what the
    worker records); ``kind`` the exception record's (``validation`` for 400 and 422, else
    ``http-<status>``); ``sibling_status`` the HTTP status (else the problem's) and
    ``problem`` the refusal's problem document.
    """

    problem: SystemApiProblem

    def __init__(
        self,
        reason: str,
        problem: SiblingProblem | Mapping[str, Any],
        *,
        kind: str | None = None,
        sibling: str = "system API",
        sibling_status: int | None = None,
    ) -> None:
        document = SystemApiProblem.of(problem)
        status = sibling_status or document.status or 0
        super().__init__(sibling, reason, sibling_status=status, problem=document)
        self.reason = str(self)
        self.kind = kind or ("validation" if status in (400, 422) else f"http-{status}")


class NotFound(SiblingNotFound, Rejected):
    """The system API has no such resource (404)."""


class AlreadyShipped(Rejected):
    """The ERP refused to cancel an order that has shipped (409): a refund or return is due."""


class NotAmendable(Rejected):
    """The ERP refused to amend the order (409): it has shipped, is being picked, or the change
    is one it can't express; the problem's ``detail`` and ``errors`` say which."""


class NothingToReturn(Rejected):
    """The ERP has nothing shipped to return for the order (409)."""


# Ignored: StrataError's retry_after is int | None, TransientFailure's float | None, and mypy
# holds attributes invariant; the worker reads whole seconds as well.
class Unavailable(SiblingUnavailable, TransientFailure):  # type: ignore[misc]
    """Worth retrying: the worker waits at least ``retry_after`` seconds when the system API
    named them. ``reason`` is the whole sentence, as for :class:`Rejected`."""

    def __init__(self, sibling: str, reason: str, *, retry_after: int | None = None) -> None:
        super().__init__(sibling, reason, retry_after=retry_after)
        self.reason = str(self)


class TimedOut(SiblingTimeout, Unavailable):  # type: ignore[misc]  # as Unavailable
    """The system API took the request and did not answer in time (transient)."""


class AnswerInvalid(SiblingAnswerInvalid, PermanentFailure):
    """A success whose body breaks the contract: asking again would get the same answer."""

    def __init__(self, sibling: str, reason: str) -> None:
        super().__init__(sibling, reason)
        self.reason = str(self)
        self.kind = "invalid-answer"


def _failure(what: str, error: SiblingError, refusals: Mapping[int, type[Rejected]]) -> Exception:
    reason = f"{what}: {error.reason}"
    if isinstance(error, SiblingRejected):
        problem = error.problem
        explained = problem.detail or problem.title
        default = NotFound if isinstance(error, SiblingNotFound) else Rejected
        refusal = refusals.get(error.sibling_status, default)
        return refusal(
            f"{reason}: {explained}" if explained else reason,
            problem,
            sibling=error.sibling,
            sibling_status=error.sibling_status,
        )
    if isinstance(error, SiblingTimeout):
        return TimedOut(error.sibling, reason, retry_after=error.retry_after)
    if isinstance(error, SiblingUnavailable):
        return Unavailable(error.sibling, reason, retry_after=error.retry_after)
    return AnswerInvalid(error.sibling, reason)


@contextlib.contextmanager
def _failing_as_worker_needs(
    what: str, refusals: Mapping[int, type[Rejected]] | None = None
) -> Iterator[None]:
    """Raise the shared client's errors as this module's (``refusals``: status -> class)."""
    try:
        yield
    except SiblingError as exc:
        raise _failure(what, exc, refusals or {}) from exc
    except InvalidPathParameter as exc:
        raise PermanentFailure(f"cannot {what}: {exc}", kind="malformed") from exc


def _sales_order(api: SiblingClient, response: httpx.Response) -> SalesOrder:
    return _answer(api, response, SalesOrder)


def _answer(api: SiblingClient, response: httpx.Response, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(response.content, type=kind)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise SiblingAnswerInvalid(api.name, f"answered an unreadable body ({exc})") from exc


# -- the clients -----------------------------------------------------------------------------


class ErpClient:
    """The ERP system API of one instance."""

    def __init__(self, instance: str, client: httpx.AsyncClient) -> None:
        self.instance = instance
        self.client = client
        self.api = SiblingClient(f"erp {instance}", client, retry=NO_RETRIES)

    async def post_sales_order(self, draft: SalesOrderDraft) -> SalesOrder:
        """Create the order, idempotently on its external reference: a repeat (even of an
        edited snapshot) answers the order created first."""
        reference = draft.external_reference
        try:
            with _failing_as_worker_needs(f"create order {reference}"):
                return await self.api.post_json(
                    "/erp/v1/sales-orders",
                    body=draft,
                    type=SalesOrder,
                    idempotency_key=idempotency_key("sales-order", reference),
                )
        except Rejected as exc:
            if not exc.problem.type.endswith("/idempotency-key-reused"):
                raise
            # Posted before from another snapshot of the same order (an edit, a replay with
            # a fix): the ERP has it, so that order is the answer.
            existing = await self.find_by_reference(reference)
            if existing is None:
                raise TransientFailure(
                    f"erp {self.instance}: the first posting of {reference} is not visible yet"
                ) from exc
            return existing

    async def find_by_reference(self, reference: str) -> SalesOrder | None:
        """The order carrying this external reference, or None."""
        try:
            with _failing_as_worker_needs(f"find order {reference}"):
                return await self.api.get_json(
                    "/erp/v1/sales-orders/by-reference/{reference}",
                    reference=reference,
                    type=SalesOrder,
                )
        except NotFound:
            return None

    async def cancel(self, order_id: str) -> SalesOrder:
        """Cancel the order; :class:`AlreadyShipped` (a :class:`Rejected`, problem status 409)
        once it has shipped."""
        # A 409 without Retry-After is the ERP's "already shipped"; with one, "busy".
        with _failing_as_worker_needs(f"cancel order {order_id}", {409: AlreadyShipped}):
            response = await self.api.request(
                "POST", "/erp/v1/sales-orders/{order_id}/cancel", order_id=order_id
            )
            return _sales_order(self.api, response)

    async def amend(
        self,
        order_id: str,
        lines: list[OrderLine],
        note: str | None,
        key: str,
        *,
        taxes_included: bool = False,
        expected_total: Decimal | None = None,
    ) -> AmendedOrder:
        """Bring the order's product lines to ``lines`` (priced, and its total brought to
        ``expected_total``, when that is given); :class:`NotAmendable` when the ERP refuses
        (a 409 with Retry-After is the ERP busy with the order: transient)."""
        body: dict[str, Any] = {"lines": lines, "note": note[:200] if note else None}
        if expected_total is not None:
            # Sent only when priced, so an ERP API of before these fields still amends.
            body |= {"taxes_included": taxes_included, "expected_total": expected_total}
        with _failing_as_worker_needs(f"amend order {order_id}", {409: NotAmendable}):
            response = await self.api.request(
                "POST",
                "/erp/v1/sales-orders/{order_id}/amendments",
                content=_ENC.encode(body),
                headers=_JSON,
                idempotency_key=key,
                order_id=order_id,
            )
            return _answer(self.api, response, AmendedOrder)

    async def return_shipped(self, order_id: str, key: str) -> ShippedReturn:
        """Cut the cancelled order down to what shipped and return that (once, whatever is
        retried); :class:`NothingToReturn` when nothing shipped."""
        with _failing_as_worker_needs(
            f"return what order {order_id} shipped", {409: NothingToReturn}
        ):
            response = await self.api.request(
                "POST",
                "/erp/v1/sales-orders/{order_id}/return-shipped",
                idempotency_key=key,
                order_id=order_id,
            )
            return _answer(self.api, response, ShippedReturn)

    async def record_shipment(self, order_id: str, record: ShipmentRecord) -> Shipment:
        """Record a shipment that left from elsewhere, once per ``record.reference`` (a
        repeat answers the shipment recorded first)."""
        with _failing_as_worker_needs(f"record shipment {record.reference}"):
            response = await self.api.request(
                "POST",
                "/erp/v1/sales-orders/{order_id}/shipments",
                content=_ENC.encode(record),
                headers=_JSON,
                idempotency_key=idempotency_key("shipment", record.reference),
                order_id=order_id,
            )
            return _answer(self.api, response, Shipment)


class ShopifyClient:
    """The Shopify system API: read orders, and acknowledge them with a tag and a metafield."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.api = SiblingClient("shopify", client, retry=NO_RETRIES)

    async def get_order(self, shop: str, order_id: str) -> dict[str, Any]:
        """The order as Shopify has it now, in the webhook's (REST) shape."""
        with _failing_as_worker_needs(f"read order {order_id} of {shop}"):
            order = await self.api.get_json(
                "/shopify/v1/shops/{shop}/orders/{order_id}",
                shop=shop,
                order_id=order_id,
                type=dict[str, Any],
            )
            if "id" not in order:
                raise SiblingAnswerInvalid(self.api.name, "answered an order without an id")
        return rest_shape(order)

    async def acknowledge(self, shop: str, order_id: str, instance: str, order: SalesOrder) -> None:
        """Tag the Shopify order with its ERP instance and number, and record the ERP order in
        a metafield (both idempotent)."""
        number = order.number or order.id
        tag = f"erp:{instance}:{number}"
        with _failing_as_worker_needs(f"tag order {order_id} of {shop}"):
            await self.api.request(
                "POST",
                "/shopify/v1/shops/{shop}/orders/{order_id}/tags",
                content=_ENC.encode({"tags": [tag]}),
                headers=_JSON,
                idempotency_key=idempotency_key("tag", shop, order_id, tag),
                shop=shop,
                order_id=order_id,
            )
        metafield = {
            "namespace": "strata",
            "key": "erp_order",
            "type": "json",
            "value": _ENC.encode({"instance": instance, "id": order.id, "number": number}).decode(),
        }
        with _failing_as_worker_needs(f"set the metafield of order {order_id} of {shop}"):
            await self.api.request(
                "POST",
                "/shopify/v1/shops/{shop}/orders/{order_id}/metafields",
                content=_ENC.encode(metafield),
                headers=_JSON,
                idempotency_key=idempotency_key("metafield", shop, order_id, number),
                shop=shop,
                order_id=order_id,
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
