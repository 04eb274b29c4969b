"""Every object the Helm chart renders (with the real Helm engine) is valid against the
Kubernetes API schemas.

The schemas come with the ``kubernetes-validate`` package (no download at run time); strict
mode also refuses fields Kubernetes does not know. The chart's floor is Kubernetes 1.25
(``kubeVersion`` in Chart.yaml); the kubelet's own preStop sleep needs 1.30. The custom
resources (the Prometheus Operator's ServiceMonitor and PrometheusRule, KEDA's ScaledObject)
have no schema there: their required shape is checked here by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helm.chart import Rendered, all_features_values, render

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="pip install kubernetes-validate (bundles the API schemas)"
)

pytestmark = pytest.mark.contract

CUSTOM = {"monitoring.coreos.com/v1", "keda.sh/v1alpha1"}
FLOOR = "1.25.0"
LATEST = kubernetes_validate.latest_version()

CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "defaults": ({}, [FLOOR, LATEST]),
    "all features": (all_features_values(), [FLOOR, LATEST]),
    "native preStop sleep": ({"shutdown": {"preStopMode": "sleep"}}, ["1.30.0", LATEST]),
    "no network policy egress": ({"networkPolicy": {"egress": {"enabled": False}}}, [FLOOR]),
    "http-less worker": (
        {"services": {"orders": {"worker": {"enabled": True, "serveHttp": False}}}},
        [FLOOR],
    ),
}


def _core(rendered: Rendered) -> list[dict[str, Any]]:
    return [m for m in rendered.manifests if m["apiVersion"] not in CUSTOM]


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
        kubernetes_validate.validate(deployment, FLOOR, strict=True)


def test_the_service_monitor_has_what_the_prometheus_operator_requires() -> None:
    (monitor,) = render(all_features_values()).of_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    assert monitor["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["retail"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "honorLabels"}


def test_the_prometheus_rule_has_what_the_prometheus_operator_requires() -> None:
    (rule,) = render(all_features_values()).of_kind("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule["spec"]) == {"groups"}
    names = [g["name"] for g in rule["spec"]["groups"]]
    assert len(names) == len(set(names))
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules"}
        for item in group["rules"]:
            assert set(item) <= {"alert", "record", "expr", "for", "labels", "annotations"}
            assert isinstance(item["expr"], str)
            assert all(isinstance(v, str) for v in item.get("labels", {}).values())
            assert all(isinstance(v, str) for v in item.get("annotations", {}).values())


def test_the_scaled_object_has_what_keda_requires() -> None:
    (scaled,) = render(all_features_values()).of_kind("ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "shop-strata-orders-worker"
    assert set(spec) <= {
        "scaleTargetRef",
        "minReplicaCount",
        "maxReplicaCount",
        "pollingInterval",
        "cooldownPeriod",
        "triggers",
    }
    for trigger in spec["triggers"]:
        assert trigger["type"] == "redis-streams"
        # KEDA reads trigger metadata as a map of strings.
        assert all(isinstance(v, str) for v in trigger["metadata"].values())
        assert {"address", "stream", "consumerGroup", "lagCount"} <= set(trigger["metadata"])
