"""Each breaking-change rule fires on its change, and stays quiet on the compatible twin."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from strata.contracts.diff import diff_documents
from strata.contracts.findings import Finding

Doc = dict[str, Any]
PROBLEM = {
    "description": "Not found",
    "content": {"application/problem+json": {"schema": {"type": "object"}}},
}
ORDER = "/erp/v1/sales-orders/{order_id}"
ORDERS = "/erp/v1/sales-orders"


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def released() -> Doc:
    """A small ERP contract as it was released."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "erp", "version": "1.0.0"},
        "paths": {
            ORDER: {
                "get": {
                    "operationId": "getSalesOrder",
                    "parameters": [
                        {
                            "name": "order_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "expand",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "boolean"},
                        },
                    ],
                    "responses": {
                        "200": {"description": "ok", "content": _json("SalesOrder")},
                        "404": PROBLEM,
                    },
                    "security": [{"oauth": ["orders:read"]}],
                }
            },
            ORDERS: {
                "get": {
                    "operationId": "listSalesOrders",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/SalesOrder"},
                                    }
                                }
                            },
                        }
                    },
                    "security": [{"oauth": ["orders:read"]}],
                },
                "post": {
                    "operationId": "postSalesOrder",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 255},
                        },
                    ],
                    "requestBody": {"required": True, "content": _json("SalesOrderIn")},
                    "responses": {
                        "201": {"description": "created", "content": _json("SalesOrder")},
                    },
                    "security": [{"oauth": ["orders:write"]}, {"partnerKey": []}],
                },
            },
        },
        "components": {
            "schemas": {
                "SalesOrder": {
                    "type": "object",
                    "required": ["id", "status", "lines"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"type": "string", "enum": ["draft", "confirmed"]},
                        "total": {"type": "integer"},
                        "weight": {"type": "number"},
                        "note": {"oneOf": [{"type": "string"}, {"type": "null"}]},
                        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                        "customer": {"allOf": [{"$ref": "#/components/schemas/Customer"}]},
                        "payment": {"$ref": "#/components/schemas/Payment"},
                    },
                },
                "Line": {
                    "type": "object",
                    "required": ["sku", "quantity"],
                    "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}},
                },
                "Customer": {
                    "type": "object",
                    "properties": {"email": {"type": "string"}, "name": {"type": "string"}},
                },
                "Payment": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Card"},
                        {"$ref": "#/components/schemas/Invoice"},
                    ]
                },
                "Card": {"type": "object", "properties": {"last4": {"type": "string"}}},
                "Invoice": {"type": "object", "properties": {"terms": {"type": "string"}}},
                "SalesOrderIn": {
                    "type": "object",
                    "required": ["reference", "lines"],
                    "properties": {
                        "reference": {"type": "string", "maxLength": 64, "minLength": 1},
                        "channel": {"type": "string", "enum": ["web", "pos"]},
                        "discount": {"type": "number", "minimum": 0},
                        "code": {"type": ["string", "integer"]},
                        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                        "payment": {"$ref": "#/components/schemas/Payment"},
                    },
                },
            }
        },
    }


def schemas(doc: Doc) -> dict[str, Any]:
    return doc["components"]["schemas"]


def order_in(doc: Doc) -> dict[str, Any]:
    return schemas(doc)["SalesOrderIn"]["properties"]


def order_out(doc: Doc) -> dict[str, Any]:
    return schemas(doc)["SalesOrder"]["properties"]


def get_order(doc: Doc) -> dict[str, Any]:
    return doc["paths"][ORDER]["get"]


def post_orders(doc: Doc) -> dict[str, Any]:
    return doc["paths"][ORDERS]["post"]


def changed(mutate: Callable[[Doc], object]) -> list[Finding]:
    old = released()
    new = copy.deepcopy(old)
    mutate(new)
    return diff_documents(old, new)


def breaking_rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings if f.breaking}


