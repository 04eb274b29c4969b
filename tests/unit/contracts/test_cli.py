"""``python -m strata.contracts.diff OLD NEW``: exit codes and what it prints."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from strata.contracts.diff import main
from tests.unit.contracts.test_diff import order_out, released


def write(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    return write(tmp_path / "old.yaml", released())


def test_identical_contracts_exit_zero(old_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(old_file), str(old_file)]) == 0
    assert capsys.readouterr().out.strip() == "no breaking changes"


def test_compatible_change_exits_zero(old_file: Path, tmp_path: Path) -> None:
    doc = released()
    order_out(doc)["placed_at"] = {"type": "string"}
    assert main([str(old_file), str(write(tmp_path / "new.yaml", doc))]) == 0


def test_breaking_change_exits_one_and_prints_it(
    old_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(released())
    order_out(doc).pop("total")
    assert main([str(old_file), str(write(tmp_path / "new.yaml", doc))]) == 1
    out = capsys.readouterr().out
    assert "response-property-removed" in out
    assert "GET /erp/v1/sales-orders/{order_id}" in out
    assert out.strip().endswith("3 breaking change(s)")


def test_json_output_lists_findings(
    old_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = released()
    doc["paths"].pop("/erp/v1/sales-orders")
    assert main([str(old_file), str(write(tmp_path / "new.yaml", doc)), "--json"]) == 1
    out = capsys.readouterr().out
    parsed = yaml.safe_load(out)
    assert parsed == [
        {
            "rule": "api-path-removed",
            "path": "/erp/v1/sales-orders",
            "operation": "GET,POST",
            "message": "path removed",
            "severity": "error",
        }
    ]


def test_unreadable_contract_exits_two(
    old_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(old_file), str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    not_openapi = tmp_path / "list.yaml"
    not_openapi.write_text("- 1\n", encoding="utf-8")
    assert main([str(old_file), str(not_openapi)]) == 2


def test_module_runs_as_a_program(old_file: Path, tmp_path: Path) -> None:
    doc = released()
    doc["paths"]["/erp/v1/sales-orders/{order_id}"]["get"]["security"] = [
        {"oauth": ["orders:read", "orders:admin"]}
    ]
    new_file = write(tmp_path / "new.yaml", doc)
    result = subprocess.run(
        [sys.executable, "-m", "strata.contracts.diff", str(old_file), str(new_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "security-scope-added" in result.stdout
