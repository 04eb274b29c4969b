"""What the stack is: its parts, their ports and environment, and the demo's configuration.

:func:`plan` lists every process of the stack in start order (the token issuer, the two demo
ERPs and their system APIs, the Shopify sandbox and ingress, the process and experience
services), each with the port it listens on and the environment that wires it to the others.
:class:`StackConfig` holds what differs between ``strata up`` (:func:`demo_config`) and a test
run.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.tryton import DEMO_PRODUCTS, admin_credentials
from sandbox.tryton.server import database_name

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
# The topics the webhook ingress takes and the sandbox subscribes for the demo.
WEBHOOK_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/edited",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "fulfillments/create",
    "fulfillments/update",
    "refunds/create",
    "bulk_operations/finish",
    "products/create",
    "products/update",
    "products/delete",
)


@dataclass
class Part:
    """One process of the stack: how to start it, where it listens, how to tell it is ready."""

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
    """Whether nothing listens on ``port`` of 127.0.0.1."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port(preferred: int | None) -> int:
    """``preferred`` when it is free, else a free port the system chooses."""
    if preferred and port_is_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def strata(*args: str) -> list[str]:
    """The argv of a ``strata`` command, run by this interpreter."""
    return [sys.executable, "-m", "strata.cli", *args]


def erp_credentials(instance: str, data_dir: Path) -> dict[str, str]:
    """The demo ERP's database and admin credentials (what ``strata erp credentials`` prints)."""
    credentials = admin_credentials(instance, data_dir)
    return {
        "database": database_name(instance),
        "user": credentials.user,
        "password": credentials.password,
    }


def demo_products() -> list[tuple[str, str, str]]:
    """The ERPs' demo catalogue as the sandbox shop's products (same SKUs): sku, title, price."""
    return [
        (variant.sku, f"{product.title} {variant.title}".strip(), str(product.price("EUR")))
        for product in DEMO_PRODUCTS
        for variant in product.variants
    ]


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
    catalog_port = pick_port(ports.get("catalog", 8135))
    parts.append(
        Part(
            "catalog",
            strata("serve", "catalog", "--port", str(catalog_port)),
            catalog_port,
            env={
                **common,
                **config.service_auth_env("catalog"),
                "STRATA_CATALOG_REDIS_URL": config.redis_url,
                "STRATA_CATALOG_ERP_INSTANCES": json.dumps(erp_urls),
                "STRATA_CATALOG_SHOPIFY_URL": f"http://127.0.0.1:{shopify_port}",
            },
        )
    )
    for name, port_default, upstreams in (
        (
            "storefront",
            8150,
            {
                "STRATA_STOREFRONT_INVENTORY_API_URL": f"http://127.0.0.1:{inventory_port}",
                "STRATA_STOREFRONT_ORDERS_API_URL": f"http://127.0.0.1:{orders_port}",
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
