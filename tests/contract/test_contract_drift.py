"""The committed OpenAPI documents are exactly what the apps generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from strata.cli import render_contract
from strata.services import SERVICES

pytestmark = pytest.mark.contract
ROOT = Path(__file__).resolve().parents[2]
WITH_CONTRACT = [s for s in SERVICES.values() if s.contract]


@pytest.mark.parametrize("spec", WITH_CONTRACT, ids=[s.name for s in WITH_CONTRACT])
def test_committed_contract_matches_the_app(spec) -> None:
    path = ROOT / spec.contract
    assert path.exists(), f"{spec.contract} is missing: run `make contracts`"
    assert path.read_text() == render_contract(spec), (
        f"{spec.contract} drifted from the app: run `make contracts` and review the diff"
    )


@pytest.mark.parametrize("spec", WITH_CONTRACT, ids=[s.name for s in WITH_CONTRACT])
def test_every_operation_is_documented(spec) -> None:
    import yaml

    document = yaml.safe_load((ROOT / spec.contract).read_text())
    for path, item in document["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert op.get("operationId"), f"{where} has no operationId"
            assert op.get("summary"), f"{where} has no summary"
            errors = [s for s in op["responses"] if s.startswith(("4", "5"))]
            assert errors, f"{where} lists no error responses"
            for status in errors:
                content = op["responses"][status].get("content", {})
                assert "application/problem+json" in content, f"{where} {status} is not a problem"
