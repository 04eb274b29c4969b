"""The whole stack on one machine, each part its own process: ``strata up`` and the e2e tests.

Starts (or reuses) Redis, then the Tryton ERPs ``eu`` and ``us`` from their templates, the
token issuer, the Shopify sandbox with a demo shop whose products match the ERPs, and every
service; waits until each is ready; prints where each listens, with a ready token for each
kind of client; writes the state file ``strata demo`` finds it by (``var/stack.json``); and on
Ctrl-C (or SIGTERM) removes that file and stops everything it started, newest first, leaving
nothing running.

:mod:`~strata.stack.parts` says what the parts are, :mod:`~strata.stack.processes` runs them,
:mod:`~strata.stack.tokens` makes the ready tokens, :mod:`~strata.stack.console` prints the
table and keeps the state file, and :mod:`~strata.stack.command` is ``strata up`` itself.
"""

from strata.stack.command import up
from strata.stack.console import (
    DEMO_ORDER,
    STACK_FILE,
    live_stack,
    print_table,
    print_tokens,
    remove_state,
    write_state,
)
from strata.stack.parts import (
    DEMO_APP_CLIENT_ID,
    DEMO_AUDIENCE,
    DEMO_SHOPS,
    DEMO_ZENDESK_SECRET,
    DEMO_ZENDESK_SUBDOMAIN,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    WEBHOOK_TOPICS,
    Part,
    StackConfig,
    demo_config,
    demo_products,
    erp_credentials,
    pick_port,
    plan,
    port_is_free,
    strata,
)
from strata.stack.processes import (
    pid_alive,
    ready,
    redis_answers,
    redis_for_stack,
    running,
    start_part,
    stop_part,
)
from strata.stack.tokens import (
    DEMO_TOKEN_LIFETIME,
    ReadyToken,
    operator_token,
    ready_tokens,
    shopify_session_token,
    zendesk_token,
)

# The name this check had when the launcher was one module.
_live_stack = live_stack

__all__ = [
    "DEMO_APP_CLIENT_ID",
    "DEMO_AUDIENCE",
    "DEMO_ORDER",
    "DEMO_SHOPS",
    "DEMO_TOKEN_LIFETIME",
    "DEMO_ZENDESK_SECRET",
    "DEMO_ZENDESK_SUBDOMAIN",
    "SANDBOX_SECRET",
    "SANDBOX_TOKEN",
    "STACK_FILE",
    "WEBHOOK_TOPICS",
    "Part",
    "ReadyToken",
    "StackConfig",
    "demo_config",
    "demo_products",
    "erp_credentials",
    "live_stack",
    "operator_token",
    "pick_port",
    "pid_alive",
    "plan",
    "port_is_free",
    "print_table",
    "print_tokens",
    "ready",
    "ready_tokens",
    "redis_answers",
    "redis_for_stack",
    "remove_state",
    "running",
    "shopify_session_token",
    "start_part",
    "stop_part",
    "strata",
    "up",
    "write_state",
    "zendesk_token",
]
