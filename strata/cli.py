"""``strata``: serve a service, manage the demo ERP, write the OpenAPI contracts, mint tokens,
publish the catalogue."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from strata.services import SERVICES, ServiceSpec, load_factory


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["orders"]:
        # The orders process owns its operator commands (status, exceptions, replay).
        from strata import orders_cli

        return orders_cli.main(args_in[1:])
    args = build_parser().parse_args(args_in)
    if args.command == "up":
        from strata.stack import up

        return up(stack_file=args.stack)
    if args.command == "demo":
        from strata.demo import run as run_demo

        return run_demo(args)
    if args.command == "serve":
        return _serve(SERVICES[args.service], args)
    if args.command == "contracts":
        return write_contracts(check=args.check)
    if args.command == "erp":
        return _erp(args)
    if args.command == "worker":
        return _worker(args)
    if args.command == "token":
        return _token(args)
    if args.command == "catalog":
        return _catalog(args)
    return 2


def build_parser() -> argparse.ArgumentParser:
    """The ``strata`` command line (``strata orders ...`` has its own, in ``orders_cli``)."""
    parser = argparse.ArgumentParser(prog="strata", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one service with uvicorn")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--instance", help="ERP instance (erp only), e.g. eu or us")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)

    contracts = sub.add_parser("contracts", help="write (or --check) every OpenAPI contract")
    contracts.add_argument("--check", action="store_true", help="fail if a contract drifted")

    erp = sub.add_parser("erp", help="the demo Tryton ERP instances")
    erp_sub = erp.add_subparsers(dest="erp_command", required=True)
    init = erp_sub.add_parser("init", help="build the template databases")
    init.add_argument("--instance", action="append", choices=["eu", "us"])
    init.add_argument("--data-dir", type=Path, default=Path("var/erp"))
    init.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    init.add_argument("--pg-dsn", default=None)
    start = erp_sub.add_parser("start", help="serve a fresh copy of a template")
    start.add_argument("--instance", choices=["eu", "us"], default="eu")
    start.add_argument("--data-dir", type=Path, default=Path("var/erp"))
    start.add_argument("--port", type=int, default=8000)
    start.add_argument(
        "--keep",
        action="store_true",
        help="serve the run database of an earlier start on this port (a restart after a crash)",
    )
    creds = erp_sub.add_parser("credentials", help="print an instance's database and admin login")
    creds.add_argument("--instance", choices=["eu", "us"], default="eu")
    creds.add_argument("--data-dir", type=Path, default=Path("var/erp"))
    erp_sub.add_parser("catalogue", help="print the demo catalogue as (sku, title, price) rows")
    from strata import erp_ship  # local: keeps the CLI's start-up light

    erp_ship.add_parser(erp_sub)

    up_parser = sub.add_parser("up", help="start the whole demo stack; Ctrl-C stops it")
    up_parser.add_argument(
        "--stack", type=Path, default=Path("var/stack.json"), help="where to write the state file"
    )

    demo = sub.add_parser("demo", help="play the demo scenario against the running stack")
    demo.add_argument("--stack", type=Path, default=Path("var/stack.json"), help="its state file")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each thing")
    demo.add_argument("--outage", type=float, default=10.0, help="seconds the eu ERP API is down")
    demo.add_argument("--tokens", action="store_true", help="only print fresh ready tokens")

    worker = sub.add_parser("worker", help="run a process service's stream workers")
    worker.add_argument("service", choices=["orders"])
    worker.add_argument("--host", default="127.0.0.1", help="where /health/* and /metrics listen")
    worker.add_argument(
        "--port", type=int, default=None, help="serve /health/* and /metrics (default: no HTTP)"
    )

    token = sub.add_parser("token", help="mint an access token from the local issuer's keys")
    token.add_argument("--client", required=True, help="a registered client id, e.g. operator")
    token.add_argument("--scope", default="", help='space-separated scopes, e.g. "erp:read"')
    token.add_argument("--audience", default=None)
    token.add_argument("--issuer", default=None, help="the issuer URL the services trust")

    sub.add_parser("orders", help="order pipeline status, exceptions and replay (see --help)")

    catalog = sub.add_parser(
        "catalog",
        help="publish the ERPs' products to the shops; list and replay what failed",
        description="Over the catalog process API. Exit status: 0 done, 1 the API refused or "
        "could not be reached or the run failed, 3 the run finished with failed products "
        "(each one an exception to replay).",
    )
    catalog.add_argument(
        "--url", default=None, help="the catalog API (default $STRATA_CATALOG_URL or local)"
    )
    catalog.add_argument("--token", default=None, help="an access token (default $STRATA_TOKEN)")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    publish = catalog_sub.add_parser("publish", help="publish changes (or everything) now")
    publish.add_argument("--shop", default=None, help="one shop (default every configured one)")
    publish.add_argument("--full", action="store_true", help="everything, not only changes")
    publish.add_argument("--dry-run", action="store_true", help="count, write nothing")
    publish.add_argument(
        "--bulk",
        action="store_true",
        help="with --full: back-fill through one Shopify bulk operation per shop",
    )
    publish.add_argument("--poll", type=float, default=0.5, help="seconds between progress reads")
    listing = catalog_sub.add_parser("exceptions", help="products that could not be published")
    listing.add_argument("--state", choices=["open", "resolved"], default="open")
    listing.add_argument("--shop", default=None)
    replay = catalog_sub.add_parser("replay", help="publish an exception's product again")
    replay.add_argument("exception_id")

    return parser


def _worker(args: argparse.Namespace) -> int:
    """``strata worker orders [--host H --port P]``: the stream consumers; with ``--port``
    also ``/health/live``, ``/health/ready`` and ``/metrics`` for probes and scraping."""
    import asyncio

    from shared.settings import SettingsError
    from shared.telemetry.logs import configure_logging
    from shared.telemetry.settings import load_telemetry_settings

    try:
        telemetry = load_telemetry_settings()
        configure_logging(f"{args.service}-worker", telemetry.log_level, telemetry.log_format)
        from process_apis.orders.app import run_worker

        asyncio.run(run_worker(host=args.host, port=args.port))
    except SettingsError as exc:
        print(f"strata worker {args.service}: {exc}", file=sys.stderr)
        return 2
    return 0


def _token(args: argparse.Namespace) -> int:
    from sandbox.auth.issuer import issue_token_cli, load_issuer_settings

    settings = load_issuer_settings()
    if args.issuer:
        import msgspec

        settings = msgspec.structs.replace(settings, issuer=args.issuer)
    try:
        print(issue_token_cli(args.client, args.scope, args.audience, settings))
    except ValueError as exc:
        print(f"strata token: {exc}", file=sys.stderr)
        return 2
    return 0


def _serve(spec: ServiceSpec, args: argparse.Namespace) -> int:
    if args.instance:
        os.environ["STRATA_ERP_INSTANCE"] = args.instance
    from shared.settings import SettingsError
    from shared.telemetry.logs import uvicorn_log_config
    from shared.telemetry.settings import load_telemetry_settings

    try:
        telemetry = load_telemetry_settings()
        log_config = uvicorn_log_config(spec.name, telemetry.log_level, telemetry.log_format)
        if args.workers > 1:
            # Several processes under uvicorn's supervisor: each child is a plain uvicorn
            # server, without the readiness drain of a single-process service.
            import uvicorn

            from shared.server import server_options

            factory = load_factory(spec)
            loop, http = server_options()
            uvicorn.run(
                f"{factory.__module__}:{factory.__name__}",
                factory=True,
                host=args.host,
                port=args.port or spec.default_port,
                workers=args.workers,
                log_level="warning",
                access_log=False,
                log_config=log_config,
                loop=loop,
                http=http,
            )
            return 0
        from shared.server import serve

        return serve(
            load_factory(spec),
            host=args.host,
            port=args.port or spec.default_port,
            log_config=log_config,
        )
    except SettingsError as exc:
        print(f"strata serve {spec.name}: {exc}", file=sys.stderr)
        return 2


def render_contract(spec: ServiceSpec) -> str:
    """The service's OpenAPI document as YAML, generated from its app."""
    app = load_factory(spec)()
    document: dict[str, Any] = app.openapi_schema.to_schema()
    text: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return text


