"""A small asynchronous JSON-RPC client for Tryton, on an injected ``httpx.AsyncClient``.

It logs in once (``common.db.login``), sends ``Authorization: Session ...`` on every call,
logs in again when the session expires (401/403), fetches the user's preferences once as the
call context, and turns transport failures and Tryton faults into Strata's errors:

- connection errors: :class:`UpstreamUnavailable` with ``retry_after``;
- a call past its one timeout (``timeout``, end to end): :class:`UpstreamTimeout`;
- Tryton ``UserError``/``UserWarning`` (validation included): :class:`ErpRejected`;
- anything else the server reports: :class:`UpstreamError`.

Tryton's own value classes (Decimal, date, datetime, time, timedelta, bytes) travel as
``{"__class__": ...}`` objects; :func:`to_tryton` and :func:`from_tryton` convert them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx
import msgspec

from shared.problems import (
    StrataError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from system_apis.erp.adapters.tryton_settings import DEFAULT_CALL_TIMEOUT
from system_apis.erp.port import ErpRejected

Context = dict[str, Any]

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()
_CLASS_MARK = b'"__class__"'


# -- value encoding --------------------------------------------------------------------------


def to_tryton(value: Any) -> Any:
    """``value`` with Decimal, dates, times, durations and bytes as Tryton's class objects."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if kind is list or kind is tuple:
        return [to_tryton(item) for item in value]
    if kind is dict:
        return {key: to_tryton(item) for key, item in value.items()}
    if kind is Decimal:
        return {"__class__": "Decimal", "decimal": str(value)}
    if kind is dt.datetime:
        # Tryton stores naive UTC datetimes.
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if kind is dt.date:
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if kind is dt.time:
        return {
            "__class__": "time",
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if kind is dt.timedelta:
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if kind is bytes or kind is bytearray:
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {key: to_tryton(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return [to_tryton(item) for item in value]
    if isinstance(value, Sequence):
        return [to_tryton(item) for item in value]
    raise TypeError(f"cannot send a {kind.__name__} to Tryton")


def _decode_class(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "datetime":
        return dt.datetime(
            obj["year"],
            obj["month"],
            obj["day"],
            obj["hour"],
            obj["minute"],
            obj["second"],
            obj["microsecond"],
        )
    if kind == "time":
        return dt.time(obj["hour"], obj["minute"], obj["second"], obj["microsecond"])
    if kind == "timedelta":
        return dt.timedelta(seconds=obj["seconds"])
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


def from_tryton(value: Any) -> Any:
    """``value`` with Tryton's class objects turned into Python values (Decimal, date...)."""
    kind = type(value)
    if kind is list:
        return [from_tryton(item) for item in value]
    if kind is dict:
        if "__class__" in value:
            return _decode_class(value)
        return {key: from_tryton(item) for key, item in value.items()}
    return value


def encode_request(request_id: int, method: str, params: Sequence[Any]) -> bytes:
    """The JSON-RPC request body."""
    return _ENCODER.encode({"id": request_id, "method": method, "params": to_tryton(params)})


def decode_body(body: bytes) -> Any:
    """Decode a JSON body, converting class objects only when the body holds any."""
    data = _DECODER.decode(body)
    # Most answers (ids, names, states) carry no class object: skip the walk then.
    return from_tryton(data) if _CLASS_MARK in body else data


# -- faults ----------------------------------------------------------------------------------


class TrytonFault(msgspec.Struct, frozen=True):
    """An ``error`` member of a Tryton JSON-RPC answer, made readable."""

    kind: str
    message: str
    fields: list[str] = []


def read_fault(error: Any) -> TrytonFault:
    """Parse Tryton's ``error`` value (``[name, args]`` or ``[text, traceback]``)."""
    if isinstance(error, list | tuple) and len(error) == 2 and isinstance(error[0], str):
        name, args = error
        if name in ("UserError", "UserWarning") and isinstance(args, list | tuple):
            # UserError args: (message, description, domain); UserWarning: (name, message, ...)
            parts = list(args[1:3]) if name == "UserWarning" else list(args[:2])
            message = " - ".join(str(p) for p in parts if p)
            fields: list[str] = []
            if name == "UserError" and len(args) > 2:
                fields = _fault_fields(args[2])
            return TrytonFault(name, message or name, fields)
        if name == "ConcurrencyException":
            return TrytonFault(name, str(args))
        if name == "LoginException":
            return TrytonFault(name, str(args[1]) if isinstance(args, list) else str(args))
        return TrytonFault("ServerError", name)
    return TrytonFault("ServerError", str(error))


def _fault_fields(domain: Any) -> list[str]:
    # A validation error's domain is (domain, {field name: definition}).
    if isinstance(domain, list | tuple) and len(domain) == 2 and isinstance(domain[1], dict):
        return sorted(str(name) for name in domain[1])
    return []


def fault_error(fault: TrytonFault, method: str) -> StrataError:
    """The Strata error for a Tryton fault."""
    if fault.kind in ("UserError", "UserWarning"):
        errors = [{"field": name, "message": fault.message} for name in fault.fields]
        return ErpRejected(fault.message, errors=errors or None)
    if fault.kind == "ConcurrencyException":
        return UpstreamUnavailable(
            f"the ERP record is being changed: {fault.message}", retry_after=1
        )
    return UpstreamError(f"the ERP failed on {method}: {fault.message}")


# -- the client ------------------------------------------------------------------------------


class TrytonRpc:
    """One login session on one Tryton database, shared by every coroutine."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        database: str,
        user: str,
        password: str,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        retry_after: int = 5,
    ) -> None:
        """``timeout`` bounds each JSON-RPC request from start to last byte, whatever the
        client's own timeouts; only connecting gives up sooner, after the client's connect
        timeout (an ERP that cannot be reached is unavailable, not slow)."""
        self._client = client
        self._endpoint = f"{url.rstrip('/')}/{database}/rpc/"
        self._user = user
        self._password = password
        self.timeout = timeout
        connect = client.timeout.connect
        # No phase of a request may end it before its deadline does.
        self._phases = httpx.Timeout(
            timeout, connect=timeout if connect is None else min(connect, timeout)
        )
        self._retry_after = retry_after
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._headers: dict[str, str] | None = None
        self._generation = 0
        self.context: Context = {}
        self.user_id: int | None = None
        # Requests sent, by JSON-RPC method: what a posted order costs the ERP, counted.
        self.requests: Counter[str] = Counter()

    async def login(self) -> None:
        """Log in (once, however many coroutines ask) and read the user's preferences."""
        generation = self._generation
        async with self._lock:
            if self._generation != generation and self._headers is not None:
                return  # another coroutine logged in while this one waited
            await self._login_now()

    async def _login_now(self) -> None:
        result = await self._post(
            "common.db.login", [self._user, {"password": self._password}], headers={}
        )
        user_id, session = int(result[0]), str(result[1])
        token = base64.b64encode(f"{self._user}:{user_id}:{session}".encode()).decode()
        self._headers = {"Authorization": f"Session {token}"}
        self.user_id = user_id
        preferences = await self._post(
            "model.res.user.get_preferences", [True, {}], headers=self._headers
        )
        # The context every call carries: company, language, ... (display blobs aside).
        self.context = {key: value for key, value in preferences.items() if "." not in key}
        self._generation += 1

    async def call(self, method: str, *params: Any) -> Any:
        """Call ``method`` with ``params`` as they are (add the context yourself)."""
        if self._headers is None:
            await self.login()
        generation = self._generation
        try:
            return await self._post(method, list(params), headers=self._headers or {})
        except _SessionExpired:
            if self._generation == generation:
                async with self._lock:
                    if self._generation == generation:
                        await self._login_now()
        try:
            return await self._post(method, list(params), headers=self._headers or {})
        except _SessionExpired as refused:
            # A fresh session is refused too: the user may not call this method.
            raise UpstreamError(
                f"the ERP refused {method} to the gateway's user (HTTP {refused.status})"
            ) from None

    async def execute(
        self, model: str, method: str, *args: Any, context: Mapping[str, Any] | None = None
    ) -> Any:
        """``model.<model>.<method>(*args, context)`` with the session context (plus extras)."""
        if self._headers is None:
            await self.login()
        ctx = self.context if not context else {**self.context, **context}
        return await self.call(f"model.{model}.{method}", *args, ctx)

    async def logout(self) -> None:
        """End the session if there is one (errors ignored: the session expires anyway)."""
        if self._headers is None:
            return
        headers, self._headers = self._headers, None
        # The server may be gone; the session then times out on its side.
        with contextlib.suppress(StrataError):
            await self._post("common.db.logout", [], headers=headers)

    async def _post(self, method: str, params: list[Any], *, headers: Mapping[str, str]) -> Any:
        body = encode_request(next(self._ids), method, params)
        self.requests[method] += 1
        try:
            # httpx bounds each phase (a slow trickle of bytes passes them all); the deadline
            # bounds the request as a whole.
            async with asyncio.timeout(self.timeout):
                response = await self._client.post(
                    self._endpoint,
                    content=body,
                    headers={**headers, "Content-Type": "application/json"},
                    timeout=self._phases,
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"the ERP did not answer {method} within {self.timeout:g}s"
            ) from exc
        except httpx.ConnectTimeout as exc:
            # No connection at all means unreachable, not slow; the aiohttp transport also
            # reports a server that dropped the connection (it stopped) this way.
            raise UpstreamUnavailable(
                f"the ERP is unreachable ({type(exc).__name__})", retry_after=self._retry_after
            ) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"the ERP did not answer {method} in time") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"the ERP is unreachable ({type(exc).__name__})", retry_after=self._retry_after
            ) from exc
        status = response.status_code
        if status == 200:
            payload = decode_body(response.content)
            if "error" in payload and payload["error"] is not None:
                raise fault_error(read_fault(payload["error"]), method)
            return payload.get("result")
        if status in (401, 403):
            if method == "common.db.login":
                raise UpstreamError("the ERP refused the gateway's credentials")
            raise _SessionExpired(status)
        if status in (429, 502, 503, 504):
            raise UpstreamUnavailable(
                f"the ERP answered {status} to {method}", retry_after=self._retry_after
            )
        if status == 404 and method == "common.db.login":
            raise UpstreamUnavailable(
                "the ERP database is not served", retry_after=self._retry_after
            )
        raise UpstreamError(f"the ERP answered {status} to {method}")


class _SessionExpired(Exception):
    """The session is no longer valid; log in again and retry once."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status
