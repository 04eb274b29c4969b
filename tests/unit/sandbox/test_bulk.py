"""The sandbox's bulk mutations: staged upload, the run in the background, the result file,
the limit on operations at once, cancelling, and the webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from sandbox.shopify import SandboxSettings, ShopifySandbox, bulk
from sandbox.shopify.app import create_app
from sandbox.shopify.bulk_runner import line_objects
from tests.unit.sandbox.conftest import SHOP, AdminClient

STAGE = """
mutation Stage($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}
"""
RUN = """
mutation Run($mutation: String!, $path: String!) {
  bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $path) {
    bulkOperation { id status type objectCount url }
    userErrors { field message code }
  }
}
"""
CURRENT = """
{ currentBulkOperation(type: MUTATION) {
    id status errorCode objectCount rootObjectCount fileSize url partialDataUrl createdAt
    completedAt
} }
"""
NODE = """
query Node($id: ID!) { node(id: $id) { id ... on BulkOperation { status objectCount url } } }
"""
PRODUCT_SET = """
mutation ProductSet($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {
  productSet(input: $input, identifier: $identifier) {
    product { id handle variants(first: 250) { nodes { id sku inventoryItem { id } } } }
    userErrors { field message code }
  }
}
"""


def product_line(n: int, *, sizes: tuple[str, ...] = ("S", "M"), price: str = "20.00") -> Any:
    return {
        "identifier": {"handle": f"bulk-tee-{n}"},
        "input": {
            "handle": f"bulk-tee-{n}",
            "title": f"Bulk tee {n}",
            "productOptions": [{"name": "Size", "values": [{"name": s} for s in sizes]}],
            "variants": [
                {
                    "optionValues": [{"optionName": "Size", "name": s}],
                    "price": price,
                    "inventoryItem": {"sku": f"BULK-{n}-{s}"},
                }
                for s in sizes
            ],
        },
    }


def jsonl(lines: list[Any]) -> bytes:
    return b"".join(msgspec.json.encode(line) + b"\n" for line in lines)


class Bulk:
    """Stage, upload and run bulk mutations against the in-process sandbox."""

    def __init__(self, admin: AdminClient) -> None:
        self.admin = admin

    async def stage(self) -> tuple[str, dict[str, str]]:
        body = await self.admin.run(
            STAGE,
            {
                "input": [
                    {
                        "resource": "BULK_MUTATION_VARIABLES",
                        "filename": "bulk_op_vars.jsonl",
                        "mimeType": "text/jsonl",
                        "httpMethod": "POST",
                    }
                ]
            },
        )
        payload = body["data"]["stagedUploadsCreate"]
        assert payload["userErrors"] == []
        [target] = payload["stagedTargets"]
        return target["url"], {p["name"]: p["value"] for p in target["parameters"]}

    async def upload(self, content: bytes) -> str:
        url, params = await self.stage()
        response = await self.admin.client.post(
            httpx.URL(url).path,
            data=params,
            files={"file": ("bulk_op_vars.jsonl", content, "text/jsonl")},
        )
        assert response.status_code == 201, response.text
        assert f"<Key>{params['key']}</Key>" in response.text
        return params["key"]

    async def run(self, content: bytes, mutation: str = PRODUCT_SET) -> dict[str, Any]:
        path = await self.upload(content)
        body = await self.admin.run(RUN, {"mutation": mutation, "path": path})
        result: dict[str, Any] = body["data"]["bulkOperationRunMutation"]
        return result

    async def current(self) -> dict[str, Any]:
        body = await self.admin.run(CURRENT)
        current: dict[str, Any] = body["data"]["currentBulkOperation"]
        return current

    async def finished(self, within: float = 10.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            current = await self.current()
            if current["status"] in ("COMPLETED", "FAILED", "CANCELED"):
                return current
            assert loop.time() < deadline, current
            await asyncio.sleep(0.02)

    async def results(self, url: str) -> list[dict[str, Any]]:
        response = await self.admin.client.get(httpx.URL(url).path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/jsonl")
        return [json.loads(line) for line in response.text.splitlines()]


class Hooks:
    """Webhook deliveries received, by topic."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[Any]] = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        topic = request.headers["X-Shopify-Topic"]
        self.bodies.setdefault(topic, []).append(json.loads(request.content))
        return httpx.Response(200)

    async def received(self, counts: dict[str, int], within: float = 5.0) -> None:
        """Wait until at least ``counts`` deliveries of each topic arrived (the sandbox app
        runs in its own event loop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while any(len(self.bodies.get(t, [])) < n for t, n in counts.items()):
            assert loop.time() < deadline, {t: len(b) for t, b in self.bodies.items()}
            await asyncio.sleep(0.01)


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


def make_sandbox(hooks: Hooks, rate: float) -> ShopifySandbox:
    return ShopifySandbox(
        SandboxSettings(bulk_objects_per_second=rate),
        webhook_transport=httpx.MockTransport(hooks.handler),
    )


@pytest.fixture
async def fast(hooks: Hooks) -> AsyncIterator[tuple[ShopifySandbox, Bulk]]:
    sandbox = make_sandbox(hooks, rate=100_000)
    async with AsyncTestClient(create_app(sandbox=sandbox)) as client:
        yield sandbox, Bulk(AdminClient(client))


@pytest.fixture
async def slow(hooks: Hooks) -> AsyncIterator[tuple[ShopifySandbox, Bulk]]:
    sandbox = make_sandbox(hooks, rate=20)
    async with AsyncTestClient(create_app(sandbox=sandbox)) as client:
        yield sandbox, Bulk(AdminClient(client))


async def test_staged_upload_target_is_the_sandbox_itself(
    fast: tuple[ShopifySandbox, Bulk],
) -> None:
    sandbox, runner = fast
    url, params = await runner.stage()
    # Where the request reached the sandbox (its Host), on the sandbox's own app.
    assert url == f"http://{SHOP}/staged-uploads"
    assert params["key"].startswith(f"tmp/{SHOP}/bulk/")
    assert params["Content-Type"] == "text/jsonl"
    key = await runner.upload(b'{"input": {}}\n')
    assert sandbox.state.staged_uploads[key].content == b'{"input": {}}\n'


async def test_upload_to_an_unknown_key_is_refused(fast: tuple[ShopifySandbox, Bulk]) -> None:
    _, runner = fast
    response = await runner.admin.client.post(
        "/staged-uploads",
        data={"key": "tmp/nowhere/bulk_op_vars.jsonl"},
        files={"file": ("x.jsonl", b"{}\n", "text/jsonl")},
    )
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


async def test_bulk_product_set_runs_every_line_and_writes_the_result_file(
    fast: tuple[ShopifySandbox, Bulk], hooks: Hooks
) -> None:
    sandbox, runner = fast
    lines = [product_line(n) for n in range(5)]
    lines[3] = product_line(3, price="-4.00")  # Shopify refuses a negative price
    started = await runner.run(jsonl(lines))
    assert started["userErrors"] == []
    assert started["bulkOperation"]["status"] == "CREATED"
    assert started["bulkOperation"]["type"] == "MUTATION"

    done = await runner.finished()
    assert done["status"] == "COMPLETED"
    assert (done["objectCount"], done["rootObjectCount"]) == ("5", "5")
    assert done["url"].startswith(f"http://{SHOP}/sandbox-files/")
    assert done["partialDataUrl"] is None
    assert done["completedAt"]
    results = await runner.results(done["url"])
    assert int(done["fileSize"]) > 0
    assert [r["__lineNumber"] for r in results] == [0, 1, 2, 3, 4]
    for n, result in enumerate(results):
        payload = result["data"]["productSet"]
        if n == 3:
            assert payload["product"] is None
            assert payload["userErrors"][0]["code"] == "INVALID_VARIANT"
            assert payload["userErrors"][0]["field"] == ["input", "variants", "0", "price"]
        else:
            assert payload["userErrors"] == []
            skus = [v["sku"] for v in payload["product"]["variants"]["nodes"]]
            assert skus == [f"BULK-{n}-S", f"BULK-{n}-M"]
    shop = sandbox.shop(SHOP)
    assert {p.handle for p in shop.products.values()} >= {f"bulk-tee-{n}" for n in (0, 1, 2, 4)}
    assert shop.product_by_handle("bulk-tee-3") is None

    by_node = await runner.admin.run(NODE, {"id": started["bulkOperation"]["id"]})
    assert by_node["data"]["node"]["status"] == "COMPLETED"
    assert by_node["data"]["node"]["url"] == done["url"]


async def test_a_line_with_bad_variables_gets_graphql_errors(
    fast: tuple[ShopifySandbox, Bulk],
) -> None:
    _, runner = fast
    await runner.run(jsonl([product_line(1), {"input": {"title": 42, "bogus": True}}]))
    done = await runner.finished()
    first, second = await runner.results(done["url"])
    assert first["data"]["productSet"]["userErrors"] == []
    assert "data" not in second
    assert second["__lineNumber"] == 1
    assert second["errors"]
    assert "$input" in second["errors"][0]["message"]


async def test_operation_runs_in_the_background_at_the_sandbox_pace(
    slow: tuple[ShopifySandbox, Bulk],
) -> None:
    _, runner = slow
    loop = asyncio.get_running_loop()
    began = loop.time()
    # Four lines of two variants: 8 objects at 20 a second, so about 0.3 s after the first.
    started = await runner.run(jsonl([product_line(n) for n in range(4)]))
    assert started["bulkOperation"]["status"] == "CREATED"
    seen = {(await runner.current())["status"]}
    done = await runner.finished()
    seen.add(done["status"])
    assert "RUNNING" in seen
    assert "COMPLETED" in seen
    assert loop.time() - began >= 0.3


async def test_operations_at_once_are_limited_per_app_and_shop(
    slow: tuple[ShopifySandbox, Bulk],
) -> None:
    _sandbox, runner = slow
    content = jsonl([product_line(n) for n in range(30)])
    for _ in range(bulk.BULK_MUTATIONS_AT_ONCE):
        started = await runner.run(content)
        assert started["userErrors"] == []
    refused = await runner.run(content)
    assert refused["bulkOperation"] is None
    assert refused["userErrors"] == [
        {
            "field": None,
            "message": "Bulk operations limit reached. Please try again later.",
            "code": "LIMIT_REACHED",
        }
    ]


async def test_before_2026_01_one_bulk_mutation_at_a_time(
    slow: tuple[ShopifySandbox, Bulk], monkeypatch: pytest.MonkeyPatch
) -> None:
    _sandbox, runner = slow
    monkeypatch.setattr(bulk, "CONCURRENT_BULK_VERSION", "2099-01")
    assert bulk.bulk_mutations_allowed("2026-04") == 1
    first = await runner.run(jsonl([product_line(n) for n in range(30)]))
    refused = await runner.run(jsonl([product_line(99)]))
    [error] = refused["userErrors"]
    assert error["code"] == "OPERATION_IN_PROGRESS"
    assert error["message"] == (
        "A bulk mutation operation for this app and shop is already in progress: "
        f"{first['bulkOperation']['id']}."
    )


@pytest.mark.parametrize(
    ("mutation", "wanted"),
    [
        ("query { shop { id } }", "exactly one mutation"),
        ("mutation { a: productChangeStatus(productId: \"x\", status: ACTIVE) { product { id } } "
         "b: productChangeStatus(productId: \"y\", status: ACTIVE) { product { id } } }",
         "exactly one mutation field"),
        ("mutation { productSet(input: {title: 3}) { nope } }", "Invalid mutation"),
        ("mutation {", "Failed to parse"),
    ],
)  # fmt: skip
async def test_invalid_mutation_is_refused_before_it_runs(
    fast: tuple[ShopifySandbox, Bulk], mutation: str, wanted: str
) -> None:
    _, runner = fast
    refused = await runner.run(jsonl([product_line(1)]), mutation=mutation)
    [error] = refused["userErrors"]
    assert error["code"] == "INVALID_MUTATION"
    assert wanted in error["message"]


async def test_missing_file_and_invalid_jsonl_are_refused(
    fast: tuple[ShopifySandbox, Bulk],
) -> None:
    _, runner = fast
    _, params = await runner.stage()  # staged but never uploaded
    body = await runner.admin.run(RUN, {"mutation": PRODUCT_SET, "path": params["key"]})
    assert body["data"]["bulkOperationRunMutation"]["userErrors"][0]["code"] == "NO_SUCH_FILE"
    refused = await runner.run(b'{"input": {}}\nnot json\n')
    [error] = refused["userErrors"]
    assert (error["code"], error["message"]) == (
        "INVALID_STAGED_UPLOAD_FILE",
        "Unexpected file structure - expected JSONL",
    )


async def test_cancel_stops_the_run_and_keeps_partial_results(
    slow: tuple[ShopifySandbox, Bulk],
) -> None:
    _, runner = slow
    started = await runner.run(jsonl([product_line(n) for n in range(40)]))
    await asyncio.sleep(0.15)
    cancel = await runner.admin.run(
        "mutation C($id: ID!) { bulkOperationCancel(id: $id) { bulkOperation { status } "
        "userErrors { message } } }",
        {"id": started["bulkOperation"]["id"]},
    )
    assert cancel["data"]["bulkOperationCancel"]["bulkOperation"]["status"] == "CANCELING"
    done = await runner.finished()
    assert done["status"] == "CANCELED"
    assert done["url"] is None
    assert done["partialDataUrl"]
    partial = await runner.results(done["partialDataUrl"])
    assert 0 < len(partial) < 40


async def test_finish_and_product_webhooks(fast: tuple[ShopifySandbox, Bulk], hooks: Hooks) -> None:
    sandbox, runner = fast
    for topic in ("bulk_operations/finish", "products/create", "products/update"):
        sandbox.webhooks.subscribe(SHOP, topic, "https://strata.test/webhooks")
    started = await runner.run(jsonl([product_line(1), product_line(2)]))
    await runner.finished()
    await runner.run(jsonl([product_line(1, price="25.00")]))
    await runner.finished()
    await hooks.received({"bulk_operations/finish": 2, "products/create": 2, "products/update": 1})

    finishes = hooks.bodies["bulk_operations/finish"]
    assert finishes[0] == {
        "admin_graphql_api_id": started["bulkOperation"]["id"],
        "completed_at": finishes[0]["completed_at"],
        "created_at": finishes[0]["created_at"],
        "error_code": None,
        "status": "completed",
        "type": "mutation",
    }
    created = {b["handle"]: b for b in hooks.bodies["products/create"]}
    assert set(created) == {"bulk-tee-1", "bulk-tee-2"}
    tee = created["bulk-tee-1"]
    assert (tee["title"], tee["status"]) == ("Bulk tee 1", "active")
    assert [(v["sku"], v["price"], v["option1"]) for v in tee["variants"]] == [
        ("BULK-1-S", "20.00", "S"),
        ("BULK-1-M", "20.00", "M"),
    ]
    assert all(v["inventory_item_id"] and v["id"] for v in tee["variants"])
    assert tee["options"][0]["name"] == "Size"
    assert tee["options"][0]["values"] == ["S", "M"]
    [updated] = hooks.bodies["products/update"]
    assert updated["id"] == tee["id"]
    assert {v["price"] for v in updated["variants"]} == {"25.00"}


def test_a_line_weighs_its_longest_list() -> None:
    assert line_objects(product_line(1, sizes=("S", "M", "L"))) == 3
    assert line_objects({"id": "gid://shopify/Product/1"}) == 1


async def test_merchant_deletes_a_product(fast: tuple[ShopifySandbox, Bulk], hooks: Hooks) -> None:
    sandbox, runner = fast
    sandbox.webhooks.subscribe(SHOP, "products/delete", "https://strata.test/webhooks")
    await runner.run(jsonl([product_line(7)]))
    await runner.finished()
    shop = sandbox.shop(SHOP)
    product = shop.product_by_handle("bulk-tee-7")
    assert product is not None
    client = runner.admin.client
    listed = (await client.get(f"/_sandbox/shops/{SHOP}/bulk-operations")).json()
    assert [(op["status"], op["lines"]) for op in listed] == [("COMPLETED", 1)]
    response = await client.delete(f"/_sandbox/shops/{SHOP}/products/{product.id}")
    assert response.status_code == 204
    assert shop.product_by_handle("bulk-tee-7") is None
    assert shop.item_by_sku("BULK-7-S") is None
    await hooks.received({"products/delete": 1})
    assert hooks.bodies["products/delete"] == [{"id": product.id}]
    again = await client.delete(f"/_sandbox/shops/{SHOP}/products/{product.id}")
    assert again.status_code == 404
