"""Every object the Helm chart renders is valid against the Kubernetes API schemas.

The schemas come with the ``kubernetes-validate`` package (no download at run time); strict
mode also refuses fields Kubernetes does not know. The chart's floor is Kubernetes 1.25
(``kubeVersion`` in Chart.yaml); the kubelet's own preStop sleep needs 1.30.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helm.chart import Rendered, render

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="pip install kubernetes-validate (bundles the API schemas)"
)

pytestmark = pytest.mark.contract

EVERYTHING_ON: dict[str, Any] = {
    "auth": {
        "shopifyAppsSecret": {"name": "shopify-apps"},
        "zendeskAccountsSecret": {"name": "zendesk"},
    },
    "redis": {"existingSecret": "redis-url"},
    "image": {"pullSecrets": ["registry"], "digest": "sha256:" + "a" * 64},
    "commonLabels": {"team": "retail-integration"},
    "serviceAccount": {"annotations": {"example.com/role": "strata"}},
    "services": {
        "auth": {"enabled": True},
        "orders": {
            "worker": {"enabled": True},
            "clientSecret": {"name": "orders-oauth"},
            "envFromSecrets": ["orders-extra"],
            "podAnnotations": {"example.com/owner": "orders"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "strata"}],
            "autoscaling": {
                "targetMemoryUtilizationPercentage": 80,
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
            },
        },
        "erp": {
            "instances": [
                {"name": "eu", "autoscaling": {"enabled": False}, "replicas": 3},
                {"name": "us", "podDisruptionBudget": {"enabled": True, "minAvailable": "50%"}},
            ]
        },
    },
    "ingress": {
        "enabled": True,
        "hosts": {"storefront": "shop.example.com", "service-desk": "desk.example.com"},
        "tls": [{"secretName": "strata-tls", "hosts": ["shop.example.com"]}],
        "shopifyWebhooks": {"host": "hooks.example.com"},
    },
    "metrics": {"serviceMonitor": {"enabled": True}},
}

CASES = {
    "defaults": ({}, ["1.25.0", kubernetes_validate.latest_version()]),
    "everything on": (EVERYTHING_ON, ["1.25.0", kubernetes_validate.latest_version()]),
    "native preStop sleep": ({"shutdown": {"preStopMode": "sleep"}}, ["1.30.0"]),
    "no network policy egress": ({"networkPolicy": {"egress": {"enabled": False}}}, ["1.25.0"]),
}


def _core(rendered: Rendered) -> list[dict[str, Any]]:
    return [m for m in rendered.manifests if not m["apiVersion"].startswith("monitoring.")]


@pytest.mark.parametrize("case", CASES)
def test_rendered_objects_validate_against_kubernetes_schemas(case: str) -> None:
    overrides, versions = CASES[case]
    rendered = render(overrides)
    assert rendered.manifests
    failures = []
    for version in versions:
        for manifest in _core(rendered):
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                failures.append(
                    f"{version} {manifest['kind']}/{manifest['metadata']['name']}: "
                    f"{where}: {exc.message}"
                )
    assert failures == []


def test_the_validator_does_catch_a_broken_object() -> None:
    rendered = render()
    deployment = rendered.of_kind("Deployment")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.25.0", strict=True)


def test_the_service_monitor_has_what_the_prometheus_operator_requires() -> None:
    (monitor,) = render(EVERYTHING_ON).of_kind("ServiceMonitor")
    assert monitor["kind"] == "ServiceMonitor"
    assert set(monitor["spec"]) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    assert monitor["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["retail"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "honorLabels"}
