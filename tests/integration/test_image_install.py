"""The stand-in for building the image (no container engine here): install Strata the way the
Dockerfile's build stage does, a wheel into a fresh virtual environment, and start a service
from that environment alone.

Dependencies are not downloaded again: the fresh environment is installed with ``--no-deps``
and sees the test environment's packages through a ``.pth`` file, while Strata itself comes
only from the wheel (the repository is not on the path of the started process).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port
from tests.support.stack import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("strata", "shared", "system_apis", "process_apis", "experience_apis", "sandbox")


def _clean_environ() -> dict[str, str]:
    # The installed copy must be found by itself, never through a PYTHONPATH into this tree.
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=_clean_environ(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_wheel_installs_into_a_fresh_venv_and_serves_orders(
    tmp_path: Path, redis_url: str
) -> None:
    # The build context as the Dockerfile copies it (and a build that leaves the tree alone).
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "constraints.txt", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    # As the Dockerfile: `pip wheel --no-deps --wheel-dir /wheels .`
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", wheels, src, cwd=src)
    (wheel,) = wheels.glob("strata-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert set(PACKAGES) <= tops, tops
    assert not {"tests", "bench", "helm"} & tops

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
        ).strip()
    )
    # The dependencies of the test environment, after the fresh one's own site-packages.
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel, cwd=tmp_path
    )
    located = _run(
        python, "-c", "import strata, shared; print(strata.__file__, shared.__file__)", cwd=tmp_path
    )
    assert str(ROOT) not in located, located
    assert str(env_dir) in located, located
    strata = env_dir / "bin" / "strata"
    assert strata.exists(), "the console script the image's ENTRYPOINT runs"

    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "STRATA_ORDERS_REDIS_URL": redis_url,
        "STRATA_ORDERS_RUN_WORKERS": "false",
        "STRATA_ORDERS_SERVICE_TOKEN": "unused-in-this-test",
        "STRATA_TELEMETRY_LOG_FORMAT": "text",
    }
    proc = subprocess.Popen(
        [strata, "serve", "orders", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def live() -> bool:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).is_success
            except httpx.HTTPError:
                return False

        wait_until(live, timeout=60, what="orders served from the fresh environment")
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
