"""Every committed contract against its last released version.

``python -m strata.contracts.check`` exits 1 when a contract breaks its released self.
Within a major (``v1.yaml``) only compatible changes are allowed; a breaking change ships
as a new major file (``v2.yaml``), which is new and so has nothing to break. How the
released version is found is described in :mod:`strata.contracts.released`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import msgspec

from strata.contracts.diff import diff_documents
from strata.contracts.documents import ContractError, load_document, parse_document
from strata.contracts.findings import Finding, breaking
from strata.contracts.layout import baseline_path, contract_files
from strata.contracts.released import (
    Release,
    current_release,
    released_contract,
    released_contract_paths,
)


class ContractCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome for one contract file."""

    contract: str
    released_from: str | None
    findings: list[Finding] = []

    def summary(self) -> str:
        """One headline for the report."""
        if self.released_from is None:
            return f"{self.contract}: new, nothing released to break"
        count = len(breaking(self.findings))
        verdict = f"{count} breaking change(s)" if count else "compatible"
        return f"{self.contract}: against {self.released_from}: {verdict}"


def check_contracts(root: Path, release: Release | None = None) -> list[ContractCheck]:
    """Compare every contract under ``root`` with ``release`` (default: the current one)."""
    release = current_release(root) if release is None else release
    current = contract_files(root)
    checks: list[ContractCheck] = []
    for relative in current:
        released = released_contract(root, relative, release)
        if released is None:
            checks.append(ContractCheck(contract=str(relative), released_from=None))
            continue
        old = parse_document(released.text, source=f"{relative} ({released.source})")
        new = load_document(root / relative)
        checks.append(
            ContractCheck(
                contract=str(relative),
                released_from=released.source,
                findings=diff_documents(old, new),
            )
        )
    for retired in sorted(set(released_contract_paths(root, release)) - set(current)):
        message = "released contract deleted; retire a major only after its Sunset date"
        checks.append(
            ContractCheck(
                contract=str(retired),
                released_from=release.describe(),
                findings=[
                    Finding(
                        rule="contract-retired",
                        path="",
                        operation="",
                        message=message,
                        severity="warning",
                    )
                ],
            )
        )
    return checks


def write_baseline(root: Path) -> list[PurePosixPath]:
    """Copy every current contract to ``openapi/released/``: a release without git tags."""
    written: list[PurePosixPath] = []
    for relative in contract_files(root):
        target = root / baseline_path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relative, target)
        written.append(baseline_path(relative))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: exit 1 if any contract breaks its released version."""
    parser = argparse.ArgumentParser(
        prog="python -m strata.contracts.check",
        description="Compare every openapi/<layer>/<service>/v<N>.yaml with its release.",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument(
        "--write-baseline",
        action="store_true",
        help="release the current contracts as openapi/released/ copies, then exit",
    )
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    if args.write_baseline:
        for path in write_baseline(root):
            print(f"wrote {path}")
        return 0
    release = current_release(root)
    try:
        checks = check_contracts(root, release)
    except ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"released contracts: {release.describe()}")
    if not checks:
        print("no contracts found under openapi/<layer>/<service>/v<N>.yaml")
    failed = False
    for check in checks:
        print(check.summary())
        for finding in check.findings:
            print(f"  {finding.render()}")
        failed = failed or bool(breaking(check.findings))
    if failed:
        print(
            "A released major must stay compatible: undo the change, or publish it as a new "
            "major file (v<N+1>.yaml) beside the old one.",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
