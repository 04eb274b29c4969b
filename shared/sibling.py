"""Calls to sibling APIs (the layer below): one client, one error vocabulary, safe retries.

A :class:`SiblingClient` wraps an ``httpx.AsyncClient`` made by :func:`shared.http.make_client`
(explicit timeouts, a service token through ``ServiceTokenAuth``, W3C trace context on every
request) and adds what every caller of a sibling needs:

- **Paths from templates.** Every path parameter is percent-encoded as one segment
  (``quote(value, safe="")``), so ``#``, ``/``, ``?``, ``%``, spaces and non-ASCII text reach
  the sibling as data, never as URL syntax. ``.`` and ``..`` (and empty values) are refused
  with :class:`InvalidPathParameter`: an HTTP client may resolve them as dot segments even
  percent-encoded (aiohttp's does), which would send the call to another resource. Query
  parameters go in ``params`` and are encoded by httpx.
- **Typed answers.** ``get_json``/``post_json`` decode the body with msgspec into ``type``.
- **One error vocabulary**, all :class:`SiblingError`; each is also the ``Upstream*`` problem
  of :mod:`shared.problems` that a route answers with if it lets the error through:

  - :class:`SiblingUnavailable` (503), transient: the sibling is unreachable (connection
    refused or dropped, connect timeout) or answered 408, 429, 5xx, or 409 with Retry-After
    (Strata's idempotency store: the same key is still being processed);
  - :class:`SiblingTimeout` (504), a SiblingUnavailable: it took the request and did not
    answer in time;
  - :class:`SiblingNotFound` (502 if unhandled): 404; the caller names its own condition;
  - :class:`SiblingRejected` (502): any other 4xx, with ``sibling_status`` and the
    ``problem`` document (type, title, detail); also a service token the issuer refuses;
  - :class:`SiblingAnswerInvalid` (502): a 2xx body that does not decode into ``type``, or
    a 1xx or 3xx answer.

  A SiblingUnavailable's ``retry_after`` (whole seconds) is the sibling's Retry-After
  (delta-seconds or an HTTP-date), else the client's ``default_retry_after`` (``None``
  unless set); a route that lets the error through answers with that Retry-After.

- **Retries only where safe**: a request is retried only if it is a GET or HEAD, or carries
  an ``Idempotency-Key`` (any method); never on a rejection, a timeout (the sibling may still
  be working on it: asking again doubles the wait and its load) or a Retry-After longer than
  ``RetryPolicy.max_wait`` (the error goes to the caller at once, carrying it). Waits are
  the Retry-After, else exponential backoff with full jitter. Code that owns its retries
  (a stream worker) passes ``retry=NO_RETRIES``.

Usage::

    erp = SiblingClient.connect(
        "erp eu", settings.erp_url, auth=service_auth(settings), settings=HttpClientSettings()
    )
    try:
        order = await erp.get_json(
            "/erp/v1/sales-orders/by-reference/{ref}", ref=reference, type=SalesOrder
        )
    except SiblingNotFound:
        order = None
    created = await erp.post_json(
        "/erp/v1/sales-orders", body=draft, type=SalesOrder, idempotency_key=key
    )
    await erp.aclose()

``SiblingClient("orders", http)`` wraps an ``httpx.AsyncClient`` the caller already has (an
adapter's constructor argument, a test's ``httpx.MockTransport`` client).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import functools
import math
import random
import string
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from shared.events import backoff
from shared.http import HttpClientSettings, make_client
from shared.problems import (
    StrataError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.telemetry.tracing import Tracing

__all__ = [
    "NO_RETRIES",
    "InvalidPathParameter",
    "RetryPolicy",
    "SiblingAnswerInvalid",
    "SiblingClient",
    "SiblingError",
    "SiblingNotFound",
    "SiblingProblem",
    "SiblingRejected",
    "SiblingTimeout",
    "SiblingUnavailable",
    "expand_path",
    "parse_retry_after",
]

T = TypeVar("T")
Query = Mapping[str, str | int | Sequence[str | int]]

SAFE_METHODS = frozenset({"GET", "HEAD"})
TRANSIENT_STATUSES = frozenset({408, 429})
# Keyword arguments of the request methods; a path parameter cannot have one of these names.
RESERVED_NAMES = frozenset({"type", "params", "headers", "body", "content", "idempotency_key"})


# -- errors --------------------------------------------------------------------------------


class SiblingError(StrataError):
    """Base of every failure of a call to a sibling API.

    ``sibling`` names the API called (``"erp eu"``), ``reason`` says what went wrong without
    it (``"answered 503"``); the detail is both. Unhandled, each subclass answers as the
    ``Upstream*`` problem it also is.
    """

    def __init__(self, sibling: str, reason: str, *, retry_after: int | None = None) -> None:
        super().__init__(f"{sibling} {reason}", retry_after=retry_after)
        self.sibling = sibling
        self.reason = reason


class SiblingUnavailable(SiblingError, UpstreamUnavailable):
    """Transient: unreachable, 408, 429, 5xx, or busy with the same Idempotency-Key.

    ``retry_after``: the sibling's Retry-After in seconds, else the client's default.
    """


class SiblingTimeout(SiblingUnavailable, UpstreamTimeout):
    """The sibling took the request and did not answer in time (transient, not retried)."""

    # The MRO would find UpstreamUnavailable's first: this one answers as a timeout.
    status = UpstreamTimeout.status
    slug = UpstreamTimeout.slug
    title = UpstreamTimeout.title


class SiblingProblem(msgspec.Struct, kw_only=True):
    """The RFC 9457 body of a sibling's refusal; ``detail`` holds the start of any other body."""

    type: str = "about:blank"
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class SiblingRejected(SiblingError, UpstreamError):
    """Permanent: the sibling refused the request (any 4xx but 408, 429 and a 409 with
    Retry-After; :class:`SiblingNotFound` for a 404).

    ``sibling_status`` is its HTTP status, ``problem`` its problem document. A service token
    the issuer refuses is a rejection too, with ``sibling_status`` 401.
    """

    def __init__(
        self, sibling: str, reason: str, *, sibling_status: int, problem: SiblingProblem
    ) -> None:
        super().__init__(sibling, reason)
        self.sibling_status = sibling_status
        self.problem = problem


