"""``strata orders`` against a real orders process (uvicorn, its stream workers, real Redis).

A webhook entry whose order has no customer email fails mapping, so the worker buries it as
an exception without needing an ERP. The CLI lists it, replays it as it was (it fails again
and the record reopens), then replays it with an edited body: mapping passes and the order
goes on to post to an ERP that is not there, so the record reopens with another kind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from strata.orders_cli import main
from tests.support.processes import RedisServer, free_port, wait_for_port
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def orders_app(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "process_apis.orders.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, **env},
        cwd=ROOT,
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


STREAM_PREFIX = f"test-orders-cli-{uuid.uuid4().hex[:8]}:webhooks"


@pytest.fixture(scope="module")
def stream() -> str:
    return f"{STREAM_PREFIX}:{{orders}}"


@pytest.fixture(scope="module")
def orders_url(redis_server: RedisServer, token_mint: TokenMint, stream: str) -> Iterator[str]:
    env = {
        "STRATA_AUTH_ISSUER": ISSUER,
        "STRATA_AUTH_AUDIENCE": AUDIENCE,
        "STRATA_AUTH_JWKS": json.dumps(token_mint.keys.public_jwks()),
        "STRATA_ORDERS_REDIS_URL": redis_server.url,
        "STRATA_ORDERS_STREAM_PREFIX": stream.removesuffix(":{orders}"),
        # Nothing listens here: an order that gets as far as posting fails transiently.
        "STRATA_ORDERS_ERP_INSTANCES": json.dumps({"eu": f"http://127.0.0.1:{free_port()}"}),
        "STRATA_ORDERS_MAX_ATTEMPTS": "2",
        "STRATA_ORDERS_RETRY_BASE_DELAY": "0.1",
        "STRATA_ORDERS_RETRY_MAX_DELAY": "0.2",
        "STRATA_ORDERS_ERP_TIMEOUT": "2",
    }
    with orders_app(env) as url:
        yield url


def cli(url: str, token: str, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--url", url, *argv],
        environ={"STRATA_TOKEN": token},
        stdout=out,
        stderr=err,
        stdin=io.StringIO(stdin),
    )
    return code, out.getvalue(), err.getvalue()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def order_without_email(order_id: int) -> dict[str, Any]:
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "currency": "EUR",
        "total_price": "49.80",
        "line_items": [{"sku": "TOTE-NAT", "quantity": 2, "price": "24.90", "title": "Tote"}],
        "shipping_address": {"name": "Ada L", "address1": "1 rue X", "city": "Lyon",
                             "zip": "69007", "country_code": "FR"},
    }  # fmt: skip


def test_list_and_replay_an_exception(
    orders_url: str, redis_url: str, stream: str, token_mint: TokenMint
) -> None:
    shop = f"cli-{uuid.uuid4().hex[:8]}.myshopify.com"
    order_id = 5_000_000 + int(uuid.uuid4().int % 1_000_000)
    reader = token_mint.token("orders:read")
    operator = token_mint.token("orders:read", "orders:replay")
    store = redis.Redis.from_url(redis_url)
    try:
        store.xadd(
            stream,
            {
                "topic": "orders/create",
                "shop": shop,
                "event_id": f"evt-{uuid.uuid4()}",
                "body": json.dumps(order_without_email(order_id)),
            },
        )
    finally:
        store.close()

    def listed() -> dict[str, Any] | None:
        code, out, _ = cli(orders_url, reader, "exceptions", "--shop", shop, "--json")
        assert code == 0
        page = json.loads(out)
        return page["items"][0] if page["total"] == 1 else None

    record = wait_for(listed, "the mapping failure to become an exception")
    assert record["kind"] == "mapping"
    assert record["state"] == "open"
    assert record["order_id"] == str(order_id)

    code, table, _ = cli(orders_url, reader, "exceptions", "--shop", shop, "--kind", "mapping")
    assert code == 0
    _header, row, footer = table.splitlines()
    assert row.split()[:5] == [record["id"], "open", "mapping", shop, str(order_id)]
    assert "no customer email" in row
    assert footer == "1-1 of 1"

    code, out, _ = cli(orders_url, reader, "status", shop, str(order_id))
    assert code == 0
    assert out.splitlines()[0] == f"{shop} order {order_id}: exception"
    assert f"  exception    {record['id']}" in out

    # A read-only token may list but not replay.
    code, _, err = cli(orders_url, reader, "replay", record["id"])
    assert code == 1
    assert "(HTTP 403)" in err

    code, out, _ = cli(orders_url, operator, "replay", record["id"])
    assert code == 0, out
    assert out.startswith(f"replayed {record['id']}: now replayed, stream entry ")

    def reopened(kind: str, replays: int) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            _, out, _ = cli(orders_url, reader, "exceptions", "--shop", shop, "--json")
            [item] = json.loads(out)["items"]
            return (
                item
                if item["state"] == "open" and item["replays"] == replays and (item["kind"] == kind)
                else None
            )

        return check

    again = wait_for(reopened("mapping", 1), "the unchanged replay to fail again")
    assert again["id"] == record["id"]
    assert len(again["retry_history"]) > len(record["retry_history"])

    # Bulk replay of what matches; dry run first changes nothing.
    code, out, _ = cli(orders_url, operator, "replay", "--all", "--shop", shop, "--dry-run")
    assert (code, out) == (0, f"{record['id']}\n1 would be replayed\n")
    code, out, err = cli(
        orders_url, operator, "replay", "--all", "--shop", shop, "--kind", "mapping"
    )
    assert code == 0
    assert out == "replayed 1 of 1 open exceptions\n"
    assert err.endswith("] 1/1 replayed\n")
    wait_for(reopened("mapping", 2), "the bulk replay to fail again")

    # With the email added, mapping passes and the order tries the (absent) ERP.
    fixed = {**order_without_email(order_id), "email": "ada@example.com"}
    code, out, _ = cli(
        orders_url, operator, "replay", record["id"], "--body", "-", stdin=json.dumps(fixed)
    )
    assert code == 0, out
    final = wait_for(reopened("retries-exhausted", 3), "the fixed order to reach the ERP call")
    assert final["payload"]["body"]
    assert json.loads(final["payload"]["body"])["email"] == ("ada@example.com")
    code, out, _ = cli(orders_url, reader, "status", shop, str(order_id))
    assert "validated" in out
    assert "routed" in out


def test_an_unknown_exception_is_a_clear_error(orders_url: str, token_mint: TokenMint) -> None:
    token = token_mint.token("orders:read", "orders:replay")
    code, _, err = cli(orders_url, token, "replay", "0123456789abcdef0123")
    assert code == 1
    assert err == "strata orders: No such exception: No exception 0123456789abcdef0123 (HTTP 404)\n"
    unreachable = f"http://127.0.0.1:{free_port()}"
    code, _, err = cli(unreachable, token, "status", "s.example", "1")
    assert code == 1
    assert f"cannot reach the orders API at {unreachable}" in err
