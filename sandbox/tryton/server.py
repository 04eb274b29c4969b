"""Run a scripted Tryton instance: credentials, configuration, and the ``trytond`` process.

A run copies the instance's template database (see :mod:`.template`) into a run folder,
writes a ``trytond.conf`` for it, starts ``trytond`` on a loopback port and waits until the
admin can log in. :class:`TrytonServer` is the handle: ``url``, ``database``, ``user``,
``password``, ``stop()``, ``kill()``, ``restart()``, and ``with`` support.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx
import msgspec

from system_apis.erp.adapters.tryton_settings import TrytonSettings

ADMIN_USER = "admin"
SERVER_START_TIMEOUT = 60.0
# Long idle sessions: a demo ERP should not log the gateway out over a coffee break.
SESSION_TIMEOUT_S = 3600


class TrytonCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """The admin login an instance's template is built with (and the adapter uses)."""

    user: str = ADMIN_USER
    password: str


def instance_dir(instance: str, data_dir: Path) -> Path:
    """The folder holding one instance's credentials, template and runs."""
    return Path(data_dir) / instance


def database_name(instance: str) -> str:
    """The Tryton database name of an instance (templates and runs alike)."""
    return f"strata_{instance}"


def admin_credentials(instance: str, data_dir: Path) -> TrytonCredentials:
    """The instance's admin credentials; generated and stored (mode 600) on first use."""
    path = instance_dir(instance, data_dir) / "admin.json"
    if path.exists():
        return msgspec.json.decode(path.read_bytes(), type=TrytonCredentials)
    path.parent.mkdir(parents=True, exist_ok=True)
    credentials = TrytonCredentials(password=secrets.token_urlsafe(18))
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(msgspec.json.encode(credentials))
    tmp.replace(path)
    return credentials


def free_port() -> int:
    """A TCP port on the loopback interface nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    run_dir: Path, port: int, *, backend: str = "sqlite", pg_dsn: str | None = None
) -> Path:
    """Write ``trytond.conf`` for a database under ``run_dir`` served on ``port``."""
    if backend == "sqlite":
        database = f"uri = sqlite://\npath = {run_dir}\n"
    elif backend == "postgresql":
        database = f"uri = {pg_dsn or 'postgresql://postgres@127.0.0.1:5432/'}\n"
    else:
        raise ValueError(f"unknown Tryton backend {backend!r} (sqlite or postgresql)")
    config = (
        "[database]\n"
        f"{database}"
        "list = False\n"
        "\n[web]\n"
        f"listen = 127.0.0.1:{port}\n"
        "\n[session]\n"
        f"timeout = {SESSION_TIMEOUT_S}\n"
        # Tests and benchmarks log in from one address many times.
        "max_attempt_ip_network = 100000\n"
    )
    path = run_dir / "trytond.conf"
    path.write_text(config)
    return path


class TrytonServer:
    """A running ``trytond`` serving one database on ``127.0.0.1:port``."""

    def __init__(
        self,
        *,
        database: str,
        port: int,
        config_path: Path,
        credentials: TrytonCredentials,
        log_path: Path,
        backend: str = "sqlite",
        pg_dsn: str | None = None,
    ) -> None:
        self.database = database
        self.backend = backend
        self.pg_dsn = pg_dsn
        self.port = port
        self.config_path = config_path
        self.user = credentials.user
        self.password = credentials.password
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:8000/``."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def rpc_url(self) -> str:
        """The JSON-RPC endpoint of the served database."""
        return f"{self.url}{self.database}/rpc/"

    def settings(self, **overrides: object) -> TrytonSettings:
        """Adapter settings pointing at this server (keyword arguments override)."""
        values: dict[str, object] = {
            "url": self.url,
            "database": self.database,
            "user": self.user,
            "password": self.password,
            **overrides,
        }
        return msgspec.convert(values, TrytonSettings)

    def start(self, timeout: float = SERVER_START_TIMEOUT) -> TrytonServer:
        """Start ``trytond`` and wait until the admin can log in."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [
                    sys.executable,
                    "-m",
                    "trytond.cli",
                    "-c",
                    str(self.config_path),
                    "-d",
                    self.database,
                    "--logconf",
                    str(_write_logconf(self.config_path.parent)),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        body = {
            "id": 0,
            "method": "common.db.login",
            "params": [self.user, {"password": self.password}],
        }
        with httpx.Client(timeout=5.0) as client:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"trytond exited with {self.proc.returncode}; see {self.log_path}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    answer = client.post(self.rpc_url, json=body)
                    if answer.status_code == 200 and "result" in answer.json():
                        _logout(client, self.rpc_url, self.user, answer.json()["result"])
                        return
                    # trytond listens only once its pool is loaded: a refusal now is final.
                    self.kill()
                    tail = self.log_path.read_text(errors="replace")[-1500:]
                    raise RuntimeError(
                        f"trytond answered {answer.status_code} to the admin login "
                        f"on {self.database}:\n{tail}"
                    )
                if time.monotonic() > deadline:
                    self.kill()
                    raise TimeoutError(f"trytond did not serve {self.database} in {timeout}s")
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Kill the server at once, as a crash would."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self) -> TrytonServer:
        """Stop and start again on the same port and database (data kept)."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> TrytonServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _logout(client: httpx.Client, rpc_url: str, user: str, login: list[object]) -> None:
    token = base64.b64encode(f"{user}:{login[0]}:{login[1]}".encode()).decode()
    with contextlib.suppress(httpx.HTTPError):
        client.post(
            rpc_url,
            json={"id": 1, "method": "common.db.logout", "params": []},
            headers={"Authorization": f"Session {token}"},
        )


def _write_logconf(run_dir: Path) -> Path:
    # trytond logs every request at INFO by default; warnings are enough for a demo.
    path = run_dir / "logging.conf"
    path.write_text(
        "[formatters]\nkeys=simple\n\n[handlers]\nkeys=console\n\n[loggers]\nkeys=root,werkzeug\n\n"
        "[formatter_simple]\nformat=%(asctime)s %(levelname)s %(name)s %(message)s\n\n"
        "[handler_console]\nclass=StreamHandler\nformatter=simple\nargs=(sys.stderr,)\n\n"
        "[logger_root]\nlevel=WARNING\nhandlers=console\n\n"
        "[logger_werkzeug]\nlevel=WARNING\nhandlers=\nqualname=werkzeug\n"
    )
    return path
