"""A small interpreter of the Go ``text/template`` subset the Strata chart is written in.

No ``helm`` binary can be had where these tests run, so the chart's templates are rendered
here instead. It follows Go's and Helm's semantics where the chart could trip over them, and
raises :class:`TemplateError` where Helm would fail:

- ``{{-``/``-}}`` trimming, ``if``/``else if``/``else``, ``range`` (maps in key order),
  ``with``, ``define``/``template``/``include``, variables with their scopes, ``:=`` and ``=``;
- a field of a missing map key is a nil pointer error (Helm's ``missingkey=zero``);
- numbers from values are float64 (printed with Go's ``%v``, so 1000000 is ``1e+06``) and
  comparing a float with an integer literal is an error, as in Go;
- ``and``/``or`` short-circuit (Go 1.18 and later); unknown functions are parse errors.

Sprig and Helm functions are the subset listed in :data:`FUNCTIONS` plus ``include``.
It is a test instrument: it does not claim to be Helm, and what it cannot check is said in
the chart's README.
"""

from __future__ import annotations

import base64
import decimal
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml


class TemplateError(Exception):
    """The template is malformed, or executing it failed where Helm would fail too."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
NO_VALUE = "<no value>"
KEYWORDS = {
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
}


# ---------------------------------------------------------------------------------------------
# Go's number and value printing


def go_float(value: float) -> str:
    """``fmt.Sprint(float64)``: shortest digits, exponent form from 1e+06 on (``%g``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits_tuple = decimal.Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in digits_tuple.digits)
    exponent = int(digits_tuple.exponent)
    point = len(digits) + exponent
    exp = point - 1
    # Shortest %g switches to the exponent form at 1e+06 (and below 1e-04).
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_print(value: Any, *, in_template: bool = True) -> str:
    """How ``{{ value }}`` (or ``fmt.Sprint``) prints a value."""
    if value is None or value is MISSING:
        return NO_VALUE if in_template else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(go_print(v, in_template=False) for v in value) + "]"
    if isinstance(value, dict):
        items = " ".join(f"{k}:{go_print(value[k], in_template=False)}" for k in sorted(value))
        return f"map[{items}]"
    if callable(value):
        raise TemplateError("cannot print a function")
    return str(value)


def _kind(value: Any) -> str:
    if value is None or value is MISSING:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, dict):
        return "map"
    return "func" if callable(value) else "struct"


def truth(value: Any) -> bool:
    """Go template truth: zero values, nil and empty collections are false."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, (bool, int, float, str, list, dict)):
        return bool(value)
    return True


# ---------------------------------------------------------------------------------------------
# YAML and JSON the way Helm's toYaml / fromYaml / toJson see them


class _GoDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


_GO_EXPONENT = re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$")


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    # go-yaml writes float64 8080 as a plain 8080, as an integer would be written.
    text = go_float(value)
    tag = "int" if re.fullmatch(r"-?[0-9]+", text) else "float"
    return dumper.represent_scalar(f"tag:yaml.org,2002:{tag}", text)


_GoDumper.add_representer(float, _represent_float)
_GoDumper.add_implicit_resolver("tag:yaml.org,2002:float", _GO_EXPONENT, list("-+0123456789"))


# libyaml when it is there: the chart parses its own workloads back once per template.
class _GoLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


# go-yaml reads 1e+06 as a number; PyYAML wants a dot.
_GoLoader.add_implicit_resolver("tag:yaml.org,2002:float", _GO_EXPONENT, list("-+0123456789"))


def as_float64(value: Any) -> Any:
    """Numbers the way Helm holds them after YAML -> JSON: every int becomes float64."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return [as_float64(v) for v in value]
    if isinstance(value, dict):
        return {str(k): as_float64(v) for k, v in value.items()}
    return value


def load_yaml(text: str) -> Any:
    """Parse YAML as Helm does (``sigs.k8s.io/yaml``): numbers come back as float64."""
    return as_float64(yaml.load(text, Loader=_GoLoader))  # noqa: S506 - a SafeLoader subclass


def to_yaml(value: Any) -> str:
    """Helm's ``toYaml``: sorted keys, block style, no trailing newline."""
    if value is None:
        return "null"
    text = yaml.dump(
        _plain(value),
        Dumper=_GoDumper,
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        width=1 << 20,
    )
    return text.removesuffix("\n").removesuffix("...").removesuffix("\n")


