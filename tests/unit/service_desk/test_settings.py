"""The service desk reads one settings object at start-up and refuses a variable it does not
read; every variable the chart and the local stack give it is one of its settings; each call to
the orders API has one deadline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from experience_apis.service_desk.app import create_app, orders_http_settings
from experience_apis.service_desk.clients import OrdersApi
from experience_apis.service_desk.settings import (
    PREFIX,
    ServiceDeskSettings,
    load_service_desk_settings,
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


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("STRATA_SERVICE_DESK_ORDERS_URL", "STRATA_SERVICE_DESK_ORDERS_API_URL"),
        ("STRATA_SERVICE_DESK_ORDER_TIMEOUT", "STRATA_SERVICE_DESK_ORDERS_TIMEOUT"),
        ("STRATA_SERVICE_DESK_RATELIMIT_POLICY", "STRATA_SERVICE_DESK_RATELIMIT_POLICIES"),
    ],
)
def test_a_misspelt_variable_stops_start_up_naming_the_right_one(variable: str, hint: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_service_desk_settings({variable: "1"})
    assert str(caught.value) == f"{variable}: not a setting (did you mean {hint}?)"


def test_a_variable_the_chart_used_to_give_is_refused() -> None:
    # The chart gave every experience service every process API's URL; this one calls orders.
    with pytest.raises(SettingsError, match=r"^STRATA_SERVICE_DESK_INVENTORY_API_URL: not a"):
        load_service_desk_settings({"STRATA_SERVICE_DESK_INVENTORY_API_URL": "http://inventory"})


def test_the_rate_limits_and_the_shared_auth_are_no_unknown_variables() -> None:
    settings = load_service_desk_settings(
        {
            "STRATA_SERVICE_DESK_ORDERS_API_URL": "http://orders:80",
            "STRATA_SERVICE_DESK_RATELIMIT_ENABLED": "false",
            "STRATA_AUTH_AUDIENCE": "strata-test",
            "STRATA_STOREFRONT_SOMETHING": "another service's",
        }
    )
    assert settings.orders_api_url == "http://orders:80"
    assert settings.auth.audience == "strata-test"
    assert load_service_desk_settings({}) == ServiceDeskSettings()


def test_redis_cluster_is_read() -> None:
    for value in (False, True):
        env = {"STRATA_SERVICE_DESK_REDIS_CLUSTER": str(value).lower()}
        assert load_service_desk_settings(env).redis_cluster is value


@pytest.mark.parametrize(
    "values",
    [
        {},
        {
            "redis": {"existingSecret": "redis-url"},
            "services": {"service-desk": {"clientSecret": {"name": "desk-oauth"}}},
        },
        {"services": {"inventory": {"enabled": False}}},
    ],
)
def test_every_variable_the_chart_gives_is_a_setting(values: dict[str, Any]) -> None:
    settings = load_service_desk_settings(chart_environment(render(values), "service-desk"))
    assert settings.orders_api_url == "http://shop-strata-orders:80"
    assert settings.token_url == "https://id.example.com/oauth/token"


def test_every_variable_the_local_stack_gives_is_a_setting(tmp_path: Path) -> None:
    config = StackConfig(
        redis_url="redis://127.0.0.1:6379/0",
        data_dir=tmp_path / "erp",
        log_dir=tmp_path / "log",
        auth_env={},
        service_auth_env=lambda service: {f"{PREFIX}SERVICE_TOKEN": "t"},
    )
    parts = {p.name: p for p in plan(config)}
    settings = load_service_desk_settings(parts["service-desk"].env)
    assert settings.orders_api_url == parts["orders"].address


def test_the_settings_are_read_when_the_app_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_SERVICE_DESK_ORDER_TIMEOUT", "5")
    with pytest.raises(SettingsError, match="STRATA_SERVICE_DESK_ORDERS_TIMEOUT"):
        create_app()


@pytest.mark.parametrize("seconds", [0.5, 5.0, 30.0])
def test_no_phase_of_a_call_outlasts_the_orders_timeout(seconds: float) -> None:
    http = orders_http_settings(ServiceDeskSettings(orders_timeout=seconds))
    phases = (http.connect_timeout, http.read_timeout, http.write_timeout, http.pool_timeout)
    assert max(phases) == seconds
    # Connecting gives up early enough for the retry to fit in the deadline.
    assert http.connect_timeout <= min(2.0, seconds / 2)


async def test_a_call_is_cut_at_its_deadline_retry_included() -> None:
    answers: list[float] = []

    async def unavailable_then_stalled(request: httpx.Request) -> httpx.Response:
        answers.append(time.monotonic())
        if len(answers) == 1:
            return httpx.Response(503, json={"status": 503})
        await asyncio.sleep(10)
        return httpx.Response(404)

    transport = httpx.MockTransport(unavailable_then_stalled)
    async with httpx.AsyncClient(base_url="http://orders", transport=transport) as http:
        orders = OrdersApi(http, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(SiblingTimeout) as caught:
            await orders.order_context("s.myshopify.com", "1")
    assert time.monotonic() - started < 2
    assert len(answers) == 2, "the retry after the 503 happens within the deadline"
    assert caught.value.status == 504
    assert caught.value.retry_after == 5
