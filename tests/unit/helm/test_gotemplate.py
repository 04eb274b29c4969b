"""The test renderer behaves like Go's text/template and Helm where the chart depends on it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.helm.gotemplate import TemplateError, Templates, go_float, to_json, to_yaml


def run(source: str, data: Any = None, **defines: str) -> str:
    templates = Templates()
    for name, text in defines.items():
        templates.add(name, text)
    templates.add("main", source)
    return templates.render("main", data if data is not None else {})


def test_trim_markers_eat_whitespace_and_newlines_on_their_side_only() -> None:
    assert run("a  \n  {{- 1 }}  \n b") == "a1  \n b"
    assert run("a  {{ 1 -}} \n\n  b") == "a  1b"
    # A dash without a space is a negative number, not a trim marker.
    assert run("a {{-3}} b") == "a -3 b"


def test_comments_render_nothing() -> None:
    assert run("a {{/* it's }} here */}} b") == "a  b"
    assert run("a\n{{- /* gone */ -}}\nb") == "ab"


def test_range_over_a_map_goes_in_key_order_and_else_runs_when_empty() -> None:
    data = {"m": {"b": 2.0, "a": 1.0}, "empty": []}
    assert run("{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}", data) == "a=1;b=2;"
    assert run("{{ range .empty }}x{{ else }}none{{ end }}", data) == "none"
    assert run("{{ range .missing }}x{{ end }}", data) == ""
    assert run("{{ range $i, $v := list 7 8 }}{{ $i }}:{{ $v }} {{ end }}") == "0:7 1:8 "


def test_if_else_if_chains_and_with_rebinds_dot() -> None:
    src = '{{ if eq .x "a" }}A{{ else if eq .x "b" }}B{{ else }}C{{ end }}'
    assert [run(src, {"x": x}) for x in ("a", "b", "z")] == ["A", "B", "C"]
    assert run("{{ with .a }}{{ .b }}{{ else }}no{{ end }}", {"a": {"b": "in"}}) == "in"
    assert run("{{ with .a }}{{ .b }}{{ else }}no{{ end }}", {"a": {}}) == "no"


def test_variables_are_scoped_to_their_block_and_assignment_reaches_outward() -> None:
    assert run("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}") == "2"
    with pytest.raises(TemplateError, match="undefined variable"):
        run("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}")
    # Inside a define, $ is the data the template was called with.
    assert run(
        '{{ include "t" "x" }}', {"root": 1}, helpers='{{ define "t" }}[{{ $ }}]{{ end }}'
    ) == ("[x]")


def test_a_missing_key_prints_nothing_but_its_field_is_a_nil_pointer() -> None:
    assert run("[{{ .missing }}]", {"a": 1}) == "[]"
    with pytest.raises(TemplateError, match="nil pointer evaluating interface"):
        run("{{ .missing.field }}", {"a": 1})


def test_and_or_short_circuit_like_go_1_18() -> None:
    assert run("{{ if and .a .a.b }}y{{ else }}n{{ end }}", {}) == "n"
    assert run("{{ or .x .y }}", {"x": "", "y": "second"}) == "second"


def test_numbers_from_values_are_float64_and_print_like_go() -> None:
    assert [go_float(v) for v in (8080.0, 100000.0, 1e6, 1.5e6, 0.5, 1e-5, -3.0)] == [
        "8080",
        "100000",
        "1e+06",
        "1.5e+06",
        "0.5",
        "1e-05",
        "-3",
    ]
    assert run("{{ .n }}", {"n": 1e6}) == "1e+06"
    assert run('{{ printf "%d" .n }}', {"n": 8080.0}) == "%!d(float64=8080)"
    assert run('{{ printf "%v-%s" .n "x" }}', {"n": 8080.0}) == "8080-x"


def test_comparing_a_float_value_with_an_int_literal_is_an_error_as_in_go() -> None:
    with pytest.raises(TemplateError, match="incompatible types"):
        run("{{ if gt .n 1 }}{{ end }}", {"n": 2.0})
    assert run("{{ if gt (int .n) 1 }}big{{ end }}", {"n": 2.0}) == "big"


def test_yaml_and_json_helpers_match_helm() -> None:
    assert to_yaml({"b": [1.0, "2"], "a": {"c": True}}) == "a:\n  c: true\nb:\n- 1\n- '2'"
    assert to_json({"b": 1.0, "a": "<x>"}) == '{"a":"\\u003cx\\u003e","b":1}'
    assert run("x:{{ toYaml .v | nindent 2 }}", {"v": {"k": "v"}}) == "x:\n  k: v"
    assert run("{{ list 1 2 | toJson }}") == "[1,2]"
    assert run('{{ (include "t" . | fromYaml).a }}', {}, h='{{ define "t" }}a: 3{{ end }}') == "3"


def test_sprig_functions_used_by_the_chart() -> None:
    assert run('{{ "a-b" | replace "-" "_" | upper }}') == "A_B"
    assert run('{{ default "d" .x }}|{{ default "d" "v" }}', {"x": ""}) == "d|v"
    assert run('{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ keys $d | join "," }}') == "a,b"
    assert run('{{ has "x" (list "x" "y") }} {{ hasKey (dict "k" 1) "k" }}') == "true true"
    assert run('{{ "abcdef" | trunc 3 }}{{ "a-" | trimSuffix "-" }}') == "abca"
    assert run("{{ concat (list 1) (list 2) | len }}") == "2"
    assert run("{{ 1 | quote }}") == '"1"'


def test_errors_helm_would_raise_are_raised() -> None:
    with pytest.raises(TemplateError, match="not defined"):
        run("{{ nosuchfunc 1 }}")
    with pytest.raises(TemplateError, match="without end"):
        run("{{ if true }}open")
    with pytest.raises(TemplateError, match="unclosed action"):
        run("{{ .a ")
    with pytest.raises(TemplateError, match='no template "nope"'):
        run('{{ include "nope" . }}')
    with pytest.raises(TemplateError, match="stop here"):
        run('{{ fail "stop here" }}')
    with pytest.raises(TemplateError, match="required value"):
        run('{{ required "required value" .x }}', {})
    with pytest.raises(TemplateError, match="defined twice"):
        run('{{ define "a" }}{{ end }}{{ define "a" }}{{ end }}')
