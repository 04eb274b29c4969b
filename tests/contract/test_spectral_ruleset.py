"""openapi/.spectral.yaml: a document built by Litestar the Strata way passes, each rule bites.

Spectral must be installed (``npm ci --prefix openapi``); without it these tests fail
rather than skip, since an unchecked ruleset would pass any contract.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from litestar import Litestar, get, post
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityScheme, Tag
from litestar.params import FromPath, JSONBody

from shared.problems import EXCEPTION_HANDLERS, PROBLEM_JSON, Problem
from strata.contracts import lint
from strata.contracts.public import PublicOperation

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
Doc = dict[str, Any]


class Product(msgspec.Struct, kw_only=True):
    sku: str
    title: str
    price_minor: int
    currency: str


class SalesOrderIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reference: str
    skus: list[str]


class SalesOrder(msgspec.Struct, kw_only=True):
    id: str
    reference: str
    status: str


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description="Problem details (RFC 9457)",
            generate_examples=False,
        )
        for status in statuses
    }


@get(
    "/erp/v1/products/{sku:str}",
    operation_id="getProduct",
    tags=["products"],
    security=[{"oauth": ["products:read"]}],
    responses=problems(400, 401, 403, 404, 503),
    sync_to_thread=False,
)
def get_product(sku: FromPath[str]) -> Product:
    """One product with its price."""
    return Product(sku=sku, title="Mug", price_minor=1200, currency="EUR")


@post(
    "/erp/v1/sales-orders",
    operation_id="postSalesOrder",
    tags=["sales-orders"],
    security=[{"oauth": ["orders:write"]}],
    responses=problems(400, 401, 403, 409, 422, 503),
    sync_to_thread=False,
)
def post_sales_order(data: JSONBody[SalesOrderIn]) -> SalesOrder:
    """Post a sales order; a repeated reference answers the existing order."""
    return SalesOrder(id="SO-1", reference=data.reference, status="draft")


@get(
    "/health/live",
    operation_id="healthLive",
    tags=["health"],
    operation_class=PublicOperation,
    sync_to_thread=False,
)
def health_live() -> dict[str, str]:
    """Liveness probe."""
    return {"status": "ok"}


@get(
    "/metrics",
    operation_id="metrics",
    tags=["health"],
    operation_class=PublicOperation,
    media_type="text/plain",
    sync_to_thread=False,
)
def metrics() -> str:
    """Prometheus exposition."""
    return ""


def litestar_contract() -> Doc:
    """The OpenAPI document of a tiny service wired as Strata's services are."""
    oauth = SecurityScheme(
        type="oauth2",
        flows=OAuthFlows(
            client_credentials=OAuthFlow(
                token_url="/oauth/token",
                scopes={
                    "products:read": "Read products",
                    "orders:write": "Post sales orders",
                },
            )
        ),
    )
    app = Litestar(
        [get_product, post_sales_order, health_live, metrics],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=OpenAPIConfig(
            title="Strata ERP system API",
            version="1.0.0",
            description="Products and sales orders of one ERP instance.",
            tags=[
                Tag(name="products", description="Catalogue"),
                Tag(name="sales-orders", description="Sales orders"),
                Tag(name="health", description="Probes"),
            ],
            components=Components(security_schemes={"oauth": oauth}),
            use_handler_docstrings=True,
            create_examples=False,
        ),
    )
    schema: Doc = app.openapi_schema.to_schema()
    return schema


PRODUCT = "/erp/v1/products/{sku}"
ORDERS = "/erp/v1/sales-orders"


def op(doc: Doc, path: str = PRODUCT, method: str = "get") -> Doc:
    operation: Doc = doc["paths"][path][method]
    return operation


def rename_path(doc: Doc, old: str, new: str) -> None:
    doc["paths"][new] = doc["paths"].pop(old)


