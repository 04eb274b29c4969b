"""Breaking changes between two versions of an OpenAPI 3.1 contract.

``python -m strata.contracts.diff OLD NEW`` prints every change that breaks clients of
``OLD`` and exits 1 if there is one, 0 if there is none, 2 if a file cannot be read.
The rules follow oasdiff's main breaking-change checks; ``openapi/README.md`` lists them.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from strata.contracts.documents import ContractError, Document, Node, load_document
from strata.contracts.findings import Finding, breaking
from strata.contracts.schema_diff import Direction, compare_schemas

_TEMPLATE_PARAM = re.compile(r"\{([^}]*)\}")

ParamKey = tuple[str, str]


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Finding]:
    """Every change from ``old`` to ``new`` that matters to ``old``'s clients."""
    return _ContractDiff(Document(old), Document(new)).run()


def diff_files(old: Path, new: Path) -> list[Finding]:
    """:func:`diff_documents` over two contract files."""
    return diff_documents(load_document(old), load_document(new))


class _ContractDiff:
    def __init__(self, old: Document, new: Document) -> None:
        self.old = old
        self.new = new
        self.findings: list[Finding] = []

    def run(self) -> list[Finding]:
        new_paths = {_path_shape(p): p for p in self.new.paths()}
        for old_path in self.old.paths():
            new_path = new_paths.get(_path_shape(old_path))
            methods = [m.upper() for m, _ in self.old.operations(old_path)]
            if new_path is None:
                self.findings.append(
                    Finding(
                        rule="api-path-removed",
                        path=old_path,
                        operation=",".join(methods),
                        message="path removed",
                    )
                )
                continue
            new_operations = dict(self.new.operations(new_path))
            for method, old_op in self.old.operations(old_path):
                new_op = new_operations.get(method)
                if new_op is None:
                    self._add("operation-removed", old_path, method, "operation removed")
                    continue
                self._operation(old_path, new_path, method, old_op, new_op)
        return self.findings

    def _add(self, rule: str, path: str, method: str, message: str) -> None:
        self.findings.append(
            Finding(rule=rule, path=path, operation=method.upper(), message=message)
        )

    def _operation(
        self, old_path: str, new_path: str, method: str, old_op: Node, new_op: Node
    ) -> None:
        self._parameters(old_path, new_path, method, old_op, new_op)
        self._request_body(old_path, method, old_op, new_op)
        self._responses(old_path, method, old_op, new_op)
        self._security(old_path, method, old_op, new_op)

    def _schemas(
        self, path: str, method: str, old: Any, new: Any, direction: Direction, at: str
    ) -> None:
        for rule, message in compare_schemas(
            self.old, self.new, old, new, direction=direction, at=at
        ):
            self._add(rule, path, method, message)

    def _parameters(
        self, old_path: str, new_path: str, method: str, old_op: Node, new_op: Node
    ) -> None:
        old_params = _parameters(self.old, old_path, old_op)
        new_params = _parameters(self.new, new_path, new_op)
        for key, new_param in new_params.items():
            name = f"{key[0]} parameter {new_param.get('name')}"
            old_param = old_params.get(key)
            if old_param is None:
                if new_param.get("required") is True:
                    self._add(
                        "new-required-request-parameter",
                        old_path,
                        method,
                        f"{name}: new required parameter; existing clients do not send it",
                    )
                continue
            if new_param.get("required") is True and old_param.get("required") is not True:
                self._add(
                    "request-parameter-became-required", old_path, method, f"{name}: now required"
                )
            if "schema" in old_param and "schema" in new_param:
                self._schemas(
                    old_path, method, old_param["schema"], new_param["schema"], "request", name
                )

    def _request_body(self, path: str, method: str, old_op: Node, new_op: Node) -> None:
        old_body = self.old.resolve(old_op.get("requestBody"))
        new_body = self.new.resolve(new_op.get("requestBody"))
        if new_body.get("required") is True and old_body.get("required") is not True:
            self._add(
                "request-body-became-required", path, method, "a request body is now required"
            )
        old_content, new_content = _content(old_body), _content(new_body)
        if not new_content:
            # The operation stopped reading a body; what clients still send is ignored.
            return
        for media_type, old_media in old_content.items():
            at = f"request body {media_type}"
            new_media = new_content.get(media_type)
            if new_media is None:
                self._add("request-media-type-removed", path, method, f"{at}: no longer accepted")
            elif "schema" in old_media and "schema" in new_media:
                self._schemas(path, method, old_media["schema"], new_media["schema"], "request", at)

    def _responses(self, path: str, method: str, old_op: Node, new_op: Node) -> None:
        old_responses, new_responses = _responses(old_op), _responses(new_op)
        for status, old_raw in old_responses.items():
            new_raw = new_responses.get(status, new_responses.get(f"{status[:1]}XX"))
            if new_raw is None:
                if status.startswith("2"):
                    self._add(
                        "response-success-status-removed",
                        path,
                        method,
                        f"success response {status} removed",
                    )
                continue
            old_content = _content(self.old.resolve(old_raw))
            new_content = _content(self.new.resolve(new_raw))
            for media_type, old_media in old_content.items():
                at = f"response {status} {media_type}"
                new_media = new_content.get(media_type)
                if new_media is None:
                    self._add(
                        "response-media-type-removed", path, method, f"{at}: no longer returned"
                    )
                elif "schema" in old_media and "schema" in new_media:
                    self._schemas(
                        path, method, old_media["schema"], new_media["schema"], "response", at
                    )

    def _security(self, path: str, method: str, old_op: Node, new_op: Node) -> None:
        required = self.new.security(new_op)
        for client in self.old.security(old_op):
            if any(_satisfies(client, requirement) for requirement in required):
                continue
            rule, message = _security_change(client, required)
            self._add(rule, path, method, message)


