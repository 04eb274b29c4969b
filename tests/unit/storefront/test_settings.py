"""The storefront reads one settings object at start-up and refuses a variable it does not
read; every variable the chart and the local stack give it is one of its settings; each call
to a process API has one deadline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from experience_apis.storefront.app import create_app, http_settings, rate_limits
from experience_apis.storefront.clients import InventoryClient, OrdersClient
from experience_apis.storefront.settings import (
    PREFIX,
    StorefrontSettings,
    load_storefront_settings,
)
from shared.settings import SettingsError
from shared.sibling import SiblingTimeout
from strata.stack import StackConfig
from strata.stack.parts import plan
from tests.unit.helm.chart import Rendered, render


def chart_environment(rendered: Rendered, workload: str) -> dict[str, str]:
    """The workload's variables under ``PREFIX``: its ConfigMap, and its secret references."""
    name = f"shop-strata-{workload}"
    env: dict[str, str] = dict(rendered.get("ConfigMap", name)["data"])
    pod = rendered.get("Deployment", name)["spec"]["template"]["spec"]
    env.update({item["name"]: "from-a-secret" for item in pod["containers"][0].get("env", [])})
    return {key: value for key, value in env.items() if key.startswith(PREFIX)}


def test_the_process_api_urls_are_read_by_the_names_the_chart_gives() -> None:
    settings = load_storefront_settings(
        {
            "STRATA_STOREFRONT_ORDERS_API_URL": "http://orders:80",
            "STRATA_STOREFRONT_INVENTORY_API_URL": "http://inventory:80",
        }
    )
    assert settings.orders_api_url == "http://orders:80"
    assert settings.inventory_api_url == "http://inventory:80"


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        # The names these settings had before they took the chart's.
        ("STRATA_STOREFRONT_ORDERS_URL", "STRATA_STOREFRONT_ORDERS_API_URL"),
        ("STRATA_STOREFRONT_INVENTORY_URL", "STRATA_STOREFRONT_INVENTORY_API_URL"),
        ("STRATA_STOREFRONT_LOW_STOCK_TRESHOLD", "STRATA_STOREFRONT_LOW_STOCK_THRESHOLD"),
        ("STRATA_STOREFRONT_RATELIMIT_ENABLD", "STRATA_STOREFRONT_RATELIMIT_ENABLED"),
    ],
)
def test_a_misspelt_variable_stops_start_up_naming_the_right_one(variable: str, hint: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_storefront_settings({variable: "http://127.0.0.1:1"})
    assert str(caught.value) == f"{variable}: not a setting (did you mean {hint}?)"


def test_the_rate_limits_and_the_shared_auth_are_no_unknown_variables() -> None:
    settings = load_storefront_settings(
        {
            "STRATA_STOREFRONT_ORDERS_TIMEOUT": "1.5",
            "STRATA_STOREFRONT_RATELIMIT_ENABLED": "false",
            "STRATA_AUTH_AUDIENCE": "strata-test",
            "STRATA_INVENTORY_ERP_TIMEOUT": "another service's",
        }
    )
    assert settings.orders_timeout == 1.5
    assert settings.auth.audience == "strata-test"
    assert load_storefront_settings({}) == StorefrontSettings()


def test_redis_cluster_is_the_rate_limiters_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATA_STOREFRONT_RATELIMIT_CLUSTER", raising=False)
    clustered = load_storefront_settings({"STRATA_STOREFRONT_REDIS_CLUSTER": "true"})
    assert rate_limits(clustered).cluster is True
    assert rate_limits(StorefrontSettings()).cluster is False
    monkeypatch.setenv("STRATA_STOREFRONT_RATELIMIT_CLUSTER", "false")
    assert rate_limits(clustered).cluster is False


@pytest.mark.parametrize(
    "values",
    [
        {},
        {
            "redis": {"existingSecret": "redis-url"},
            "services": {"storefront": {"clientSecret": {"name": "storefront-oauth"}}},
        },
        {"services": {"orders": {"enabled": False}}},
    ],
)
def test_every_variable_the_chart_gives_is_a_setting(values: dict[str, Any]) -> None:
    settings = load_storefront_settings(chart_environment(render(values), "storefront"))
    assert settings.inventory_api_url == "http://shop-strata-inventory:80"
    assert settings.token_url == "https://id.example.com/oauth/token"
    if not values:
        assert settings.orders_api_url == "http://shop-strata-orders:80"


def test_every_variable_the_local_stack_gives_is_a_setting(tmp_path: Path) -> None:
    config = StackConfig(
        redis_url="redis://127.0.0.1:6379/0",
        data_dir=tmp_path / "erp",
        log_dir=tmp_path / "log",
        auth_env={},
        service_auth_env=lambda service: {f"{PREFIX}SERVICE_TOKEN": "t"},
    )
    parts = {p.name: p for p in plan(config)}
    settings = load_storefront_settings(parts["storefront"].env)
    assert settings.inventory_api_url == parts["inventory"].address
    assert settings.orders_api_url == parts["orders"].address


def test_the_settings_are_read_when_the_app_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_STOREFRONT_ORDERS_URL", "http://orders")
    with pytest.raises(SettingsError, match="STRATA_STOREFRONT_ORDERS_API_URL"):
        create_app()


@pytest.mark.parametrize("seconds", [0.5, 5.0, 30.0])
def test_no_phase_of_a_call_outlasts_its_timeout(seconds: float) -> None:
    http = http_settings(seconds)
    phases = (http.connect_timeout, http.read_timeout, http.write_timeout, http.pool_timeout)
    assert max(phases) == seconds
    # Connecting gives up early enough for the retry to fit in the deadline.
    assert http.connect_timeout <= min(2.0, seconds / 2)


def _client(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://process", transport=httpx.MockTransport(handler))


async def test_a_call_is_cut_at_its_deadline_retry_included() -> None:
    answers: list[float] = []

    async def unavailable_then_stalled(request: httpx.Request) -> httpx.Response:
        answers.append(time.monotonic())
        if len(answers) == 1:
            return httpx.Response(503, json={"status": 503})
        await asyncio.sleep(10)
        return httpx.Response(200, json={"items": []})

    async with _client(unavailable_then_stalled) as http:
        inventory = InventoryClient(http, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(SiblingTimeout) as caught:
            await inventory.availability(["MUG"])
    assert time.monotonic() - started < 2
    assert len(answers) == 2, "the retry after the 503 happens within the deadline"
    assert caught.value.status == 504
    assert caught.value.retry_after == 2
    assert "within 0.3 s" in str(caught.value.detail)


async def test_an_order_status_call_is_cut_at_its_deadline() -> None:
    async def stalled(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return httpx.Response(404)

    async with _client(stalled) as http:
        with pytest.raises(SiblingTimeout):
            await OrdersClient(http, timeout=0.1).pipeline_status("s.myshopify.com", "1")
