"""The issuer and a resource server on real uvicorn sockets: tokens travel over HTTP, keys come
from the JWKS URL, and a key rotation costs one JWKS refetch, not one per forged kid."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, Request, get

from sandbox.auth.issuer import IssuerSettings, KeyRing, SigningKeys, create_app
from shared.auth import (
    AuthPlugin,
    AuthSettings,
    Principal,
    ServiceTokenAuth,
    TokenAuthentication,
    requires,
)
from shared.auth.clients import ClientRegistration, hash_client_secret
from shared.auth.keys import RemoteKeys
from shared.auth.tokens import AccessTokenVerifier
from shared.problems import EXCEPTION_HANDLERS
from tests.support.processes import free_port, wait_for_port
from tests.unit.auth.forgery import access_header, access_token

pytestmark = pytest.mark.integration

SECRET = "orders-integration-secret"


@contextlib.contextmanager
def serving(app: Litestar, port: int) -> Iterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class MinuteClock:
    """A monotonic clock the test moves by hand, so "a minute later" takes no time."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Stack:
    def __init__(
        self, issuer_url: str, erp_url: str, keyring: KeyRing, jwks: RemoteKeys, clock: MinuteClock
    ) -> None:
        self.issuer_url = issuer_url
        self.erp_url = erp_url
        self.keyring = keyring
        self.jwks = jwks
        self.clock = clock


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    issuer_port, erp_port = free_port(), free_port()
    issuer_url = f"http://127.0.0.1:{issuer_port}"
    keyring = KeyRing(SigningKeys.generate())
    issuer = create_app(
        IssuerSettings(issuer=issuer_url, default_audience="strata-erp", keys_path=None),
        keyring=keyring,
        clients=[
            ClientRegistration(
                client_id="orders",
                secret_hash=hash_client_secret(SECRET),
                scopes=frozenset({"erp:read", "erp:write"}),
            )
        ],
    )
    settings = AuthSettings(issuer=issuer_url, audience="strata-erp")  # JWKS URL from the issuer
    clock = MinuteClock()
    jwks = RemoteKeys(settings.resolved_jwks_url, min_refetch_interval_s=60, clock=clock)
    authentication = TokenAuthentication(
        [AccessTokenVerifier(issuer=issuer_url, audience="strata-erp", keys=jwks)], keys=[jwks]
    )

    @get("/erp/v1/stock", **requires("erp:read"))
    async def stock(request: Request[Principal, Any, Any]) -> dict[str, Any]:
        """Stock, for callers with erp:read."""
        return {"client": request.user.client_id, "scopes": sorted(request.user.scopes)}

    erp = Litestar(
        [stock],
        plugins=[AuthPlugin(settings, authentication=authentication)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    with serving(issuer, issuer_port), serving(erp, erp_port):
        yield Stack(issuer_url, f"http://127.0.0.1:{erp_port}", keyring, jwks, clock)


async def test_token_from_the_issuer_verifies_through_the_jwks_url(stack: Stack) -> None:
    auth = ServiceTokenAuth(
        f"{stack.issuer_url}/oauth/token", "orders", SECRET, ["erp:read"], audience="strata-erp"
    )
    async with httpx.AsyncClient(base_url=stack.erp_url, auth=auth) as client:
        for _ in range(3):
            response = await client.get("/erp/v1/stock")
            assert response.status_code == 200, response.text
            assert response.json() == {"client": "orders", "scopes": ["erp:read"]}
    assert auth.fetch_count == 1
    await auth.aclose()
    assert stack.jwks.fetch_count >= 1


async def test_discovery_and_wrong_secret_over_http(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.issuer_url) as client:
        metadata = (await client.get("/.well-known/openid-configuration")).json()
        assert metadata["jwks_uri"] == f"{stack.issuer_url}/.well-known/jwks.json"
        refused = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("orders", "wrong")
        )
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "invalid_client",
            "error_description": "Client authentication failed",
        }


async def test_key_rotation_costs_one_refetch(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.erp_url) as erp:
        warm = access_token(stack.keyring.keys.current, iss=stack.issuer_url)
        assert (await erp.get("/erp/v1/stock", headers=_bearer(warm))).status_code == 200
        fetches = stack.jwks.fetch_count
        # Forged kids are refused, and within the minute none of them triggers a refetch.
        for i in range(10):
            forged = access_token(
                stack.keyring.keys.current,
                access_header(stack.keyring.keys.current, kid=f"forged-{i}"),
                iss=stack.issuer_url,
            )
            response = await erp.get("/erp/v1/stock", headers=_bearer(forged))
            assert response.status_code == 401
        assert stack.jwks.fetch_count == fetches
        fetches = stack.jwks.fetch_count
        stack.clock.now += 61
        stack.keyring.rotate()
        async with httpx.AsyncClient(base_url=stack.issuer_url) as issuer:
            token = (
                await issuer.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials", "scope": "erp:read"},
                    auth=("orders", SECRET),
                )
            ).json()["access_token"]
        for _ in range(5):
            assert (await erp.get("/erp/v1/stock", headers=_bearer(token))).status_code == 200
        assert stack.jwks.fetch_count == fetches + 1
        # A second rotation within the minute: the newest key stays unknown until the minute ends.
        stack.keyring.rotate()
        newest = access_token(stack.keyring.keys.current, iss=stack.issuer_url)
        assert (await erp.get("/erp/v1/stock", headers=_bearer(newest))).status_code == 401
        assert stack.jwks.fetch_count == fetches + 1
        # Tokens signed with the previous key keep working.
        assert (await erp.get("/erp/v1/stock", headers=_bearer(token))).status_code == 200


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
