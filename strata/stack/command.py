"""``strata up``: the whole stack for a person, until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from strata.stack.console import STACK_FILE, live_stack, print_table, remove_state, write_state
from strata.stack.parts import demo_config, strata
from strata.stack.processes import redis_durable, redis_for_stack, running


def up(
    data_dir: Path = Path("var/erp"),
    log_dir: Path = Path("var/log"),
    stack_file: Path = STACK_FILE,
) -> int:
    """Run the demo stack until Ctrl-C; 0 once everything stopped, 1 if it could not run."""
    running_pid = live_stack(stack_file)
    if running_pid is not None:
        # A second stack would share the first's Redis streams and consumer groups, and
        # each one's workers would take the other's orders.
        print(
            f"Strata is already up (strata up pid {running_pid}, {stack_file}). Stop it "
            "first (Ctrl-C where it runs), or give this one its own --stack file and "
            "STRATA_REDIS_URL.",
            file=sys.stderr,
        )
        return 1
    log_dir.mkdir(parents=True, exist_ok=True)
    print("Building the demo ERP templates (first run only: about a minute)...", flush=True)
    subprocess.run(strata("erp", "init", "--data-dir", str(data_dir)), check=True)  # noqa: S603

    def on_signal(signum: int, frame: object) -> None:
        print("\nStopping...", flush=True)
        raise KeyboardInterrupt

    # Both, explicitly: a shell that starts us in the background ignores SIGINT by default.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with redis_for_stack(log_dir) as (redis_url, _):
        config = demo_config(redis_url, data_dir, log_dir)
        if not redis_durable(redis_url):
            # Only a Redis named by STRATA_REDIS_URL gets here: the operator's choice, stated.
            print(
                f"Warning: the Redis at {redis_url} keeps nothing across a restart; the webhook "
                "ingress is told to accept that (STRATA_SHOPIFY_REDIS_ACCEPT_VOLATILE=true). "
                "See docs/durability.md.",
                file=sys.stderr,
                flush=True,
            )
            config.part_env.setdefault("shopify", {})["STRATA_SHOPIFY_REDIS_ACCEPT_VOLATILE"] = (
                "true"
            )
        try:
            with running(
                config, announce=lambda p: print(f"  {p.name:<16} ready", flush=True)
            ) as parts:
                try:
                    print_table(redis_url, parts, stack_file)
                    write_state(stack_file, redis_url, parts, log_dir, data_dir)
                    while True:
                        for part in parts.values():
                            if part.proc is not None and part.proc.poll() is not None:
                                print(
                                    f"{part.name} stopped unexpectedly; "
                                    f"see {log_dir}/{part.name}.log"
                                )
                                return 1
                        time.sleep(0.5)
                finally:
                    # Gone before anything stops: no one finds a stack that is going away.
                    remove_state(stack_file)
        except KeyboardInterrupt:
            pass
    print("Everything stopped.")
    return 0