def write_contracts(*, check: bool, root: Path = Path()) -> int:
    """Write every service's contract, or with ``check`` report those that drifted."""
    drifted = []
    for spec in SERVICES.values():
        if spec.contract is None:
            continue
        path = root / spec.contract
        text = render_contract(spec)
        if check:
            if not path.exists() or path.read_text() != text:
                drifted.append(spec.contract)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {spec.contract}")
    if drifted:
        print("contracts out of date (run `make contracts`): " + ", ".join(drifted))
        return 1
    return 0


def _erp(args: argparse.Namespace) -> int:
    from sandbox import tryton as demo

    if args.erp_command == "credentials":
        creds = demo.admin_credentials(args.instance, args.data_dir)
        database = demo.server.database_name(args.instance)
        print(json.dumps({"database": database, "user": creds.user, "password": creds.password}))
        return 0
    if args.erp_command == "catalogue":
        from strata.stack import demo_products

        print(json.dumps(demo_products()))
        return 0
    if args.erp_command == "init":
        for instance in args.instance or ["eu", "us"]:
            path = demo.build_template(instance, args.data_dir, args.backend, args.pg_dsn)
            print(f"{instance}: template ready at {path}")
        return 0
    if args.erp_command == "ship":
        from strata import erp_ship

        return erp_ship.run(args)
    demo.run_forever(args.instance, args.data_dir, args.port, fresh=not args.keep)
    return 0


