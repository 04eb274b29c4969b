"""The released version of each contract, and ``python -m strata.contracts.check``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from strata.contracts import check
from strata.contracts.layout import contract_files
from strata.contracts.released import Release, current_release, released_contract
from tests.unit.contracts.test_diff import order_out, released

V1 = PurePosixPath("openapi/system/erp/v1.yaml")
V2 = PurePosixPath("openapi/system/erp/v2.yaml")
GIT = shutil.which("git")


def git(root: Path, *args: str) -> str:
    assert GIT is not None, "git is needed for the release lookup tests"
    result = subprocess.run(
        [
            GIT,
            "-C",
            str(root),
            "-c",
            "user.name=Strata",
            "-c",
            "user.email=ci@strata.dev",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout


def put(root: Path, relative: PurePosixPath, doc: object) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")


def breaking_doc() -> dict[str, object]:
    doc = released()
    order_out(doc).pop("total")
    return doc


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    put(tmp_path, V1, released())
    git(tmp_path, "add", "openapi")
    git(tmp_path, "commit", "-q", "-m", "erp v1")
    return tmp_path


def test_contract_files_follow_the_layout(repo: Path) -> None:
    put(repo, PurePosixPath("openapi/released/system/erp/v1.yaml"), released())
    put(repo, PurePosixPath("openapi/system/erp/notes.yaml"), released())
    put(repo, PurePosixPath("openapi/system/erp/v0.yaml"), released())
    assert contract_files(repo) == [V1]


def test_without_tag_or_baseline_a_contract_is_new(repo: Path) -> None:
    release = current_release(repo)
    assert release == Release(tag=None)
    assert released_contract(repo, V1, release) is None
    put(repo, V1, breaking_doc())
    assert check.main(["--root", str(repo)]) == 0


def test_baseline_file_is_the_release_without_tags(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.main(["--root", str(repo), "--write-baseline"]) == 0
    assert (repo / "openapi/released/system/erp/v1.yaml").is_file()
    found = released_contract(repo, V1, current_release(repo))
    assert found is not None
    assert found.source == "baseline openapi/released/system/erp/v1.yaml"
    assert check.main(["--root", str(repo)]) == 0
    put(repo, V1, breaking_doc())
    capsys.readouterr()
    assert check.main(["--root", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "openapi/system/erp/v1.yaml: against baseline" in out
    assert "response-property-removed" in out


def test_latest_reachable_tag_is_the_release(repo: Path) -> None:
    git(repo, "tag", "contracts-2026.1")
    doc = released()
    order_out(doc)["placed_at"] = {"type": "string"}
    put(repo, V1, doc)
    git(repo, "commit", "-q", "-am", "erp v1: placed_at")
    git(repo, "tag", "contracts-2026.2")
    git(repo, "tag", "unrelated-9")
    release = current_release(repo)
    assert release.tag == "contracts-2026.2"
    found = released_contract(repo, V1, release)
    assert found is not None
    assert "placed_at" in found.text
    # Removing the field released at the newest tag breaks; the older tag does not matter.
    put(repo, V1, released())
    assert check.main(["--root", str(repo)]) == 1


def test_tag_wins_over_baseline(repo: Path) -> None:
    put(repo, PurePosixPath("openapi/released/system/erp/v1.yaml"), breaking_doc())
    git(repo, "tag", "contracts-1")
    found = released_contract(repo, V1, current_release(repo))
    assert found is not None
    assert found.source == "tag contracts-1"
    assert "total" in found.text


def test_breaking_change_ships_as_a_new_major(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "tag", "contracts-1")
    put(repo, V2, breaking_doc())
    assert check.main(["--root", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "openapi/system/erp/v2.yaml: new, nothing released to break" in out
    assert "openapi/system/erp/v1.yaml: against tag contracts-1: compatible" in out
    put(repo, V1, breaking_doc())
    assert check.main(["--root", str(repo)]) == 1


def test_deleted_released_contract_is_a_warning(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "tag", "contracts-1")
    (repo / V1).unlink()
    assert check.main(["--root", str(repo)]) == 0
    assert "contract-retired" in capsys.readouterr().out


def test_outside_git_the_baseline_is_used(tmp_path: Path) -> None:
    put(tmp_path, V1, breaking_doc())
    put(tmp_path, PurePosixPath("openapi/released/system/erp/v1.yaml"), released())
    results = check.check_contracts(tmp_path)
    assert [r.contract for r in results] == [str(V1)]
    assert {f.rule for f in results[0].findings} == {"response-property-removed"}
