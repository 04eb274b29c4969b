"""Schemathesis over the committed ERP contract against the running service (real Tryton)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.tryton import TrytonServer
from tests.support.processes import RedisServer, free_port, wait_for_port
from tests.support.schemathesis import run_schemathesis
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint

pytestmark = [pytest.mark.contract, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def erp_service(
    tryton_eu: TrytonServer,
    redis_server: RedisServer,
    token_mint: TokenMint,
) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "STRATA_ERP_INSTANCE": "eu",
        "STRATA_ERP_REDIS_URL": redis_server.url,
        "STRATA_ERP_TRYTON_URL": tryton_eu.url,
        "STRATA_ERP_TRYTON_DATABASE": tryton_eu.database,
        "STRATA_ERP_TRYTON_USER": tryton_eu.user,
        "STRATA_ERP_TRYTON_PASSWORD": tryton_eu.password,
        "STRATA_AUTH_ISSUER": ISSUER,
        "STRATA_AUTH_AUDIENCE": AUDIENCE,
        "STRATA_AUTH_JWKS": json.dumps(token_mint.keys.public_jwks()),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "strata.cli", "serve", "erp", "--port", str(port)],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_schemathesis_finds_no_failure(erp_service: str, token_mint: TokenMint) -> None:
    token = token_mint.token("erp:read", "erp:write", client_id="schemathesis")
    result = run_schemathesis("openapi/system/erp/v1.yaml", erp_service, token)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
