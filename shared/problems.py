"""RFC 9457 problem details: one base exception, mapped to ``application/problem+json`` once.

Every error a Strata service answers with is a :class:`StrataError` (or is turned into one
here), so clients always get the same body shape: ``type``, ``title``, ``status``,
``detail``, ``instance`` plus extension members such as ``errors`` or ``retry_after``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from redis.exceptions import RedisError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://strata.dev/problems/"

log = logging.getLogger("strata.problems")


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The body of every error response (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
    retry_after: int | None = None
    correlation_id: str | None = None


class StrataError(Exception):
    """Base of every error Strata answers with. Subclasses name the business condition."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.retry_after = retry_after
        self.headers = dict(headers or {})
        if retry_after is not None:
            self.headers.setdefault("Retry-After", str(retry_after))

    @classmethod
    def type_uri(cls) -> str:
        return TYPE_BASE + cls.slug

    def to_problem(self, instance: str | None = None) -> Problem:
        return Problem(
            type=self.type_uri(),
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
            retry_after=self.retry_after,
        )


class BadRequest(StrataError):
    status = 400
    slug = "bad-request"
    title = "The request is malformed"


class IdempotencyKeyMissing(BadRequest):
    slug = "idempotency-key-missing"
    title = "An Idempotency-Key header is required"


class Unauthorized(StrataError):
    status = 401
    slug = "unauthorized"
    title = "Authentication is required"


class Forbidden(StrataError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class NotFound(StrataError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(StrataError):
    status = 409
    slug = "conflict"
    title = "The resource is in a state that does not allow this"


class PayloadTooLarge(StrataError):
    status = 413
    slug = "payload-too-large"
    title = "The request body is too large"


class ValidationFailed(StrataError):
    status = 422
    slug = "validation-failed"
    title = "The request could not be processed"


class IdempotencyKeyReused(ValidationFailed):
    slug = "idempotency-key-reused"
    title = "The Idempotency-Key was already used with a different request"


class RateLimited(StrataError):
    status = 429
    slug = "quota-exceeded"
    title = "Too many requests"


class UpstreamError(StrataError):
    status = 502
    slug = "upstream-error"
    title = "The backend system answered with an error"


class UpstreamUnavailable(StrataError):
    status = 503
    slug = "upstream-unavailable"
    title = "A backend system is unavailable"


class ServiceUnavailable(StrataError):
    status = 503
    slug = "service-unavailable"
    title = "The service is unavailable"


class UpstreamTimeout(StrataError):
    status = 504
    slug = "upstream-timeout"
    title = "A backend system did not answer in time"


_ENCODER = msgspec.json.Encoder()


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=_ENCODER.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers or {},
    )


def _strata_handler(request: Request[Any, Any, Any], exc: StrataError) -> Response[bytes]:
    return problem_response(exc.to_problem(instance=request.url.path), exc.headers)


_HTTP_SLUGS = {
    400: ("bad-request", "The request is malformed"),
    401: ("unauthorized", "Authentication is required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "The request body is too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-failed", "The request could not be processed"),
    429: ("quota-exceeded", "Too many requests"),
}


def _http_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status >= 500:
        return _internal_handler(request, exc)
    slug, title = _HTTP_SLUGS.get(status, ("client-error", "The request was not accepted"))
    errors: list[dict[str, Any]] | None = None
    detail = exc.detail
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = [e for e in exc.extra if isinstance(e, dict)]
        # Litestar's validation errors are 400s; keep the status, name every field.
        names = ", ".join(str(e.get("key") or e.get("source") or "") for e in errors)
        detail = f"Invalid input: {names}".rstrip(": ") if names.strip(", ") else detail
    elif isinstance(exc, NotFoundException):
        detail = detail if detail != "Not Found" else f"No resource at {request.url.path}"
    elif isinstance(exc, MethodNotAllowedException):
        detail = f"{request.method} is not allowed on {request.url.path}"
    problem = Problem(
        type=TYPE_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return problem_response(problem, dict(exc.headers or {}))


def _internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = Problem(
        type=TYPE_BASE + "internal-error",
        title="Internal error",
        status=500,
        detail="An unexpected error occurred; it has been logged.",
        instance=request.url.path,
    )
    return problem_response(problem)


def _redis_handler(request: Request[Any, Any, Any], exc: RedisError) -> Response[bytes]:
    """Redis unreachable or its connection lost (a restart, a failover): the service cannot
    read or keep its state for now; 503 with Retry-After, never a 500."""
    log.warning("redis unavailable on %s %s: %s", request.method, request.url.path, exc)
    unavailable = ServiceUnavailable(
        "The service's store (Redis) is unavailable; try again shortly", retry_after=2
    )
    return _strata_handler(request, unavailable)


EXCEPTION_HANDLERS: Any = {
    StrataError: _strata_handler,
    RedisError: _redis_handler,
    HTTPException: _http_handler,
    Exception: _internal_handler,
}


_STATUS_TEXT = {
    400: "The request is malformed (the body names each bad field)",
    401: "No valid access token",
    403: "The token lacks a required scope or tenant",
    404: "Not found",
    409: "Conflict with the resource's state",
    413: "The request body is too large",
    422: "The request is well-formed but cannot be processed (the body names the field)",
    429: "Rate limit reached; see Retry-After",
    502: "The backend answered with an error",
    503: "A backend is unavailable; see Retry-After",
    504: "A backend did not answer in time",
}


def problem_responses(*statuses: int) -> dict[int, Any]:
    """OpenAPI ``responses`` entries with a problem+json body for each status."""
    from litestar.openapi.datastructures import ResponseSpec

    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_STATUS_TEXT.get(status, "Error"),
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in statuses
    }
