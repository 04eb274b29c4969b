"""``strata up`` (what ``make up`` runs) end to end: start, a signed webhook becomes a sales
order, Ctrl-C, and nothing it started is left running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import running_redis
from tests.support.stack import wait_until
from tests.support.up import strata_up

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_strata_up_serves_an_order_and_stops_cleanly(tmp_path: Path) -> None:
    # Its own state file and Redis: a developer's running `make up` keeps var/stack.json,
    # and its order workers never take this test's orders (or the other way round).
    with (
        running_redis() as redis,
        strata_up(
            tmp_path, stack_file=tmp_path / "stack.json", env={"STRATA_REDIS_URL": redis.url}
        ) as up,
    ):
        started = up.started
        assert started, "strata up started no processes"
        table = up.addresses
        sandbox, orders, auth = table["shopify-sandbox"], table["orders"], table["auth"]
        created = httpx.post(
            f"{sandbox}/_sandbox/shops/demo-eu.myshopify.com/orders",
            json={"email": "smoke@example.com", "line_items": [{"sku": "TOTE-NAT", "quantity": 1}]},
            timeout=30,
        ).json()
        token = subprocess.run(
            [
                sys.executable,
                "-m",
                "strata.cli",
                "token",
                "--client",
                "operator",
                "--scope",
                "orders:read",
                "--issuer",
                auth,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}

        def acknowledged() -> dict[str, object] | None:
            r = httpx.get(
                f"{orders}/orders/v1/orders/demo-eu.myshopify.com/{created['id']}",
                headers=headers,
                timeout=10,
            )
            body = r.json() if r.status_code == 200 else None
            return body if body and body["state"] == "acknowledged" else None

        status = wait_until(acknowledged, timeout=90, what="the demo order in the ERP")
        assert status["erp_instance"] == "eu"
        assert status["erp_order_number"]
    time.sleep(1)
    alive = [pid for pid in started if Path(f"/proc/{pid}").exists()]
    assert not alive, f"left running after Ctrl-C: {alive}"
    assert "Everything stopped." in (tmp_path / "up.log").read_text()
