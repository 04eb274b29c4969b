"""The Zendesk sidebar app in a real browser, against a running stack.

Running: Redis, Tryton behind the ERP system API, the orders process, the service-desk API, a
Shopify system API stand-in, and a harness page that hosts the app's iframe. The harness stands
in for Zendesk: its ZAF client answers ``get``/``metadata``/``context``/``invoke``/``on``, and
its ``request`` goes to a proxy route that does what Zendesk's proxy does (fills in secure
settings, signs the JWT with the account's shared secret, refuses other hosts) before calling
the service-desk API for real.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar, Request, Response, get, post
from litestar.static_files import create_static_files_router
from redis.asyncio import Redis

from experience_apis.service_desk.app import create_app as create_desk_app
from experience_apis.service_desk.settings import ServiceDeskSettings
from process_apis.orders.app import create_app as create_orders_app
from process_apis.orders.context import index_customer_order
from process_apis.orders.exceptions import ExceptionStore, exception_id
from process_apis.orders.fulfillment.records import (
    FulfillmentRecord,
    FulfillmentRecords,
    FulfillmentTracking,
    shipment_key,
)
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.schemas import BusinessImpact, OrderException
from process_apis.orders.settings import OrdersSettings
from sandbox.tryton import TrytonServer, ship_order
from shared.auth import ZendeskAccountSettings
from shared.models import SalesOrderDraft
from system_apis.erp.app import create_app as create_erp_app
from system_apis.erp.settings import ErpSettings
from tests.support.processes import RedisServer
from tests.support.tokens import AUDIENCE, TokenMint
from tests.unit.auth.forgery import hs256
from tests.unit.service_desk.stand_ins import SIDEBAR, ShopifyStandIn, build_sidebar_sdk, serving

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOP = "e2e-eu.myshopify.com"
SUBDOMAIN = "acme"
SHARED_SECRET = "acme-zendesk-shared-secret-e2e-0123456789"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

STAND_IN_ZAF = """
window.ZAFClient = { init: function () {
  var harness = window.parent.HARNESS;
  var handlers = {};
  function fire(name) { (handlers[name] || []).forEach(function (cb) { cb(); }); }
  var client = {
    get: function (path) {
      var out = {}; out[path] = harness.properties[path];
      return Promise.resolve(out);
    },
    metadata: function () { return Promise.resolve({ settings: harness.settings }); },
    context: function () {
      return Promise.resolve({ account: { subdomain: harness.subdomain },
                               location: "ticket_sidebar", product: "support" });
    },
    invoke: function (name, arg) { harness.invoked.push([name, arg]); return Promise.resolve({}); },
    on: function (name, cb) {
      (handlers[name] = handlers[name] || []).push(cb);
      if (name === "app.registered") { setTimeout(function () { fire(name); }, 0); }
    },
    request: function (options) {
      harness.requests.push(options);
      return fetch("/proxy", { method: "POST", headers: { "content-type": "application/json" },
                               body: JSON.stringify(options) })
        .then(function (r) {
          return r.json().then(function (body) {
            if (r.ok) { return body; }
            throw { status: r.status, responseJSON: body };
          });
        });
    }
  };
  return client;
} };
"""

HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Zendesk ticket (harness)</title>
<style>body{{margin:0;font:13px sans-serif;background:#f8f9f9}}
iframe{{border:0;width:340px;height:640px;background:#fff}}</style></head>
<body>
<script>window.HARNESS = {harness};</script>
<iframe id="app" src="/app/iframe.html?origin=https://acme.zendesk.com&app_guid=e2e"></iframe>
</body></html>"""


def harness_app(api_url: str, secure: dict[str, str], public: dict[str, Any]) -> Litestar:
    """The harness page, the app's assets (with the stand-in ZAF client), and the proxy."""
    api_host = urlsplit(api_url).netloc

    @get("/harness.html", media_type="text/html")
    async def page() -> str:
        return HARNESS.format(harness=json.dumps(public))

    @get("/app/zaf_sdk.js", media_type="application/javascript")
    async def zaf() -> str:
        return STAND_IN_ZAF

    @post("/proxy")
    async def proxy(request: Request[Any, Any, Any]) -> Response[Any]:
        options = await request.json()

        def fill(text: str) -> str:
            for name, value in secure.items():
                text = text.replace("{{setting." + name + "}}", value)
            return text

        assert options.get("secure") is True, (
            "secure settings are only filled in for secure requests"
        )
        url = fill(options["url"])
        if urlsplit(url).netloc != api_host:
            return Response({"detail": "domain not whitelisted"}, status_code=403)
        headers = {k: fill(v) for k, v in (options.get("headers") or {}).items()}
        jwt = options.get("jwt")
        if jwt:
            now = int(time.time())
            claims = {**jwt["claims"], "iat": now, "exp": now + int(jwt.get("expiry", 60))}
            token = hs256({"alg": jwt["algorithm"], "typ": "JWT"}, claims, fill(jwt["secret_key"]))
            headers = {k: v.replace("{{jwt.token}}", token) for k, v in headers.items()}
        async with httpx.AsyncClient(timeout=30) as client:
            upstream = await client.request(options.get("type", "GET"), url, headers=headers)
        return Response(upstream.json(), status_code=upstream.status_code)

    assets = create_static_files_router(path="/app", directories=[SIDEBAR / "assets"])
    return Litestar([page, zaf, proxy, assets])