class SiblingNotFound(SiblingRejected):
    """The sibling answered 404: the caller names its own condition (``OrderNotFound``)."""


class SiblingAnswerInvalid(SiblingError, UpstreamError):
    """The sibling answered success with a body its contract does not allow, or a 1xx/3xx."""


class InvalidPathParameter(ValueError):
    """A path parameter that cannot be one path segment: empty, ``.`` or ``..``."""


# -- paths and Retry-After ------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _template(template: str) -> tuple[tuple[str, str | None], ...]:
    if "?" in template or "#" in template:
        raise ValueError(f"{template!r}: query parameters go in params, not in the template")
    parts: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if field is not None and (not field.isidentifier() or spec or conversion):
            raise ValueError(f"{template!r}: {{{field}}} must be a plain name")
        if field in RESERVED_NAMES:
            raise ValueError(f"{template!r}: {{{field}}} is a reserved keyword, rename it")
        parts.append((literal, field))
    return tuple(parts)


def expand_path(template: str, values: Mapping[str, str | int]) -> str:
    """``template`` with each ``{name}`` replaced by its value, percent-encoded as one segment.

    Every name must be given and every value used, so a typo fails loudly.
    """
    parts = _template(template)
    names = {field for _, field in parts if field is not None}
    if missing := names - values.keys():
        raise ValueError(f"{template!r}: no value for {', '.join(sorted(missing))}")
    if extra := values.keys() - names:
        raise ValueError(f"{template!r} has no {{{'}, {'.join(sorted(extra))}}}")
    out: list[str] = []
    for literal, field in parts:
        out.append(literal)
        if field is not None:
            value = str(values[field])
            if value in ("", ".", ".."):
                raise InvalidPathParameter(f"{field}={value!r} cannot be a path segment")
            out.append(quote(value, safe=""))
    return "".join(out)


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> int | None:
    """Retry-After (RFC 9110 10.2.3) in whole seconds: delta-seconds or an HTTP-date.

    A fractional number is rounded up, a date in the past is 0; anything else is ``None``.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP-date is always GMT, whether or not it says so
            when = when.replace(tzinfo=dt.UTC)
        return max(0, math.ceil(when.timestamp() - now()))
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return math.ceil(seconds)


# -- the client ----------------------------------------------------------------------------


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How a :class:`SiblingClient` retries transient failures of safe requests."""

    # Tries in all, the first included: 1 never retries.
    attempts: int = 2
    # The first wait when the sibling names none; doubled each retry, with full jitter.
    backoff: float = 0.1
    # The longest wait, named or not; a longer Retry-After goes to the caller instead.
    max_wait: float = 1.0


