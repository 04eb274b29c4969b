"""Who a request counts against: the authenticated client, else the remote address."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from litestar.types import Scope

#: Maps an ASGI scope to the client identity a quota is counted against.
ClientKeyFunction = Callable[[Scope], str]


def _client_id_of(principal: Any) -> str | None:
    if principal is None:
        return None
    # The attribute first: Strata's principals have it, and a Mapping check costs an ABC lookup.
    value = getattr(principal, "client_id", None)
    if value is None and isinstance(principal, Mapping):
        value = principal.get("client_id")
    if value.__class__ is str:
        return value or None
    return str(value) if value else None


def client_identity(scope: Scope) -> str:
    """The principal's ``client_id`` (``scope["user"]``, then ``scope["auth"]``), else the IP.

    Authentication middleware must run before the rate-limit middleware for the principal
    to be seen.
    """
    client_id = _client_id_of(scope.get("user")) or _client_id_of(scope.get("auth"))
    if client_id is not None:
        return client_id
    peer = scope.get("client")
    return f"ip:{peer[0]}" if peer else "ip:unknown"
