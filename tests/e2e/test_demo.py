"""``strata demo`` end to end: ``strata up`` as a person starts it, the demo played against it
as a subprocess, every step passed, the eu ERP API running again, and the state file gone
once the stack stopped."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from strata.demo import STEPS
from strata.stack import pid_alive
from tests.support.processes import running_redis
from tests.support.up import ROOT, strata_up

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
PARTS = {
    "auth",
    "tryton-eu",
    "erp-eu",
    "tryton-us",
    "erp-us",
    "shopify-sandbox",
    "shopify",
    "orders",
    "inventory",
    "catalog",
    "storefront",
    "service-desk",
}


def _process_state(pid: int) -> str:
    """The one-letter state of ``pid`` in /proc (``T`` when stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0]


def test_strata_demo_plays_every_step_and_the_state_file_goes_with_the_stack(
    tmp_path: Path,
) -> None:
    stack_file = tmp_path / "stack.json"
    # A Redis of its own: no other stack's streams, consumers or pipeline records.
    with (
        running_redis() as redis,
        strata_up(tmp_path, stack_file=stack_file, env={"STRATA_REDIS_URL": redis.url}) as up,
    ):
        state = json.loads(stack_file.read_text())
        assert state["redis_url"] == redis.url
        assert state["pid"] == up.proc.pid
        parts = {p["name"]: p for p in state["parts"]}
        assert set(parts) == PARTS
        assert all(pid_alive(p["pid"]) for p in parts.values())
        assert {name: p["address"] for name, p in parts.items()} == {
            name: address for name, address in up.addresses.items() if name in PARTS
        }
        assert f"strata demo --stack {stack_file}" in up.text
        assert len(re.findall(r"expires in \d+ (?:h|min|s)\n +eyJ", up.text)) == 3

        started = time.monotonic()
        demo = subprocess.run(
            [sys.executable, "-m", "strata.cli", "demo", "--stack", str(stack_file)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
        )
        took = time.monotonic() - started
        report = demo.stdout + demo.stderr
        assert demo.returncode == 0, report
        summary = demo.stdout.split("\nSummary\n", 1)[1]
        for number, (name, _step) in enumerate(STEPS, start=1):
            assert re.search(rf"^  {number}\. {re.escape(name)} +passed ", summary, re.M), report
        assert f"{len(STEPS)}/{len(STEPS)} steps passed" in summary, report
        outage = re.search(r"paused \d+s: #\d+ routed, (\d+) retr", summary)
        assert outage is not None, report
        assert int(outage.group(1)) >= 1, report
        assert "posted once, eu SO " in summary, report
        assert took < 120, f"the demo took {took:.0f}s:\n{report}"
        # The outage is over: the eu ERP API runs (not stopped) and answers.
        assert _process_state(parts["erp-eu"]["pid"]) != "T"

        fresh = subprocess.run(
            [sys.executable, "-m", "strata.cli", "demo", "--stack", str(stack_file), "--tokens"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert fresh.returncode == 0, fresh.stderr
        assert len(re.findall(r"^    eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$", fresh.stdout, re.M)) == 3
    assert up.proc.returncode == 0, up.output()
    assert not stack_file.exists(), "strata up left its state file behind"
    time.sleep(1)
    alive = [pid for pid in up.started if Path(f"/proc/{pid}").exists()]
    assert not alive, f"left running after Ctrl-C: {alive}"
    missing = subprocess.run(
        [sys.executable, "-m", "strata.cli", "demo", "--stack", str(stack_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "no running stack" in missing.stderr
