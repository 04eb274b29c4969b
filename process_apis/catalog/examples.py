"""Examples of the catalog contract's requests and answers (they go into the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example

_RUN = "5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5"
_EXCEPTION = "8d1f0a9c2b3e4d5f6a7b"

START = [
    Example(summary="Changes since the last run, to every shop", value={}),
    Example(
        summary="Everything, to one shop, counted but not written",
        value={"shop": "demo-eu.myshopify.com", "full": True, "dry_run": True},
    ),
    Example(
        summary="A full back-fill: one Shopify bulk operation per shop",
        value={"full": True, "mode": "bulk"},
    ),
]

_FAILURE = {
    "shop": "demo-gb.myshopify.com",
    "instance": "eu",
    "erp_product_id": "12",
    "error": "variants[MUG-STONE-350].price: the ERP has no GBP price",
    "exception_id": _EXCEPTION,
}
_RUNNING: dict[str, Any] = {
    "id": _RUN,
    "status": "running",
    # Litestar leaves nulls out of examples, and `shop` is required: a one-shop run.
    "shop": "demo-eu.myshopify.com",
    "full": False,
    "dry_run": False,
    "started_at": "2026-12-03T09:00:00+00:00",
    "finished_at": None,
    "processed": 0,
    "total": 0,
    "summary": {
        "created": 0,
        "updated": 0,
        "adopted": 0,
        "unchanged": 0,
        "archived": 0,
        "failed": 0,
        "failures": [],
    },
    "error": None,
    "replay_of": None,
}
_FINISHED: dict[str, Any] = {
    **_RUNNING,
    "status": "succeeded",
    "finished_at": "2026-12-03T09:00:04+00:00",
    "processed": 39,
    "total": 39,
    "summary": {
        "created": 0,
        "updated": 1,
        "adopted": 0,
        "unchanged": 36,
        "archived": 1,
        "failed": 1,
        "failures": [_FAILURE],
    },
}
_BULK_FINISHED: dict[str, Any] = {
    **_RUNNING,
    "status": "succeeded",
    "full": True,
    "mode": "bulk",
    "finished_at": "2026-12-03T09:01:02+00:00",
    "processed": 1000,
    "total": 1000,
    "summary": {
        "created": 997,
        "updated": 0,
        "adopted": 0,
        "unchanged": 0,
        "archived": 0,
        "failed": 3,
        "failures": [
            {
                "shop": "demo-eu.myshopify.com",
                "instance": "eu",
                "erp_product_id": "10017",
                "error": "Shopify refused the product; input.productOptions.1.name: "
                "Duplicated option name 'size'.",
                "exception_id": "3c9a0e1f5b7d2a4c6e8f",
            }
        ],
    },
    "bulk": [
        {
            "shop": "demo-eu.myshopify.com",
            "operation_id": 3700000000001,
            "status": "COMPLETED",
            "lines": 1000,
            "ran": 1000,
            "published": 997,
            "failed": 3,
            "finished_by": "webhook",
            "error": None,
        }
    ],
}
_RECORD: dict[str, Any] = {
    "id": _EXCEPTION,
    "shop": "demo-gb.myshopify.com",
    "instance": "eu",
    "erp_product_id": "12",
    "skus": ["MUG-STONE-350"],
    "kind": "price-missing-for-currency",
    "field": "variants[MUG-STONE-350].price",
    "error": "variants[MUG-STONE-350].price: the ERP has no GBP price",
    "state": "open",
    "created_at": "2026-12-03T09:00:02+00:00",
    "updated_at": "2026-12-03T09:00:02+00:00",
    "attempts": 1,
    "history": [
        {
            "at": "2026-12-03T09:00:02+00:00",
            "publication_id": _RUN,
            "outcome": "failed",
            "error": "variants[MUG-STONE-350].price: the ERP has no GBP price",
        }
    ],
}
_RESOLVED: dict[str, Any] = {
    **_RECORD,
    "kind": "rejected",
    "shop": "demo-eu.myshopify.com",
    "field": "input.variants.4",
    "error": "Shopify refused the change; input.variants.4: The variant 'Gift' already exists.",
    "state": "resolved",
    "updated_at": "2026-12-03T10:15:00+00:00",
    "attempts": 1,
    "history": [
        {
            "at": "2026-12-03T09:00:02+00:00",
            "publication_id": _RUN,
            "outcome": "failed",
            "error": "Shopify refused the change; input.variants.4: The variant 'Gift' "
            "already exists.",
        },
        {
            "at": "2026-12-03T10:15:00+00:00",
            "publication_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "outcome": "resolved",
            "error": None,
        },
    ],
}


def _answer(container: Any, description: str, *examples: Example) -> ResponseSpec:
    return ResponseSpec(
        data_container=container,
        description=description,
        generate_examples=False,
        examples=list(examples),
    )


def started(container: Any) -> dict[int, ResponseSpec]:
    return {
        202: _answer(container, "The run, started", Example(summary="A delta run", value=_RUNNING))
    }


def publication(container: Any) -> dict[int, ResponseSpec]:
    return {
        200: _answer(
            container,
            "The run's progress or summary",
            Example(summary="Running", value={**_RUNNING, "processed": 12, "total": 39}),
            Example(summary="Finished, one product failed", value=_FINISHED),
            Example(summary="A bulk back-fill, finished", value=_BULK_FINISHED),
        )
    }


def exception_page(container: Any) -> dict[int, ResponseSpec]:
    return {
        200: _answer(
            container,
            "A page of exceptions",
            Example(
                summary="One open exception",
                value={"items": [_RECORD], "total": 1, "offset": 0, "limit": 50},
            ),
        )
    }


def exception(container: Any) -> dict[int, ResponseSpec]:
    return {200: _answer(container, "The exception", Example(summary="Open", value=_RECORD))}


def replayed(container: Any) -> dict[int, ResponseSpec]:
    return {
        200: _answer(
            container,
            "The exception after the replay",
            Example(summary="Published: resolved", value=_RESOLVED),
            Example(
                summary="Failed again: still open",
                value={**_RECORD, "attempts": 2, "history": [*_RECORD["history"]] * 2},
            ),
        )
    }
