"""values.yaml satisfies values.schema.json, and the schema turns away values that would break
(validated by Helm itself, as ``helm install`` does before rendering)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helm.chart import (
    InvalidValues,
    all_features_values,
    chart_values,
    merged_values,
    render,
    schema_errors,
)


def test_the_chart_defaults_validate() -> None:
    assert schema_errors() == []
    assert schema_errors(chart_values()) == []


def test_the_all_features_values_validate() -> None:
    assert schema_errors(all_features_values()) == []


def test_a_full_production_like_override_validates() -> None:
    values: dict[str, Any] = {
        "auth": {"issuer": "https://id.example.com", "shopifyAppsSecret": {"name": "apps"}},
        "redis": {"url": "rediss://redis.example.com:6380/0", "tls": True, "cluster": True},
        "services": {
            "orders": {"worker": {"enabled": True}, "clientSecret": {"name": "orders-oauth"}},
            "erp": {"instances": [{"name": "eu"}, {"name": "uk", "replicas": 3}]},
            "service-desk": {"enabled": False},
        },
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
    }
    assert schema_errors(values) == []


BAD: dict[str, dict[str, Any]] = {
    "unknown top-level key": {"replicaCount": 3},
    "unknown service": {"services": {"billing": {"enabled": True}}},
    "service block with a typo": {"services": {"orders": {"autoscalling": {}}}},
    "enabled not a boolean": {"services": {"orders": {"enabled": "yes"}}},
    "zero replicas": {"services": {"shopify": {"replicas": 0}}},
    "autoscaling on without a target": {
        "services": {
            "inventory": {
                "autoscaling": {
                    "enabled": True,
                    "minReplicas": 2,
                    "maxReplicas": 4,
                    "targetCPUUtilizationPercentage": None,
                }
            }
        }
    },
    "resource quantity not a quantity": {
        "services": {"storefront": {"resources": {"requests": {"cpu": "lots"}}}}
    },
    "pdb percent malformed": {
        "services": {"inventory": {"podDisruptionBudget": {"enabled": True, "minAvailable": "50"}}}
    },
    "erp instance name upper-case": {"services": {"erp": {"instances": [{"name": "EU"}]}}},
    "erp without instances": {"services": {"erp": {"instances": []}}},
    "setting key not upper-case": {"services": {"orders": {"settings": {"run_workers": "x"}}}},
    "setting value an object": {"services": {"orders": {"settings": {"ROUTES": {"a": 1}}}}},
    "secretEnv outside STRATA_": {
        "services": {"orders": {"secretEnv": [{"name": "PATH", "secretName": "s", "key": "k"}]}}
    },
    "secretEnv without key": {
        "services": {"orders": {"secretEnv": [{"name": "STRATA_ORDERS_X", "secretName": "s"}]}}
    },
    "secret value given instead of a reference": {
        "services": {"shopify": {"shopsSecret": {"name": "s", "key": "k", "value": "{}"}}}
    },
    "redis tls with a plain url": {"redis": {"tls": True}},
    "redis plain with a rediss url": {"redis": {"url": "rediss://r:6380/0"}},
    "redis url not redis": {"redis": {"url": "http://redis:6379"}},
    "symmetric token algorithm": {"auth": {"algorithms": ["HS256"]}},
    "probe pointing elsewhere": {"probes": {"readiness": {"path": "/healthz"}}},
    "unknown preStop mode": {"shutdown": {"preStopMode": "signal"}},
    "image digest malformed": {"image": {"digest": "latest"}},
    "unknown authenticator": {"services": {"storefront": {"authenticators": ["basic"]}}},
    "egress port out of range": {"networkPolicy": {"egress": {"redis": {"ports": [70000]}}}},
    "scrape interval malformed": {"metrics": {"serviceMonitor": {"interval": "often"}}},
    "keda address not host:port": {
        "services": {"orders": {"worker": {"keda": {"address": "redis://r:6379"}}}}
    },
    "unknown sampler": {"telemetry": {"tracesSampler": "sometimes"}},
    "sampler ratio above one": {"telemetry": {"tracesSamplerArg": "1.5"}},
    "alert error ratio above one": {"metrics": {"prometheusRule": {"errorRatio": 5}}},
}


# Where (or what) each error above must name, as Helm reports it (a JSON pointer), so that a
# rejection for another reason fails.
BLAMED: dict[str, str] = {
    "unknown top-level key": "'replicaCount' not allowed",
    "unknown service": "'billing' not allowed",
    "service block with a typo": "'autoscalling' not allowed",
    "enabled not a boolean": "at '/services/orders/enabled'",
    "zero replicas": "at '/services/shopify/replicas'",
    "autoscaling on without a target": "at '/services/inventory/autoscaling'",
    "resource quantity not a quantity": "at '/services/storefront/resources/requests/cpu'",
    "pdb percent malformed": "at '/services/inventory/podDisruptionBudget/minAvailable'",
    "erp instance name upper-case": "at '/services/erp/instances/0/name'",
    "erp without instances": "at '/services/erp/instances'",
    "setting key not upper-case": "'run_workers'",
    "setting value an object": "at '/services/orders/settings/ROUTES'",
    "secretEnv outside STRATA_": "at '/services/orders/secretEnv/0/name'",
    "secretEnv without key": "at '/services/orders/secretEnv/0'",
    "secret value given instead of a reference": "'value' not allowed",
    "redis tls with a plain url": "at '/redis/url'",
    "redis plain with a rediss url": "at '/redis/url'",
    "redis url not redis": "at '/redis/url'",
    "symmetric token algorithm": "at '/auth/algorithms/0'",
    "probe pointing elsewhere": "at '/probes/readiness/path'",
    "unknown preStop mode": "at '/shutdown/preStopMode'",
    "image digest malformed": "at '/image/digest'",
    "unknown authenticator": "at '/services/storefront/authenticators/0'",
    "egress port out of range": "at '/networkPolicy/egress/redis/ports/0'",
    "scrape interval malformed": "at '/metrics/serviceMonitor/interval'",
    "keda address not host:port": "at '/services/orders/worker/keda/address'",
    "unknown sampler": "at '/telemetry/tracesSampler'",
    "sampler ratio above one": "at '/telemetry/tracesSamplerArg'",
    "alert error ratio above one": "at '/metrics/prometheusRule/errorRatio'",
}


@pytest.mark.parametrize("case", BAD.keys())
def test_bad_values_are_rejected_for_the_right_reason(case: str) -> None:
    errors = schema_errors(BAD[case])
    assert errors, f"{case}: accepted"
    assert any(BLAMED[case] in e for e in errors), errors


def test_helm_refuses_to_render_values_the_schema_turns_away() -> None:
    with pytest.raises(InvalidValues, match="replicaCount"):
        render({"replicaCount": 3})


def test_a_null_override_deletes_a_default_as_helm_coalesces() -> None:
    values = merged_values({"auth": {"jwksUrl": None}})
    assert "jwksUrl" not in values["auth"]
    assert values["auth"]["audience"] == "strata"
