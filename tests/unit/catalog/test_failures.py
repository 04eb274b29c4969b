"""Which refusals fail one product (an exception to replay) and which fail the run, and the
words an operator reads."""

from __future__ import annotations

from typing import Any

import pytest

from process_apis.catalog.service import _product_refused, _refusal, _refused_field
from shared.sibling import SiblingProblem, SiblingRejected
from strata.cli import build_parser


def rejected(status: int, **problem: Any) -> SiblingRejected:
    return SiblingRejected(
        "shopify", f"answered {status}", sibling_status=status, problem=SiblingProblem(**problem)
    )


@pytest.mark.parametrize(
    ("status", "alone"), [(400, True), (422, True), (401, False), (404, False)]
)
def test_user_errors_fail_the_product_a_refused_token_the_run(status: int, alone: bool) -> None:
    assert _product_refused(rejected(status)) is alone


def test_refusal_names_shopify_field_and_message() -> None:
    exc = rejected(
        422,
        title="Shopify refused the change",
        detail="Shopify refused the change",
        errors=[
            {"field": ["input", "variants", "4"], "message": "The variant 'Gift' already exists."}
        ],
    )
    assert _refusal(exc) == (
        "Shopify refused the change; input.variants.4: The variant 'Gift' already exists."
    )
    assert _refused_field(exc) == "input.variants.4"


def test_publish_command_line() -> None:
    args = build_parser().parse_args(
        ["catalog", "--url", "http://x", "publish", "--shop", "demo-eu.myshopify.com", "--full"]
    )
    assert (args.command, args.catalog_command, args.shop, args.full, args.dry_run) == (
        "catalog",
        "publish",
        "demo-eu.myshopify.com",
        True,
        False,
    )


def test_publish_command_line_bulk() -> None:
    args = build_parser().parse_args(
        ["catalog", "--url", "http://x", "publish", "--full", "--bulk"]
    )
    assert (args.full, args.bulk) == (True, True)
