"""The inventory reads one settings object at start-up and refuses a variable it does not read;
every variable the chart and the local stack give it is one of its settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from process_apis.inventory.app import create_app, erp_http_settings
from process_apis.inventory.settings import PREFIX, InventorySettings, load_inventory_settings
from shared.settings import SettingsError
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
        ("STRATA_INVENTORY_ERP_TIMEOUTS", "STRATA_INVENTORY_ERP_TIMEOUT"),
        ("STRATA_INVENTORY_RESERVATION_TTL_SECONDS", "STRATA_INVENTORY_RESERVATION_TTL"),
        ("STRATA_INVENTORY_RATELIMIT_ENABLD", "STRATA_INVENTORY_RATELIMIT_ENABLED"),
    ],
)
def test_a_misspelt_variable_stops_start_up_naming_the_right_one(variable: str, hint: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_inventory_settings({variable: "1"})
    assert str(caught.value) == f"{variable}: not a setting (did you mean {hint}?)"


def test_a_variable_the_chart_used_to_give_is_refused() -> None:
    # The chart gave every process service the Shopify API's URL; the inventory calls no Shopify.
    with pytest.raises(SettingsError, match=r"^STRATA_INVENTORY_SHOPIFY_API_URL: not a setting"):
        load_inventory_settings({"STRATA_INVENTORY_SHOPIFY_API_URL": "http://shopify"})


def test_the_rate_limits_and_the_shared_auth_are_no_unknown_variables() -> None:
    settings = load_inventory_settings(
        {
            "STRATA_INVENTORY_ERP_TIMEOUT": "0.5",
            "STRATA_INVENTORY_RATELIMIT_ENABLED": "false",
            "STRATA_INVENTORY_RATELIMIT_CLUSTER": "true",
            "STRATA_AUTH_AUDIENCE": "strata-test",
            "STRATA_ORDERS_WHATEVER": "another service's",
        }
    )
    assert settings.erp_timeout == 0.5
    assert settings.auth.audience == "strata-test"
    assert load_inventory_settings({}) == InventorySettings()


def test_redis_cluster_is_read() -> None:
    for value in (False, True):
        env = {"STRATA_INVENTORY_REDIS_CLUSTER": str(value).lower()}
        assert load_inventory_settings(env).redis_cluster is value


@pytest.mark.parametrize(
    "values",
    [
        {},
        {
            "redis": {"existingSecret": "redis-url"},
            "services": {"inventory": {"clientSecret": {"name": "inventory-oauth"}}},
        },
        {"services": {"erp": {"enabled": False}, "shopify": {"enabled": False}}},
    ],
)
def test_every_variable_the_chart_gives_is_a_setting(values: dict[str, Any]) -> None:
    env = chart_environment(render(values), "inventory")
    settings = load_inventory_settings(env)
    assert settings.token_url == "https://id.example.com/oauth/token"
    if not values:
        assert settings.erp_instances == {
            "eu": "http://shop-strata-erp-eu:80",
            "us": "http://shop-strata-erp-us:80",
        }


def test_every_variable_the_local_stack_gives_is_a_setting(tmp_path: Path) -> None:
    config = StackConfig(
        redis_url="redis://127.0.0.1:6379/0",
        data_dir=tmp_path / "erp",
        log_dir=tmp_path / "log",
        auth_env={},
        service_auth_env=lambda service: {f"{PREFIX}SERVICE_TOKEN": "t"},
    )
    [part] = [p for p in plan(config) if p.name == "inventory"]
    settings = load_inventory_settings(part.env)
    assert set(settings.erp_instances) == {"eu", "us"}


def test_the_settings_are_read_when_the_app_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_INVENTORY_ERP_TIMEOUTS", "5")
    with pytest.raises(SettingsError, match="STRATA_INVENTORY_ERP_TIMEOUT"):
        create_app()


@pytest.mark.parametrize("seconds", [0.5, 2.0, 30.0])
def test_no_phase_of_an_erp_read_outlasts_the_erp_timeout(seconds: float) -> None:
    http = erp_http_settings(InventorySettings(erp_timeout=seconds))
    phases = (http.connect_timeout, http.read_timeout, http.write_timeout, http.pool_timeout)
    assert max(phases) == seconds
    assert http.connect_timeout <= 2.0
