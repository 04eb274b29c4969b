"""Build an instance's template database once; clone it for every run in a fraction of a second.

SQLite: ``<data_dir>/<instance>/template.sqlite`` (checkpointed, so the copy is complete).
PostgreSQL: a database ``strata_<instance>_template`` cloned with ``CREATE DATABASE ...
TEMPLATE``. A marker file (``template.json``) records the demo data version, the backend,
the fiscal years and a hash of the admin password; a template whose marker differs is
rebuilt, one whose marker matches is reused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from sandbox.tryton.catalogue import DEMO_DATA_VERSION, INSTANCES
from sandbox.tryton.console import TrytonConsole
from sandbox.tryton.master_data import fiscal_years, load_master_data
from sandbox.tryton.server import (
    TrytonCredentials,
    TrytonServer,
    admin_credentials,
    database_name,
    free_port,
    instance_dir,
    write_config,
)

# Bump when the build script changes in a way the data version does not capture.
BUILD_VERSION = 4
# sale_amendment: orders edited in Shopify after posting amend the confirmed sale.
# carrier, stock_package_shipping (with stock_package): shipments leave with a carrier, in
# packages that carry tracking numbers.
# product_price_list: a price list per currency the shops sell in (catalog publication).
MODULES = (
    "sale",
    "stock",
    "account_invoice",
    "sale_amendment",
    "carrier",
    "stock_package",
    "stock_package_shipping",
    "product_price_list",
)
DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/"


class TemplateMarker(msgspec.Struct, frozen=True, kw_only=True):
    """What a finished template was built from."""

    instance: str
    backend: str
    data_version: str
    build_version: int
    fiscal_years: list[int]
    password_sha256: str
    database: str
    built_at: dt.datetime


def _expected_marker(instance: str, backend: str, credentials: TrytonCredentials) -> dict[str, Any]:
    return {
        "instance": instance,
        "backend": backend,
        "data_version": DEMO_DATA_VERSION,
        "build_version": BUILD_VERSION,
        "fiscal_years": fiscal_years(),
        "password_sha256": hashlib.sha256(credentials.password.encode()).hexdigest(),
    }


def template_path(instance: str, data_dir: Path) -> Path:
    """The SQLite template file of an instance."""
    return instance_dir(instance, data_dir) / "template.sqlite"


def _marker_path(instance: str, data_dir: Path, backend: str) -> Path:
    name = "template.json" if backend == "sqlite" else f"template-{backend}.json"
    return instance_dir(instance, data_dir) / name


def _template_db(instance: str, backend: str) -> str:
    return database_name(instance) if backend == "sqlite" else f"strata_{instance}_template"


def template_is_current(
    instance: str, data_dir: Path, backend: str = "sqlite", pg_dsn: str | None = None
) -> bool:
    """Whether a complete template built from the current demo data exists."""
    marker_path = _marker_path(instance, data_dir, backend)
    if not marker_path.exists():
        return False
    try:
        marker = msgspec.json.decode(marker_path.read_bytes(), type=TemplateMarker)
    except msgspec.DecodeError:
        return False
    credentials = admin_credentials(instance, data_dir)
    recorded = msgspec.structs.asdict(marker)
    if any(recorded[k] != v for k, v in _expected_marker(instance, backend, credentials).items()):
        return False
    if backend == "sqlite":
        return template_path(instance, data_dir).exists()
    return _pg_database_exists(pg_dsn or DEFAULT_PG_DSN, marker.database)


def build_template(
    instance: str, data_dir: Path, backend: str = "sqlite", pg_dsn: str | None = None
) -> Path:
    """Build (or reuse) the template database of ``instance`` ("eu" or "us").

    Creates the database with the sale, stock and account_invoice modules, then writes the
    demo master data over JSON-RPC. Returns the marker file's path (beside the SQLite
    template). Safe to call from several processes: a file lock serialises builds.
    """
    if instance not in INSTANCES:
        raise ValueError(f"unknown demo instance {instance!r}; known: {sorted(INSTANCES)}")
    data_dir = Path(data_dir).resolve()
    base = instance_dir(instance, data_dir)
    base.mkdir(parents=True, exist_ok=True)
    marker_path = _marker_path(instance, data_dir, backend)
    with _build_lock(base):
        if template_is_current(instance, data_dir, backend, pg_dsn):
            return marker_path
        marker_path.unlink(missing_ok=True)
        credentials = admin_credentials(instance, data_dir)
        with tempfile.TemporaryDirectory(prefix="build-", dir=base) as tmp:
            build_dir = Path(tmp)
            database = _build_in(build_dir, instance, credentials, backend, pg_dsn)
            if backend == "sqlite":
                built = build_dir / f"{database}.sqlite"
                _checkpoint(built)
                staged = template_path(instance, data_dir).with_suffix(".staged")
                shutil.copyfile(built, staged)
                staged.replace(template_path(instance, data_dir))
        marker = TemplateMarker(
            **_expected_marker(instance, backend, credentials),
            database=database,
            built_at=dt.datetime.now(dt.UTC),
        )
        marker_path.write_bytes(msgspec.json.encode(marker))
    return marker_path


def _build_in(
    build_dir: Path,
    instance: str,
    credentials: TrytonCredentials,
    backend: str,
    pg_dsn: str | None,
) -> str:
    database = _template_db(instance, backend)
    port = free_port()
    config = write_config(build_dir, port, backend=backend, pg_dsn=pg_dsn)
    if backend == "sqlite":
        (build_dir / f"{database}.sqlite").touch()
    else:
        _pg_execute(pg_dsn or DEFAULT_PG_DSN, f'DROP DATABASE IF EXISTS "{database}"')
        _pg_execute(pg_dsn or DEFAULT_PG_DSN, f'CREATE DATABASE "{database}"')
    password_file = build_dir / "admin.pass"
    password_file.write_text(credentials.password + "\n")
    password_file.chmod(0o600)
    log_path = build_dir / "trytond-admin.log"
    with log_path.open("wb") as log:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [
                sys.executable,
                "-c",
                "import sys; from trytond.cli.admin import main; sys.exit(main())",
                "-c",
                str(config),
                "-d",
                database,
                "--all",
                "--activate-dependencies",
                "--email",
                f"admin@{instance}.strata.example",
                "-u",
                *MODULES,
            ],
            env={**os.environ, "TRYTONPASSFILE": str(password_file)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    password_file.unlink()
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"trytond-admin failed for {database}:\n{tail}")
    server = TrytonServer(
        database=database,
        port=port,
        config_path=config,
        credentials=credentials,
        log_path=build_dir / "trytond.log",
    )
    with (
        server.start(),
        TrytonConsole(server.url, database, credentials.user, credentials.password) as c,
    ):
        load_master_data(c, INSTANCES[instance])
    return database


def _checkpoint(path: Path) -> None:
    # Fold the write-ahead log into the file, or a copy would miss the latest writes.
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("pragma wal_checkpoint(TRUNCATE)")


@contextlib.contextmanager
def _build_lock(base: Path) -> Iterator[None]:
    with (base / ".build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def clone_template(
    instance: str,
    data_dir: Path,
    run_dir: Path,
    port: int,
    *,
    fresh: bool = True,
    backend: str = "sqlite",
    pg_dsn: str | None = None,
) -> str:
    """Copy the template into a run database; return the run database's name."""
    if not template_is_current(instance, data_dir, backend, pg_dsn):
        raise FileNotFoundError(
            f"no current {backend} template for {instance!r} under {data_dir}; "
            "build it first (build_template)"
        )
    if backend == "sqlite":
        database = database_name(instance)
        target = run_dir / f"{database}.sqlite"
        if fresh or not target.exists():
            for leftover in (target.with_suffix(".sqlite-wal"), target.with_suffix(".sqlite-shm")):
                leftover.unlink(missing_ok=True)
            shutil.copyfile(template_path(instance, data_dir), target)
        return database
    dsn = pg_dsn or DEFAULT_PG_DSN
    database = f"strata_{instance}_{port}"
    exists = _pg_database_exists(dsn, database)
    if fresh or not exists:
        if exists:
            _pg_execute(dsn, f'DROP DATABASE "{database}" WITH (FORCE)')
        template = _template_db(instance, backend)
        _pg_execute(dsn, f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    return database


def drop_run_database(database: str, pg_dsn: str | None = None) -> None:
    """Drop a PostgreSQL run database (SQLite runs are removed with their folder)."""
    _pg_execute(pg_dsn or DEFAULT_PG_DSN, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _pg_connect(dsn: str) -> Any:
    import psycopg  # only the PostgreSQL backend needs it (trytond[postgresql])

    return psycopg.connect(dsn.rstrip("/") + "/postgres", autocommit=True)


def _pg_execute(dsn: str, statement: str) -> None:
    with contextlib.closing(_pg_connect(dsn)) as conn:
        conn.execute(statement)


def _pg_database_exists(dsn: str, database: str) -> bool:
    with contextlib.closing(_pg_connect(dsn)) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        return row is not None
