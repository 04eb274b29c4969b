"""Where contracts live: ``openapi/<layer>/<service>/v<N>.yaml`` under the repository root."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

CONTRACTS_DIR = "openapi"
BASELINE_DIR = "openapi/released"
_CONTRACT = re.compile(
    r"^openapi/(?P<layer>[^/]+)/(?P<service>[^/]+)/v(?P<major>[1-9][0-9]*)\.yaml$"
)
_NOT_LAYERS = {"released", "node_modules"}


def is_contract_path(relative: PurePosixPath | str) -> bool:
    """Whether a repository-relative path names a committed contract."""
    match = _CONTRACT.match(str(relative))
    return match is not None and match["layer"] not in _NOT_LAYERS


def contract_files(root: Path) -> list[PurePosixPath]:
    """Every contract in the working tree, as paths relative to ``root``, sorted."""
    found = (
        PurePosixPath(path.relative_to(root).as_posix())
        for path in (root / CONTRACTS_DIR).glob("*/*/v*.yaml")
    )
    return sorted(path for path in found if is_contract_path(path))


def baseline_path(relative: PurePosixPath) -> PurePosixPath:
    """Where the released copy of a contract sits when releases are kept as files."""
    return PurePosixPath(BASELINE_DIR) / relative.relative_to(CONTRACTS_DIR)
