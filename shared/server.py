"""``strata serve``: uvicorn with a graceful shutdown that load balancers can follow.

On the first SIGTERM (or Ctrl-C) the service turns not-ready at once (``/health/ready``
answers 503 ``shutdown: draining``, ``/health/live`` stays 200) and keeps serving for
``STRATA_SHUTDOWN_DRAIN_SECONDS``, long enough for a load balancer's next readiness probe to
take it out of rotation. Then uvicorn stops accepting, lets in-flight requests finish, and
runs the app's shutdown: stream workers stop reading, finish or hand back their in-flight
entries (:meth:`shared.events.StreamWorker.run`), and the pools close. A second signal
during the drain ends it at once.

On Kubernetes the pod leaves its Service endpoints when it starts terminating, and the
chart's preStop sleep covers the propagation delay, so the drain defaults to 0 there and
here; set it where something else polls readiness (a VM behind HAProxy, Consul, ...).
"""

from __future__ import annotations

import logging
import logging.config
import os
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Annotated, Any

import msgspec
import uvicorn
from litestar import Litestar

from shared.settings import load_settings

log = logging.getLogger("strata.server")


class ShutdownSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    #: Seconds between turning not-ready and closing the listener (0: close at once).
    drain_seconds: Annotated[float, msgspec.Meta(ge=0, le=300)] = 0.0


def load_shutdown_settings(environ: Mapping[str, str] | None = None) -> ShutdownSettings:
    return load_settings(ShutdownSettings, environ, prefix="STRATA_SHUTDOWN_")


def mark_draining(app: Litestar) -> None:
    """Make the app's readiness probe answer 503 from now on."""
    app.state.draining = True


class DrainingServer(uvicorn.Server):
    """A uvicorn server that turns the app not-ready before it stops accepting."""

    def __init__(self, config: uvicorn.Config, app: Litestar, drain_seconds: float) -> None:
        super().__init__(config)
        self.app = app
        self.drain_seconds = drain_seconds
        self.drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        mark_draining(self.app)
        if self.drain_until is None and self.drain_seconds > 0 and not self.should_exit:
            # Only a flag and a deadline here: this runs in a signal handler.
            self.drain_until = time.monotonic() + self.drain_seconds
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


def serve(
    factory: Callable[[], Litestar],
    *,
    host: str,
    port: int,
    log_config: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Build the app and serve it in this process until a signal ends it gracefully."""
    settings = load_shutdown_settings(os.environ if environ is None else environ)
    if log_config is not None:
        logging.config.dictConfig(log_config)  # before the app logs anything
    app = factory()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        log_config=log_config,
        # uvicorn's own wait for in-flight requests once the listener is closed.
        timeout_graceful_shutdown=30,
    )
    server = DrainingServer(config, app, settings.drain_seconds)
    server.run()
    return 0
