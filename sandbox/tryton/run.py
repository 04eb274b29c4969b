"""Serve an instance's template: start a run (a fresh copy), remove it, or run until stopped.

Kept apart from :mod:`.server` (the process handle) and :mod:`.template` (building and
copying databases), so that neither of those imports the other.
"""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path
from types import FrameType

from sandbox.tryton.server import (
    TrytonServer,
    admin_credentials,
    free_port,
    instance_dir,
    write_config,
)
from sandbox.tryton.template import clone_template, drop_run_database


def start_server(
    instance: str,
    data_dir: Path,
    port: int | None = None,
    *,
    fresh: bool = True,
    backend: str = "sqlite",
    pg_dsn: str | None = None,
) -> TrytonServer:
    """Start ``trytond`` for ``instance`` on ``port`` (a free one when None).

    The run database is a copy of the instance's template (build it first with
    :func:`build_template`); ``fresh=False`` keeps the run database of an earlier start on
    the same port if there is one. Returns once the admin can log in.
    """
    data_dir = Path(data_dir).resolve()
    port = port or free_port()
    credentials = admin_credentials(instance, data_dir)
    run_dir = instance_dir(instance, data_dir) / "runs" / str(port)
    run_dir.mkdir(parents=True, exist_ok=True)
    database = clone_template(
        instance, data_dir, run_dir, port, fresh=fresh, backend=backend, pg_dsn=pg_dsn
    )
    config = write_config(run_dir, port, backend=backend, pg_dsn=pg_dsn)
    server = TrytonServer(
        database=database,
        port=port,
        config_path=config,
        credentials=credentials,
        log_path=run_dir / "trytond.log",
        backend=backend,
        pg_dsn=pg_dsn,
    )
    return server.start()


def remove_run(server: TrytonServer) -> None:
    """Stop the server and delete its run: folder (config, log, SQLite file) and database."""
    server.stop()
    shutil.rmtree(server.config_path.parent, ignore_errors=True)
    if server.backend == "postgresql":
        drop_run_database(server.database, server.pg_dsn)


def run_forever(
    instance: str,
    data_dir: Path,
    port: int,
    *,
    fresh: bool = True,
    backend: str = "sqlite",
    pg_dsn: str | None = None,
) -> None:
    """Start a server and block until SIGINT or SIGTERM, then stop it cleanly."""
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = start_server(instance, data_dir, port, fresh=fresh, backend=backend, pg_dsn=pg_dsn)
    try:
        print(
            f"Tryton {instance} serving {server.database} at {server.url} (user {server.user})",
            flush=True,
        )
        while not stopping.wait(0.5):
            if not server.running:
                raise RuntimeError(f"trytond stopped unexpectedly; see {server.log_path}")
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
