"""The Zendesk sidebar app against the documented ZAF v2 rules: manifest, translations, assets."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.unit.service_desk.stand_ins import SIDEBAR, build_sidebar_sdk

pytestmark = pytest.mark.contract

PARAMETER_TYPES = {"text", "password", "checkbox", "url", "number", "multiline", "hidden"}
SUPPORT_LOCATIONS = {
    "ticket_sidebar", "new_ticket_sidebar", "user_sidebar", "organization_sidebar",
    "top_bar", "nav_bar", "ticket_editor", "background", "modal",
}  # fmt: skip


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SIDEBAR / "manifest.json").read_text())
    return data


@pytest.fixture(scope="module")
def translations(manifest: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (SIDEBAR / "translations" / f"{manifest['defaultLocale']}.json").read_text()
    )
    return data


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_manifest_has_the_required_fields(manifest: dict[str, Any]) -> None:
    for key in ("name", "author", "defaultLocale", "location", "version", "frameworkVersion"):
        assert key in manifest, key
    assert manifest["frameworkVersion"] == "2.0"
    assert {"name", "email"} <= set(manifest["author"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert isinstance(manifest["private"], bool)


def test_ticket_sidebar_location_points_at_a_flexible_iframe(manifest: dict[str, Any]) -> None:
    support = manifest["location"]["support"]
    assert set(support) <= SUPPORT_LOCATIONS
    sidebar = support["ticket_sidebar"]
    assert sidebar == {"url": "assets/iframe.html", "flexible": True}
    assert (SIDEBAR / sidebar["url"]).is_file()


def test_parameters_are_well_formed_and_secrets_are_secure(manifest: dict[str, Any]) -> None:
    params = {p["name"]: p for p in manifest["parameters"]}
    assert len(params) == len(manifest["parameters"]), "parameter names must be unique"
    for name, param in params.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert param["type"] in PARAMETER_TYPES, name
        if param.get("secure"):
            # A secure value only ever reaches Zendesk's proxy; hidden ones reach the browser.
            assert param["type"] != "hidden", name
    for secret in ("api_url", "token", "shared_secret"):
        assert params[secret].get("secure") is True, secret


def test_domain_whitelist_holds_bare_hosts(manifest: dict[str, Any]) -> None:
    hosts = manifest["domainWhitelist"]
    assert hosts, "secure settings are sent only to whitelisted domains"
    for host in hosts:
        assert re.fullmatch(r"[a-z0-9*][a-z0-9.\-]*", host), host
    api = next(p for p in manifest["parameters"] if p["name"] == "api_url")
    assert urlsplit(api["default"]).hostname in hosts


def test_translations_name_the_app_and_every_parameter(
    manifest: dict[str, Any], translations: dict[str, Any]
) -> None:
    app = translations["app"]
    for key in ("name", "short_description", "long_description", "installation_instructions"):
        assert app.get(key), key
    for param in manifest["parameters"]:
        assert app["parameters"][param["name"]]["label"], param["name"]


def test_logos_have_the_sizes_zendesk_asks_for() -> None:
    assert png_size(SIDEBAR / "assets" / "logo.png") == (320, 320)
    assert png_size(SIDEBAR / "assets" / "logo-small.png") == (128, 128)


def test_assets_load_nothing_from_elsewhere() -> None:
    html = (SIDEBAR / "assets" / "iframe.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, "the iframe loads its scripts and styles"
    for source in sources:
        assert not re.match(r"(https?:)?//", source), f"{source} is not packaged with the app"
        assert (SIDEBAR / "assets" / source).is_file() or source == "zaf_sdk.js", source
    assert sources.index("zaf_sdk.js") < sources.index("main.js")
    for name in ("main.js", "main.css"):
        assert "//static.zdassets.com" not in (SIDEBAR / "assets" / name).read_text()


def test_requests_go_through_the_proxy_with_declared_secure_settings(
    manifest: dict[str, Any], translations: dict[str, Any]
) -> None:
    script = (SIDEBAR / "assets" / "main.js").read_text()
    params = {p["name"]: p for p in manifest["parameters"]}
    used = set(re.findall(r"\{\{setting\.(\w+)\}\}", script))
    assert used == {"api_url", "token", "shared_secret"}
    assert all(params[name].get("secure") for name in used)
    assert "secure: true" in script
    assert 'client.get("ticket.requester.email")' in script
    assert "innerHTML" not in script, "API data must never be parsed as HTML"
    # Every sidebar string the translations list is one the script knows.
    for key in translations["sidebar"]:
        assert re.search(rf"\b{key}: \"", script), key


def test_the_sdk_is_built_from_npm_into_assets() -> None:
    lock = json.loads((SIDEBAR / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/zendesk_app_framework_sdk"]["version"]
    bundle = build_sidebar_sdk().read_text()
    assert f"zendesk_app_framework_sdk {pinned}" in bundle.splitlines()[0]
    assert "window.ZAFClient = load(" in bundle
