"""The whole stack on one machine, each part its own process: ``strata up`` and the e2e tests.

Starts (or reuses) Redis, then the Tryton ERPs ``eu`` and ``us`` from their templates, the
token issuer, the Shopify sandbox with a demo shop whose products match the ERPs, and every
service; waits until each is ready; prints where each listens; and on Ctrl-C (or SIGTERM)
stops everything it started, newest first, leaving nothing running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SANDBOX_SECRET = "strata-sandbox-client-secret-change-me"  # noqa: S105 - the sandbox's own
SANDBOX_TOKEN = "shpat_sandbox_token"  # noqa: S105 - the sandbox's own
DEMO_SHOPS = ("demo-eu.myshopify.com", "demo-us.myshopify.com")
# The topics the webhook ingress takes and the sandbox subscribes for the demo.
DEMO_ORDER = '{"email": "ada@example.com", "line_items": [{"sku": "TOTE-NAT", "quantity": 1}]}'
WEBHOOK_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "fulfillments/create",
    "refunds/create",
)


@dataclass
class Part:
    name: str
    argv: list[str]
    port: int
    ready_path: str | None = "/health/ready"
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class StackConfig:
    """What differs between the demo (``strata up``) and a test run."""

    redis_url: str
    data_dir: Path
    log_dir: Path
    # STRATA_AUTH_* for every service (which issuer, which keys).
    auth_env: dict[str, str]
    # How the process layer authenticates downwards: client credentials or a fixed token.
    service_auth_env: Callable[[str], dict[str, str]]
    run_issuer: bool = True
    sandbox_env: dict[str, str] = field(default_factory=dict)
    orders_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port(preferred: int | None) -> int:
    if preferred and port_is_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def redis_for_stack(log_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes] | None]]:
    """The Redis at 127.0.0.1:6379 when it answers, else a redis-server on a free port."""
    url = os.environ.get("STRATA_REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_answers(url):
        yield url, None
        return
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit(
            f"No Redis answers at {url} and redis-server is not installed. Install it "
            "(Debian: apt-get install redis-server) or set STRATA_REDIS_URL."
        )
    port = pick_port(6390)
    workdir = tempfile.mkdtemp(prefix="strata-redis-")
    log_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603 - fixed argv of a located executable
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=(log_dir / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("redis-server did not start; see var/log/redis.log")
        time.sleep(0.1)
    try:
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def strata(*args: str) -> list[str]:
    return [sys.executable, "-m", "shared.cli", *args]


def erp_credentials(instance: str, data_dir: Path) -> dict[str, str]:
    """The demo ERP's database and admin credentials (``strata erp credentials``)."""
    out = subprocess.run(  # noqa: S603 - our own CLI
        strata("erp", "credentials", "--instance", instance, "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    values: dict[str, str] = json.loads(out)
    return values


def plan(config: StackConfig) -> list[Part]:
    """Every process of the stack, in start order."""
    ports = config.ports
    parts: list[Part] = []
    common = {**config.auth_env}
    if config.run_issuer:
        port = pick_port(ports.get("auth", 8100))
        parts.append(
            Part(
                "auth",
                strata("serve", "auth", "--port", str(port)),
                port,
                ready_path="/health/ready",
                env={"STRATA_AUTH_ISSUER_ISSUER": f"http://127.0.0.1:{port}"},
            )
        )
        common.setdefault("STRATA_AUTH_ISSUER", f"http://127.0.0.1:{port}")
    erp_urls: dict[str, str] = {}
    for instance in ("eu", "us"):
        tryton_port = pick_port(ports.get(f"tryton-{instance}", 8201 if instance == "eu" else 8202))
        parts.append(
            Part(
                f"tryton-{instance}",
                strata(
                    "erp",
                    "start",
                    "--instance",
                    instance,
                    "--data-dir",
                    str(config.data_dir),
                    "--port",
                    str(tryton_port),
                ),
                tryton_port,
                ready_path=None,
            )
        )
        creds = erp_credentials(instance, config.data_dir)
        port = pick_port(ports.get(f"erp-{instance}", 8101 if instance == "eu" else 8102))
        erp_urls[instance] = f"http://127.0.0.1:{port}"
        parts.append(
            Part(
                f"erp-{instance}",
                strata("serve", "erp", "--instance", instance, "--port", str(port)),
                port,
                env={
                    **common,
                    "STRATA_ERP_INSTANCE": instance,
                    "STRATA_ERP_REDIS_URL": config.redis_url,
                    "STRATA_ERP_TRYTON_URL": f"http://127.0.0.1:{tryton_port}/",
                    "STRATA_ERP_TRYTON_DATABASE": creds["database"],
                    "STRATA_ERP_TRYTON_USER": creds["user"],
                    "STRATA_ERP_TRYTON_PASSWORD": creds["password"],
                },
            )
        )
    shopify_port = pick_port(ports.get("shopify", 8110))
    sandbox_port = pick_port(ports.get("shopify-sandbox", 8190))
    parts.append(
        Part(
            "shopify-sandbox",
            strata("serve", "shopify-sandbox", "--port", str(sandbox_port)),
            sandbox_port,
            ready_path="/_sandbox/health",
            env={
                "STRATA_SANDBOX_WEBHOOK_ADDRESS": f"http://127.0.0.1:{shopify_port}/shopify/v1/webhooks",
                "STRATA_SANDBOX_WEBHOOK_TOPICS": json.dumps(list(WEBHOOK_TOPICS)),
                "STRATA_SANDBOX_DEMO_PRODUCTS": json.dumps(demo_products()),
                **config.sandbox_env,
            },
        )
    )
    parts.append(
        Part(
            "shopify",
            strata("serve", "shopify", "--port", str(shopify_port)),
            shopify_port,
            env={
                **common,
                "STRATA_SHOPIFY_REDIS_URL": config.redis_url,
                "STRATA_SHOPIFY_SHOPS": json.dumps(
                    {
                        s: {"secret": SANDBOX_SECRET, "access_token": SANDBOX_TOKEN}
                        for s in DEMO_SHOPS
                    }
                ),
                "STRATA_SHOPIFY_ADMIN_URL": f"http://127.0.0.1:{sandbox_port}"
                "/shops/{shop}/admin/api/{version}/graphql.json",
            },
        )
    )
    orders_port = pick_port(ports.get("orders", 8120))
    parts.append(
        Part(
            "orders",
            strata("serve", "orders", "--port", str(orders_port)),
            orders_port,
            env={
                **common,
                **config.service_auth_env("orders"),
                "STRATA_ORDERS_REDIS_URL": config.redis_url,
                "STRATA_ORDERS_ERP_INSTANCES": json.dumps(erp_urls),
                "STRATA_ORDERS_SHOPIFY_API_URL": f"http://127.0.0.1:{shopify_port}",
                **config.orders_env,
            },
        )
    )
    inventory_port = pick_port(ports.get("inventory", 8130))
    parts.append(
        Part(
            "inventory",
            strata("serve", "inventory", "--port", str(inventory_port)),
            inventory_port,
            env={
                **common,
                **config.service_auth_env("inventory"),
                "STRATA_INVENTORY_REDIS_URL": config.redis_url,
                "STRATA_INVENTORY_ERP_INSTANCES": json.dumps(erp_urls),
            },
        )
    )
    for name, port_default, upstreams in (
        (
            "storefront",
            8150,
            {
                "STRATA_STOREFRONT_INVENTORY_URL": f"http://127.0.0.1:{inventory_port}",
                "STRATA_STOREFRONT_ORDERS_URL": f"http://127.0.0.1:{orders_port}",
            },
        ),
        (
            "service-desk",
            8140,
            {"STRATA_SERVICE_DESK_ORDERS_API_URL": f"http://127.0.0.1:{orders_port}"},
        ),
    ):
        port = pick_port(ports.get(name, port_default))
        prefix = f"STRATA_{name.upper().replace('-', '_')}_"
        parts.append(
            Part(
                name,
                strata("serve", name, "--port", str(port)),
                port,
                env={
                    **common,
                    **config.service_auth_env(name),
                    f"{prefix}REDIS_URL": config.redis_url,
                    **upstreams,
                },
            )
        )
    return parts


def demo_products() -> list[tuple[str, str, str]]:
    """The ERPs' demo catalogue as the sandbox shop's products (same SKUs)."""
    out = subprocess.run(  # noqa: S603 - our own CLI
        strata("erp", "catalogue"), capture_output=True, text=True, check=True
    ).stdout
    rows: list[tuple[str, str, str]] = [tuple(r) for r in json.loads(out)]
    return rows


def ready(part: Part) -> bool:
    if part.ready_path is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", part.port), 0.3):
            return True
        return False
    try:
        return httpx.get(part.address + part.ready_path, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_part(part: Part, log_dir: Path, timeout: float = 90) -> None:
    part.proc = subprocess.Popen(  # noqa: S603 - our own CLI
        part.argv,
        env={**os.environ, **part.env},
        stdout=(log_dir / f"{part.name}.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if part.proc.poll() is not None:
            raise RuntimeError(f"{part.name} exited with {part.proc.returncode}; see {log_dir}")
        if ready(part):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{part.name} was not ready within {timeout:.0f}s; see {log_dir}")


def stop_part(part: Part, timeout: float = 15) -> None:
    if part.proc is None or part.proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(part.proc.pid, signal.SIGTERM)
    try:
        part.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(part.proc.pid, signal.SIGKILL)
        part.proc.wait()


@contextlib.contextmanager
def running(
    config: StackConfig, *, announce: Callable[[Part], None] | None = None
) -> Iterator[dict[str, Part]]:
    """Start every part in order and stop them all on exit, newest first."""
    config.log_dir.mkdir(parents=True, exist_ok=True)
    parts = plan(config)
    started: list[Part] = []
    try:
        for part in parts:
            start_part(part, config.log_dir)
            started.append(part)
            if announce is not None:
                announce(part)
        yield {p.name: p for p in parts}
    finally:
        for part in reversed(started):
            stop_part(part)
            if announce is not None:
                print(f"  {part.name:<16} stopped", flush=True)


def demo_config(redis_url: str, data_dir: Path, log_dir: Path) -> StackConfig:
    """The demo: the local issuer, demo clients with their well-known demo secrets."""
    auth_port = pick_port(8100)

    def client_credentials(service: str) -> dict[str, str]:
        prefix = f"STRATA_{service.upper().replace('-', '_')}_"
        return {
            f"{prefix}TOKEN_URL": f"http://127.0.0.1:{auth_port}/oauth/token",
            f"{prefix}CLIENT_ID": service,
            f"{prefix}CLIENT_SECRET": f"demo-{service}-secret",
        }

    return StackConfig(
        redis_url=redis_url,
        data_dir=data_dir,
        log_dir=log_dir,
        auth_env={},
        service_auth_env=client_credentials,
        ports={"auth": auth_port},
    )


def up(data_dir: Path = Path("var/erp"), log_dir: Path = Path("var/log")) -> int:
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
        try:
            with running(
                config, announce=lambda p: print(f"  {p.name:<16} ready", flush=True)
            ) as parts:
                print_table(redis_url, parts)
                while True:
                    for part in parts.values():
                        if part.proc is not None and part.proc.poll() is not None:
                            print(
                                f"{part.name} stopped unexpectedly; see {log_dir}/{part.name}.log"
                            )
                            return 1
                    time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    print("Everything stopped.")
    return 0


def _announce(part: Part) -> None:
    print(f"  {part.name:<16} ready", flush=True)


def print_table(redis_url: str, parts: Mapping[str, Part]) -> None:
    print("\nStrata is up. Ctrl-C stops everything.\n")
    print(f"  {'part':<18} address")
    print(f"  {'redis':<18} {redis_url}")
    for part in parts.values():
        print(f"  {part.name:<18} {part.address}")
    auth = parts.get("auth")
    if auth is not None:
        print("\nA token for the operator (every scope):")
        print(f"  strata token --client operator --issuer {auth.address}")
    sandbox = parts.get("shopify-sandbox")
    if sandbox is not None:
        print("\nSend a demo order (the sandbox signs and delivers the webhook):")
        print(
            f"  curl -s -X POST {sandbox.address}/_sandbox/shops/demo-eu.myshopify.com/orders "
            "-H 'content-type: application/json' "
            f"-d '{DEMO_ORDER}'"
        )
    print(flush=True)
