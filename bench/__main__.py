"""Run the benchmark suite and write ``bench/results/latest.json``.

Each benchmark module has ``run() -> dict[str, float]``; a figure that can't be measured is
left out and the reason recorded under ``notes``. A module's ``TARGETS`` (figure: target) are
printed beside its figures, with whether each is met (ratios where higher is better, except
round trips and a spike's latency over idle's).
"""

from __future__ import annotations

import importlib
import sys
import time

from bench.harness import write_results

BENCHMARKS = [
    "erp",
    "gateway",
    "ingress",
    "shopify_bucket",
    "orders",
    "service_desk",
    "storefront",
    "scale",
    "catalog",
    "fulfillment",
]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    metrics: dict[str, float] = {}
    notes: dict[str, str] = {}
    failed = False
    for name in names:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            targets: dict[str, float] = getattr(module, "TARGETS", {})
            figures = module.run()
        except Exception as exc:
            notes[name] = f"failed: {type(exc).__name__}: {exc}"
            print(f"   failed: {exc}", flush=True)
            failed = True
            continue
        for key, value in figures.items():
            metrics[key] = round(value, 4)
            target = targets.get(key)
            verdict = ""
            if target is not None:
                verdict = f"  (target {target}: {_verdict(key, value, target)})"
            print(f"   {key} = {value:.4f}{verdict}", flush=True)
        print(f"   ({time.monotonic() - started:.0f}s)", flush=True)
    if argv:
        # A subset run keeps the other figures of the last full run.
        import json

        from bench.harness import RESULTS

        if RESULTS.exists():
            previous = json.loads(RESULTS.read_text())
            metrics = {**previous.get("metrics", {}), **metrics}
            notes = {**previous.get("notes", {}), **notes}
    path = write_results(metrics, notes)
    print(f"wrote {path}")
    return 1 if failed else 0


def _verdict(key: str, value: float, target: float) -> str:
    # Round trips and latency ratios (a spike's p99 over idle's): lower is better.
    if key.endswith(("roundtrips_per_request", "roundtrips_per_webhook", "_spike_ratio")):
        return "met" if value <= target else "missed"
    return "met" if value >= target else "missed"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