NO_RETRIES = RetryPolicy(attempts=1)


class _Transient(NamedTuple):
    reason: str
    retry_after: int | None
    timed_out: bool
    cause: BaseException | None


class SiblingClient:
    """One sibling API: paths from templates, typed answers, :class:`SiblingError` failures.

    ``http`` is the caller's ``httpx.AsyncClient`` (its base URL, auth, timeouts and
    transport); :meth:`connect` makes one with :func:`shared.http.make_client`.
    """

    def __init__(
        self,
        name: str,
        http: httpx.AsyncClient,
        *,
        retry: RetryPolicy | None = None,
        default_retry_after: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.http = http
        self.retry = retry or RetryPolicy()
        self.default_retry_after = default_retry_after
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    @classmethod
    def connect(
        cls,
        name: str,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        settings: HttpClientSettings | None = None,
        tracing: Tracing | None = None,
        retry: RetryPolicy | None = None,
        default_retry_after: int | None = None,
    ) -> SiblingClient:
        """A client of the sibling at ``base_url``, over a pooled client of its own."""
        http = make_client(base_url, settings, auth=auth, tracing=tracing)
        return cls(name, http, retry=retry, default_retry_after=default_retry_after)

    async def aclose(self) -> None:
        """Close the underlying ``httpx.AsyncClient``."""
        await self.http.aclose()

    async def get_json(
        self,
        template: str,
        /,
        *,
        type: type[T],
        params: Query | None = None,
        headers: Mapping[str, str] | None = None,
        **path: str | int,
    ) -> T:
        """GET ``template`` (``{name}`` filled from ``path``), its JSON body as ``type``."""
        response = await self._send("GET", expand_path(template, path), params, None, headers, None)
        return self._decode(response, type)

    async def post_json(
        self,
        template: str,
        /,
        *,
        body: object,
        type: type[T],
        idempotency_key: str | None = None,
        params: Query | None = None,
        headers: Mapping[str, str] | None = None,
        **path: str | int,
    ) -> T:
        """POST ``body`` as JSON to ``template``, the answer as ``type``.

        Retried on transient failures only with an ``idempotency_key``.
        """
        response = await self._send(
            "POST",
            expand_path(template, path),
            params,
            msgspec.json.encode(body),
            {"Content-Type": "application/json", **(headers or {})},
            idempotency_key,
        )
        return self._decode(response, type)

    async def request(
        self,
        method: str,
        template: str,
        /,
        *,
        params: Query | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        **path: str | int,
    ) -> httpx.Response:
        """Send one request (retried where safe); a 2xx response, else a :class:`SiblingError`."""
        url = expand_path(template, path)
        return await self._send(method, url, params, content, headers, idempotency_key)

    async def _send(
        self,
        method: str,
        url: str,
        params: Query | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        idempotency_key: str | None,
    ) -> httpx.Response:
        method = method.upper()
        sent_headers = httpx.Headers(headers)
        if idempotency_key is not None:
            sent_headers["Idempotency-Key"] = idempotency_key
        safe = method in SAFE_METHODS or "Idempotency-Key" in sent_headers
        attempt = 1
        while True:
            outcome = await self._attempt(method, url, params, content, sent_headers)
            if isinstance(outcome, httpx.Response):
                return outcome
            wait = self._wait(outcome, attempt) if safe else None
            if wait is None:
                error = SiblingTimeout if outcome.timed_out else SiblingUnavailable
                retry_after = outcome.retry_after
                raise error(
                    self.name,
                    outcome.reason,
                    retry_after=self.default_retry_after if retry_after is None else retry_after,
                ) from outcome.cause
            await self._sleep(wait)
            attempt += 1

    def _wait(self, failure: _Transient, attempt: int) -> float | None:
        """Seconds to wait before the next try, or ``None`` to give up now."""
        policy = self.retry
        if failure.timed_out or attempt >= policy.attempts:
            return None
        if failure.retry_after is not None:
            return failure.retry_after if failure.retry_after <= policy.max_wait else None
        return backoff(attempt, policy.backoff, policy.max_wait, self._rng)

    async def _attempt(
        self,
        method: str,
        url: str,
        params: Query | None,
        content: bytes | None,
        headers: httpx.Headers,
    ) -> httpx.Response | _Transient:
        try:
            response = await self.http.request(
                method, url, params=params, content=content, headers=headers
            )
        except httpx.ConnectTimeout as exc:
            # Not "timed out": the sibling never took the request (transports also report
            # refused and dropped connections this way).
            return _Transient(f"unreachable ({type(exc).__name__})", None, False, exc)
        except httpx.TimeoutException as exc:
            return _Transient(f"timed out ({type(exc).__name__})", None, True, exc)
        except httpx.TransportError as exc:
            return _Transient(f"unreachable ({type(exc).__name__})", None, False, exc)
        except httpx.RequestError as exc:
            raise SiblingAnswerInvalid(
                self.name, f"answered unreadably ({type(exc).__name__}: {exc})"
            ) from exc
        # ServiceTokenAuth's failures, raised before the request is sent.
        except UpstreamUnavailable as exc:
            reason = f"cannot be called: no service token ({exc.detail or exc.title})"
            return _Transient(reason, exc.retry_after, False, exc)
        except UpstreamError as exc:
            problem = SiblingProblem(title=exc.title, status=401, detail=exc.detail)
            raise SiblingRejected(
                self.name,
                f"cannot be called: service token refused ({exc.detail or exc.title})",
                sibling_status=401,
                problem=problem,
            ) from exc
        return self._settle(response)

    def _settle(self, response: httpx.Response) -> httpx.Response | _Transient:
        status = response.status_code
        if 200 <= status < 300:
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if (
            status >= 500
            or status in TRANSIENT_STATUSES
            or (status == 409 and retry_after is not None)
        ):
            return _Transient(f"answered {status}", retry_after, False, None)
        if status < 400:
            raise SiblingAnswerInvalid(self.name, f"answered {status}")
        error = SiblingNotFound if status == 404 else SiblingRejected
        raise error(
            self.name,
            f"answered {status}",
            sibling_status=status,
            problem=_problem(response),
        )

    def _decode(self, response: httpx.Response, type_: type[T]) -> T:
        try:
            decoded: T = _decoder(type_).decode(response.content)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise SiblingAnswerInvalid(self.name, f"answered an unreadable body ({exc})") from exc
        return decoded


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    # Keyed by the types named in code, so it stays small.
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    return decoder


_PROBLEM = msgspec.json.Decoder(SiblingProblem)


def _problem(response: httpx.Response) -> SiblingProblem:
    try:
        problem = _PROBLEM.decode(response.content)
    except msgspec.DecodeError:
        text = response.content[:300].decode("utf-8", "replace").strip()
        return SiblingProblem(status=response.status_code, detail=text or None)
    if problem.status is None:
        problem.status = response.status_code
    return problem
