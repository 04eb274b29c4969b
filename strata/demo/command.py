"""``strata demo``: find the running stack, play every step, print the summary."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import TextIO

import httpx
import redis

from strata.demo.console import StepResult, summary_table
from strata.demo.failures import StackNotFound, StepFailed
from strata.demo.scenario import Demo, Options
from strata.demo.state import load_state
from strata.demo.steps import STEPS, play, resume_erp
from strata.stack.console import print_tokens
from strata.stack.tokens import operator_token, ready_tokens


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``strata demo``: 0 when every step passed, 1 otherwise, 2 with no stack, 130 on Ctrl-C."""
    stream = out or sys.stdout
    try:
        state = load_state(args.stack)
    except StackNotFound as exc:
        print(f"strata demo: {exc}", file=sys.stderr)
        return 2
    addresses = {name: part.address for name, part in state.parts.items()}
    if args.tokens:
        print_tokens(ready_tokens(addresses))
        return 0
    options = Options(timeout=args.timeout, outage=args.outage)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    client = redis.Redis.from_url(state.redis_url, socket_timeout=5, socket_connect_timeout=2)
    live = stream.isatty()
    results: list[StepResult] = []
    try:
        with httpx.Client(timeout=15.0, trust_env=False) as http:
            token, _ = operator_token(state.address("auth"))
            demo = Demo(state=state, options=options, http=http, token=token, redis=client)
            resume_erp(state)
            stream.write(f"Playing the demo against the stack of {state.path}\n\n")
            stream.flush()
            play(demo, stream, results, live=live)
    except KeyboardInterrupt:
        stream.write("\n\nInterrupted (whatever the demo paused runs again).\n")
        if results:
            stream.write(summary_table(results, len(STEPS)) + "\n")
        return 130
    except (httpx.HTTPError, StepFailed) as exc:
        print(f"strata demo: cannot drive the stack: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        client.close()
    stream.write("\nSummary\n\n" + summary_table(results, len(STEPS)) + "\n")
    stream.flush()
    return 0 if results and all(r.passed for r in results) else 1
