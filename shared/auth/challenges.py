"""Authentication errors that carry their RFC 6750 ``WWW-Authenticate`` challenge."""

from __future__ import annotations

from collections.abc import Iterable

from shared.problems import Forbidden, Unauthorized

DEFAULT_REALM = "strata"


def _quoted(value: str) -> str:
    # RFC 6750 3: error_description is %x20-21 / %x23-5B / %x5D-7E, so no quote or backslash.
    return "".join(c for c in value if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


class MissingToken(Unauthorized):
    """No bearer token at all: a bare challenge, without an error code (RFC 6750 3.1)."""

    slug = "token-missing"
    title = "A bearer token is required"

    def __init__(self, detail: str | None = None, *, realm: str = DEFAULT_REALM) -> None:
        super().__init__(
            detail or "Send an access token in the Authorization header as 'Bearer <token>'",
            headers={"WWW-Authenticate": f'Bearer realm="{_quoted(realm)}"'},
        )


class InvalidToken(Unauthorized):
    """The token is malformed, expired, forged or not meant for this service."""

    slug = "invalid-token"
    title = "The access token is not valid"

    def __init__(self, detail: str, *, realm: str = DEFAULT_REALM) -> None:
        super().__init__(
            detail,
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="{_quoted(realm)}", error="invalid_token", '
                    f'error_description="{_quoted(detail)}"'
                )
            },
        )


class InsufficientScope(Forbidden):
    """The token is valid but lacks a scope the route requires."""

    slug = "insufficient-scope"
    title = "The access token lacks a required scope"

    def __init__(self, required: Iterable[str], *, realm: str = DEFAULT_REALM) -> None:
        scope = " ".join(sorted(required))
        super().__init__(
            f"This operation requires the scope(s): {scope}",
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="{_quoted(realm)}", error="insufficient_scope", '
                    f'scope="{_quoted(scope)}"'
                )
            },
        )