async def seed(erp_url: str, redis_url: str, token_mint: TokenMint) -> dict[str, Any]:
    """An order placed, posted to Tryton, indexed and stuck on a cancellation exception."""
    order_id = str(int(time.time()) % 10**9)
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    draft = {
        "external_reference": f"shopify:{SHOP}:{order_id}",
        "currency": "EUR",
        "customer": {"email": email, "name": "Ada Lovelace"},
        "lines": [{"sku": "TOTE-NAT", "quantity": 2, "unit_price": "12.00"}],
        "shipping_address": {"name": "Ada", "street": "1 Rue X", "city": "Lyon",
                             "postal_code": "69001", "country": "FR"},
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=erp_url, timeout=30) as erp:
        response = await erp.post(
            "/erp/v1/sales-orders",
            json=draft,
            headers={**token_mint.headers("erp:write"), "Idempotency-Key": f"e2e-{order_id}"},
        )
    assert response.status_code in (200, 201), response.text
    sales_order = response.json()
    redis = Redis.from_url(redis_url)
    pipeline = PipelineStore(redis)
    await pipeline.record(SHOP, order_id, "received", state="received")
    await pipeline.record(
        SHOP, order_id, "posted", state="posted", erp_instance="eu",
        erp_order_id=sales_order["id"], erp_order_number=sales_order["number"] or "",
    )  # fmt: skip
    import msgspec

    await index_customer_order(redis, SHOP, order_id, msgspec.convert(draft, SalesOrderDraft))
    now = time.time()
    await ExceptionStore(redis).save(
        OrderException(
            id=exception_id(SHOP, order_id, "orders/cancelled"),
            state="open",
            kind="cancel-after-shipment",
            error="cancelled in Shopify but already shipped from ERP eu: refund or return needed",
            shop=SHOP,
            order_id=order_id,
            topic="orders/cancelled",
            correlation_id="e2e",
            created_at=now,
            updated_at=now,
            payload={},
            retry_history=[],
            impact=BusinessImpact(),
        )
    )
    # A shipment the ERP made that Shopify has no fulfillment of yet.
    await FulfillmentRecords(redis).put(
        SHOP,
        order_id,
        FulfillmentRecord(
            key=shipment_key("eu", "pending-1"),
            source="erp",
            state="pending",
            erp_instance="eu",
            shipment_id="pending-1",
            shipment_number="OUT-PENDING",
            carrier="GLS",
            tracking=[FulfillmentTracking(number="GL123")],
            shipped_at=now,
        ),
    )
    await redis.aclose()
    return {"order_id": order_id, "email": email, "erp": sales_order}


@pytest.fixture(scope="module")
def chromium() -> str:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("install Debian's chromium and chromium-driver (apt-get install -y ...)")
    return CHROMIUM


