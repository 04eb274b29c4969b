"""How the demo fails: no stack to play against, or a step whose check did not hold."""

from __future__ import annotations


class StackNotFound(Exception):
    """No running stack at the state file (missing, unreadable, or its ``strata up`` died)."""


class StepFailed(Exception):
    """A step's check did not hold; the message is the figure that shows it."""
