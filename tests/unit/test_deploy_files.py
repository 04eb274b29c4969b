"""The Dockerfile and compose.yaml hold together: the image is built in two stages and runs
``strata`` as a non-root user without compilers; every compose service runs a command
``strata`` parses, with settings its services read and secrets only from files.

No container engine runs where these tests run, so neither ``docker build`` nor ``docker
compose config`` is part of them; ``tests/integration/test_image_install.py`` installs the
project as the build stage does and starts a service from it.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from strata.cli import build_parser
from strata.services import SERVICES
from tests.unit.helm.test_wiring import known_variables

ROOT = Path(__file__).resolve().parents[2]
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cc|python3-dev|libc6-dev)\b")


class Stage:
    def __init__(self, base: str, name: str | None) -> None:
        self.base = base
        self.name = name
        self.instructions: list[tuple[str, str]] = []

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def dockerfile_stages(text: str) -> list[Stage]:
    """The Dockerfile's stages and their instructions (continuation lines joined)."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if line.strip().startswith("#") and not current:
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arg = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = arg.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif stages:
            stages[-1].instructions.append((keyword, arg.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile_stages((ROOT / "Dockerfile").read_text())


def test_the_image_is_built_in_a_build_stage_and_run_from_a_clean_one(
    stages: list[Stage],
) -> None:
    assert [s.name for s in stages] == ["build", "runtime"]
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert all(s.base == "${PYTHON_IMAGE}" for s in stages)
    build, runtime = stages
    assert any("python -m venv /opt/strata" in r for r in build.all("RUN"))
    assert any("pip wheel --no-deps" in r and "-c constraints.txt" in r for r in build.all("RUN"))
    assert runtime.all("COPY") == ["--from=build /opt/strata /opt/strata"]


def test_the_final_stage_has_no_compilers_and_runs_strata_as_a_non_root_user(
    stages: list[Stage],
) -> None:
    build, runtime = stages
    assert any(COMPILERS.search(r) for r in build.all("RUN")), "the build stage may compile"
    for command in runtime.all("RUN"):
        assert "apt-get install" not in command, command
        assert not COMPILERS.search(command.replace("install -d", "")), command
    (user,) = runtime.all("USER")
    uid = user.split(":")[0]
    assert uid not in ("root", "0")
    assert int(uid) == 10001, "the Helm chart's runAsUser"
    assert json.loads(runtime.all("ENTRYPOINT")[-1]) == ["strata"]
    env = " ".join(runtime.all("ENV"))
    assert "PATH=/opt/strata/bin:$PATH" in env


def test_the_image_carries_the_oci_labels(stages: list[Stage]) -> None:
    labels = " ".join(stages[-1].all("LABEL"))
    for key in ("title", "description", "source", "licenses", "version", "revision", "created"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels


def test_every_copied_path_exists_and_is_not_ignored(stages: list[Stage]) -> None:
    ignored = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for copy in stages[0].all("COPY"):
        *sources, _target = shlex.split(copy)
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source not in ignored, f"{source} is copied but .dockerignore drops it"
    for kept_out in (".git", ".venv", "var", "tests"):
        assert kept_out in ignored, kept_out


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def strata_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services whose entrypoint is the image's own (``strata``)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if "build" in service and "entrypoint" not in service
    }


def test_compose_runs_every_service_and_a_separate_orders_worker(compose: dict[str, Any]) -> None:
    parser = build_parser()
    started: dict[str, str] = {}
    for name, service in strata_services(compose).items():
        args = parser.parse_args(service["command"])  # SystemExit on what it refuses
        if args.command == "serve":
            assert args.host == "0.0.0.0"
            assert args.port == 8080
            assert args.service in SERVICES
        started[name] = " ".join(service["command"][:2])
    assert started["orders-worker"] == "worker orders"
    assert started["erp-init"] == "erp init"
    serves = {v.split()[1] for v in started.values() if v.startswith("serve ")}
    assert serves == {"erp", "shopify", "orders", "inventory", "storefront", "service-desk", "auth"}


def test_compose_redis_keeps_an_append_only_file_and_tryton_runs_on_postgresql(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    redis = services["redis"]["command"]
    assert redis[redis.index("--appendonly") + 1] == "yes"
    assert any(":/data" in v for v in services["redis"]["volumes"])
    init = services["erp-init"]["command"]
    assert init[init.index("--backend") + 1] == "postgresql"
    for instance in ("eu", "us"):
        tryton = services[f"tryton-{instance}"]
        assert tryton["entrypoint"] == ["trytond"]
        assert tryton["environment"]["TRYTOND_DATABASE__URI"].startswith("postgresql://")
        assert tryton["depends_on"]["erp-init"]["condition"] == "service_completed_successfully"
        assert f"strata_{instance}_template" in tryton["command"]
        erp = services[f"erp-{instance}"]["environment"]
        assert erp["STRATA_ERP_TRYTON_URL"] == f"http://tryton-{instance}:8000/"


def test_compose_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        if name != "erp-init":
            assert "healthcheck" in service, name
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} -> {dependency}"
            assert condition["condition"] in ("service_healthy", "service_completed_successfully")
    for name, service in strata_services(compose).items():
        if name == "erp-init":
            continue
        probe = " ".join(service["healthcheck"]["test"])
        assert "/health/ready" in probe, name


def test_compose_sets_only_variables_its_services_read(compose: dict[str, Any]) -> None:
    unknown = []
    for name, service in strata_services(compose).items():
        command = service["command"]
        if command[0] != "serve" and command[0] != "worker":
            continue
        owner = command[1]
        for variable in service.get("environment", {}):
            if variable.startswith(("STRATA_", "OTEL_")) and variable not in known_variables(owner):
                unknown.append(f"{name}: {variable}")
    assert unknown == []


SECRET_NAMES = re.compile(r"(PASSWORD|SECRET|_SHOPS|_KEYS|_CLIENTS|_APPS|_ACCOUNTS|TOKEN)$")


def test_compose_secrets_come_from_files_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}) or {}:
            assert not SECRET_NAMES.search(variable), f"{name}: {variable} written inline"
        for env_file in service.get("env_file", []):
            assert env_file.startswith("secrets/"), env_file
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert volume.startswith("./secrets/"), volume
                assert volume.endswith(":ro"), volume
    assert "POSTGRES_PASSWORD" not in json.dumps(compose["services"]["postgres"])


def test_compose_services_run_hardened(compose: dict[str, Any]) -> None:
    for name, service in strata_services(compose).items():
        if name == "erp-init":
            continue
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "user" not in service, f"{name} runs as the image's non-root user"
    for published in (port for s in compose["services"].values() for port in s.get("ports", [])):
        assert published.startswith("127.0.0.1:"), published