@pytest.fixture(scope="module")
def stack(
    tryton_eu: TrytonServer, redis_server: RedisServer, token_mint: TokenMint
) -> Iterator[dict[str, Any]]:
    redis_url = redis_server.url
    build_sidebar_sdk()
    auth = token_mint.settings(
        authenticators=("oauth2", "zendesk"),
        zendesk_accounts=(
            ZendeskAccountSettings(
                subdomain=SUBDOMAIN,
                shared_secret=SHARED_SECRET,
                shops=(SHOP,),
                scopes=frozenset({"service-desk:read"}),
            ),
        ),
    )
    erp_settings = ErpSettings(
        instance="eu", redis_url=redis_url, tryton_url=tryton_eu.url,
        tryton_database=tryton_eu.database, tryton_user=tryton_eu.user,
        tryton_password=tryton_eu.password, read_timeout=20,
    )  # fmt: skip
    shopify = ShopifyStandIn()
    with (
        serving(create_erp_app(erp_settings, auth=token_mint.settings())) as erp_url,
        serving(shopify.app()) as shopify_url,
    ):
        orders_settings = OrdersSettings(
            redis_url=redis_url,
            erp_instances={"eu": erp_url},
            shopify_api_url=shopify_url,
            run_workers=False,
            service_token=token_mint.token("erp:read", "shopify:read", ttl=3600),
        )
        with serving(create_orders_app(orders_settings, auth=token_mint.settings())) as orders_url:
            desk_settings = ServiceDeskSettings(
                redis_url=redis_url,
                orders_api_url=orders_url,
                cache_prefix=f"e2e:{uuid.uuid4().hex[:6]}:sd",
                service_token=token_mint.token("orders:read", ttl=3600),
            )
            with serving(create_desk_app(desk_settings, auth=auth)) as desk_url:
                order = asyncio.run(seed(erp_url, redis_url, token_mint))
                ship_order(tryton_eu, order["erp"]["id"], force=True)
                shopify.add_order(
                    SHOP, int(order["order_id"]), name="#1042", email=order["email"],
                    created_at="2026-03-01T09:00:00Z",
                    tracking={"number": "1Z999AA10123456784", "company": "UPS", "url": ""},
                )  # fmt: skip
                # A warehouse fulfilled the rest in Shopify, in two parcels.
                shopify.orders[(SHOP, int(order["order_id"]))]["fulfillments"].append(
                    {"id": 8, "name": "#1042-F2", "status": "SUCCESS",
                     "created_at": "2026-03-02T09:00:00Z",
                     "tracking": [{"number": "6A1", "company": "La Poste", "url": None},
                                  {"number": "6A2", "company": "La Poste",
                                   "url": "https://www.laposte.fr/suivi/6A2"}]}
                )  # fmt: skip
                public = {
                    "subdomain": SUBDOMAIN,
                    "settings": {"auth_mode": "jwt", "api_audience": AUDIENCE},
                    "properties": {
                        "ticket.requester.email": order["email"],
                        "currentUser.id": 7,
                    },
                    "invoked": [],
                    "requests": [],
                }
                secure = {"api_url": desk_url, "shared_secret": SHARED_SECRET, "token": ""}
                with serving(harness_app(desk_url, secure, public)) as harness_url:
                    yield {"harness": harness_url, "order": order}


def test_agent_sees_the_requesters_order_in_the_sidebar(
    stack: dict[str, Any], chromium: str
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--window-size=420,760"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(stack["harness"] + "/harness.html")
        WebDriverWait(driver, 20).until(ec.frame_to_be_available_and_switch_to_it((By.ID, "app")))
        WebDriverWait(driver, 30).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "article.context"))
        )
        order = stack["order"]
        text = driver.find_element(By.ID, "app").text
        assert "#1042" in text
        assert order["erp"]["number"] in text
        headline = driver.find_element(By.CSS_SELECTOR, "[data-headline]")
        assert headline.get_attribute("data-headline") == "needs_attention"
        assert headline.text == "Needs attention"
        exception = driver.find_element(By.CSS_SELECTOR, "[data-exception]")
        assert "cancel-after-shipment" in exception.text
        link = driver.find_element(By.CSS_SELECTOR, "[data-shipment='#1042-F1'] a.tracking")
        assert link.get_attribute("href") == "https://www.ups.com/track?tracknum=1Z999AA10123456784"
        assert link.get_attribute("rel") == "noopener noreferrer"
        assert link.text == "UPS 1Z999AA10123456784"
        erp_shipments = driver.find_elements(By.CSS_SELECTOR, "[data-section=shipments] li")
        assert len(erp_shipments) >= 4, "Tryton's shipment, one pending and two fulfillments"
        # Made in Shopify by a warehouse: a named link per parcel.
        parcels = driver.find_elements(By.CSS_SELECTOR, "[data-shipment='#1042-F2'] a.tracking")
        assert [(a.text, a.get_attribute("href")) for a in parcels] == [
            ("La Poste 6A1", "https://www.laposte.fr/outils/suivre-vos-envois?code=6A1"),
            ("La Poste 6A2", "https://www.laposte.fr/suivi/6A2"),
        ]
        # Shipped by the ERP, not yet in Shopify: said so, with its carrier's link.
        pending = driver.find_element(By.CSS_SELECTOR, "[data-shipment=OUT-PENDING]")
        assert pending.find_element(By.CSS_SELECTOR, "[data-awaiting=shopify]").text == (
            "not yet in Shopify"
        )
        assert pending.find_element(By.CSS_SELECTOR, "a.tracking").get_attribute("href") == (
            "https://gls-group.com/track/GL123"
        )
        assert not driver.find_elements(By.CSS_SELECTOR, "[data-state=partial]")
        driver.switch_to.default_content()
        requests = driver.execute_script("return window.HARNESS.requests")
        assert requests, "the app called through client.request"
        assert all(r["secure"] is True and "{{setting.api_url}}" in r["url"] for r in requests)
        assert all(r["jwt"]["secret_key"] == "{{setting.shared_secret}}" for r in requests)
        resized = driver.execute_script("return window.HARNESS.invoked")
        assert any(name == "resize" for name, _ in resized)
        shots = ROOT / "var" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shots / "zendesk-sidebar.png"))
    finally:
        driver.quit()