def _security_change(
    client: dict[str, list[str]], required: list[dict[str, list[str]]]
) -> tuple[str, str]:
    """Name the way a client holding ``client`` credentials is now refused."""
    if not client:
        schemes = " or ".join(_requirement(r) for r in required)
        return "security-added", f"was callable without credentials; now requires {schemes}"
    same_schemes = [r for r in required if r.keys() == client.keys()]
    if same_schemes:
        missing = min(
            (
                sorted({f"{s}:{scope}" for s in r for scope in set(r[s]) - set(client[s])})
                for r in same_schemes
            ),
            key=len,
        )
        return "security-scope-added", f"now also requires scope {', '.join(missing)}"
    return (
        "security-alternative-removed",
        f"clients using {_requirement(client)} are no longer accepted",
    )


def _requirement(requirement: Mapping[str, list[str]]) -> str:
    if not requirement:
        return "no credentials"
    return " + ".join(
        f"{scheme}[{' '.join(scopes)}]" if scopes else scheme
        for scheme, scopes in sorted(requirement.items())
    )


def _satisfies(client: Mapping[str, list[str]], requirement: Mapping[str, list[str]]) -> bool:
    """A client holding ``client``'s schemes and scopes meets ``requirement``."""
    return all(
        scheme in client and set(scopes) <= set(client[scheme])
        for scheme, scopes in requirement.items()
    )


def _path_shape(path: str) -> str:
    """``/orders/{id}`` and ``/orders/{order_id}`` are the same URL to a client."""
    return _TEMPLATE_PARAM.sub("{}", path)


def _parameters(doc: Document, path: str, operation: Node) -> dict[ParamKey, Node]:
    """Effective parameters: path-level ones overridden by the operation's."""
    template = _TEMPLATE_PARAM.findall(path)
    params: dict[ParamKey, Node] = {}
    raw = [*doc.path_parameters(path), *(operation.get("parameters") or [])]
    for item in raw:
        param = doc.resolve(item)
        where, name = str(param.get("in", "")), str(param.get("name", ""))
        if where == "path":
            # Path parameters are matched by position, so renaming one is harmless.
            key: ParamKey = (where, str(template.index(name)) if name in template else name)
        elif where == "header":
            key = (where, name.lower())
        else:
            key = (where, name)
        params[key] = param
    return params


def _content(body: Node) -> dict[str, Node]:
    content = body.get("content")
    if not isinstance(content, Mapping):
        return {}
    return {str(k): v for k, v in content.items() if isinstance(v, Mapping)}


def _responses(operation: Node) -> dict[str, Any]:
    responses = operation.get("responses")
    if not isinstance(responses, Mapping):
        return {}
    return {str(k).upper(): v for k, v in responses.items()}


def report(findings: Sequence[Finding], *, as_json: bool = False) -> str:
    """Findings as text lines (or a JSON array) for a terminal or CI log."""
    if as_json:
        return msgspec.json.encode(list(findings)).decode()
    lines = [f.render() for f in findings]
    count = len(breaking(list(findings)))
    lines.append(f"{count} breaking change(s)" if count else "no breaking changes")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: compare two contract files; exit 1 on breaking changes."""
    parser = argparse.ArgumentParser(
        prog="python -m strata.contracts.diff",
        description="Report changes in NEW that break clients of OLD (OpenAPI 3.1).",
    )
    parser.add_argument("old", type=Path, help="the released contract")
    parser.add_argument("new", type=Path, help="the changed contract")
    parser.add_argument("--json", action="store_true", help="print findings as JSON")
    args = parser.parse_args(argv)
    try:
        findings = diff_files(args.old, args.new)
    except ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(findings, as_json=args.json))
    return 1 if breaking(findings) else 0


if __name__ == "__main__":
    sys.exit(main())