def _catalog(args: argparse.Namespace) -> int:
    """``strata catalog publish|exceptions|replay`` over the catalog process API."""
    import httpx
    from rich.console import Console

    url = (
        args.url
        or os.environ.get("STRATA_CATALOG_URL")
        or f"http://127.0.0.1:{SERVICES['catalog'].default_port}"
    )
    token = args.token or os.environ.get("STRATA_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out, err = Console(), Console(stderr=True)
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            if args.catalog_command == "publish":
                return _catalog_publish(client, args, out, err)
            if args.catalog_command == "exceptions":
                params = {"state": args.state, "limit": 200}
                if args.shop:
                    params["shop"] = args.shop
                page = _catalog_call(client, "GET", "/catalog/v1/exceptions", params=params)
                for record in page["items"]:
                    out.print(
                        f"{record['id']}  {record['shop']}  {record['instance']}:"
                        f"{record['erp_product_id']}  {record['kind']}  "
                        f"attempts {record['attempts']}  {record['error']}",
                        markup=False,
                        highlight=False,
                    )
                out.print(f"{page['total']} {args.state}", highlight=False)
                return 0
            record = _catalog_call(
                client, "POST", f"/catalog/v1/exceptions/{args.exception_id}/replay"
            )
            out.print(f"{record['id']}: {record['state']}", highlight=False)
            if record["state"] != "resolved":
                out.print(record["error"], markup=False, highlight=False)
                return 3
            return 0
    except CatalogCliError as exc:
        err.print(f"strata catalog: {exc}", markup=False, highlight=False)
        return 1


class CatalogCliError(Exception):
    """The catalog API refused the call or could not be reached."""


def _catalog_call(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise CatalogCliError(f"cannot reach the catalog API at {client.base_url}: {exc}") from exc
    if response.is_success:
        return response.json()
    try:
        problem = response.json()
        text = problem.get("detail") or problem.get("title") or response.text
    except ValueError:
        text = response.text[:200]
    raise CatalogCliError(f"{method} {path} answered {response.status_code}: {text}")


def _catalog_publish(client: Any, args: argparse.Namespace, out: Any, err: Any) -> int:
    """Start a run, draw its progress until it ends, print the summary."""
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    if args.bulk and not args.full:
        raise CatalogCliError("--bulk is a full back-fill: give --full too")
    body = {
        "shop": args.shop,
        "full": args.full,
        "dry_run": args.dry_run,
        "mode": "bulk" if args.bulk else "delta",
    }
    job = _catalog_call(client, "POST", "/catalog/v1/publications", json=body)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as bar:
        task = bar.add_task("reading the ERPs", total=None)
        while job["status"] == "running":
            time.sleep(args.poll)
            job = _catalog_call(client, "GET", f"/catalog/v1/publications/{job['id']}")
            if job.get("total"):
                bar.update(
                    task, description="publishing", total=job["total"], completed=job["processed"]
                )
        bar.update(task, description="done", total=job["total"], completed=job["processed"])
    summary = job["summary"]
    out.print(
        f"publication {job['id']} {job['status']}{' (dry run)' if args.dry_run else ''}: "
        f"created {summary['created']}, updated {summary['updated']} "
        f"(adopted {summary.get('adopted', 0)}), unchanged {summary['unchanged']}, "
        f"archived {summary['archived']}, failed {summary['failed']}",
        highlight=False,
    )
    for run in job.get("bulk") or []:
        out.print(
            f"  bulk operation {run.get('operation_id') or '-'} on {run['shop']}: "
            f"{run['status'].lower()}, {run['lines']} products, {run['published']} published, "
            f"{run['failed']} failed"
            + (f" (finish seen by {run['finished_by']})" if run.get("finished_by") else ""),
            markup=False,
            highlight=False,
        )
    for failure in summary["failures"]:
        out.print(
            f"  {failure['shop']} {failure['instance']}:{failure['erp_product_id']}: "
            f"{failure['error']}"
            + (f" (exception {failure['exception_id']})" if failure.get("exception_id") else ""),
            markup=False,
            highlight=False,
        )
    if job["status"] != "succeeded":
        err.print(f"strata catalog: the run failed: {job.get('error')}", markup=False)
        return 1
    return 3 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
