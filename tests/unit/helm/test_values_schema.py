"""values.yaml satisfies values.schema.json, and the schema turns away values that would break."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helm.chart import chart_values, coalesce, schema_errors


def test_the_chart_defaults_validate() -> None:
    assert schema_errors(chart_values()) == []


def test_a_full_production_like_override_validates() -> None:
    values = coalesce(
        chart_values(),
        {
            "auth": {"issuer": "https://id.example.com", "shopifyAppsSecret": {"name": "apps"}},
            "redis": {"url": "rediss://redis.example.com:6380/0", "tls": True, "cluster": True},
            "services": {
                "orders": {"worker": {"enabled": True}, "clientSecret": {"name": "orders-oauth"}},
                "erp": {"instances": [{"name": "eu"}, {"name": "uk", "replicas": 3}]},
                "partner": {"enabled": False},
            },
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        },
    )
    assert schema_errors(values) == []


BAD: dict[str, dict[str, Any]] = {
    "unknown top-level key": {"replicaCount": 3},
    "unknown service": {"services": {"billing": {"enabled": True}}},
    "service block with a typo": {"services": {"orders": {"autoscalling": {}}}},
    "enabled not a boolean": {"services": {"orders": {"enabled": "yes"}}},
    "zero replicas": {"services": {"shopify": {"replicas": 0}}},
    "autoscaling on without a target": {
        "services": {
            "returns": {
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
        "services": {"partner": {"podDisruptionBudget": {"enabled": True, "minAvailable": "50"}}}
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
}


# Where (or what) each error above must name, so a rejection for another reason fails.
BLAMED: dict[str, str] = {
    "unknown top-level key": "replicaCount",
    "unknown service": "billing",
    "service block with a typo": "autoscalling",
    "enabled not a boolean": "services.orders.enabled",
    "zero replicas": "services.shopify.replicas",
    "autoscaling on without a target": "services.returns.autoscaling",
    "resource quantity not a quantity": "services.storefront.resources.requests.cpu",
    "pdb percent malformed": "services.partner.podDisruptionBudget.minAvailable",
    "erp instance name upper-case": "services.erp.instances.0.name",
    "erp without instances": "services.erp.instances",
    "setting key not upper-case": "run_workers",
    "setting value an object": "services.orders.settings.ROUTES",
    "secretEnv outside STRATA_": "services.orders.secretEnv.0.name",
    "secretEnv without key": "services.orders.secretEnv.0",
    "secret value given instead of a reference": "'value' was unexpected",
    "redis tls with a plain url": "redis.url",
    "redis plain with a rediss url": "redis.url",
    "redis url not redis": "redis.url",
    "symmetric token algorithm": "auth.algorithms.0",
    "probe pointing elsewhere": "probes.readiness.path",
    "unknown preStop mode": "shutdown.preStopMode",
    "image digest malformed": "image.digest",
    "unknown authenticator": "services.storefront.authenticators.0",
    "egress port out of range": "networkPolicy.egress.redis.ports.0",
    "scrape interval malformed": "metrics.serviceMonitor.interval",
}


@pytest.mark.parametrize("case", BAD.keys())
def test_bad_values_are_rejected_for_the_right_reason(case: str) -> None:
    errors = schema_errors(coalesce(chart_values(), BAD[case]))
    assert errors, f"{case}: accepted"
    assert any(BLAMED[case] in e for e in errors), errors
