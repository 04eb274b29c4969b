"""``strata up`` refuses to start a second stack over a running one's state file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from strata.stack import up


def test_a_second_strata_up_refuses_while_the_first_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stack_file = tmp_path / "stack.json"
        stack_file.write_text(json.dumps({"pid": first.pid, "parts": []}))
        assert up(data_dir=tmp_path / "erp", log_dir=tmp_path / "log", stack_file=stack_file) == 1
        assert f"pid {first.pid}" in capsys.readouterr().err
        assert not (tmp_path / "log").exists(), "it started something before refusing"
    finally:
        first.kill()
        first.wait()


def test_a_stale_state_file_does_not_stop_a_new_stack(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(json.dumps({"pid": gone.pid, "parts": []}))
    from strata import stack

    assert stack._live_stack(stack_file) is None
    assert stack._live_stack(tmp_path / "missing.json") is None
