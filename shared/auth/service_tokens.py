"""Service-to-service calls: an ``httpx.Auth`` that carries a client-credentials token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterable

import httpx
import msgspec

from shared.problems import UpstreamError, UpstreamUnavailable


class TokenResponse(msgspec.Struct):
    """The successful answer of a token endpoint (RFC 6749 5.1)."""

    access_token: str
    token_type: str
    expires_in: int = 300
    scope: str | None = None


class ServiceTokenError(UpstreamError):
    """The token endpoint refused this service's credentials (a configuration error)."""

    slug = "service-token-refused"
    title = "The token issuer refused this service's client credentials"


class ServiceTokenAuth(httpx.Auth):
    """Obtains a client-credentials token, caches it and refreshes it before it expires.

    Use with an ``httpx.AsyncClient(auth=ServiceTokenAuth(...))``. The token is renewed once
    ``refresh_at`` of its life has passed (80% by default); concurrent requests share one fetch
    (single-flight); a 401 from the upstream forces one renewal and one retry.
    """

    requires_request_body = True  # the retry after a 401 sends the body again

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: Iterable[str] = (),
        *,
        audience: str | None = None,
        token_client: httpx.AsyncClient | None = None,
        refresh_at: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < refresh_at <= 1:
            raise ValueError("refresh_at is a fraction of the token's life, in (0, 1]")
        self.token_url = token_url
        self._credentials = httpx.BasicAuth(client_id, client_secret)
        self.scope = " ".join(scopes)
        self.audience = audience
        self._token_client = token_client
        self._owns_client = token_client is None
        self._refresh_at = refresh_at
        self._clock = clock
        self._token: str | None = None
        self._renew_after = 0.0
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """Not supported: Strata's service calls are asynchronous."""
        raise RuntimeError("ServiceTokenAuth works with httpx.AsyncClient only")
        yield request  # pragma: no cover - makes this a generator

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send ``request`` with a bearer token; on a 401, renew the token and retry once."""
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self.token(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def token(self, *, stale: str | None = None) -> str:
        """A valid token: the cached one, or a fresh one if it is due (or equals ``stale``)."""
        token = self._token
        if token is not None and token != stale and self._clock() < self._renew_after:
            return token
        async with self._lock:
            # Another request may have renewed it while this one waited for the lock.
            token = self._token
            if token is not None and token != stale and self._clock() < self._renew_after:
                return token
            return await self._fetch()

    async def _fetch(self) -> str:
        if self._token_client is None:
            self._token_client = httpx.AsyncClient(timeout=5.0)
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        started = self._clock()
        self.fetch_count += 1
        try:
            response = await self._token_client.post(
                self.token_url, data=form, auth=self._credentials
            )
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"The token issuer cannot be reached: {exc}") from exc
        if response.status_code in (400, 401):
            raise ServiceTokenError(f"The token issuer answered {response.text[:200]}")
        if response.status_code != 200:
            raise UpstreamUnavailable(f"The token issuer answered {response.status_code}")
        try:
            answer = msgspec.json.decode(response.content, type=TokenResponse)
        except msgspec.DecodeError as exc:
            raise UpstreamError("The token issuer answered something that is no token") from exc
        if answer.token_type.lower() != "bearer":
            raise UpstreamError(f"The token issuer answered a {answer.token_type} token")
        self._token = answer.access_token
        self._renew_after = started + answer.expires_in * self._refresh_at
        return answer.access_token

    async def aclose(self) -> None:
        """Close the token client if this object made it."""
        if self._owns_client and self._token_client is not None:
            await self._token_client.aclose()
            self._token_client = None


def service_credentials(
    *,
    token_url: str | None,
    client_id: str,
    client_secret: str | None,
    service_token: str | None,
    scopes: tuple[str, ...],
) -> httpx.Auth | None:
    """How a service authenticates to the layer below: OAuth2 client credentials when a
    token URL and secret are configured, else a fixed token (local use and tests), else none."""
    if token_url and client_secret:
        return ServiceTokenAuth(token_url, client_id, client_secret, scopes=scopes)
    if service_token:
        from shared.http import StaticBearer

        return StaticBearer(service_token)
    return None
