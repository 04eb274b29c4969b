"""The last released version of a contract.

Lookup order, the same for every contract:

1. If a tag matching ``contracts-*`` is reachable from ``HEAD``, the latest one (the nearest,
   as ``git describe`` picks it) is the release: the contract as committed at that tag. A
   contract absent at that tag is new.
2. Otherwise (no such tag, or not a git checkout) the baseline copy
   ``openapi/released/<layer>/<service>/v<N>.yaml`` is the release; without one the
   contract is new.

A new contract has nothing to break.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

import msgspec

from strata.contracts.layout import CONTRACTS_DIR, baseline_path, is_contract_path

TAG_PATTERN = "contracts-*"
_GIT_TIMEOUT = 30.0


class Release(msgspec.Struct, frozen=True, kw_only=True):
    """Where released contracts come from: a git tag, or the baseline files."""

    tag: str | None = None

    def describe(self) -> str:
        """Human-readable origin, for reports."""
        return f"tag {self.tag}" if self.tag else "baseline openapi/released/"


class ReleasedContract(msgspec.Struct, frozen=True, kw_only=True):
    """One contract as it was released, and where it was found."""

    path: PurePosixPath
    source: str
    text: str


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    git = shutil.which("git")
    if git is None:
        return None
    # Fixed git sub-commands on paths from this repository, no shell.
    return subprocess.run(  # noqa: S603
        [git, "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT,
        check=False,
    )


def latest_release_tag(root: Path) -> str | None:
    """The nearest ``contracts-*`` tag reachable from HEAD, or ``None``."""
    result = _git(root, "describe", "--tags", "--abbrev=0", "--match", TAG_PATTERN, "HEAD")
    if result is None or result.returncode != 0:
        return None
    return result.stdout.strip() or None


def current_release(root: Path) -> Release:
    """The release every contract is compared with (see the module docstring)."""
    return Release(tag=latest_release_tag(root))


def released_contract(
    root: Path, relative: PurePosixPath, release: Release
) -> ReleasedContract | None:
    """The released text of ``relative`` (``openapi/...``), or ``None`` when it is new."""
    if release.tag is not None:
        result = _git(root, "show", f"{release.tag}:./{relative.as_posix()}")
        if result is None or result.returncode != 0:
            return None
        return ReleasedContract(path=relative, source=f"tag {release.tag}", text=result.stdout)
    baseline = baseline_path(relative)
    file = root / baseline
    if not file.is_file():
        return None
    return ReleasedContract(
        path=relative, source=f"baseline {baseline}", text=file.read_text(encoding="utf-8")
    )


def released_contract_paths(root: Path, release: Release) -> list[PurePosixPath]:
    """Every contract path that the release holds."""
    if release.tag is not None:
        result = _git(root, "ls-tree", "-r", "--name-only", release.tag, "--", CONTRACTS_DIR)
        if result is None or result.returncode != 0:
            return []
        names = [PurePosixPath(line) for line in result.stdout.splitlines() if line]
        return sorted(p for p in names if is_contract_path(p))
    base = root / "openapi" / "released"
    found = (
        PurePosixPath(CONTRACTS_DIR) / path.relative_to(base).as_posix()
        for path in base.glob("*/*/v*.yaml")
    )
    return sorted(p for p in found if is_contract_path(p))
