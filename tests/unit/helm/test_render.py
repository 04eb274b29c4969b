"""What the chart renders (with the real Helm engine): one full set of objects per workload,
wired the way the code reads it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from process_apis.orders.settings import load_orders_settings
from shared.app import load_auth_settings, load_rate_limit_settings
from system_apis.erp.settings import load_erp_settings
from system_apis.shopify.settings import load_shopify_settings
from tests.unit.helm.chart import NAMESPACE, InvalidValues, Rendered, RenderError, render

SERVICES = ["erp-eu", "erp-us", "shopify", "orders", "inventory", "storefront", "service-desk"]
PER_WORKLOAD = ["Deployment", "Service", "ServiceAccount", "ConfigMap"]
PER_WORKLOAD += ["HorizontalPodAutoscaler", "PodDisruptionBudget"]


@pytest.fixture(scope="module")
def default() -> Rendered:
    return render()


def name(workload: str) -> str:
    return f"shop-strata-{workload}"


def container(rendered: Rendered, workload: str) -> dict[str, Any]:
    deployment = rendered.get("Deployment", name(workload))
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def environment(rendered: Rendered, workload: str) -> dict[str, str]:
    """What the container sees: its ConfigMap, plus placeholders for secret references."""
    env: dict[str, str] = dict(rendered.get("ConfigMap", name(workload))["data"])
    for item in container(rendered, workload).get("env", []):
        ref = item["valueFrom"]["secretKeyRef"]
        env[item["name"]] = f"<secret {ref['name']}/{ref['key']}>"
    return env


def test_without_an_issuer_the_install_stops_with_a_clear_message() -> None:
    with pytest.raises(RenderError, match=r"auth\.issuer is required"):
        render(with_required=False)
    issuer_in_cluster = render({"services": {"auth": {"enabled": True}}}, with_required=False)
    env = environment(issuer_in_cluster, "orders")
    assert env["STRATA_AUTH_ISSUER"] == "http://shop-strata-auth:80"


def test_every_enabled_service_gets_its_whole_set_of_objects(default: Rendered) -> None:
    for kind in PER_WORKLOAD:
        rendered = default.names(kind) - {"shop-strata-dashboard"}
        assert rendered == {name(s) for s in SERVICES}, kind
    assert "Secret" not in {m["kind"] for m in default.manifests}


def test_a_disabled_service_leaves_nothing_behind_and_is_not_wired_in() -> None:
    rendered = render({"services": {"inventory": {"enabled": False}, "auth": {"enabled": False}}})
    for kind in PER_WORKLOAD:
        assert name("inventory") not in rendered.names(kind)
    assert "STRATA_STOREFRONT_INVENTORY_API_URL" not in environment(rendered, "storefront")
    assert "STRATA_STOREFRONT_ORDERS_API_URL" in environment(rendered, "storefront")


def test_selectors_match_their_pods_and_services_point_at_the_named_port(default: Rendered) -> None:
    for workload in SERVICES:
        deployment = default.get("Deployment", name(workload))
        selector = deployment["spec"]["selector"]["matchLabels"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()
        service = default.get("Service", name(workload))
        assert service["spec"]["selector"] == selector
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        pdb = default.get("PodDisruptionBudget", name(workload))
        assert pdb["spec"]["selector"]["matchLabels"] == selector
        hpa = default.get("HorizontalPodAutoscaler", name(workload))
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name(workload),
        }
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_probes_use_the_health_endpoints_and_readiness_outwaits_its_checks(
    default: Rendered,
) -> None:
    for workload in SERVICES:
        c = container(default, workload)
        assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert c["startupProbe"]["httpGet"]["path"] == "/health/live"
        # shared.health gives each readiness check up to 3 s.
        assert c["readinessProbe"]["timeoutSeconds"] > 3
        assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_graceful_shutdown_sleeps_before_sigterm_within_the_grace_period(
    default: Rendered,
) -> None:
    for workload in SERVICES:
        pod = default.get("Deployment", name(workload))["spec"]["template"]["spec"]
        sleep = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
        assert sleep[0] == "sleep"
        assert 0 < int(sleep[1]) < pod["terminationGracePeriodSeconds"]
    native = render({"shutdown": {"preStopMode": "sleep", "preStopSleepSeconds": 15}})
    assert container(native, "orders")["lifecycle"]["preStop"] == {"sleep": {"seconds": 15}}
    with pytest.raises(RenderError, match="terminationGracePeriodSeconds must be longer"):
        render({"shutdown": {"preStopSleepSeconds": 30, "terminationGracePeriodSeconds": 30}})


def test_each_service_is_started_with_strata_serve_on_the_container_port(
    default: Rendered,
) -> None:
    assert container(default, "orders")["command"] == ["strata"]
    assert container(default, "orders")["args"] == [
        "serve",
        "orders",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    assert container(default, "erp-us")["args"][:4] == ["serve", "erp", "--instance", "us"]
    moved = render({"containerPort": 9000})
    assert container(moved, "shopify")["args"][-1] == "9000"
    assert container(moved, "shopify")["ports"][0]["containerPort"] == 9000


def test_erp_instances_are_separate_deployments_with_their_own_settings_and_password(
    default: Rendered,
) -> None:
    for instance in ("eu", "us"):
        env = environment(default, f"erp-{instance}")
        settings = load_erp_settings(env)
        assert settings.instance == instance
        assert settings.tryton_database == f"strata_{instance}"
        assert settings.tryton_password == f"<secret strata-erp-{instance}/password>"
        labels = default.get("Deployment", name(f"erp-{instance}"))["metadata"]["labels"]
        assert labels["strata.io/erp-instance"] == instance
    three = render(
        {"services": {"erp": {"instances": [{"name": "eu"}, {"name": "us"}, {"name": "uk"}]}}}
    )
    assert {n for n in three.names("Deployment") if "-erp-" in n} == {
        name("erp-eu"),
        name("erp-us"),
        name("erp-uk"),
    }
    orders = load_orders_settings(environment(three, "orders"))
    assert orders.erp_instances == {
        "eu": "http://shop-strata-erp-eu:80",
        "us": "http://shop-strata-erp-us:80",
        "uk": "http://shop-strata-erp-uk:80",
    }
    with pytest.raises(RenderError, match="listed twice"):
        render({"services": {"erp": {"instances": [{"name": "eu"}, {"name": "eu"}]}}})


def test_an_instance_overrides_the_erp_defaults_block_by_block() -> None:
    rendered = render(
        {
            "services": {
                "erp": {
                    "instances": [
                        {"name": "eu", "autoscaling": {"enabled": False}, "replicas": 3},
                        {"name": "us"},
                    ]
                }
            }
        }
    )
    assert rendered.get("Deployment", name("erp-eu"))["spec"]["replicas"] == 3
    assert name("erp-eu") not in rendered.names("HorizontalPodAutoscaler")
    assert name("erp-us") in rendered.names("HorizontalPodAutoscaler")


def test_the_orders_settings_the_chart_writes_are_the_ones_the_service_reads(
    default: Rendered,
) -> None:
    env = environment(default, "orders")
    orders = load_orders_settings(env)
    assert orders.shopify_api_url == "http://shop-strata-shopify:80"
    assert orders.erp_instances["us"] == "http://shop-strata-erp-us:80"
    assert orders.redis_url == "redis://redis.redis.svc.cluster.local:6379/0"
    assert orders.token_url == "https://id.example.com/oauth/token"
    assert orders.client_id == "orders"
    assert orders.run_workers is True
    auth = load_auth_settings(env)
    assert auth.issuer == "https://id.example.com"
    assert auth.algorithms == ("RS256", "ES256", "EdDSA")
    limits = load_rate_limit_settings("STRATA_ORDERS_", "/orders/", orders.redis_url, env)
    assert limits.cluster is False
    assert limits.redis_url == orders.redis_url


def test_the_orders_worker_is_its_own_deployment_and_the_api_stops_consuming() -> None:
    rendered = render({"services": {"orders": {"worker": {"enabled": True}}}})
    worker = container(rendered, "orders-worker")
    assert worker["args"] == ["worker", "orders", "--host", "0.0.0.0", "--port", "8080"]
    assert worker["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert load_orders_settings(environment(rendered, "orders-worker")).run_workers is True
    assert load_orders_settings(environment(rendered, "orders")).run_workers is False
    for kind in PER_WORKLOAD:
        assert name("orders-worker") in rendered.names(kind)
    labels = rendered.get("Deployment", name("orders-worker"))["metadata"]["labels"]
    assert labels["strata.io/layer"] == "process"
    assert labels["strata.io/role"] == "worker"
    silent = render({"services": {"orders": {"worker": {"enabled": True, "serveHttp": False}}}})
    quiet = container(silent, "orders-worker")
    assert "livenessProbe" not in quiet
    assert "ports" not in quiet
    assert quiet["args"] == ["worker", "orders"]
    assert name("orders-worker") not in silent.names("Service")


SECRET_LOOKING = re.compile(r"(PASSWORD|SECRET|_SHOPS|_KEYS|_CLIENTS|_APPS|_ACCOUNTS)$")


def test_secrets_are_only_ever_referenced_never_written_into_a_configmap() -> None:
    rendered = render(
        {
            "auth": {
                "shopifyAppsSecret": {"name": "shopify-apps"},
                "zendeskAccountsSecret": {"name": "zendesk"},
            },
            "redis": {"existingSecret": "redis-url"},
            "services": {
                "auth": {"enabled": True, "keysSecret": {"name": "issuer-keys"}},
                "orders": {
                    "clientSecret": {"name": "orders-oauth"},
                    "secretEnv": [
                        {"name": "STRATA_ORDERS_SERVICE_TOKEN", "secretName": "t", "key": "k"}
                    ],
                    "envFromSecrets": ["orders-extra"],
                },
            },
        }
    )
    for configmap in rendered.of_kind("ConfigMap"):
        for key in configmap.get("data", {}):
            assert not SECRET_LOOKING.search(key), f"{configmap['metadata']['name']}: {key}"
    refs = {item["name"]: item for item in container(rendered, "orders")["env"]}
    assert refs["STRATA_ORDERS_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "orders-oauth",
        "key": "client-secret",
    }
    assert "STRATA_ORDERS_SERVICE_TOKEN" in refs
    assert refs["STRATA_ORDERS_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "redis-url"
    assert "STRATA_ORDERS_REDIS_URL" not in rendered.get("ConfigMap", name("orders"))["data"]
    assert {"secretRef": {"name": "orders-extra"}} in container(rendered, "orders")["envFrom"]
    storefront = {item["name"] for item in container(rendered, "storefront")["env"]}
    desk = {item["name"] for item in container(rendered, "service-desk")["env"]}
    assert "STRATA_AUTH_SHOPIFY_APPS" in storefront
    assert "STRATA_AUTH_SHOPIFY_APPS" not in desk
    assert "STRATA_AUTH_ZENDESK_ACCOUNTS" in desk
    shopify = {item["name"] for item in container(rendered, "shopify")["env"]}
    assert "STRATA_SHOPIFY_SHOPS" in shopify
    issuer = {item["name"] for item in container(rendered, "auth")["env"]}
    assert "STRATA_AUTH_ISSUER_KEYS" in issuer


def test_redis_cluster_reaches_every_service_and_a_node_of_its_own_still_wins() -> None:
    cluster = {"redis": {"url": "rediss://cache.example.com:6380/0", "tls": True, "cluster": True}}
    rendered = render(cluster)
    shopify_env = environment(rendered, "shopify")
    assert shopify_env["STRATA_SHOPIFY_REDIS_URL"] == "rediss://cache.example.com:6380/0"
    del shopify_env["STRATA_SHOPIFY_SHOPS"]  # a secret reference here, JSON in the pod
    shopify = load_shopify_settings(shopify_env)
    assert shopify.redis_cluster is True
    limits = load_rate_limit_settings(
        "STRATA_SHOPIFY_", "/shopify/", shopify.redis_url, shopify_env
    )
    assert limits.cluster is True
    orders = load_orders_settings(environment(rendered, "orders"))
    assert orders.redis_url == "rediss://cache.example.com:6380/0"
    assert orders.redis_cluster is True
    assert orders.ratelimit.cluster is True
    erp = load_erp_settings(environment(rendered, "erp-eu"))
    assert erp.redis_cluster is True
    for service in ("inventory", "service-desk", "storefront"):
        prefix = "STRATA_" + service.upper().replace("-", "_") + "_"
        assert environment(rendered, service)[f"{prefix}REDIS_CLUSTER"] == "true", service
    # A service given a single node of its own keeps it over the release-wide Secret.
    secret = render(
        {"redis": {"existingSecret": "redis-url"}},
        {"services": {"orders": {"settings": {"REDIS_URL": "redis://own:6379/0"}}}},
    )
    refs = {item["name"] for item in container(secret, "orders").get("env", [])}
    assert "STRATA_ORDERS_REDIS_URL" not in refs
    assert environment(secret, "orders")["STRATA_ORDERS_REDIS_URL"] == "redis://own:6379/0"


def test_a_volatile_redis_is_accepted_only_when_the_values_say_so(default: Rendered) -> None:
    variable = "STRATA_SHOPIFY_REDIS_ACCEPT_VOLATILE"
    for service in SERVICES:
        assert not any(k.endswith("_ACCEPT_VOLATILE") for k in environment(default, service))
    accepted = render({"redis": {"acceptVolatile": True}})
    shopify_env = environment(accepted, "shopify")
    assert shopify_env[variable] == "true"
    del shopify_env["STRATA_SHOPIFY_SHOPS"]  # a secret reference here, JSON in the pod
    assert load_shopify_settings(shopify_env).redis_accept_volatile is True
    for service in set(SERVICES) - {"shopify"}:
        assert not any(k.endswith("_ACCEPT_VOLATILE") for k in environment(accepted, service))
    assert "acceptVolatile is true" in accepted.notes
    assert "acceptVolatile is true" not in default.notes
    with pytest.raises(InvalidValues):
        render({"redis": {"acceptVolatile": "yes"}})


def test_autoscaling_off_sets_replicas_and_a_blocking_pdb_is_refused() -> None:
    rendered = render({"services": {"storefront": {"autoscaling": {"enabled": False}}}})
    assert rendered.get("Deployment", name("storefront"))["spec"]["replicas"] == 2
    assert name("storefront") not in rendered.names("HorizontalPodAutoscaler")
    with pytest.raises(RenderError, match="minAvailable must be below"):
        render(
            {
                "services": {
                    "storefront": {
                        "autoscaling": {"enabled": False},
                        "replicas": 1,
                        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
                    }
                }
            }
        )


def test_a_settings_change_rolls_the_pods(default: Rendered) -> None:
    def checksum(rendered: Rendered) -> str:
        pod = rendered.get("Deployment", name("orders"))["spec"]["template"]["metadata"]
        return str(pod["annotations"]["checksum/config"])

    changed = render({"services": {"orders": {"settings": {"WORKER_CONCURRENCY": 32}}}})
    assert environment(changed, "orders")["STRATA_ORDERS_WORKER_CONCURRENCY"] == "32"
    assert load_orders_settings(environment(changed, "orders")).worker_concurrency == 32
    assert checksum(changed) != checksum(default)
    assert checksum(render()) == checksum(default)


def test_pods_run_unprivileged(default: Rendered) -> None:
    for workload in SERVICES:
        pod = default.get("Deployment", name(workload))["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        sc = pod["containers"][0]["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False


def test_the_issuer_refuses_to_scale_without_shared_keys() -> None:
    with pytest.raises(RenderError, match="needs keysSecret"):
        render({"services": {"auth": {"enabled": True, "replicas": 2}}})
    render({"services": {"auth": {"enabled": True, "replicas": 2, "keysSecret": {"name": "k"}}}})


def test_the_ingress_exposes_the_experience_hosts_and_only_the_webhook_path_of_shopify() -> None:
    rendered = render(
        {
            "ingress": {
                "enabled": True,
                "hosts": {"storefront": "shop.example.com"},
                "shopifyWebhooks": {"host": "hooks.example.com"},
            }
        }
    )
    experience = rendered.get("Ingress", "shop-strata-experience")
    backends = {
        r["host"]: r["http"]["paths"][0]["backend"]["service"]["name"]
        for r in experience["spec"]["rules"]
    }
    assert backends == {"shop.example.com": name("storefront")}
    hooks = rendered.get("Ingress", "shop-strata-shopify-webhooks")
    (rule,) = hooks["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/shopify/v1/webhooks", "Exact")
    assert render().of_kind("Ingress") == []


# --- NetworkPolicy semantics, evaluated as the Kubernetes API defines them -------------------

INGRESS_NS = {"kubernetes.io/metadata.name": "ingress-nginx"}
INGRESS_POD = {"app.kubernetes.io/name": "ingress-nginx"}
MONITORING_NS = {"kubernetes.io/metadata.name": "monitoring"}
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}
OWN_NS = {"kubernetes.io/metadata.name": NAMESPACE}


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    assert set(selector) <= {"matchLabels"}, "only matchLabels is evaluated here"
    return dict(selector.get("matchLabels", {})).items() <= labels.items()


def _peer_matches(peer: dict[str, Any], pod: dict[str, str], ns: dict[str, str]) -> bool:
    if "ipBlock" in peer:
        return False  # only pod-to-pod traffic is evaluated
    if "namespaceSelector" not in peer:
        return ns == OWN_NS and _selects(peer.get("podSelector"), pod)
    return _selects(peer["namespaceSelector"], ns) and _selects(peer.get("podSelector"), pod)


def _pod(rendered: Rendered, workload: str) -> dict[str, str]:
    labels: dict[str, str] = rendered.get("Deployment", name(workload))["spec"]["template"][
        "metadata"
    ]["labels"]
    return labels


def ingress_allowed(
    rendered: Rendered, src: dict[str, str], src_ns: dict[str, str], dst: dict[str, str]
) -> bool:
    policies = [
        p
        for p in rendered.of_kind("NetworkPolicy")
        if "Ingress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], dst)
    ]
    if not policies:
        return True
    return any(
        any(_peer_matches(peer, src, src_ns) for peer in rule.get("from", []))
        for p in policies
        for rule in p["spec"].get("ingress", [])
    )


def egress_allowed(rendered: Rendered, src: dict[str, str], dst: dict[str, str]) -> bool:
    policies = [
        p
        for p in rendered.of_kind("NetworkPolicy")
        if "Egress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], src)
    ]
    if not policies:
        return True
    return any(
        any(_peer_matches(peer, dst, OWN_NS) for peer in rule.get("to", []))
        and any(port["port"] == "http" for port in rule.get("ports", []))
        for p in policies
        for rule in p["spec"].get("egress", [])
    )


LAYER = {"storefront": "experience", "service-desk": "experience"}
LAYER |= {"orders": "process", "inventory": "process"}
LAYER |= {"erp-eu": "system", "erp-us": "system", "shopify": "system"}
CALLER = {"experience": None, "process": "experience", "system": "process"}


def test_only_the_layer_above_reaches_a_layer(default: Rendered) -> None:
    for src in LAYER:
        for dst in LAYER:
            allowed = ingress_allowed(default, _pod(default, src), OWN_NS, _pod(default, dst))
            assert allowed == (CALLER[LAYER[dst]] == LAYER[src]), f"{src} -> {dst}"
            out = egress_allowed(default, _pod(default, src), _pod(default, dst))
            assert out == (CALLER[LAYER[dst]] == LAYER[src]), f"egress {src} -> {dst}"


def test_the_ingress_controller_reaches_experience_and_shopify_only(default: Rendered) -> None:
    for dst, layer in LAYER.items():
        allowed = ingress_allowed(default, INGRESS_POD, INGRESS_NS, _pod(default, dst))
        assert allowed == (layer == "experience" or dst == "shopify"), dst
    # The same labels in another namespace are not the ingress controller.
    other_ns = {"kubernetes.io/metadata.name": "tenant-a"}
    assert not ingress_allowed(default, INGRESS_POD, other_ns, _pod(default, "storefront"))


def test_prometheus_may_scrape_every_pod_and_nothing_else_from_outside_may(
    default: Rendered,
) -> None:
    for dst in LAYER:
        assert ingress_allowed(default, PROMETHEUS_POD, MONITORING_NS, _pod(default, dst))
        assert not ingress_allowed(default, {"app": "x"}, {"x": "y"}, _pod(default, dst))


def test_egress_allows_dns_and_redis_and_can_be_left_open() -> None:
    rendered = render()
    for policy in (rendered.get("NetworkPolicy", f"shop-strata-{layer}") for layer in CALLER):
        ports = {
            (p["port"], p.get("protocol")) for r in policy["spec"]["egress"] for p in r["ports"]
        }
        assert {(53, "UDP"), (53, "TCP"), (6379, "TCP")} <= ports
    open_egress = render({"networkPolicy": {"egress": {"enabled": False}}})
    for policy in open_egress.of_kind("NetworkPolicy"):
        assert "Egress" not in policy["spec"]["policyTypes"]
    assert render({"networkPolicy": {"enabled": False}}).of_kind("NetworkPolicy") == []


def test_the_local_issuer_is_reachable_from_every_strata_pod() -> None:
    rendered = render({"services": {"auth": {"enabled": True}}})
    issuer = _pod(rendered, "auth")
    for src in LAYER:
        assert ingress_allowed(rendered, _pod(rendered, src), OWN_NS, issuer)
        assert egress_allowed(rendered, _pod(rendered, src), issuer)
    assert not ingress_allowed(rendered, {"app": "other"}, OWN_NS, issuer)


# --- Monitoring --------------------------------------------------------------------------------

BUSINESS_METRICS = [
    "strata_orders_awaiting_ack",
    "strata_orders_oldest_awaiting_ack_seconds",
    "strata_dead_letters",
    "strata_open_exceptions",
    "strata_webhooks_duplicates_total",
    "strata_ratelimited_requests_total",
    "strata_http_requests_total",
    "strata_http_request_duration_seconds_bucket",
]


def test_the_service_monitor_is_switchable_and_scrapes_metrics(default: Rendered) -> None:
    assert default.of_kind("ServiceMonitor") == []
    rendered = render({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"r": "p"}}}})
    (monitor,) = rendered.of_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["r"] == "p"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] == "http"
    assert endpoint["honorLabels"] is True
    for workload in SERVICES:
        labels = rendered.get("Service", name(workload))["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_dashboard_configmap_carries_every_business_metric(default: Rendered) -> None:
    configmap = default.get("ConfigMap", "shop-strata-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["strata-overview.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for metric in BUSINESS_METRICS:
        assert any(metric in e for e in exprs), metric
    assert any("by (client" in e and "strata_ratelimited" in e for e in exprs)
    assert any("by (service, method, route" in e for e in exprs)
    for expr in exprs:
        assert expr.count("(") == expr.count(")"), expr
        assert expr.count("{") == expr.count("}"), expr
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert render({"metrics": {"dashboard": {"enabled": False}}}).names("ConfigMap") == {
        name(s) for s in SERVICES
    }


def test_the_local_issuer_reads_its_settings_and_signs_for_the_issuer_services_trust() -> None:
    from sandbox.auth.issuer import load_issuer_settings

    rendered = render({"services": {"auth": {"enabled": True}}}, with_required=False)
    settings = load_issuer_settings(environment(rendered, "auth"))
    assert settings.issuer == "http://shop-strata-auth:80"
    assert settings.issuer == environment(rendered, "storefront")["STRATA_AUTH_ISSUER"]
    # The root filesystem is read-only: keys made at start-up go to the /tmp volume.
    assert settings.keys_path is not None
    assert settings.keys_path.startswith("/tmp/")  # noqa: S108 - the pod's emptyDir
