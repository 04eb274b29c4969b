"""ServiceTokenAuth: one token fetch, reused, renewed before expiry, single-flight, 401 retry."""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import parse_qs

import httpx
import pytest

from shared.auth import ServiceTokenAuth
from shared.auth.service_tokens import ServiceTokenError
from shared.problems import UpstreamUnavailable

TOKEN_URL = "https://issuer.test/oauth/token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    def __init__(self, expires_in: int = 100, delay: float = 0.0) -> None:
        self.issued: list[str] = []
        self.forms: list[dict[str, list[str]]] = []
        self.authorizations: list[str] = []
        self.expires_in = expires_in
        self.delay = delay
        self.status = 200

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.forms.append(parse_qs(request.content.decode()))
        self.authorizations.append(request.headers["authorization"])
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "invalid_client"})
        token = f"token-{len(self.issued) + 1}"
        self.issued.append(token)
        return httpx.Response(
            200, json={"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}
        )


class Upstream:
    """An upstream API that records the bearer tokens it saw and may refuse some."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.refuse: set[str] = set()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        self.seen.append(token)
        if token in self.refuse:
            return httpx.Response(401)
        return httpx.Response(200, json={"body": request.content.decode()})


def wire(
    endpoint: TokenEndpoint, clock: FakeClock | None = None
) -> tuple[ServiceTokenAuth, Upstream, httpx.AsyncClient]:
    auth = ServiceTokenAuth(
        TOKEN_URL,
        "orders",
        "s3cret",
        ["erp:read", "erp:write"],
        audience="strata-erp",
        token_client=httpx.AsyncClient(transport=httpx.MockTransport(endpoint)),
        clock=clock or FakeClock(),
    )
    upstream = Upstream()
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(upstream), auth=auth, base_url="https://erp.test"
    )
    return auth, upstream, client


async def test_token_is_fetched_once_and_reused() -> None:
    endpoint = TokenEndpoint()
    _, upstream, client = wire(endpoint)
    for _ in range(5):
        assert (await client.get("/stock")).status_code == 200
    assert endpoint.issued == ["token-1"]
    assert upstream.seen == ["token-1"] * 5
    form = endpoint.forms[0]
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == ["erp:read erp:write"]
    assert form["audience"] == ["strata-erp"]
    assert endpoint.authorizations[0] == "Basic " + base64.b64encode(b"orders:s3cret").decode()


async def test_token_is_renewed_at_80_percent_of_its_life() -> None:
    endpoint = TokenEndpoint(expires_in=100)
    clock = FakeClock()
    _, upstream, client = wire(endpoint, clock)
    await client.get("/stock")
    clock.now += 79
    await client.get("/stock")
    assert endpoint.issued == ["token-1"]
    clock.now += 1
    await client.get("/stock")
    assert endpoint.issued == ["token-1", "token-2"]
    assert upstream.seen == ["token-1", "token-1", "token-2"]


async def test_concurrent_requests_share_one_fetch() -> None:
    endpoint = TokenEndpoint(delay=0.05)
    _, upstream, client = wire(endpoint)
    responses = await asyncio.gather(*(client.get("/stock") for _ in range(25)))
    assert all(r.status_code == 200 for r in responses)
    assert endpoint.issued == ["token-1"]
    assert set(upstream.seen) == {"token-1"}


async def test_a_401_renews_the_token_and_retries_once_with_the_body() -> None:
    endpoint = TokenEndpoint()
    _, upstream, client = wire(endpoint)
    await client.get("/stock")
    upstream.refuse = {"token-1"}  # the upstream no longer trusts the cached token
    response = await client.post("/orders", content=b'{"id": 1}')
    assert response.status_code == 200
    assert response.json() == {"body": '{"id": 1}'}
    assert upstream.seen == ["token-1", "token-1", "token-2"]


async def test_a_second_401_is_returned_not_retried_forever() -> None:
    endpoint = TokenEndpoint()
    _, upstream, client = wire(endpoint)
    upstream.refuse = {"token-1", "token-2", "token-3"}
    response = await client.get("/stock")
    assert response.status_code == 401
    assert upstream.seen == ["token-1", "token-2"]
    assert len(endpoint.issued) == 2


async def test_concurrent_401s_renew_once() -> None:
    endpoint = TokenEndpoint(delay=0.02)
    _, upstream, client = wire(endpoint)
    await client.get("/stock")
    upstream.refuse = {"token-1"}
    responses = await asyncio.gather(*(client.get("/stock") for _ in range(10)))
    assert all(r.status_code == 200 for r in responses)
    assert endpoint.issued == ["token-1", "token-2"]


async def test_refused_credentials_are_a_clear_error() -> None:
    endpoint = TokenEndpoint()
    endpoint.status = 401
    _, _, client = wire(endpoint)
    with pytest.raises(ServiceTokenError):
        await client.get("/stock")


async def test_unreachable_issuer_is_upstream_unavailable() -> None:
    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    auth = ServiceTokenAuth(
        TOKEN_URL,
        "orders",
        "s3cret",
        token_client=httpx.AsyncClient(transport=httpx.MockTransport(down)),
    )
    with pytest.raises(UpstreamUnavailable):
        await auth.token()


def test_sync_clients_are_refused() -> None:
    auth = ServiceTokenAuth(TOKEN_URL, "orders", "s3cret")
    with (
        httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(200)), auth=auth
        ) as client,
        pytest.raises(RuntimeError),
    ):
        client.get("https://erp.test/stock")
