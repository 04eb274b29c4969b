"""``strata orders``: an operator's view of the order pipeline, over the orders process API.

    strata orders status SHOP ORDER_ID
    strata orders exceptions [--state open] [--shop SHOP] [--kind KIND]
    strata orders replay EXCEPTION_ID [--body FILE]
    strata orders replay --all [--kind KIND] [--shop SHOP]

Every command takes ``--url`` (default ``$STRATA_ORDERS_URL`` or http://127.0.0.1:8120) and
``--token`` (default ``$STRATA_TOKEN``), before or after the command name, and ``--json`` to
print the API's answer as it came. Exit status: 0 done, 1 the API refused or could not be
reached, 2 a usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx

DEFAULT_URL = "http://127.0.0.1:8120"
PAGE = 200
REPLAY_BATCH = 20
ERROR_WIDTH = 60


class CliError(Exception):
    """Something to tell the operator before exiting with status 1."""


class Progress:
    """A one-line progress bar on a terminal; on anything else, only the final line."""

    def __init__(self, total: int, stream: TextIO, *, label: str, width: int = 30) -> None:
        self.total = total
        self.stream = stream
        self.label = label
        self.width = width
        self.done = 0
        self.live = stream.isatty()

    def advance(self, count: int) -> None:
        self.done = min(self.total, self.done + count)
        if self.live:
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def line(self) -> str:
        filled = self.width * self.done // self.total if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        return f"[{bar}] {self.done}/{self.total} {self.label}"

    def finish(self) -> None:
        self.stream.write(("\r" if self.live else "") + self.line() + "\n")
        self.stream.flush()


class OrdersApi:
    """The few calls of the orders process API v1 the CLI makes."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the orders API at {self.client.base_url}: {exc}") from exc
        if response.is_success:
            return response.json()
        raise CliError(problem_text(response))

    def status(self, shop: str, order_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", f"/orders/v1/orders/{shop}/{order_id}")
        return answer

    def exceptions(self, **query: Any) -> dict[str, Any]:
        params = {k: v for k, v in query.items() if v is not None}
        answer: dict[str, Any] = self._call("GET", "/orders/v1/exceptions", params=params)
        return answer

    def replay(self, exception_id: str, body: dict[str, Any] | None) -> dict[str, Any]:
        # The contract requires a body: null replays the payload as it was.
        payload = b"null" if body is None else json.dumps({"body": body}).encode()
        answer: dict[str, Any] = self._call(
            "POST",
            f"/orders/v1/exceptions/{exception_id}/replay",
            content=payload,
            headers={"content-type": "application/json"},
        )
        return answer

    def replay_many(self, ids: list[str]) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(
            "POST", "/orders/v1/exceptions/replay", json={"ids": ids, "limit": len(ids)}
        )
        return answer

    def open_exception_ids(self, *, shop: str | None, kind: str | None) -> list[str]:
        """Every open exception matching the filters, gathered before any is replayed (a
        replay moves it out of ``open``, which would shift the pages)."""
        ids: list[str] = []
        offset = 0
        while True:
            page = self.exceptions(state="open", shop=shop, kind=kind, offset=offset, limit=PAGE)
            ids.extend(item["id"] for item in page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return ids


def problem_text(response: httpx.Response) -> str:
    """One line from an RFC 9457 problem (or whatever the body is) and the status."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and (problem.get("title") or problem.get("detail")):
        text = ": ".join(str(problem[k]) for k in ("title", "detail") if problem.get(k))
        for error in problem.get("errors") or []:
            if isinstance(error, dict):
                where = error.get("field") or error.get("key") or error.get("source") or ""
                text += f"\n  {where}: {error.get('message', error)}".rstrip()
    else:
        text = response.text.strip()[:200] or response.reason_phrase
    return f"{text} (HTTP {response.status_code})"


def when(epoch: float) -> str:
    """An epoch timestamp as UTC to the millisecond."""
    stamp = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def format_status(status: Mapping[str, Any]) -> str:
    """The pipeline status of one order, steps oldest first."""
    lines = [f"{status['shop']} order {status['order_id']}: {status['state']}"]
    if status.get("erp_instance"):
        erp = f"{status['erp_instance']}"
        if status.get("erp_order_number") or status.get("erp_order_id"):
            erp += f" {status.get('erp_order_number') or '-'} (id {status.get('erp_order_id')})"
        lines.append(f"  ERP          {erp}")
    if status.get("correlation_id"):
        lines.append(f"  correlation  {status['correlation_id']}")
    if status.get("exception_id"):
        lines.append(f"  exception    {status['exception_id']}")
    lines.append("  steps")
    for step in status.get("steps", []):
        detail = f"  {step['detail']}" if step.get("detail") else ""
        lines.append(f"    {when(step['at'])}  {step['step']:<14}{detail}".rstrip())
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_exceptions(page: Mapping[str, Any]) -> str:
    """Exceptions as a table, newest first, with how many there are in all."""
    items: Sequence[Mapping[str, Any]] = page["items"]
    if not items:
        return "no exceptions match"
    header = ("ID", "STATE", "KIND", "SHOP", "ORDER", "CREATED", "REPLAYS", "ERROR")
    rows = [
        (
            item["id"],
            item["state"],
            item["kind"],
            item["shop"],
            item["order_id"],
            when(item["created_at"])[:19],
            str(item.get("replays", 0)),
            _clip(item["error"], ERROR_WIDTH),
        )
        for item in items
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    out = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        out.append("  ".join([*cells, row[-1]]))
    first = page["offset"] + 1
    out.append(f"{first}-{page['offset'] + len(items)} of {page['total']}")
    return "\n".join(out)


def _chunks(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _read_body(path: str, stdin: TextIO) -> dict[str, Any]:
    try:
        text = stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise CliError(f"{path} must hold a JSON object (the Shopify order)")
    return body


def build_parser() -> argparse.ArgumentParser:
    connection = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a value given after the command name wins, else the one before it stays.
    connection.add_argument("--url", default=argparse.SUPPRESS, help="orders API base URL")
    connection.add_argument("--token", default=argparse.SUPPRESS, help="bearer access token")
    connection.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print raw JSON"
    )
    parser = argparse.ArgumentParser(
        prog="strata orders",
        description="Pipeline status, exceptions and replay, over the orders process API.",
    )
    parser.add_argument("--url", default=None, help=f"orders API base URL (default {DEFAULT_URL})")
    parser.add_argument("--token", default=None, help="bearer access token ($STRATA_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    sub = parser.add_subparsers(dest="command", required=True)

    status = sub.add_parser("status", parents=[connection], help="where an order is")
    status.add_argument("shop", help="shop domain or channel, e.g. demo-eu.myshopify.com")
    status.add_argument("order_id")

    exceptions = sub.add_parser("exceptions", parents=[connection], help="list exceptions")
    exceptions.add_argument("--state", choices=["open", "replayed", "resolved"])
    exceptions.add_argument("--shop")
    exceptions.add_argument("--kind", help="e.g. mapping, validation, retries-exhausted")
    exceptions.add_argument("--limit", type=int, default=50, help="at most this many (1-200)")
    exceptions.add_argument("--offset", type=int, default=0)

    replay = sub.add_parser(
        "replay", parents=[connection], help="put exceptions back on the pipeline"
    )
    replay.add_argument("exception_id", nargs="?", help="the exception to replay")
    replay.add_argument(
        "--body", metavar="FILE", help="replay with this Shopify order JSON ('-': stdin)"
    )
    replay.add_argument("--all", action="store_true", help="every open exception matching")
    replay.add_argument("--kind", help="with --all: only this kind")
    replay.add_argument("--shop", help="with --all: only this shop")
    replay.add_argument(
        "--dry-run", action="store_true", help="with --all: list what would be replayed"
    )
    return parser


def _check_replay(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.all and args.exception_id:
        parser.error("replay takes an EXCEPTION_ID or --all, not both")
    if not args.all and not args.exception_id:
        parser.error("replay needs an EXCEPTION_ID or --all")
    if args.all and args.body:
        parser.error("--body replays one exception; it can't go with --all")
    if not args.all and (args.kind or args.shop or args.dry_run):
        parser.error("--kind, --shop and --dry-run go with --all")


def main(
    argv: list[str],
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run ``strata orders`` with ``argv`` (after ``orders``); returns the exit status."""
    env = os.environ if environ is None else environ
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "exceptions" and not 1 <= args.limit <= PAGE:
        parser.error(f"--limit must be between 1 and {PAGE}")
    if args.command == "replay":
        _check_replay(parser, args)
    token = args.token or env.get("STRATA_TOKEN")
    if not token:
        parser.error("no access token: pass --token or set STRATA_TOKEN")
    url = args.url or env.get("STRATA_ORDERS_URL") or DEFAULT_URL
    client = httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=30,
        transport=transport,
    )
    try:
        return _run(args, OrdersApi(client), out, err, stdin or sys.stdin)
    except CliError as exc:
        err.write(f"strata orders: {exc}\n")
        return 1
    finally:
        client.close()


def _run(args: argparse.Namespace, api: OrdersApi, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    raw = bool(args.json)
    if args.command == "status":
        status = api.status(args.shop, args.order_id)
        out.write((json.dumps(status, indent=2) if raw else format_status(status)) + "\n")
        return 0
    if args.command == "exceptions":
        page = api.exceptions(
            state=args.state, shop=args.shop, kind=args.kind, offset=args.offset, limit=args.limit
        )
        out.write((json.dumps(page, indent=2) if raw else format_exceptions(page)) + "\n")
        return 0
    if not args.all:
        body = _read_body(args.body, stdin) if args.body else None
        result = api.replay(args.exception_id, body)
        if raw:
            out.write(json.dumps(result, indent=2) + "\n")
        else:
            out.write(
                f"replayed {result['exception_id']}: now {result['state']}, "
                f"stream entry {result['entry_id']}\n"
            )
        return 0
    return _replay_all(args, api, out, err, raw=raw)


def _replay_all(
    args: argparse.Namespace, api: OrdersApi, out: TextIO, err: TextIO, *, raw: bool
) -> int:
    ids = api.open_exception_ids(shop=args.shop, kind=args.kind)
    if args.dry_run:
        out.write(
            (json.dumps(ids) if raw else "\n".join([*ids, f"{len(ids)} would be replayed"])) + "\n"
        )
        return 0
    if not ids:
        out.write(
            json.dumps({"replayed": [], "skipped": []}) + "\n" if raw else "nothing to replay\n"
        )
        return 0
    progress = Progress(len(ids), err, label="replayed")
    replayed: list[dict[str, Any]] = []
    skipped: list[str] = []
    try:
        for batch in _chunks(ids, REPLAY_BATCH):
            result = api.replay_many(batch)
            replayed.extend(result["replayed"])
            skipped.extend(result["skipped"])
            progress.advance(len(batch))
    finally:
        progress.finish()
    if raw:
        out.write(json.dumps({"replayed": replayed, "skipped": skipped}, indent=2) + "\n")
    else:
        out.write(f"replayed {len(replayed)} of {len(ids)} open exceptions")
        out.write(f"; {len(skipped)} gone meanwhile: {', '.join(skipped)}\n" if skipped else "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
