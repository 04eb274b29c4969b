"""Spectral over every committed contract: ``python -m strata.contracts.lint [FILE...]``.

Runs ``openapi/node_modules/.bin/spectral lint --ruleset openapi/.spectral.yaml
--fail-severity=warn`` and exits with Spectral's status, so any warning fails. Spectral is
an npm package pinned in ``openapi/package-lock.json``; ``npm ci --prefix openapi``
installs it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from strata.contracts.layout import contract_files

SPECTRAL = Path("openapi/node_modules/.bin/spectral")
RULESET = Path("openapi/.spectral.yaml")
INSTALL_HINT = "npm ci --prefix openapi"
_TIMEOUT = 300.0


class SpectralMissing(RuntimeError):
    """Spectral is not installed under openapi/node_modules."""


def spectral_command(root: Path, files: Sequence[Path]) -> list[str]:
    """The Spectral command line for ``files``; raises :class:`SpectralMissing` if absent."""
    spectral = root / SPECTRAL
    if not spectral.is_file():
        raise SpectralMissing(
            f"Spectral is not installed ({SPECTRAL} is missing). "
            f"Run `{INSTALL_HINT}` from the repository root (needs Node.js 18+ and npm)."
        )
    return [
        str(spectral),
        "lint",
        "--ruleset",
        str(root / RULESET),
        "--fail-severity=warn",
        *(str(f) for f in files),
    ]


def run_spectral(root: Path, files: Sequence[Path]) -> subprocess.CompletedProcess[str]:
    """Run Spectral over ``files`` and capture what it prints."""
    # The command is built from this repository's own paths; no shell is involved.
    return subprocess.run(  # noqa: S603
        spectral_command(root, files),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: lint the given files, or every contract; non-zero on any problem."""
    parser = argparse.ArgumentParser(
        prog="python -m strata.contracts.lint",
        description="Lint OpenAPI contracts with Strata's Spectral ruleset.",
    )
    parser.add_argument("files", nargs="*", type=Path, help="default: every contract")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    files: list[Path] = list(args.files) or [root / p for p in contract_files(root)]
    if not files:
        print("no contracts found under openapi/<layer>/<service>/v<N>.yaml; nothing to lint")
        return 0
    try:
        result = run_spectral(root, files)
    except SpectralMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode != 0 and not result.stdout.strip():
        print(f"error: Spectral exited with status {result.returncode}", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