def to_json(value: Any) -> str:
    """Helm's ``toJson`` (``encoding/json``): sorted keys, compact, HTML-safe."""

    def convert(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
            return int(v)
        if isinstance(v, list):
            return [convert(x) for x in v]
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        return v

    text = json.dumps(convert(_plain(value)), sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _plain(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if callable(value):
        raise TemplateError("cannot serialise a function")
    return value


# ---------------------------------------------------------------------------------------------
# Lexing


@dataclass
class Token:
    kind: str  # text string raw number bool nil field dot var ident ( ) | := = ,
    value: Any
    spaced: bool = True  # whitespace before it (a field right after a term chains onto it)


@dataclass
class Action:
    tokens: list[Token]
    line: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<dot>\.)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


def _lex_action(text: str, line: int) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    spaced = True
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise TemplateError(f"line {line}: unexpected {text[pos : pos + 10]!r} in action")
        pos = m.end()
        kind = m.lastgroup
        raw = m.group()
        if kind == "space":
            spaced = True
            continue
        if kind == "string":
            value: Any = json.loads(raw)
            kind = "string"
        elif kind == "raw":
            value, kind = raw[1:-1], "string"
        elif kind == "char":
            raise TemplateError(f"line {line}: character constants are not supported")
        elif kind == "number":
            value = _number(raw, line)
        elif kind == "ident" and raw in ("true", "false"):
            value, kind = raw == "true", "bool"
        elif kind == "ident" and raw == "nil":
            value, kind = None, "nil"
        else:
            value = raw
        tokens.append(Token(str(kind), value, spaced))
        spaced = False
    return tokens


def _number(raw: str, line: int) -> int | float:
    try:
        if raw.lower().lstrip("+-").startswith("0x"):
            return int(raw, 16)
        if any(c in raw for c in ".eE"):
            return float(raw)
        return int(raw)
    except ValueError:
        raise TemplateError(f"line {line}: bad number {raw!r}") from None


def _split(source: str) -> list[str | Action]:
    """Text and actions, with ``{{-``/``-}}`` trimming applied and comments dropped."""
    parts: list[str | Action] = []
    pos = 0
    trim_next = False
    while True:
        start = source.find("{{", pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if start < 0:
            parts.append(text)
            return parts
        line = source.count("\n", 0, start) + 1
        inner_start = start + 2
        if source[inner_start : inner_start + 2] in ("- ", "-\t", "-\n", "-\r"):
            text = text.rstrip(" \t\r\n")
            inner_start += 2
        parts.append(text)
        end = _find_close(source, inner_start, line)
        inner = source[inner_start:end]
        trim_next = False
        if inner.endswith((" -", "\t-", "\n-", "\r-")):
            inner = inner[:-2]
            trim_next = True
        stripped = inner.strip()
        if stripped.startswith("/*"):
            if not stripped.endswith("*/"):
                raise TemplateError(f"line {line}: unclosed comment")
        else:
            parts.append(Action(_lex_action(inner, line), line))
        pos = end + 2


def _find_close(source: str, pos: int, line: int) -> int:
    """Index of the ``}}`` closing an action, skipping string literals and comments."""
    i = pos
    while i < len(source):
        c = source[i]
        if source.startswith("/*", i):
            j = source.find("*/", i + 2)
            if j < 0:
                raise TemplateError(f"line {line}: unclosed comment")
            i = j + 2
            continue
        if c in "\"'`":
            j = i + 1
            while j < len(source) and source[j] != c:
                if c != "`" and source[j] == "\\":
                    j += 1
                if c != "`" and source[j] == "\n":
                    raise TemplateError(f"line {line}: unterminated string")
                j += 1
            i = j + 1
            continue
        if source.startswith("{{", i):
            raise TemplateError(f"line {line}: unclosed action")
        if source.startswith("}}", i):
            return i
        i += 1
    raise TemplateError(f"line {line}: unclosed action")


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass
class Operand:
    kind: str  # literal dot field var func pipe
    value: Any = None
    fields: list[str] = field(default_factory=list)


@dataclass
class Pipeline:
    commands: list[list[Operand]]
    decl: list[str] = field(default_factory=list)
    assign: bool = False


@dataclass
class Node:
    kind: str  # text action if range with template break continue
    text: str = ""
    pipe: Pipeline | None = None
    body: list[Node] = field(default_factory=list)
    else_body: list[Node] | None = None
    name: str = ""
    line: int = 0


class _Cursor:
    def __init__(self, tokens: list[Token], line: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.line = line

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise TemplateError(f"line {self.line}: unexpected end of action")
        self.i += 1
        return tok

    def done(self) -> bool:
        return self.i >= len(self.tokens)


class Parser:
    """Builds node trees; ``define`` blocks go to :attr:`defines`."""

    def __init__(self, functions: Mapping[str, Any]) -> None:
        self.functions = functions
        self.defines: dict[str, list[Node]] = {}
        self.called: set[str] = set()

    def parse(self, source: str) -> list[Node]:
        self._parts = _split(source)
        self._pos = 0
        nodes, term = self._list()
        if term is not None:
            raise TemplateError(f"line {term.line}: unexpected {term.tokens[0].value}")
        return nodes

    def _list(self) -> tuple[list[Node], Action | None]:
        nodes: list[Node] = []
        while self._pos < len(self._parts):
            part = self._parts[self._pos]
            self._pos += 1
            if isinstance(part, str):
                if part:
                    nodes.append(Node("text", text=part))
                continue
            if not part.tokens:
                raise TemplateError(f"line {part.line}: empty action")
            head = part.tokens[0]
            word = head.value if head.kind == "ident" else None
            if word in ("end", "else"):
                return nodes, part
            if word in ("if", "range", "with"):
                nodes.append(self._control(str(word), part.tokens[1:], part.line))
            elif word == "define":
                self._define(part)
            elif word in ("template", "block"):
                nodes.append(self._template(str(word), part))
            elif word in ("break", "continue"):
                nodes.append(Node(str(word), line=part.line))
            else:
                nodes.append(
                    Node("action", pipe=self._pipeline(part.tokens, part.line), line=part.line)
                )
        return nodes, None

    def _control(self, kind: str, tokens: list[Token], line: int) -> Node:
        pipe = self._pipeline(tokens, line, decl_ok=True)
        body, term = self._list()
        if term is None:
            raise TemplateError(f"line {line}: {kind} without end")
        node = Node(kind, pipe=pipe, body=body, line=line)
        if term.tokens[0].value == "else":
            rest = term.tokens[1:]
            if rest and rest[0].kind == "ident" and rest[0].value in ("if", "with"):
                if rest[0].value != kind:
                    raise TemplateError(f"line {term.line}: else {rest[0].value} inside {kind}")
                node.else_body = [self._control(kind, rest[1:], term.line)]
            else:
                if rest:
                    raise TemplateError(f"line {term.line}: unexpected tokens after else")
                node.else_body, end = self._list()
                if end is None or end.tokens[0].value != "end":
                    raise TemplateError(f"line {line}: {kind} without end")
        elif len(term.tokens) > 1:
            raise TemplateError(f"line {term.line}: unexpected tokens after end")
        return node

    def _define(self, part: Action) -> None:
        if len(part.tokens) != 2 or part.tokens[1].kind != "string":
            raise TemplateError(f"line {part.line}: define needs one quoted name")
        body, term = self._list()
        if term is None or term.tokens[0].value != "end":
            raise TemplateError(f"line {part.line}: define without end")
        name = str(part.tokens[1].value)
        if name in self.defines:
            raise TemplateError(f"line {part.line}: template {name!r} defined twice")
        self.defines[name] = body

    def _template(self, word: str, part: Action) -> Node:
        if len(part.tokens) < 2 or part.tokens[1].kind != "string":
            raise TemplateError(f"line {part.line}: {word} needs a quoted name")
        name = str(part.tokens[1].value)
        self.called.add(name)
        pipe = self._pipeline(part.tokens[2:], part.line) if len(part.tokens) > 2 else None
        return Node("template", name=name, pipe=pipe, line=part.line)

    def _pipeline(self, tokens: list[Token], line: int, *, decl_ok: bool = True) -> Pipeline:
        cur = _Cursor(tokens, line)
        pipe = self._parse_pipe(cur, decl_ok=decl_ok)
        if not cur.done():
            raise TemplateError(f"line {line}: unexpected {cur.peek()}")
        return pipe

    def _parse_pipe(self, cur: _Cursor, *, decl_ok: bool, closing: bool = False) -> Pipeline:
        decl: list[str] = []
        assign = False
        j = cur.i
        names: list[str] = []
        while j < len(cur.tokens) and cur.tokens[j].kind == "var":
            names.append(str(cur.tokens[j].value))
            j += 1
            if j < len(cur.tokens) and cur.tokens[j].kind == "comma" and len(names) < 2:
                j += 1
                continue
            break
        if names and j < len(cur.tokens) and cur.tokens[j].kind in ("declare", "assign"):
            if not decl_ok:
                raise TemplateError(f"line {cur.line}: declaration not allowed here")
            decl, assign = names, cur.tokens[j].kind == "assign"
            cur.i = j + 1
        commands: list[list[Operand]] = []
        command: list[Operand] = []
        while not cur.done():
            tok = cur.peek()
            assert tok is not None
            if tok.kind == "rparen":
                if not closing:
                    raise TemplateError(f"line {cur.line}: unexpected )")
                break
            if tok.kind == "pipe":
                cur.next()
                if not command:
                    raise TemplateError(f"line {cur.line}: missing command before |")
                commands.append(command)
                command = []
                continue
            command.append(self._operand(cur))
        if command:
            commands.append(command)
        elif commands:
            raise TemplateError(f"line {cur.line}: missing command after |")
        if not commands:
            raise TemplateError(f"line {cur.line}: missing value")
        for cmd in commands[1:]:
            if cmd[0].kind not in ("func",) and not (
                cmd[0].kind in ("field", "var") and cmd[0].fields
            ):
                raise TemplateError(f"line {cur.line}: cannot pipe into a non-function")
        return Pipeline(commands, decl, assign)

    def _operand(self, cur: _Cursor) -> Operand:
        tok = cur.next()
        op: Operand
        if tok.kind in ("string", "number", "bool", "nil"):
            op = Operand("literal", tok.value)
        elif tok.kind == "dot":
            op = Operand("dot")
        elif tok.kind == "field":
            op = Operand("field", fields=[str(tok.value)[1:]])
        elif tok.kind == "var":
            op = Operand("var", str(tok.value))
        elif tok.kind == "ident":
            name = str(tok.value)
            if name in KEYWORDS:
                raise TemplateError(f"line {cur.line}: unexpected keyword {name}")
            if name not in self.functions and name not in ("include", "tpl"):
                raise TemplateError(f"line {cur.line}: function {name!r} not defined")
            op = Operand("func", name)
        elif tok.kind == "lparen":
            op = Operand("pipe", self._parse_pipe(cur, decl_ok=False, closing=True))
            if cur.done() or cur.next().kind != "rparen":
                raise TemplateError(f"line {cur.line}: unclosed (")
        else:
            raise TemplateError(f"line {cur.line}: unexpected {tok.value!r}")
        # A field right after a term (no space) chains onto it: .a.b, $x.a, (pipe).a
        while not cur.done():
            nxt = cur.peek()
            assert nxt is not None
            if nxt.kind != "field" or nxt.spaced or op.kind in ("literal", "func"):
                break
            cur.next()
            op.fields.append(str(nxt.value)[1:])
        return op


# ---------------------------------------------------------------------------------------------
# Execution


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@dataclass
class _Scope:
    vars: list[tuple[str, Any]]

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def push(self, name: str, value: Any) -> None:
        self.vars.append((name, value))

    def set(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise TemplateError(f"undefined variable {name}")

    def get(self, name: str) -> Any:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        raise TemplateError(f"undefined variable {name}")


class Templates:
    """A set of parsed templates, as Helm loads one chart: every ``define`` is shared."""

    def __init__(self) -> None:
        self.functions: dict[str, Callable[..., Any]] = dict(FUNCTIONS)
        self.functions["include"] = self._include
        self.parser = Parser(self.functions)
        self.files: dict[str, list[Node]] = {}
        self.depth = 0

    def add(self, name: str, source: str) -> None:
        """Parse one file; its defines join the set."""
        try:
            self.files[name] = self.parser.parse(source)
        except TemplateError as exc:
            raise TemplateError(f"{name}: {exc}") from None

    def render(self, name: str, data: Any) -> str:
        """Execute one file (Helm then drops ``<no value>`` from the output)."""
        try:
            out = self._exec(self.files[name], data, _Scope([("$", data)]))
        except TemplateError as exc:
            raise TemplateError(f"{name}: {exc}") from None
        return out.replace(NO_VALUE, "")

    def _include(self, name: str, data: Any) -> str:
        body = self.parser.defines.get(name)
        if body is None:
            raise TemplateError(f'no template "{name}" associated with template')
        self.depth += 1
        if self.depth > 1000:
            raise TemplateError("rendering too deep")
        try:
            return self._exec(body, data, _Scope([("$", data)]))
        finally:
            self.depth -= 1

    def _exec(self, nodes: list[Node], dot: Any, scope: _Scope) -> str:
        out: list[str] = []
        for node in nodes:
            out.append(self._node(node, dot, scope))
        return "".join(out)

    def _node(self, node: Node, dot: Any, scope: _Scope) -> str:
        try:
            return self._run(node, dot, scope)
        except (_Break, _Continue):
            raise
        except TemplateError as exc:
            if node.line and not str(exc).startswith("line "):
                raise TemplateError(f"line {node.line}: {exc}") from None
            raise

    def _run(self, node: Node, dot: Any, scope: _Scope) -> str:
        kind = node.kind
        if kind == "text":
            return node.text
        if kind == "break":
            raise _Break
        if kind == "continue":
            raise _Continue
        if kind == "action":
            assert node.pipe is not None
            value = self._pipe(node.pipe, dot, scope)
            return "" if node.pipe.decl else go_print(value)
        if kind == "template":
            data = self._pipe(node.pipe, dot, scope) if node.pipe else None
            return self._include(node.name, data)
        assert node.pipe is not None
        mark = scope.mark()
        try:
            if kind == "if":
                value = self._pipe(node.pipe, dot, scope)
                if truth(value):
                    return self._exec(node.body, dot, scope)
                return self._exec(node.else_body or [], dot, scope)
            if kind == "with":
                value = self._pipe(node.pipe, dot, scope)
                if truth(value):
                    return self._exec(node.body, value, scope)
                return self._exec(node.else_body or [], dot, scope)
            return self._range(node, dot, scope)
        finally:
            scope.pop(mark)

    def _range(self, node: Node, dot: Any, scope: _Scope) -> str:
        assert node.pipe is not None
        decl = node.pipe.decl
        plain = Pipeline(node.pipe.commands)
        value = self._pipe(plain, dot, scope)
        items: list[tuple[Any, Any]]
        if value is None or value is MISSING:
            items = []
        elif isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        else:
            raise TemplateError(f"range can't iterate over {go_print(value)}")
        if not items:
            return self._exec(node.else_body or [], dot, scope)
        out: list[str] = []
        for key, elem in items:
            mark = scope.mark()
            if len(decl) == 1:
                scope.push(decl[0], elem)
            elif len(decl) == 2:
                scope.push(decl[0], key)
                scope.push(decl[1], elem)
            try:
                out.append(self._exec(node.body, elem, scope))
            except _Break:
                break
            except _Continue:
                continue
            finally:
                scope.pop(mark)
        return "".join(out)

    def _pipe(self, pipe: Pipeline | None, dot: Any, scope: _Scope) -> Any:
        assert pipe is not None
        value: Any = MISSING
        for command in pipe.commands:
            value = self._command(command, dot, scope, value)
        if pipe.decl:
            if pipe.assign:
                scope.set(pipe.decl[0], value)
            else:
                scope.push(pipe.decl[0], value)
        return value

    def _command(self, command: list[Operand], dot: Any, scope: _Scope, final: Any) -> Any:
        first = command[0]
        if first.kind == "func":
            name = str(first.value)
            if name in ("and", "or"):
                return self._logic(name, command[1:], dot, scope, final)
            args = [self._operand(op, dot, scope) for op in command[1:]]
            if final is not MISSING:
                args.append(final)
            try:
                return self.functions[name](*args)
            except TemplateError:
                raise
            except TypeError as exc:
                raise TemplateError(f"error calling {name}: {exc}") from None
        value = self._operand(first, dot, scope)
        args = [self._operand(op, dot, scope) for op in command[1:]]
        if final is not MISSING:
            args.append(final)
        if callable(value):
            return value(*args)
        if args:
            raise TemplateError(f"can't give argument to non-function {go_print(value)}")
        return value

    def _logic(self, name: str, ops: list[Operand], dot: Any, scope: _Scope, final: Any) -> Any:
        values: list[Callable[[], Any]] = [
            (lambda op=op: self._operand(op, dot, scope)) for op in ops
        ]
        if final is not MISSING:
            values.append(lambda: final)
        if not values:
            raise TemplateError(f"wrong number of args for {name}")
        result: Any = None
        for get in values:
            result = get()
            if name == "and" and not truth(result):
                return result
            if name == "or" and truth(result):
                return result
        return result

    def _operand(self, op: Operand, dot: Any, scope: _Scope) -> Any:
        if op.kind == "literal":
            return op.value
        if op.kind == "func":
            return self._command([op], dot, scope, MISSING)
        if op.kind == "dot" or op.kind == "field":
            base = dot
        elif op.kind == "var":
            base = scope.get(str(op.value))
        else:
            base = self._pipe(op.value, dot, scope)
        for name in op.fields:
            base = _field(base, name)
        return base


def _field(receiver: Any, name: str) -> Any:
    if receiver is None or receiver is MISSING:
        raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
    if isinstance(receiver, dict):
        return receiver.get(name)
    raise TemplateError(f"can't evaluate field {name} in type {_kind(receiver)}")


# ---------------------------------------------------------------------------------------------
# Functions: Go's builtins and the Sprig/Helm ones the chart uses


def _empty(value: Any) -> bool:
    return not truth(value)


def _default(default: Any, *given: Any) -> Any:
    if not given or _empty(given[0]):
        return default
    return given[0]


def _required(message: str, value: Any) -> Any:
    if value is None or value is MISSING or value == "":
        raise TemplateError(message)
    return value


def _fail(message: str) -> Any:
    raise TemplateError(f"execution error: {message}")


def _strval(value: Any) -> str:
    return go_print(value, in_template=False)


def _comparable(a: Any, b: Any, op: str) -> None:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        raise TemplateError(f"error calling {op}: incompatible types for comparison ({ka}, {kb})")
    if ka not in ("int", "float64", "string", "bool") and op != "eq":
        raise TemplateError(f"error calling {op}: invalid type for comparison")


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("missing argument for comparison")
    for b in others:
        if a is None or b is None:
            if a is b:
                return True
            continue
        _comparable(a, b, "eq")
        if a == b:
            return True
    return False


def _ordered(op: str, test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        _comparable(a, b, op)
        return test(a, b)

    return compare


def _printf(fmt: str, *args: Any) -> str:
    queue = list(args)

    def verb(m: re.Match[str]) -> str:
        v = m.group(1)
        if v == "%":
            return "%"
        if not queue:
            return f"%!{v}(MISSING)"
        arg = queue.pop(0)
        kind = _kind(arg)
        if v == "v":
            return _strval(arg)
        if v == "s":
            if kind in ("string", "slice"):
                return _strval(arg)
            return f"%!s({_go_type(arg)}={_strval(arg)})"
        if v == "d":
            if kind == "int":
                return str(arg)
            return f"%!d({_go_type(arg)}={_strval(arg)})"
        if v == "q":
            if kind == "string":
                return json.dumps(arg)
            return f"%!q({_go_type(arg)}={_strval(arg)})"
        raise TemplateError(f"printf verb %{v} is not supported here")

    out = re.sub(r"%([%vsdq])", verb, fmt)
    if queue:
        out += "%!(EXTRA " + ", ".join(f"{_go_type(a)}={_strval(a)}" for a in queue) + ")"
    return out


def _go_type(value: Any) -> str:
    return {
        "invalid": "<nil>",
        "map": "map[string]interface {}",
        "slice": "[]interface {}",
    }.get(_kind(value), _kind(value))


def _to_int(value: Any) -> int:
    if value is None or value is MISSING:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return 0
    return 0


def _quote(*values: Any) -> str:
    return " ".join(json.dumps(_strval(v)) for v in values if v is not None)


def _indent(spaces: Any, text: str) -> str:
    pad = " " * _to_int(spaces)
    return pad + text.replace("\n", "\n" + pad)


def _list_arg(value: Any, fn: str) -> list[Any]:
    if not isinstance(value, list):
        raise TemplateError(f"error calling {fn}: cannot use {_kind(value)} as a list")
    return value


def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        value = pairs[i + 1] if i + 1 < len(pairs) else ""
        out[_strval(pairs[i])] = value
    return out


def _set(d: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise TemplateError("error calling set: not a dict")
    d[key] = value
    return d


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if item is None or item is MISSING:
            raise TemplateError("index of untyped nil")
        if isinstance(item, dict):
            item = item.get(key)
        elif isinstance(item, (list, str)):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise TemplateError(f"index out of range: {key}")
            item = item[key]
        else:
            raise TemplateError(f"can't index item of type {_kind(item)}")
    return item


def _has_key(d: Any, key: str) -> bool:
    return isinstance(d, dict) and key in d


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return needle in _list_arg(haystack, "has")


def _len(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise TemplateError(f"len of type {_kind(value)}")


def _from_yaml(text: str) -> Any:
    try:
        value = load_yaml(text)
    except yaml.YAMLError as exc:
        return {"Error": str(exc)}
    return {} if value is None else value


def _concat(*lists: Any) -> list[Any]:
    out: list[Any] = []
    for item in lists:
        out.extend(_list_arg(item, "concat"))
    return out


def _append(items: Any, value: Any) -> list[Any]:
    return [*_list_arg(items, "append"), value]


def _trunc(n: Any, text: str) -> str:
    count = _to_int(n)
    return text[:count] if count >= 0 else text[count:]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # Go builtins
    "and": lambda *a: a,  # evaluated lazily by the executor
    "or": lambda *a: a,
    "not": lambda v: not truth(v),
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _ordered("lt", lambda a, b: a < b),
    "le": _ordered("le", lambda a, b: a <= b),
    "gt": _ordered("gt", lambda a, b: a > b),
    "ge": _ordered("ge", lambda a, b: a >= b),
    "len": _len,
    "index": _index,
    "print": lambda *a: "".join(_strval(x) for x in a),
    "printf": _printf,
    # Sprig and Helm
    "default": _default,
    "empty": _empty,
    "required": _required,
    "fail": _fail,
    "toYaml": to_yaml,
    "fromYaml": _from_yaml,
    "toJson": to_json,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "indent": _indent,
    "quote": _quote,
    "toString": _strval,
    "int": _to_int,
    "int64": _to_int,
    "float64": lambda v: float(_to_int(v)) if not isinstance(v, float) else v,
    "dict": _dict,
    "list": lambda *a: list(a),
    "append": _append,
    "concat": _concat,
    "set": _set,
    "hasKey": _has_key,
    "has": _has,
    "keys": lambda d: sorted(d),
    "sortAlpha": lambda xs: sorted(_strval(x) for x in _list_arg(xs, "sortAlpha")),
    "join": lambda sep, xs: _strval(sep).join(_strval(x) for x in _list_arg(xs, "join")),
    "trunc": _trunc,
    "trimSuffix": lambda suffix, s: s.removesuffix(suffix),
    "trimPrefix": lambda prefix, s: s.removeprefix(prefix),
    "trim": lambda s: s.strip(),
    "replace": lambda old, new, s: s.replace(old, new),
    "upper": lambda s: s.upper(),
    "lower": lambda s: s.lower(),
    "contains": lambda sub, s: sub in s,
    "hasPrefix": lambda prefix, s: s.startswith(prefix),
    "hasSuffix": lambda suffix, s: s.endswith(suffix),
    "ternary": lambda a, b, cond: a if truth(cond) else b,
    "kindIs": lambda kind, v: _kind(v) == kind,
    "kindOf": _kind,
    "sha256sum": lambda s: hashlib.sha256(_strval(s).encode()).hexdigest(),
    "b64enc": lambda s: base64.b64encode(_strval(s).encode()).decode(),
    "add": lambda *a: sum(_to_int(x) for x in a),
    "sub": lambda a, b: _to_int(a) - _to_int(b),
    "mul": lambda a, b: _to_int(a) * _to_int(b),
}


def walk(nodes: list[Node]) -> Iterator[Node]:
    """Every node of a tree, depth first."""
    for node in nodes:
        yield node
        yield from walk(node.body)
        yield from walk(node.else_body or [])
