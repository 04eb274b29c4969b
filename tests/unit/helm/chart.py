"""Render, lint and validate the Strata chart with the real Helm engine.

``helm-python-sdk`` binds Helm v4's own Go SDK (no ``helm`` binary needed), so what the tests
see is what ``helm template``, ``helm lint`` and ``helm install`` do: the same template
functions, the same value coalescing (a ``null`` override deletes a key), and the same
``values.schema.json`` validation before anything renders.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CHART = Path(__file__).resolve().parents[3] / "helm" / "strata"
#: The values file that turns every optional part of the chart on (chart-testing's ``ci/``).
ALL_FEATURES = CHART / "ci" / "all-features-values.yaml"
RELEASE = "shop"
NAMESPACE = "retail"
# The base every rendering test starts from: the chart's defaults plus the one required value.
REQUIRED: dict[str, Any] = {"auth": {"issuer": "https://id.example.com"}}
#: The oldest Kubernetes the chart supports (``kubeVersion`` in Chart.yaml) and a recent one.
KUBE_VERSIONS = ("v1.25.0", "v1.33.0")

#: A template called ``fail``, or rendered to something Helm refuses.
RenderError = helm.HelmRenderError
#: The values break ``values.schema.json`` (Helm refuses them before rendering).
InvalidValues = helm.HelmValuesError


@dataclass
class Rendered:
    """What ``helm template`` printed: the objects, and NOTES.txt apart."""

    manifests: list[dict[str, Any]]
    notes: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.manifests if m["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for m in self.manifests:
            if m["kind"] == kind and m["metadata"]["name"] == name:
                return m
        raise KeyError(f"{kind}/{name} not rendered")

    def names(self, kind: str) -> set[str]:
        return {m["metadata"]["name"] for m in self.of_kind(kind)}

    @property
    def installed(self) -> list[dict[str, Any]]:
        """The objects ``helm install`` creates (``helm test`` hooks left out)."""
        return [m for m in self.manifests if not hook(m)]

    @property
    def tests(self) -> list[dict[str, Any]]:
        """The ``helm test`` hooks."""
        return [m for m in self.manifests if hook(m) == "test"]


def hook(manifest: dict[str, Any]) -> str | None:
    annotations = manifest["metadata"].get("annotations") or {}
    value = annotations.get("helm.sh/hook")
    return str(value) if value is not None else None


@functools.cache
def _chart() -> helm.Chart:
    """The chart as Helm loads it (templates, values, schema, files), once per session."""
    return helm.Chart.load(CHART)


def chart_values() -> dict[str, Any]:
    """The chart's default values, as Helm reads ``values.yaml``."""
    return _chart().values


def all_features_values() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ALL_FEATURES.read_text())
    return data


def layer(*overrides: dict[str, Any]) -> dict[str, Any]:
    """Several ``-f`` files as Helm merges them: maps deeply, later wins, ``null`` kept (the
    chart's defaults are coalesced under them afterwards, where a ``null`` deletes)."""
    out: dict[str, Any] = {}
    for override in overrides:
        out = _merge(out, override)
    return out


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merged_values(*overrides: dict[str, Any]) -> dict[str, Any]:
    """The values a release would run with: the chart's defaults under ``overrides``."""
    return _chart().merge_values(layer(*overrides))


def schema_errors(*overrides: dict[str, Any]) -> list[str]:
    """Every way the chart's defaults under ``overrides`` break its schema, one line each as
    Helm says it (``at '/services/orders/enabled': got string, want boolean``)."""
    try:
        _chart().validate_schema(layer(*overrides))
    except helm.HelmValuesError as exc:
        lines = [line.strip() for line in str(exc).splitlines()]
        return [line.removeprefix("- ") for line in lines if line.startswith("- ")]
    return []


def render(*overrides: dict[str, Any], with_required: bool = True) -> Rendered:
    """``helm template shop helm/strata -n retail -f ...`` for the given override layers."""
    values = layer(*(((REQUIRED,) if with_required else ()) + overrides))
    output = _chart().render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests: list[dict[str, Any]] = []
    notes = ""
    for path in sorted(output):
        text = output[path]
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        try:
            documents = list(yaml.load_all(text, Loader=_LOADER))
        except yaml.YAMLError as exc:
            raise AssertionError(f"{path} does not render to YAML: {exc}\n{text}") from None
        manifests.extend(d for d in documents if d is not None)
    return Rendered(manifests, notes)


def lint(*overrides: dict[str, Any], kube_version: str = KUBE_VERSIONS[0]) -> list[str]:
    """``helm lint --strict`` findings (warnings and errors; info messages too, as lines)."""
    report = helm.lint(
        CHART,
        layer(REQUIRED, *overrides),
        strict=True,
        namespace=NAMESPACE,
        kube_version=kube_version,
    )
    severity = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
    findings = [
        f"[{severity.get(m['severity'], m['severity'])}] {m['path']}: {m['error']}"
        for m in report["messages"]
    ]
    return findings + [f"[ERROR] {e}" for e in report.get("errors") or []]


def template_sources() -> dict[str, str]:
    """Every file under ``templates/`` (helpers and hooks too), by its path in the chart."""
    return {
        str(p.relative_to(CHART)): p.read_text()
        for p in sorted((CHART / "templates").rglob("*"))
        if p.is_file()
    }


def defined_helpers() -> set[str]:
    return {
        name
        for text in template_sources().values()
        for name in re.findall(r'define "([^"]+)"', text)
    }


def included_helpers() -> set[str]:
    return {
        name
        for text in template_sources().values()
        for name in re.findall(r'(?:include|template) "([^"]+)"', text)
    }