# (rule expected, change) — each change must raise exactly that rule among others.
BREAKING: dict[str, tuple[str, Callable[[Doc], object]]] = {
    "path removed": ("api-path-removed", lambda d: d["paths"].pop(ORDER)),
    "operation removed": ("operation-removed", lambda d: d["paths"][ORDERS].pop("get")),
    "success status removed": (
        "response-success-status-removed",
        lambda d: get_order(d)["responses"].update({"203": get_order(d)["responses"].pop("200")}),
    ),
    "response property removed": (
        "response-property-removed",
        lambda d: order_out(d).pop("total"),
    ),
    "response property removed inside array items": (
        "response-property-removed",
        lambda d: schemas(d)["Line"]["properties"].pop("quantity"),
    ),
    "response property removed through allOf": (
        "response-property-removed",
        lambda d: schemas(d)["Customer"]["properties"].pop("email"),
    ),
    "response property removed inside a oneOf branch": (
        "response-property-removed",
        lambda d: schemas(d)["Card"]["properties"].pop("last4"),
    ),
    "response property became optional": (
        "response-property-became-optional",
        lambda d: schemas(d)["SalesOrder"]["required"].remove("status"),
    ),
    "new required request property": (
        "new-required-request-property",
        lambda d: (
            order_in(d).update({"warehouse": {"type": "string"}}),
            schemas(d)["SalesOrderIn"]["required"].append("warehouse"),
        ),
    ),
    "request property became required": (
        "request-property-became-required",
        lambda d: schemas(d)["SalesOrderIn"]["required"].append("channel"),
    ),
    "new required query parameter": (
        "new-required-request-parameter",
        lambda d: get_order(d)["parameters"].append(
            {"name": "warehouse", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
    ),
    "new required header parameter": (
        "new-required-request-parameter",
        lambda d: post_orders(d)["parameters"].append(
            {"name": "X-Shop", "in": "header", "required": True, "schema": {"type": "string"}}
        ),
    ),
    "parameter became required": (
        "request-parameter-became-required",
        lambda d: get_order(d)["parameters"][1].update({"required": True}),
    ),
    "request type changed string to integer": (
        "request-type-narrowed",
        lambda d: order_in(d)["reference"].update({"type": "integer"}),
    ),
    "request type list lost a type": (
        "request-type-narrowed",
        lambda d: order_in(d)["code"].update({"type": "string"}),
    ),
    "request number narrowed to integer": (
        "request-type-narrowed",
        lambda d: order_in(d)["discount"].update({"type": "integer"}),
    ),
    "parameter type narrowed": (
        "request-type-narrowed",
        lambda d: get_order(d)["parameters"][1]["schema"].update({"type": "integer"}),
    ),
    "response integer widened to number": (
        "response-type-widened",
        lambda d: order_out(d)["total"].update({"type": "number"}),
    ),
    "response property became nullable": (
        "response-type-widened",
        lambda d: order_out(d).update({"id": {"oneOf": [{"type": "string"}, {"type": "null"}]}}),
    ),
    "request enum value removed": (
        "request-enum-value-removed",
        lambda d: order_in(d)["channel"].update({"enum": ["web"]}),
    ),
    "request enum introduced": (
        "request-enum-value-removed",
        lambda d: order_in(d)["reference"].update({"enum": ["A", "B"]}),
    ),
    "response enum value added": (
        "response-enum-value-added",
        lambda d: order_out(d)["status"].update({"enum": ["draft", "confirmed", "cancelled"]}),
    ),
    "request maxLength lowered": (
        "request-constraint-tightened",
        lambda d: order_in(d)["reference"].update({"maxLength": 32}),
    ),
    "request minLength raised": (
        "request-constraint-tightened",
        lambda d: order_in(d)["reference"].update({"minLength": 3}),
    ),
    "request minimum raised": (
        "request-constraint-tightened",
        lambda d: order_in(d)["discount"].update({"minimum": 1}),
    ),
    "request maximum added": (
        "request-constraint-tightened",
        lambda d: order_in(d)["discount"].update({"maximum": 100}),
    ),
    "request pattern added": (
        "request-constraint-tightened",
        lambda d: order_in(d)["reference"].update({"pattern": "^[A-Z]+$"}),
    ),
    "header maxLength lowered": (
        "request-constraint-tightened",
        lambda d: post_orders(d)["parameters"][0]["schema"].update({"maxLength": 64}),
    ),
    "request oneOf alternative removed": (
        "request-alternative-removed",
        lambda d: schemas(d)["Payment"]["oneOf"].pop(),
    ),
    "response oneOf alternative added": (
        "response-alternative-added",
        lambda d: (
            schemas(d).update({"Voucher": {"type": "object"}}),
            schemas(d)["Payment"]["oneOf"].append({"$ref": "#/components/schemas/Voucher"}),
        ),
    ),
    "new required scope": (
        "security-scope-added",
        lambda d: get_order(d).update({"security": [{"oauth": ["orders:read", "orders:admin"]}]}),
    ),
    "security alternative removed": (
        "security-alternative-removed",
        lambda d: post_orders(d).update({"security": [{"oauth": ["orders:write"]}]}),
    ),
    "response media type removed": (
        "response-media-type-removed",
        lambda d: get_order(d)["responses"]["200"].update(
            {"content": {"application/xml": {"schema": {"type": "string"}}}}
        ),
    ),
    "request media type removed": (
        "request-media-type-removed",
        lambda d: post_orders(d)["requestBody"].update(
            {"content": {"application/xml": {"schema": {"type": "string"}}}}
        ),
    ),
}


@pytest.mark.parametrize("case", list(BREAKING))
def test_breaking_change_is_reported(case: str) -> None:
    rule, mutate = BREAKING[case]
    findings = changed(mutate)
    assert rule in breaking_rules(findings), [f.render() for f in findings]


COMPATIBLE: dict[str, Callable[[Doc], object]] = {
    "nothing changed": lambda d: None,
    "optional request property added": lambda d: order_in(d).update(
        {"gift_message": {"type": "string"}}
    ),
    "response property added": lambda d: order_out(d).update({"placed_at": {"type": "string"}}),
    "optional query parameter added": lambda d: get_order(d)["parameters"].append(
        {"name": "locale", "in": "query", "required": False, "schema": {"type": "string"}}
    ),
    "path and operation added": lambda d: d["paths"].update(
        {"/erp/v1/invoices": {"get": {"operationId": "listInvoices", "responses": {}}}}
    ),
    "success status added": lambda d: get_order(d)["responses"].update(
        {"203": {"description": "stale copy"}}
    ),
    "error status removed": lambda d: get_order(d)["responses"].pop("404"),
    "request integer widened to number": lambda d: order_in(d)["reference"].update(
        {"type": ["string", "integer"]}
    ),
    "request made nullable": lambda d: order_in(d).update(
        {"channel": {"oneOf": [{"type": "string", "enum": ["web", "pos"]}, {"type": "null"}]}}
    ),
    "response number narrowed to integer": lambda d: order_out(d)["weight"].update(
        {"type": "integer"}
    ),
    "response made non-nullable": lambda d: order_out(d).update({"note": {"type": "string"}}),
    "request enum value added": lambda d: order_in(d)["channel"].update(
        {"enum": ["web", "pos", "marketplace"]}
    ),
    "response enum value removed": lambda d: order_out(d)["status"].update({"enum": ["draft"]}),
    "request maxLength raised": lambda d: order_in(d)["reference"].update({"maxLength": 128}),
    "request minimum lowered": lambda d: order_in(d)["discount"].update({"minimum": -1}),
    "request required property made optional": lambda d: schemas(d)["SalesOrderIn"][
        "required"
    ].remove("reference"),
    "response property made required": lambda d: schemas(d)["SalesOrder"]["required"].append(
        "total"
    ),
    "parameter made optional": lambda d: post_orders(d)["parameters"][0].update(
        {"required": False}
    ),
    "security alternative added": lambda d: get_order(d)["security"].append({"partnerKey": []}),
    "scope dropped": lambda d: post_orders(d).update(
        {"security": [{"oauth": []}, {"partnerKey": []}]}
    ),
    "response media type added": lambda d: get_order(d)["responses"]["200"]["content"].update(
        {"application/xml": {"schema": {"type": "string"}}}
    ),
    "path parameter renamed": lambda d: (
        d["paths"].update({"/erp/v1/sales-orders/{id}": d["paths"].pop(ORDER)}),
        d["paths"]["/erp/v1/sales-orders/{id}"]["get"]["parameters"][0].update({"name": "id"}),
    ),
    "schema inlined instead of $ref": lambda d: schemas(d).update(
        {"Line": copy.deepcopy(schemas(d)["Line"])}
    ),
}


@pytest.mark.parametrize("case", list(COMPATIBLE))
def test_compatible_change_is_not_breaking(case: str) -> None:
    findings = changed(COMPATIBLE[case])
    assert breaking_rules(findings) == set(), [f.render() for f in findings]


def test_request_body_became_required() -> None:
    old = released()
    post_orders(old)["requestBody"]["required"] = False
    findings = diff_documents(old, released())
    assert breaking_rules(findings) == {"request-body-became-required"}


def test_public_operation_now_needing_credentials() -> None:
    old = released()
    del get_order(old)["security"]
    findings = diff_documents(old, released())
    assert breaking_rules(findings) == {"security-added"}
    assert "oauth[orders:read]" in findings[0].message


def test_removed_request_property_breaks_only_when_unknown_fields_are_refused() -> None:
    def drop_channel(doc: Doc) -> None:
        order_in(doc).pop("channel")

    assert breaking_rules(changed(drop_channel)) == set()

    def drop_and_refuse(doc: Doc) -> None:
        drop_channel(doc)
        schemas(doc)["SalesOrderIn"]["additionalProperties"] = False

    assert "request-property-removed" in breaking_rules(changed(drop_and_refuse))


def test_finding_names_rule_path_operation_and_location() -> None:
    findings = changed(lambda d: schemas(d)["Line"]["properties"].pop("quantity"))
    rendered = {(f.rule, f.path, f.operation, f.severity) for f in findings}
    assert ("response-property-removed", ORDER, "GET", "error") in rendered
    assert ("response-property-removed", ORDERS, "GET", "error") in rendered
    messages = [f.message for f in findings if f.operation == "GET" and f.path == ORDER]
    assert messages == [
        "response 200 application/json $.lines[].quantity: removed from the response"
    ]


def test_recursive_schemas_terminate_and_still_compare() -> None:
    def tree(doc: Doc, with_name: bool) -> None:
        props: dict[str, Any] = {
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Category"}},
            "parent": {"oneOf": [{"$ref": "#/components/schemas/Category"}, {"type": "null"}]},
        }
        if with_name:
            props["name"] = {"type": "string"}
        schemas(doc)["Category"] = {"type": "object", "properties": props}
        order_out(doc)["category"] = {"$ref": "#/components/schemas/Category"}

    old, new = released(), released()
    tree(old, with_name=True)
    tree(new, with_name=False)
    findings = diff_documents(old, new)
    # The recursion stops where Category refers to itself; the removal is named once.
    assert [f.message for f in findings if f.path == ORDER] == [
        "response 200 application/json $.category.name: removed from the response"
    ]
