"""The chart as Helm's own linter and loader see it; every helper and value a template names
exists."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.unit.helm.chart import (
    CHART,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    REQUIRED,
    all_features_values,
    chart_values,
    defined_helpers,
    included_helpers,
    lint,
    template_sources,
)


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", ["defaults", "all features"])
def test_helm_lint_strict_finds_nothing(values: str, kube_version: str) -> None:
    overrides = all_features_values() if values == "all features" else {}
    assert lint(overrides, kube_version=kube_version) == []


def test_helm_lint_does_report_a_broken_chart(tmp_path: Path) -> None:
    broken = tmp_path / "strata"
    shutil.copytree(CHART, broken)
    (broken / "templates" / "broken.yaml").write_text("kind: [unclosed\n")
    report = helm.lint(broken, REQUIRED, strict=True)
    assert any(m["severity"] == 3 for m in report["messages"]), report


def test_every_helper_that_is_included_is_defined_and_every_helper_is_used() -> None:
    assert included_helpers() - defined_helpers() == set()
    assert defined_helpers() - included_helpers() == set()


def test_a_template_naming_an_unknown_helper_fails_when_rendered(tmp_path: Path) -> None:
    copy = tmp_path / "strata"
    shutil.copytree(CHART, copy)
    (copy / "templates" / "broken.yaml").write_text('{{ include "strata.nope" . }}\n')
    with helm.Chart.load(copy) as chart, pytest.raises(helm.HelmRenderError, match=r"strata\.nope"):
        chart.render(REQUIRED, name=RELEASE, namespace=NAMESPACE)


def _values_paths(text: str) -> set[str]:
    return set(re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text))


def _resolves(values: Any, path: str) -> bool:
    node = values
    for part in path.strip(".").split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_values_path_a_template_reads_exists_in_values_yaml() -> None:
    values = chart_values()
    missing = [
        f"{name}: .Values{path}"
        for name, text in template_sources().items()
        for path in _values_paths(text)
        if not _resolves(values, path)
    ]
    assert missing == []


def test_the_chart_metadata_is_a_helm_v2_application_chart_with_an_icon() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    assert chart["name"] == "strata"
    assert not (CHART / "requirements.yaml").exists()
    # The icon is the chart's own file, served from the repository.
    assert chart["icon"].startswith("https://")
    assert chart["icon"].endswith("/helm/strata/icon.svg")
    assert (CHART / "icon.svg").read_text().lstrip().startswith("<svg")
    with helm.Chart.load(CHART) as loaded:
        assert loaded.metadata["icon"] == chart["icon"]
