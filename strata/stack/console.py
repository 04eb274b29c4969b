"""What ``strata up`` tells: the printed table of parts and tokens, and the state file.

The state file (``var/stack.json``) is how ``strata demo``, and anyone else, finds the running
stack: the pid of its ``strata up``, its Redis, and each part's name, address and pid. It is
written atomically once every part is ready and removed before anything stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from strata.stack.parts import Part
from strata.stack.processes import pid_alive
from strata.stack.tokens import ReadyToken, ready_tokens

STACK_FILE = Path("var/stack.json")
DEMO_ORDER = '{"email": "ada@example.com", "line_items": [{"sku": "TOTE-NAT", "quantity": 1}]}'


def write_state(
    path: Path,
    redis_url: str,
    parts: Mapping[str, Part],
    log_dir: Path,
    data_dir: Path | None = None,
) -> None:
    """Tell ``strata demo`` (and anyone else) where the running stack is: atomically.
    ``data_dir`` is where the demo ERPs keep their databases and admin credentials."""
    state = {
        "pid": os.getpid(),
        "started_at": time.time(),
        "redis_url": redis_url,
        "log_dir": str(log_dir.resolve()),
        "erp_data_dir": str(data_dir.resolve()) if data_dir is not None else None,
        "parts": [
            {
                "name": part.name,
                "address": part.address,
                "port": part.port,
                "pid": part.proc.pid if part.proc is not None else None,
            }
            for part in parts.values()
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    partial.replace(path)


def remove_state(path: Path) -> None:
    """Forget the state file, unless another stack has written its own there since."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def live_stack(stack_file: Path) -> int | None:
    """The pid of the ``strata up`` that wrote ``stack_file``, if it is still running."""
    try:
        pid = int(json.loads(stack_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if pid != os.getpid() and pid_alive(pid) else None


def _lifetime(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def print_tokens(tokens: list[ReadyToken]) -> None:
    """Each ready token, what it is, when it expires and a curl to try it with."""
    print("\nReady tokens (send as Authorization: Bearer <token>):")
    for ready_token in tokens:
        print(
            f"\n  {ready_token.client}: {ready_token.kind}, "
            f"expires in {_lifetime(ready_token.expires_in)}"
        )
        print(f"    {ready_token.token}")
        print(f"    try: curl -H 'Authorization: Bearer <token>' '{ready_token.try_url}'")


def print_table(redis_url: str, parts: Mapping[str, Part], stack_file: Path | None = None) -> None:
    """Where each part listens, the ready tokens, and what to try next."""
    print("\nStrata is up. Ctrl-C stops everything.\n")
    print(f"  {'part':<18} address")
    print(f"  {'redis':<18} {redis_url}")
    for part in parts.values():
        print(f"  {part.name:<18} {part.address}")
    try:
        tokens = ready_tokens({name: part.address for name, part in parts.items()})
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        print(f"\n(no ready tokens: {exc})")
    else:
        print_tokens(tokens)
    auth = parts.get("auth")
    if auth is not None:
        print("\nFresh tokens: strata demo --tokens; the operator's alone:")
        print(f"  strata token --client operator --issuer {auth.address}")
    sandbox = parts.get("shopify-sandbox")
    if sandbox is not None:
        print("\nSend a demo order (the sandbox signs and delivers the webhook):")
        print(
            f"  curl -s -X POST {sandbox.address}/_sandbox/shops/demo-eu.myshopify.com/orders "
            "-H 'content-type: application/json' "
            f"-d '{DEMO_ORDER}'"
        )
    demo = "strata demo"
    if stack_file is not None and stack_file != STACK_FILE:
        demo += f" --stack {stack_file}"
    print("\nPlay the demo scenario against it (orders in both regions, a duplicate, a forged")
    print("webhook, an ERP outage and recovery):")
    print(f"  {demo}")
    print(flush=True)
