"""A blocking JSON-RPC session on a demo Tryton, for scripting master data and fulfilment.

The gateway's adapter speaks to Tryton asynchronously (``adapters/tryton_rpc.py``); scripts
that build templates or ship test orders run outside any event loop and use this instead.
It shares the adapter's value encoding and fault reading.
"""

from __future__ import annotations

import base64
import itertools
from types import TracebackType
from typing import Any

import httpx

from system_apis.erp.adapters.tryton_rpc import (
    decode_body,
    encode_request,
    fault_error,
    read_fault,
)


class TrytonConsole:
    """A logged-in admin session: ``console.execute("sale.sale", "confirm", [id])``."""

    def __init__(
        self, url: str, database: str, user: str, password: str, *, timeout: float = 60.0
    ) -> None:
        self._http = httpx.Client(timeout=timeout)
        self._endpoint = f"{url.rstrip('/')}/{database}/rpc/"
        self._ids = itertools.count(1)
        self._headers: dict[str, str] = {}
        user_id, session = self.call("common.db.login", user, {"password": password})[:2]
        token = base64.b64encode(f"{user}:{user_id}:{session}".encode()).decode()
        self._headers = {"Authorization": f"Session {token}"}
        self.user_id = int(user_id)
        self.context: dict[str, Any] = {}
        self.refresh_context()

    def refresh_context(self) -> None:
        """Read the user's preferences again (after changing the user's company)."""
        prefs = self.call("model.res.user.get_preferences", True, {})
        self.context = {k: v for k, v in prefs.items() if "." not in k}

    def call(self, method: str, *params: Any) -> Any:
        """Call a JSON-RPC method; Tryton faults raise Strata errors."""
        response = self._http.post(
            self._endpoint,
            content=encode_request(next(self._ids), method, params),
            headers={**self._headers, "Content-Type": "application/json"},
        )
        response.raise_for_status()
        payload = decode_body(response.content)
        if payload.get("error") is not None:
            raise fault_error(read_fault(payload["error"]), method)
        return payload.get("result")

    def execute(self, model: str, method: str, *args: Any, **context: Any) -> Any:
        """``model.<model>.<method>(*args, context)``; keyword arguments extend the context."""
        return self.call(f"model.{model}.{method}", *args, {**self.context, **context})

    def search_one(self, model: str, domain: list[Any], **context: Any) -> int:
        """The id of the single record matching ``domain``; LookupError if none."""
        ids = self.execute(model, "search", domain, 0, 1, None, **context)
        if not ids:
            raise LookupError(f"no {model} matches {domain!r}")
        return int(ids[0])

    def run_wizard(
        self, name: str, steps: list[tuple[str, dict[str, Any]]], **context: Any
    ) -> list[Any]:
        """Run wizard ``name`` through ``steps`` (state, data); return each step's answer."""
        ctx = {**self.context, **context}
        session, _, _ = self.call(f"wizard.{name}.create", ctx)
        answers: list[Any] = []
        try:
            for state, data in steps:
                answers.append(self.call(f"wizard.{name}.execute", session, data, state, ctx))
        finally:
            self.call(f"wizard.{name}.delete", session, ctx)
        return answers

    def close(self) -> None:
        """Log out and close the connection."""
        try:
            self.call("common.db.logout")
        except httpx.HTTPError:
            pass  # the server may already be stopping
        finally:
            self._http.close()

    def __enter__(self) -> TrytonConsole:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
