"""Request and response shapes of the orders process API v1."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from shared.models import SalesOrderDraft


class PipelineStep(msgspec.Struct, frozen=True, kw_only=True):
    step: str
    at: float
    detail: str | None = None


class OrderStatus(msgspec.Struct, kw_only=True):
    """Where an order is in the pipeline, with every step and its timestamp (epoch seconds)."""

    shop: str
    order_id: str
    state: str
    erp_instance: str | None = None
    erp_order_id: str | None = None
    erp_order_number: str | None = None
    correlation_id: str | None = None
    exception_id: str | None = None
    received_at: float
    updated_at: float
    steps: list[PipelineStep]


ExceptionState = Literal["open", "replayed", "resolved"]


class BusinessImpact(msgspec.Struct, kw_only=True):
    order_value: str | None = None
    currency: str | None = None
    customer_email: str | None = None
    line_count: int | None = None


class RetryRecord(msgspec.Struct, kw_only=True):
    at: float
    error: str
    kind: str


class OrderException(msgspec.Struct, kw_only=True):
    """An order the pipeline could not finish, with what is needed to fix and replay it."""

    id: str
    state: ExceptionState
    kind: str
    error: str
    shop: str
    order_id: str
    topic: str
    correlation_id: str
    created_at: float
    updated_at: float
    payload: dict[str, str]
    retry_history: list[RetryRecord]
    impact: BusinessImpact
    errors: list[dict[str, Any]] = []
    replays: int = 0


class ExceptionPage(msgspec.Struct, kw_only=True):
    items: list[OrderException]
    total: int
    offset: int
    limit: int


class ReplayRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Optionally replace the payload's body (the Shopify order JSON) before replaying."""

    body: dict[str, Any] | None = None


class ReplayResult(msgspec.Struct, kw_only=True):
    exception_id: str
    state: ExceptionState
    entry_id: str


class BulkReplayRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ids: list[str] | None = None
    kind: str | None = None
    shop: str | None = None
    limit: int = 100


class BulkReplayResult(msgspec.Struct, kw_only=True):
    replayed: list[ReplayResult]
    skipped: list[str]


class ChannelOrder(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A canonical order from another channel (POS, marketplace)."""

    channel: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9.\-_]+$")]
    order_id: Annotated[
        str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9:#.\-_]+$")
    ]
    order: SalesOrderDraft


class Accepted(msgspec.Struct, kw_only=True):
    shop: str
    order_id: str
    status_url: str
    entry_id: str
