"""Run schemathesis (every check) over a committed contract against a running service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "contract" / "schemathesis.toml"


def run_schemathesis(
    contract: str, url: str, token: str, *, max_examples: int = 25
) -> subprocess.CompletedProcess[str]:
    """``st run`` with every check over ``contract`` (a path under the repo) against ``url``."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "--config-file",
            str(CONFIG),
            "run",
            str(ROOT / contract),
            "--url",
            url,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--max-examples",
            str(max_examples),
            "--generation-deterministic",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )


def failure_report(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-8000:] + result.stderr[-2000:]
