"""Timeouts and pool limits of Strata's outbound HTTP clients (:func:`shared.http.make_client`)."""

from __future__ import annotations

from typing import Literal

import msgspec

Transport = Literal["lean", "aiohttp", "httpx"]


class HttpClientSettings(msgspec.Struct, frozen=True, kw_only=True):
    connect_timeout: float = 2.0
    read_timeout: float = 10.0
    write_timeout: float = 10.0
    pool_timeout: float = 5.0
    max_connections: int = 100
    max_keepalive: int = 50
    transport: Transport = "lean"

    @classmethod
    def within(cls, deadline: float, *, connect: float = 2.0) -> HttpClientSettings:
        """Timeouts for calls that ``deadline`` bounds whole: no phase outlasts it, and
        connecting fails within ``connect`` as well (sooner, so a retry still fits)."""
        return cls(
            connect_timeout=min(connect, deadline),
            read_timeout=deadline,
            write_timeout=deadline,
            pool_timeout=deadline,
        )
