"""``strata demo``: play a scenario against the stack ``strata up`` runs, and prove each step.

It finds the stack through the state file ``strata up`` writes once every part is ready
(``var/stack.json``: each part's name, address and pid, and the Redis URL), then plays:

1. orders in both regions: one order in each demo shop, posted to the ``eu`` and ``us`` ERP;
2. a duplicate: the sandbox delivers the EU order's webhook again; the ingress counts it as a
   duplicate and the ERP still holds one sales order;
3. a forged webhook: a delivery signed with the wrong secret gets a 401 problem document and
   never reaches the pipeline;
4. an ERP outage and recovery: the ``erp-eu`` system API is paused (SIGSTOP), an EU order
   waits and is retried, then the API resumes (SIGCONT, always, Ctrl-C included) and the
   order is posted exactly once;
5. ready tokens: the storefront takes a Shopify session token and the service desk a Zendesk
   signed request, the tokens ``strata up`` prints.

Each step is one live progress line (spinner, elapsed seconds, what it waits for), ending in
``ok`` or ``FAILED`` with the figure that proves it; a summary table follows. The exit status
is 0 only when every step passed (1 otherwise, 2 without a running stack, 130 on Ctrl-C).

:mod:`~strata.demo.state` reads the state file, :mod:`~strata.demo.scenario` drives the
stack, :mod:`~strata.demo.steps` are the steps, :mod:`~strata.demo.evidence` reads the figures
that prove them, :mod:`~strata.demo.console` shows them, and :mod:`~strata.demo.command` is
``strata demo`` itself.
"""

from strata.demo.command import run
from strata.demo.console import (
    StepLine,
    StepResult,
    cause,
    final_line,
    plural,
    progress_line,
    shorten,
    summary_table,
)
from strata.demo.evidence import metric_value, posted_count, retries_of, stream_id_at
from strata.demo.failures import StackNotFound, StepFailed
from strata.demo.scenario import ORDERS_STREAM, Demo, Options, Order
from strata.demo.state import PartState, StackState, load_state, parse_state
from strata.demo.steps import (
    FORGED_SECRET,
    STEPS,
    forged_delivery,
    paused,
    play,
    resume_erp,
)

__all__ = [
    "FORGED_SECRET",
    "ORDERS_STREAM",
    "STEPS",
    "Demo",
    "Options",
    "Order",
    "PartState",
    "StackNotFound",
    "StackState",
    "StepFailed",
    "StepLine",
    "StepResult",
    "cause",
    "final_line",
    "forged_delivery",
    "load_state",
    "metric_value",
    "parse_state",
    "paused",
    "play",
    "plural",
    "posted_count",
    "progress_line",
    "resume_erp",
    "retries_of",
    "run",
    "shorten",
    "stream_id_at",
    "summary_table",
]
