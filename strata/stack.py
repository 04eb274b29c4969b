"""The whole stack on one machine, each part its own process: ``strata up`` and the e2e tests.

Starts (or reuses) Redis, then the Tryton ERPs ``eu`` and ``us`` from their templates, the
token issuer, the Shopify sandbox with a demo shop whose products match the ERPs, and every
service; waits until each is ready; prints where each listens, with a ready token for each
kind of client; writes the state file ``strata demo`` finds it by (``var/stack.json``); and on
Ctrl-C (or SIGTERM) removes that file and stops everything it started, newest first, leaving
nothing running.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
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
# The sandbox's Shopify app (its default client id and secret): the storefront of the demo
# takes session tokens of this app.
DEMO_APP_CLIENT_ID = "strata-sandbox-client-id"
DEMO_SHOPS = ("demo-eu.myshopify.com", "demo-us.myshopify.com")
# The demo's Zendesk account, whose sidebar app may call the service desk for both shops.
DEMO_ZENDESK_SUBDOMAIN = "strata-demo"
DEMO_ZENDESK_SECRET = "strata-demo-zendesk-shared-secret"  # noqa: S105 - demo only
DEMO_AUDIENCE = "strata"
# The printed Shopify and Zendesk tokens live this long (the operator's: the issuer's TTL).
DEMO_TOKEN_LIFETIME = 3600
STACK_FILE = Path("var/stack.json")
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
    ports: dict[str, int] = field(default_factory=dict)
    # Extra environment of one part, by part name (applied last, so it wins).
    part_env: dict[str, dict[str, str]] = field(default_factory=dict)


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
    return [sys.executable, "-m", "strata.cli", *args]


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
    for part in parts:
        part.env.update(config.part_env.get(part.name, {}))
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
        # A part paused with SIGSTOP (``strata demo``'s outage, if it was killed) can only
        # act on SIGTERM once it runs again.
        os.killpg(part.proc.pid, signal.SIGCONT)
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
    """The demo: the local issuer, demo clients with their well-known demo secrets.

    The storefront also takes session tokens of the sandbox's Shopify app and the service desk
    signed requests of the demo Zendesk account, so each kind of client has a ready token. The
    orders process gives up on an ERP call after a few seconds and retries soon after, so an
    ERP outage shows as retries within seconds (``strata demo``); postings stay idempotent.
    """
    auth_port = pick_port(8100)

    def client_credentials(service: str) -> dict[str, str]:
        prefix = f"STRATA_{service.upper().replace('-', '_')}_"
        return {
            f"{prefix}TOKEN_URL": f"http://127.0.0.1:{auth_port}/oauth/token",
            f"{prefix}CLIENT_ID": service,
            f"{prefix}CLIENT_SECRET": f"demo-{service}-secret",
        }

    shopify_app = {
        "client_id": DEMO_APP_CLIENT_ID,
        "client_secret": SANDBOX_SECRET,
        "shops": list(DEMO_SHOPS),
        "scopes": ["storefront:read"],
    }
    zendesk_account = {
        "subdomain": DEMO_ZENDESK_SUBDOMAIN,
        "shared_secret": DEMO_ZENDESK_SECRET,
        "shops": list(DEMO_SHOPS),
        "scopes": ["service-desk:read"],
    }
    return StackConfig(
        redis_url=redis_url,
        data_dir=data_dir,
        log_dir=log_dir,
        auth_env={},
        service_auth_env=client_credentials,
        ports={"auth": auth_port},
        part_env={
            "orders": {
                "STRATA_ORDERS_ERP_TIMEOUT": "5",
                "STRATA_ORDERS_RETRY_BASE_DELAY": "0.5",
                "STRATA_ORDERS_RETRY_MAX_DELAY": "5",
                "STRATA_ORDERS_MAX_ATTEMPTS": "20",
            },
            "storefront": {
                "STRATA_AUTH_AUTHENTICATORS": json.dumps(["oauth2", "shopify"]),
                "STRATA_AUTH_SHOPIFY_APPS": json.dumps([shopify_app]),
            },
            "service-desk": {
                "STRATA_AUTH_AUTHENTICATORS": json.dumps(["oauth2", "zendesk"]),
                "STRATA_AUTH_ZENDESK_ACCOUNTS": json.dumps([zendesk_account]),
            },
        },
    )


def write_state(path: Path, redis_url: str, parts: Mapping[str, Part], log_dir: Path) -> None:
    """Tell ``strata demo`` (and anyone else) where the running stack is: atomically."""
    state = {
        "pid": os.getpid(),
        "started_at": time.time(),
        "redis_url": redis_url,
        "log_dir": str(log_dir.resolve()),
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


def up(
    data_dir: Path = Path("var/erp"),
    log_dir: Path = Path("var/log"),
    stack_file: Path = STACK_FILE,
) -> int:
    running_pid = _live_stack(stack_file)
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
        try:
            with running(
                config, announce=lambda p: print(f"  {p.name:<16} ready", flush=True)
            ) as parts:
                try:
                    print_table(redis_url, parts, stack_file)
                    write_state(stack_file, redis_url, parts, log_dir)
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


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (ours to signal or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_stack(stack_file: Path) -> int | None:
    """The pid of the ``strata up`` that wrote ``stack_file``, if it is still running."""
    try:
        pid = int(json.loads(stack_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if pid != os.getpid() and pid_alive(pid) else None


# -- ready tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadyToken:
    """A token for one kind of client, what it is for and when it expires."""

    client: str
    kind: str
    token: str
    expires_in: int
    try_url: str


def operator_token(issuer: str, timeout: float = 10.0) -> tuple[str, int]:
    """An access token for the demo ``operator`` client (every scope) and its lifetime."""
    from shared.auth.clients import demo_secret

    response = httpx.post(
        issuer.rstrip("/") + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "operator",
            "client_secret": demo_secret("operator"),
        },
        timeout=timeout,
    )
    response.raise_for_status()
    body = response.json()
    return str(body["access_token"]), int(body.get("expires_in", 0))


def _hs256(claims: dict[str, object], secret: str) -> str:
    from joserfc import jwt
    from joserfc.jwk import OctKey

    token: str = jwt.encode(
        {"alg": "HS256", "typ": "JWT"}, claims, OctKey.import_key(secret.encode())
    )
    return token


def shopify_session_token(
    shop: str = DEMO_SHOPS[0], lifetime: int = DEMO_TOKEN_LIFETIME, *, now: float | None = None
) -> str:
    """A session token of the sandbox's Shopify app for ``shop``, as App Bridge gives one.

    Shopify's live a minute; this one lives ``lifetime`` seconds, to be pasted into curl.
    """
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": DEMO_APP_CLIENT_ID,
        "sub": "42",
        "exp": issued + lifetime,
        "nbf": issued,
        "iat": issued,
        "jti": secrets.token_hex(16),
        "sid": secrets.token_hex(16),
    }
    return _hs256(claims, SANDBOX_SECRET)


def zendesk_token(
    agent: str = "agent@strata-demo.example",
    lifetime: int = DEMO_TOKEN_LIFETIME,
    *,
    now: float | None = None,
) -> str:
    """A signed request of the demo Zendesk account, as the ZAF proxy signs one."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "iss": f"{DEMO_ZENDESK_SUBDOMAIN}.zendesk.com",
        "aud": DEMO_AUDIENCE,
        "sub": agent,
        "iat": issued,
        "exp": issued + lifetime,
    }
    return _hs256(claims, DEMO_ZENDESK_SECRET)


