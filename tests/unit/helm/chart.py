"""Render the Strata chart the way ``helm template`` would, with :mod:`gotemplate`.

Values are coalesced as Helm does (the chart's ``values.yaml`` under the given overrides, a
``null`` override deleting a key), validated against ``values.schema.json`` first, and every
file under ``templates/`` not starting with ``_`` is rendered and split into YAML documents.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from tests.unit.helm.gotemplate import TemplateError, Templates, as_float64

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CHART = Path(__file__).resolve().parents[3] / "helm" / "strata"
RELEASE = "shop"
NAMESPACE = "retail"
# The base every rendering test starts from: the chart's defaults plus the one required value.
REQUIRED = {"auth": {"issuer": "https://id.example.com"}}


class InvalidValues(Exception):
    """The values do not match ``values.schema.json`` (Helm refuses them before rendering)."""


@dataclass
class Rendered:
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


def chart_values() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return data


def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return data


def coalesce(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's value coalescing: maps merge deeply, other values replace, null deletes."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = coalesce(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def schema_errors(values: dict[str, Any]) -> list[str]:
    """Every way ``values`` breaks the chart's schema."""
    validator = jsonschema_rs.Draft7Validator(schema())
    return [
        f"{'.'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(values)
    ]


def load_templates() -> Templates:
    """Every file of ``templates/`` parsed into one set, as Helm loads a chart."""
    templates = Templates()
    for path in sorted((CHART / "templates").iterdir()):
        if path.is_file():
            templates.add(path.name, path.read_text())
    return templates


def render(*overrides: dict[str, Any], with_required: bool = True) -> Rendered:
    """``helm template shop helm/strata -n retail -f ...`` for the given override layers."""
    values = chart_values()
    for layer in ((REQUIRED,) if with_required else ()) + overrides:
        values = coalesce(values, layer)
    errors = schema_errors(values)
    if errors:
        raise InvalidValues("; ".join(errors))
    chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    data = {
        "Values": as_float64(values),
        "Release": {
            "Name": RELEASE,
            "Namespace": NAMESPACE,
            "Service": "Helm",
            "IsInstall": True,
            "IsUpgrade": False,
            "Revision": 1.0,
        },
        "Chart": {
            "Name": chart_meta["name"],
            "Version": chart_meta["version"],
            "AppVersion": chart_meta["appVersion"],
        },
        "Capabilities": {"KubeVersion": {"Version": "v1.30.0"}},
        "Template": {"BasePath": "strata/templates"},
        "Files": {"Get": _files_get},
    }
    templates = load_templates()
    manifests: list[dict[str, Any]] = []
    notes = ""
    for name in sorted(templates.files):
        if name.startswith("_"):
            continue
        text = templates.render(name, data)
        if name == "NOTES.txt":
            notes = text
            continue
        try:
            documents = list(yaml.load_all(text, Loader=_LOADER))
        except yaml.YAMLError as exc:
            raise TemplateError(f"{name} does not render to YAML: {exc}\n{text}") from None
        manifests.extend(d for d in documents if d is not None)
    return Rendered(manifests, notes)


def _files_get(path: str) -> str:
    target = (CHART / path).resolve()
    if CHART not in target.parents or not target.is_file():
        return ""
    return target.read_text()
