"""The chart starts what exists, the way it is started: every container's command is one that
``strata`` parses, every variable it sets is a setting of that service, each service's own
loader accepts its environment, and the monitoring objects name metrics the code exports."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from experience_apis.service_desk.settings import ServiceDeskSettings, load_service_desk_settings
from experience_apis.storefront.settings import StorefrontSettings, load_storefront_settings
from process_apis.inventory.settings import InventorySettings, load_inventory_settings
from process_apis.orders.settings import OrdersSettings, load_orders_settings
from sandbox.auth.issuer import IssuerSettings, load_issuer_settings
from shared.app import load_auth_settings
from shared.auth import AuthSettings
from shared.ratelimit import RateLimitSettings
from shared.server import ShutdownSettings
from shared.settings import setting_names
from shared.telemetry.settings import OTEL_VARIABLES, TelemetrySettings, load_telemetry_settings
from strata.cli import build_parser
from strata.services import SERVICES
from system_apis.erp.settings import ErpSettings, load_erp_settings
from system_apis.shopify.settings import ShopifySettings, load_shopify_settings
from tests.unit.helm.chart import Rendered, all_features_values, render

ROOT = Path(__file__).resolve().parents[3]

#: Each service the chart may deploy: its settings Struct, its prefix, its loader.
SETTINGS: dict[str, tuple[type[msgspec.Struct], str, Callable[[dict[str, str]], Any]]] = {
    "erp": (ErpSettings, "STRATA_ERP_", load_erp_settings),
    "shopify": (ShopifySettings, "STRATA_SHOPIFY_", load_shopify_settings),
    "orders": (OrdersSettings, "STRATA_ORDERS_", load_orders_settings),
    "inventory": (InventorySettings, "STRATA_INVENTORY_", load_inventory_settings),
    "storefront": (StorefrontSettings, "STRATA_STOREFRONT_", load_storefront_settings),
    "service-desk": (ServiceDeskSettings, "STRATA_SERVICE_DESK_", load_service_desk_settings),
    "auth": (IssuerSettings, "STRATA_AUTH_ISSUER_", load_issuer_settings),
}
#: Read by every service beside its own settings.
SHARED = (
    set(setting_names(AuthSettings, prefix="STRATA_AUTH_"))
    | set(setting_names(TelemetrySettings, prefix="STRATA_TELEMETRY_"))
    | set(setting_names(ShutdownSettings, prefix="STRATA_SHUTDOWN_"))
    | OTEL_VARIABLES
)
#: What a Secret would hold, so that the loaders can be run on a pod's whole environment.
SECRET_VALUES = {
    "STRATA_AUTH_SHOPIFY_APPS": '[{"client_id": "app", "client_secret": "s"}]',
    "STRATA_AUTH_ZENDESK_ACCOUNTS": '[{"subdomain": "acme", "shared_secret": "s"}]',
    "STRATA_SHOPIFY_SHOPS": '{"acme.myshopify.com": {"secret": "s", "access_token": "t"}}',
    "STRATA_AUTH_ISSUER_KEYS": "{}",
    "STRATA_AUTH_ISSUER_CLIENTS": "[]",
}

CASES = {
    "defaults": {},
    "all features": all_features_values(),
    "local issuer and worker": {
        "services": {"auth": {"enabled": True}, "orders": {"worker": {"enabled": True}}}
    },
    "worker without HTTP": {
        "services": {"orders": {"worker": {"enabled": True, "serveHttp": False}}}
    },
    "volatile Redis accepted": {"redis": {"acceptVolatile": True}},
}


def known_variables(service: str) -> set[str]:
    struct, prefix, _ = SETTINGS[service]
    own = set(setting_names(struct, prefix=prefix))
    # Rate limits are read under the service's prefix by shared.app.load_rate_limit_settings
    # (orders nests them in its settings, which the line above already lists).
    limits = set(setting_names(RateLimitSettings, prefix=f"{prefix}RATELIMIT_"))
    return own | limits | SHARED


def pods(rendered: Rendered) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(service, deployment, its one container) for every Deployment of the release."""
    for deployment in rendered.of_kind("Deployment"):
        labels = deployment["metadata"]["labels"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        yield labels["strata.io/service"], deployment, container


def environment(
    rendered: Rendered, deployment: dict[str, Any], container: dict[str, Any]
) -> dict[str, str]:
    """The variables a pod starts with: its ConfigMap, its secret references (with stand-in
    values where a Secret would hold JSON), never the contents of ``envFromSecrets``."""
    (configmap,) = (e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e)
    env: dict[str, str] = dict(rendered.get("ConfigMap", configmap)["data"])
    for item in container.get("env", []):
        env[item["name"]] = SECRET_VALUES.get(item["name"], "from-a-secret")
    return env


@pytest.mark.parametrize("case", CASES)
def test_every_variable_the_chart_sets_is_a_setting_of_that_service(case: str) -> None:
    rendered = render(CASES[case])
    unknown = []
    for service, deployment, container in pods(rendered):
        env = environment(rendered, deployment, container)
        for variable in sorted(set(env) - known_variables(service)):
            unknown.append(f"{deployment['metadata']['name']}: {variable}")
    assert unknown == []


@pytest.mark.parametrize("case", CASES)
def test_each_service_loads_the_environment_the_chart_gives_it(case: str) -> None:
    rendered = render(CASES[case])
    for service, deployment, container in pods(rendered):
        env = environment(rendered, deployment, container)
        _, _, load = SETTINGS[service]
        load(env)  # raises SettingsError naming the variable it refuses
        load_auth_settings(env)
        telemetry = load_telemetry_settings(env)
        assert (
            telemetry.service_name
            == f"strata-{deployment['metadata']['labels']['app.kubernetes.io/component']}"
        )


def test_the_chart_deploys_only_services_that_exist() -> None:
    rendered = render(all_features_values())
    deployed = {service for service, _, _ in pods(rendered)}
    assert deployed == set(SETTINGS)
    assert deployed <= set(SERVICES)


@pytest.mark.parametrize("case", CASES)
def test_every_container_command_parses_with_stratas_own_command_line(case: str) -> None:
    rendered = render(CASES[case])
    parser = build_parser()
    for service, deployment, container in pods(rendered):
        assert container["command"] == ["strata"]
        args = parser.parse_args(container["args"])  # SystemExit on anything it refuses
        assert args.service == service
        role = deployment["metadata"]["labels"]["strata.io/role"]
        assert args.command == ("worker" if role == "worker" else "serve")
        if "ports" in container:
            assert args.port == container["ports"][0]["containerPort"]
            assert args.host == "0.0.0.0"
        else:
            assert args.port is None, "a container without a port must not serve HTTP"
        if service == "erp":
            labels = deployment["metadata"]["labels"]
            assert args.instance == labels["strata.io/erp-instance"]


def test_the_parser_refuses_what_the_chart_used_to_pass() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "returns"])
    with pytest.raises(SystemExit):
        parser.parse_args(["worker", "orders", "--workers", "2"])


