"""Deprecation, Sunset and Link headers on a retiring major's responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from litestar import Litestar, get
from litestar.params import FromPath
from litestar.testing import TestClient
from litestar.types import Message, Receive, Scope, Send

from shared.deprecation import (
    DeprecatedPrefix,
    DeprecationMiddleware,
    DeprecationSettings,
    deprecation_middleware,
    deprecation_value,
    sunset_value,
)
from shared.problems import EXCEPTION_HANDLERS, NotFound
from shared.settings import load_settings

V1 = DeprecatedPrefix(
    prefix="/erp/v1",
    deprecated_at=datetime(2026, 1, 1, tzinfo=UTC),
    sunset=datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC),
    successor="/erp/v2",
    docs="https://strata.dev/docs/erp/v2-migration",
)


@get("/erp/v1/products/{sku:str}", sync_to_thread=False)
def product_v1(sku: FromPath[str]) -> dict[str, str]:
    if sku == "missing":
        raise NotFound(f"no product {sku}")
    return {"sku": sku}


@get("/erp/v2/products/{sku:str}", sync_to_thread=False)
def product_v2(sku: FromPath[str]) -> dict[str, str]:
    return {"sku": sku}


@get("/erp/v10/products", sync_to_thread=False)
def product_v10() -> list[str]:
    return []


def app(settings: DeprecationSettings) -> Litestar:
    return Litestar(
        [product_v1, product_v2, product_v10],
        middleware=[deprecation_middleware(settings)],
        exception_handlers=EXCEPTION_HANDLERS,
    )


def test_header_values_follow_the_rfcs() -> None:
    assert deprecation_value(datetime(2026, 1, 1, tzinfo=UTC)) == "@1767225600"
    assert sunset_value(datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)) == (
        "Wed, 30 Jun 2027 23:59:59 GMT"
    )
    # Other offsets and naive values (taken as UTC) end up in GMT.
    cest = timezone(timedelta(hours=2))
    assert sunset_value(datetime(2027, 7, 1, 1, 59, 59, 500, tzinfo=cest)) == (
        "Wed, 30 Jun 2027 23:59:59 GMT"
    )
    assert deprecation_value(datetime(2026, 1, 1)) == "@1767225600"


def test_deprecated_major_announces_sunset_and_successor() -> None:
    with TestClient(app(DeprecationSettings(deprecations=[V1]))) as client:
        response = client.get("/erp/v1/products/SKU-1")
    assert response.status_code == 200
    assert response.headers["deprecation"] == "@1767225600"
    assert response.headers["sunset"] == "Wed, 30 Jun 2027 23:59:59 GMT"
    assert response.headers.get_list("link") == [
        '</erp/v2>; rel="successor-version"',
        '<https://strata.dev/docs/erp/v2-migration>; rel="deprecation"; type="text/html"',
    ]


def test_error_responses_are_announced_too() -> None:
    with TestClient(app(DeprecationSettings(deprecations=[V1]))) as client:
        response = client.get("/erp/v1/products/missing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["deprecation"] == "@1767225600"


@pytest.mark.parametrize("path", ["/erp/v2/products/SKU-1", "/erp/v10/products"])
def test_other_majors_are_left_alone(path: str) -> None:
    with TestClient(app(DeprecationSettings(deprecations=[V1]))) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert "deprecation" not in response.headers
    assert "sunset" not in response.headers
    assert "link" not in response.headers


def test_only_configured_headers_are_sent() -> None:
    bare = DeprecatedPrefix(prefix="/erp/v1", deprecated_at=datetime(2026, 1, 1, tzinfo=UTC))
    with TestClient(app(DeprecationSettings(deprecations=[bare]))) as client:
        response = client.get("/erp/v1/products/SKU-1")
    assert response.headers["deprecation"] == "@1767225600"
    assert "sunset" not in response.headers
    assert "link" not in response.headers


def test_settings_come_from_the_environment() -> None:
    environ = {
        "STRATA_ERP_DEPRECATIONS": (
            '[{"prefix": "/erp/v1", "deprecated_at": "2026-01-01T00:00:00Z",'
            ' "sunset": "2027-06-30T23:59:59Z", "successor": "/erp/v2"}]'
        )
    }
    settings = load_settings(DeprecationSettings, environ, prefix="STRATA_ERP_")
    assert settings.deprecations[0].prefix == "/erp/v1"
    assert settings.deprecations[0].sunset == datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)


def test_prefix_must_be_a_path_without_trailing_slash() -> None:
    with pytest.raises(ValueError, match="must start with /"):
        DeprecatedPrefix(prefix="erp/v1/", deprecated_at=datetime(2026, 1, 1, tzinfo=UTC))


async def test_longest_prefix_wins_in_a_bare_asgi_app() -> None:
    legacy = DeprecatedPrefix(
        prefix="/erp/v1/legacy", deprecated_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    sent: list[Message] = []

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = DeprecationMiddleware(endpoint, DeprecationSettings(deprecations=[V1, legacy]))
    scope = {"type": "http", "path": "/erp/v1/legacy/orders", "method": "GET", "headers": []}
    await middleware(scope, receive, send)  # type: ignore[arg-type]
    start = sent[0]
    assert start["type"] == "http.response.start"
    assert list(start["headers"]) == [(b"x-a", b"1"), (b"deprecation", b"@1735689600")]
    assert sent[1]["type"] == "http.response.body"
