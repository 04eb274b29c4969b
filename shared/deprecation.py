"""Announcing a retiring major on the wire: ``Deprecation``, ``Sunset`` and ``Link`` headers.

While ``/erp/v1`` runs beside ``/erp/v2``, every response under ``/erp/v1`` says so:

- ``Deprecation: @1767225600`` (RFC 9745: a structured-field Date, seconds since the epoch),
- ``Sunset: Wed, 30 Jun 2027 23:59:59 GMT`` (RFC 8594: an HTTP-date),
- ``Link: </erp/v2>; rel="successor-version"`` and, when documentation is configured,
  ``Link: <https://...>; rel="deprecation"; type="text/html"`` (RFC 9745 section 3).

:class:`DeprecationMiddleware` is a pure ASGI middleware; with Litestar, pass
``deprecation_middleware(settings)`` in ``middleware=[...]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send


class DeprecatedPrefix(msgspec.Struct, frozen=True, kw_only=True):
    """One deprecated path prefix, such as a whole major (``/erp/v1``)."""

    prefix: str
    deprecated_at: datetime
    sunset: datetime | None = None
    successor: str | None = None
    docs: str | None = None

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ValueError(f"prefix {self.prefix!r} must start with / and not end with /")


class DeprecationSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Deprecated prefixes of one service (``STRATA_<SERVICE>_DEPRECATIONS`` as JSON)."""

    deprecations: list[DeprecatedPrefix] = []


def _utc(moment: datetime) -> datetime:
    # A naive datetime in settings means UTC; HTTP dates are always GMT.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def deprecation_value(moment: datetime) -> str:
    """RFC 9745 ``Deprecation`` value: ``@`` and whole seconds since the epoch."""
    return f"@{int(_utc(moment).timestamp())}"


def sunset_value(moment: datetime) -> str:
    """RFC 8594 ``Sunset`` value: an IMF-fixdate such as ``Wed, 30 Jun 2027 23:59:59 GMT``."""
    return format_datetime(_utc(moment).replace(microsecond=0), usegmt=True)


def deprecation_headers(entry: DeprecatedPrefix) -> list[tuple[bytes, bytes]]:
    """The raw header lines announcing ``entry`` on a response."""
    headers = [(b"deprecation", deprecation_value(entry.deprecated_at).encode("latin-1"))]
    if entry.sunset is not None:
        headers.append((b"sunset", sunset_value(entry.sunset).encode("latin-1")))
    if entry.successor is not None:
        link = f'<{entry.successor}>; rel="successor-version"'
        headers.append((b"link", link.encode("latin-1")))
    if entry.docs is not None:
        link = f'<{entry.docs}>; rel="deprecation"; type="text/html"'
        headers.append((b"link", link.encode("latin-1")))
    return headers


class DeprecationMiddleware:
    """Adds deprecation headers to every HTTP response under a configured prefix."""

    def __init__(self, app: ASGIApp, settings: DeprecationSettings) -> None:
        self.app = app
        # Longest prefix first, so /erp/v1/legacy can carry its own dates inside /erp/v1.
        self._entries = [
            (entry.prefix, deprecation_headers(entry))
            for entry in sorted(settings.deprecations, key=lambda e: len(e.prefix), reverse=True)
        ]

    def headers_for(self, path: str) -> list[tuple[bytes, bytes]] | None:
        """The headers for a request path, or ``None`` when it is not deprecated."""
        for prefix, headers in self._entries:
            if path == prefix or path.startswith(prefix + "/"):
                return headers
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        extra = self.headers_for(scope["path"])
        if extra is None:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _with_headers(message, extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _with_headers(message: Message, extra: list[tuple[bytes, bytes]]) -> Message:
    raw: Mapping[str, Any] = message
    headers = list(raw.get("headers", ()))
    headers.extend(extra)
    updated: dict[str, Any] = {**raw, "headers": headers}
    return updated  # type: ignore[return-value]


def deprecation_middleware(settings: DeprecationSettings) -> DefineMiddleware:
    """The middleware ready for ``Litestar(middleware=[...])``."""
    return DefineMiddleware(DeprecationMiddleware, settings=settings)