def ready_tokens(addresses: Mapping[str, str]) -> list[ReadyToken]:
    """A token for each kind of client of the stack whose parts listen at ``addresses``."""
    tokens: list[ReadyToken] = []
    shop = DEMO_SHOPS[0]
    if "auth" in addresses:
        token, ttl = operator_token(addresses["auth"])
        orders = addresses.get("orders", "")
        tokens.append(
            ReadyToken(
                "operator",
                "OAuth2 access token, every scope",
                token,
                ttl,
                f"{orders}/orders/v1/exceptions",
            )
        )
    if "storefront" in addresses:
        tokens.append(
            ReadyToken(
                "storefront",
                f"Shopify session token of {shop}",
                shopify_session_token(shop),
                DEMO_TOKEN_LIFETIME,
                f"{addresses['storefront']}/storefront/v1/availability?sku=TOTE-NAT",
            )
        )
    if "service-desk" in addresses:
        tokens.append(
            ReadyToken(
                "service desk",
                f"Zendesk signed request of {DEMO_ZENDESK_SUBDOMAIN}.zendesk.com",
                zendesk_token(),
                DEMO_TOKEN_LIFETIME,
                f"{addresses['service-desk']}/service-desk/v1/customers/ada@example.com/orders",
            )
        )
    return tokens


def _lifetime(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def print_tokens(tokens: list[ReadyToken]) -> None:
    print("\nReady tokens (send as Authorization: Bearer <token>):")
    for ready_token in tokens:
        print(
            f"\n  {ready_token.client}: {ready_token.kind}, "
            f"expires in {_lifetime(ready_token.expires_in)}"
        )
        print(f"    {ready_token.token}")
        print(f"    try: curl -H 'Authorization: Bearer <token>' '{ready_token.try_url}'")


def print_table(redis_url: str, parts: Mapping[str, Part], stack_file: Path | None = None) -> None:
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
