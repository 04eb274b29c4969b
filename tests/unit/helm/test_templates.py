"""Every template is well-formed Go-template text and refers only to what exists."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.unit.helm.chart import CHART, chart_values, load_templates
from tests.unit.helm.gotemplate import TemplateError, Templates

TEMPLATE_FILES = sorted(p.name for p in (CHART / "templates").iterdir() if p.is_file())


@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_each_template_parses_on_its_own(name: str) -> None:
    text = (CHART / "templates" / name).read_text()
    assert text.count("{{") == text.count("}}"), "unbalanced {{ }}"
    Templates().add(name, text)


def test_every_helper_that_is_included_is_defined_and_every_helper_is_used() -> None:
    templates = load_templates()
    defined = set(templates.parser.defines)
    included: set[str] = set()
    for name in TEMPLATE_FILES:
        included |= set(re.findall(r'include "([^"]+)"', (CHART / "templates" / name).read_text()))
    included |= templates.parser.called
    assert included - defined == set()
    assert defined - included == set()


def test_a_template_naming_an_unknown_helper_fails_when_rendered() -> None:
    templates = load_templates()
    templates.add("broken.yaml", '{{ include "strata.nope" . }}')
    with pytest.raises(TemplateError, match=r"strata\.nope"):
        templates.render("broken.yaml", {})


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
    missing = []
    for name in TEMPLATE_FILES:
        for path in _values_paths((CHART / "templates" / name).read_text()):
            if not _resolves(values, path):
                missing.append(f"{name}: .Values{path}")
    assert missing == []


def test_the_chart_metadata_is_a_helm_v2_application_chart() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    assert chart["name"] == "strata"
    assert not (CHART / "requirements.yaml").exists()
