"""``strata up`` (what ``make up`` runs) end to end: start, a signed webhook becomes a sales
order, Ctrl-C, and nothing it started is left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.stack import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _children_of(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True).stdout
    parents: dict[int, int] = {}
    for line in out.splitlines()[1:]:
        child, parent = (int(x) for x in line.split())
        parents[child] = parent
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - found
        found |= frontier
    return found


def test_strata_up_serves_an_order_and_stops_cleanly(tmp_path: Path) -> None:
    log = (tmp_path / "up.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "up"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    started: set[int] = set()
    try:

        def up_table() -> str | None:
            text = (tmp_path / "up.log").read_text()
            return text if "Strata is up" in text else None

        text = wait_until(up_table, timeout=240, interval=1, what="strata up to be ready")
        started = _children_of(proc.pid)
        assert started, "strata up started no processes"
        table = dict(re.findall(r"^  (\S+)\s+(http://127\.0\.0\.1:\d+)$", text, re.MULTILINE))
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
                "shared.cli",
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
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    time.sleep(1)
    alive = [pid for pid in started if Path(f"/proc/{pid}").exists()]
    assert not alive, f"left running after Ctrl-C: {alive}"
    assert "Everything stopped." in (tmp_path / "up.log").read_text()