# Each case breaks the good document in one way; the named rule must report it.
BAD: dict[str, tuple[str, Callable[[Doc], object]]] = {
    "no-operation-id": ("operation-operationId", lambda d: op(d).pop("operationId")),
    "generated-operation-id": (
        "strata-operation-id-chosen",
        lambda d: op(d).update({"operationId": "ErpV1ProductsSkuGetProduct"}),
    ),
    "no-security": ("strata-operation-security", lambda d: op(d).pop("security")),
    "empty-security": ("strata-operation-security", lambda d: op(d).update({"security": []})),
    "anonymous-security": (
        "strata-operation-security",
        lambda d: op(d).update({"security": [{}]}),
    ),
    "undeclared-scope": (
        "oas3-operation-security-defined",
        lambda d: op(d).update({"security": [{"oauth": ["products:delete"]}]}),
    ),
    "probe-not-public": (
        "strata-probes-public",
        lambda d: op(d, "/health/live").pop("x-strata-public"),
    ),
    "metrics-not-public": (
        "strata-probes-public",
        lambda d: op(d, "/metrics").update({"x-strata-public": False, "security": [{"oauth": []}]}),
    ),
    "error-as-plain-json": (
        "strata-error-problem-json",
        lambda d: op(d)["responses"]["404"].update(
            {"content": {"application/json": op(d)["responses"]["404"]["content"][PROBLEM_JSON]}}
        ),
    ),
    "server-error-without-body": (
        "strata-error-problem-json",
        lambda d: op(d, ORDERS, "post")["responses"]["503"].pop("content"),
    ),
    "error-with-extra-media-type": (
        "strata-error-problem-json",
        lambda d: op(d)["responses"]["404"]["content"].update(
            {"text/html": {"schema": {"type": "string"}}}
        ),
    ),
    "unversioned-path": (
        "strata-path-versioned",
        lambda d: rename_path(d, ORDERS, "/sales-orders"),
    ),
    "version-not-after-service": (
        "strata-path-versioned",
        lambda d: rename_path(d, ORDERS, "/v1/erp/sales-orders"),
    ),
    "no-description": ("operation-description", lambda d: op(d).pop("description")),
    "no-tags": ("operation-tags", lambda d: op(d).pop("tags")),
    "undeclared-tag": (
        "operation-tag-defined",
        lambda d: op(d).update({"tags": ["catalogue"]}),
    ),
    "no-title": ("strata-info-title-version", lambda d: d["info"].pop("title")),
    "no-version": ("strata-info-title-version", lambda d: d["info"].pop("version")),
    "version-not-semver": (
        "strata-info-version-semver",
        lambda d: d["info"].update({"version": "v1"}),
    ),
    "openapi-3-0": ("strata-openapi-3-1", lambda d: d.update({"openapi": "3.0.3"})),
}


@pytest.fixture(scope="module")
def spectral() -> Path:
    binary = ROOT / lint.SPECTRAL
    if not binary.is_file():
        pytest.fail(
            f"Spectral is not installed ({lint.SPECTRAL} is missing): run "
            f"`{lint.INSTALL_HINT}` from the repository root. These tests do not skip."
        )
    return binary


def run_spectral_json(files: list[Path]) -> tuple[int, list[dict[str, Any]]]:
    command = [*lint.spectral_command(ROOT, files), "--format", "json", "--quiet"]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.stdout.strip(), result.stderr
    results: list[dict[str, Any]] = json.loads(result.stdout)
    return result.returncode, results


@pytest.fixture(scope="module")
def linted(spectral: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """One Spectral run over the good document and every bad one: rule codes per case."""
    folder = tmp_path_factory.mktemp("spectral")
    good = litestar_contract()
    files = {"good": good}
    for case, (_, mutate) in BAD.items():
        doc = copy.deepcopy(good)
        mutate(doc)
        files[case] = doc
    paths: list[Path] = []
    for case, doc in files.items():
        path = folder / f"{case}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        paths.append(path)
    _, results = run_spectral_json(paths)
    codes: dict[str, set[str]] = {case: set() for case in files}
    for item in results:
        codes[Path(item["source"]).stem].add(str(item["code"]))
    return codes


def test_litestar_document_passes(linted: dict[str, set[str]]) -> None:
    assert linted["good"] == set()


def test_litestar_document_is_openapi_3_1() -> None:
    doc = litestar_contract()
    assert doc["openapi"] == "3.1.0"
    assert op(doc, "/health/live")["x-strata-public"] is True


@pytest.mark.parametrize("case", list(BAD))
def test_rule_fires(case: str, linted: dict[str, set[str]]) -> None:
    rule, _ = BAD[case]
    assert rule in linted[case], linted[case]


def test_litestar_default_error_response_is_refused(spectral: Path, tmp_path: Path) -> None:
    """Without problem responses declared, Litestar documents its 400 as plain JSON."""

    @get(
        "/erp/v1/stock/{sku:str}",
        operation_id="getStock",
        tags=["products"],
        security=[{"oauth": ["products:read"]}],
        sync_to_thread=False,
    )
    def stock(sku: FromPath[str]) -> dict[str, int]:
        """Stock of one SKU."""
        return {}

    doc = Litestar([stock]).openapi_schema.to_schema()
    assert list(op(doc, "/erp/v1/stock/{sku}")["responses"]["400"]["content"]) == [
        "application/json"
    ]
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    code, results = run_spectral_json([path])
    assert code != 0
    assert "strata-error-problem-json" in {r["code"] for r in results}


def test_lint_cli_passes_good_and_fails_bad(
    spectral: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(litestar_contract()), encoding="utf-8")
    assert lint.main(["--root", str(ROOT), str(good)]) == 0
    bad_doc = litestar_contract()
    op(bad_doc).pop("security")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(bad_doc), encoding="utf-8")
    assert lint.main(["--root", str(ROOT), str(bad)]) != 0
    assert "strata-operation-security" in capsys.readouterr().out


def test_lint_cli_says_how_to_install_spectral(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = tmp_path / "openapi/system/erp/v1.yaml"
    contract.parent.mkdir(parents=True)
    contract.write_text(yaml.safe_dump(litestar_contract()), encoding="utf-8")
    assert lint.main(["--root", str(tmp_path)]) == 2
    assert "npm ci --prefix openapi" in capsys.readouterr().err