def test_the_scaled_object_watches_the_streams_and_group_the_worker_reads() -> None:
    rendered = render(all_features_values())
    (scaled,) = rendered.of_kind("ScaledObject")
    worker = rendered.get("Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    orders = load_orders_settings(environment(rendered, worker, container))
    triggers = scaled["spec"]["triggers"]
    assert [t["metadata"]["stream"] for t in triggers] == orders.order_streams
    assert {t["metadata"]["consumerGroup"] for t in triggers} == {orders.consumer_group}
    assert len(orders.order_streams) == 2
    # KEDA owns the replica count: no HPA fights it, the Deployment leaves replicas alone.
    assert worker["metadata"]["name"] not in rendered.names("HorizontalPodAutoscaler")
    assert "replicas" not in worker["spec"]
    derived = render(
        {"services": {"orders": {"worker": {"enabled": True, "keda": {"enabled": True}}}}}
    )
    (trigger,) = derived.of_kind("ScaledObject")[0]["spec"]["triggers"]
    assert trigger["metadata"]["address"] == "redis.redis.svc.cluster.local:6379"
    assert trigger["metadata"]["stream"] == "strata:webhooks:{orders}"


def test_keda_is_off_by_default_and_refused_without_an_address_it_can_use() -> None:
    from tests.unit.helm.chart import RenderError

    assert render().of_kind("ScaledObject") == []
    with pytest.raises(RenderError, match=r"keda\.address"):
        render(
            {
                "redis": {"existingSecret": "redis-url"},
                "services": {"orders": {"worker": {"enabled": True, "keda": {"enabled": True}}}},
            }
        )
    with pytest.raises(RenderError, match=r"enable services\.orders and services\.orders\.worker"):
        render({"services": {"orders": {"worker": {"keda": {"enabled": True}}}}})


def exported_metrics() -> set[str]:
    """Every ``strata_*`` metric the services' code defines."""
    names: set[str] = set()
    for layer in ("shared", "process_apis", "system_apis", "experience_apis"):
        for path in (ROOT / layer).rglob("*.py"):
            names |= set(re.findall(r'"(strata_[a-z_]+)"', path.read_text()))
    return names


def test_every_alert_names_metrics_the_code_exports() -> None:
    rendered = render({"metrics": {"prometheusRule": {"enabled": True}}})
    (rule,) = rendered.of_kind("PrometheusRule")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "StrataDeadLetters",
        "StrataOrderAwaitingErpAcknowledgement",
        "StrataConsumerLag",
        "StrataHighErrorRatio",
    }
    exported = exported_metrics()
    for alert, expr in alerts.items():
        used = set(re.findall(r"\b(strata_[a-z_]+)\b", expr))
        assert used, alert
        assert used <= exported, f"{alert}: {used - exported}"
        assert 'namespace="retail"' in expr, alert
        assert expr.count("(") == expr.count(")"), expr
    assert render().of_kind("PrometheusRule") == []


def test_helm_test_calls_every_service_s_readiness_probe() -> None:
    rendered = render(all_features_values())
    services = {s["metadata"]["name"] for s in rendered.of_kind("Service")}
    called = {}
    for pod in rendered.tests:
        assert pod["kind"] == "Pod"
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert pod["spec"]["restartPolicy"] == "Never"
        (container,) = pod["spec"]["containers"]
        url = container["command"][-1]
        assert url.endswith(":80/health/ready"), url
        called[url.removeprefix("http://").split(":")[0]] = pod
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert set(called) == services
    assert render({"tests": {"enabled": False}}).tests == []


def test_the_standard_opentelemetry_variables_carry_the_collector_and_sampling() -> None:
    rendered = render(all_features_values())
    for _service, deployment, container in pods(rendered):
        env = environment(rendered, deployment, container)
        settings = load_telemetry_settings(env)
        assert settings.otlp_endpoint == (
            "http://otel-collector.monitoring.svc.cluster.local:4318/v1/traces"
        )
        assert settings.sample_ratio == 0.25
        assert "deployment.environment=production" in env["OTEL_RESOURCE_ATTRIBUTES"]
    default = render()
    for _service, deployment, container in pods(default):
        assert (
            load_telemetry_settings(environment(default, deployment, container)).otlp_endpoint
            is None
        )
