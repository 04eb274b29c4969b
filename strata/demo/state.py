"""The running stack as ``strata up`` describes it in its state file (``var/stack.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from strata.demo.failures import StackNotFound, StepFailed
from strata.stack.console import STACK_FILE
from strata.stack.processes import pid_alive


@dataclass(frozen=True)
class PartState:
    """One part of the running stack: its name, address and process (group) id."""

    name: str
    address: str
    pid: int | None


@dataclass(frozen=True)
class StackState:
    """What ``strata up`` wrote about the stack it runs."""

    path: Path
    pid: int | None
    redis_url: str
    parts: dict[str, PartState]
    #: Where the demo ERPs keep their databases and admin credentials (``strata up``'s).
    erp_data_dir: Path | None = None

    def address(self, name: str) -> str:
        """Where part ``name`` listens; :class:`StepFailed` if the stack has no such part."""
        part = self.parts.get(name)
        if part is None:
            raise StepFailed(f"the stack has no part {name!r}")
        return part.address

    def pid_of(self, name: str) -> int:
        """The pid of part ``name``; :class:`StepFailed` if the state file names none."""
        part = self.parts.get(name)
        if part is None or part.pid is None:
            raise StepFailed(f"the stack file names no pid for {name!r}")
        return part.pid


def parse_state(text: str, path: Path = STACK_FILE) -> StackState:
    """The stack state file's content, or :class:`StackNotFound` saying what is wrong."""
    try:
        data = json.loads(text)
        parts = {
            str(p["name"]): PartState(
                name=str(p["name"]),
                address=str(p["address"]).rstrip("/"),
                pid=int(p["pid"]) if p.get("pid") is not None else None,
            )
            for p in data["parts"]
        }
        return StackState(
            path=path,
            pid=int(data["pid"]) if data.get("pid") is not None else None,
            redis_url=str(data["redis_url"]),
            parts=parts,
            erp_data_dir=Path(data["erp_data_dir"]) if data.get("erp_data_dir") else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StackNotFound(f"{path} is not a stack state file ({exc})") from None


def load_state(path: Path) -> StackState:
    """The running stack described at ``path``; :class:`StackNotFound` if there is none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise StackNotFound(
            f"no running stack: {path} does not exist. Start one with `make up` "
            "(or `strata up`) and run `strata demo` once it prints its table."
        ) from None
    state = parse_state(text, path)
    if state.pid is not None and not pid_alive(state.pid):
        raise StackNotFound(
            f"{path} is stale: the `strata up` that wrote it (pid {state.pid}) is gone"
        )
    return state
