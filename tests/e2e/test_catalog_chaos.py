"""Chaos: the catalog publisher (``strata serve catalog``, a real process) is SIGKILLed twice in
the middle of a full publication to both demo shops and started again. At the end every ERP
product is in each shop exactly once (no second product, no duplicate handle), none is
missing, the variant ids published before a kill are unchanged, and the mapping agrees with
what Shopify holds. Real Tryton, Redis, Shopify system API and sandbox, as in
``tests/integration/test_catalog_publication.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import msgspec
import pytest
from redis import Redis

from sandbox.tryton.catalogue import DEMO_PRODUCTS
from shared.catalog_map import CatalogEntry, VariantRef
from strata.stack import strata
from tests.integration.test_catalog_publication import (  # noqa: F401
    EU,
    LEGACY_MUG,
    US,
    erp_urls,
    sandbox_url,
    shopify_url,
)
from tests.support.processes import RedisServer, free_port, wait_for_port
from tests.support.stack import wait_until
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "var" / "log" / "chaos"
SKUS = [v.sku for p in DEMO_PRODUCTS for v in p.variants]
SHOPS = (EU, US)


class Publisher:
    """``strata serve catalog`` on one port, started and killed by the test."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            strata("serve", "catalog", "--port", str(self.port)),
            env={**os.environ, **self.env},
            cwd=ROOT,
            stdout=(LOGS / "catalog.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, timeout=30)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def entries(redis: Redis, prefix: str, shop: str) -> dict[str, CatalogEntry]:
    found = {}
    for key in redis.keys(f"{prefix}:{{{shop}}}:product:*"):
        entry = msgspec.json.decode(redis.get(key) or b"", type=CatalogEntry)
        found[entry.erp_product_id] = entry
    return found


def start_full_run(api: httpx.Client) -> str:
    """Start a full publication, waiting out the lock of a killed publisher (409)."""

    def attempt() -> str | None:
        response = api.post("/catalog/v1/publications", json={"full": True})
        if response.status_code == 409:
            return None
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        return job_id

    started: str = wait_until(attempt, timeout=45, interval=0.5, what="the publisher's lock")
    return started


def test_publisher_killed_mid_batch_publishes_each_product_once(
    erp_urls: dict[str, str],  # noqa: F811
    shopify_url: str,  # noqa: F811
    redis_server: RedisServer,
    token_mint: TokenMint,
) -> None:
    prefix = f"chaos:catalog:{uuid.uuid4().hex[:8]}"
    token = token_mint.token("erp:read", "shopify:read", "shopify:write", client_id="catalog")
    publisher = Publisher(
        {
            "STRATA_CATALOG_REDIS_URL": redis_server.url,
            "STRATA_CATALOG_ERP_INSTANCES": json.dumps(erp_urls),
            "STRATA_CATALOG_SHOPIFY_URL": shopify_url,
            "STRATA_CATALOG_SHOPS": json.dumps(
                {
                    EU: {"instance": "eu", "currency": "EUR"},
                    US: {"instance": "us", "currency": "USD"},
                }
            ),
            "STRATA_CATALOG_KEY_PREFIX": prefix,
            "STRATA_CATALOG_LOCK_SECONDS": "5",
            "STRATA_CATALOG_SERVICE_TOKEN": token,
            "STRATA_AUTH_ISSUER": ISSUER,
            "STRATA_AUTH_AUDIENCE": AUDIENCE,
            "STRATA_AUTH_JWKS": json.dumps(token_mint.keys.public_jwks()),
        }
    )
    redis = Redis.from_url(redis_server.url)
    reader = httpx.Client(
        base_url=shopify_url, headers=token_mint.headers("shopify:read"), timeout=30
    )
    seen: dict[str, dict[str, VariantRef]] = {shop: {} for shop in SHOPS}
    try:
        for kill_after in (5, 14):
            publisher.start()
            api = httpx.Client(
                base_url=f"http://127.0.0.1:{publisher.port}",
                headers=token_mint.headers("catalog:publish", "catalog:read"),
                timeout=30,
            )
            job = start_full_run(api)
            # Kill as soon as this many products are mapped: somewhere inside the next one.
            deadline = time.monotonic() + 60
            while sum(len(entries(redis, prefix, s)) for s in SHOPS) < kill_after:
                if time.monotonic() > deadline:
                    record = api.get(f"/catalog/v1/publications/{job}").json()
                    raise AssertionError(f"the publication made no progress: {record}")
                time.sleep(0.01)
            publisher.kill()
            api.close()
            for shop in SHOPS:
                for entry in entries(redis, prefix, shop).values():
                    for ref in entry.variants:
                        seen[shop].setdefault(ref.sku, ref)
        assert sum(len(refs) for refs in seen.values()) < 2 * len(SKUS), "killed too late"

        publisher.start()
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{publisher.port}",
            headers=token_mint.headers("catalog:publish", "catalog:read"),
            timeout=30,
        )
        job = start_full_run(api)

        def finished() -> dict[str, object] | None:
            body: dict[str, object] = api.get(f"/catalog/v1/publications/{job}").json()
            return body if body["status"] != "running" else None

        done = wait_until(finished, timeout=120, what="the publication after the restarts")
        api.close()
        assert done["status"] == "succeeded", done
        summary = done["summary"]
        assert isinstance(summary, dict)
        assert summary["failed"] == 0, summary

        for shop in SHOPS:
            mapped = entries(redis, prefix, shop)
            assert len(mapped) == len(DEMO_PRODUCTS), shop
            handles = Counter(e.handle for e in mapped.values())
            assert max(handles.values()) == 1, handles
            for sku in SKUS:
                # Exactly one Shopify variant carries each SKU: nothing published twice.
                held = reader.get(f"/shopify/v1/shops/{shop}/variants", params={"sku": sku})
                assert held.status_code == 200, held.text
                holders = held.json()["items"]
                assert len(holders) == 1, (shop, sku, holders)
                [holder] = holders
                ref = msgspec.json.decode(
                    redis.get(f"{prefix}:{{{shop}}}:sku:{sku}") or b"", type=VariantRef
                )
                assert (ref.variant_id, ref.product_id) == (holder["id"], holder["product_id"])
                if sku in seen[shop]:
                    assert ref.variant_id == seen[shop][sku].variant_id, (shop, sku)
            for entry in mapped.values():
                product = reader.get(f"/shopify/v1/shops/{shop}/products/{entry.product_id}")
                assert product.status_code == 200, product.text
                body = product.json()
                assert body["handle"] == entry.handle
                assert body["status"] == "ACTIVE"
                assert {(v["sku"], v["id"]) for v in body["variants"]} == {
                    (r.sku, r.variant_id) for r in entry.variants
                }
        # The shops' own mug was adopted in place, not published beside it.
        for shop in SHOPS:
            [mug] = reader.get(
                f"/shopify/v1/shops/{shop}/variants", params={"sku": LEGACY_MUG[0]}
            ).json()["items"]
            assert mug["product_handle"] == "stone-mug"
    finally:
        publisher.stop()
        reader.close()
        redis.close()
