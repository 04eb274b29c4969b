"""What a contract comparison reports: one :class:`Finding` per incompatible change."""

from __future__ import annotations

from typing import Literal

import msgspec

Severity = Literal["error", "warning"]
"""``error`` breaks existing clients and fails the check; ``warning`` is printed only."""


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One change between two versions of a contract."""

    rule: str
    path: str
    operation: str
    message: str
    severity: Severity = "error"

    @property
    def breaking(self) -> bool:
        """Whether this change breaks clients of the released contract."""
        return self.severity == "error"

    def render(self) -> str:
        """One line for a terminal: severity, rule, where, and what changed."""
        where = f"{self.operation} {self.path}".strip()
        return f"{self.severity:<7} {self.rule:<36} {where}: {self.message}"


def breaking(findings: list[Finding]) -> list[Finding]:
    """The findings that fail a check."""
    return [f for f in findings if f.breaking]
