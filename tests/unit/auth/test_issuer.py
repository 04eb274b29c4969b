"""The local token issuer: RFC 6749 client credentials, JWKS, metadata, key files, the CLI hook."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sandbox.auth.issuer import (
    IssuerSettings,
    KeyRing,
    SigningKeys,
    create_app,
    issue_token_cli,
    load_issuer_settings,
    load_or_create_signing_keys,
    mint_token,
)
from shared.auth import AuthSettings, StaticKeys, build_authentication
from shared.auth.clients import (
    ClientRegistration,
    demo_client_registry,
    demo_secret,
    hash_client_secret,
    load_client_registry,
    verify_client_secret,
)
from shared.auth.compact import parse_compact

ISSUER = "https://issuer.strata.test"
SECRET = "orders-secret-with:colon&amp"


def registration(**overrides: object) -> ClientRegistration:
    fields: dict[str, object] = {
        "client_id": "orders",
        "secret_hash": hash_client_secret(SECRET, n=2**10),
        "scopes": frozenset({"erp:read", "erp:write"}),
    }
    fields.update(overrides)
    return ClientRegistration(**fields)  # type: ignore[arg-type]


@pytest.fixture
def issuer_settings() -> IssuerSettings:
    return IssuerSettings(issuer=ISSUER, default_audience="strata-erp", keys_path=None)


@pytest.fixture
def keyring(signing_keys: SigningKeys) -> KeyRing:
    return KeyRing(signing_keys)


@pytest.fixture
async def issuer(
    issuer_settings: IssuerSettings, keyring: KeyRing
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(
        issuer_settings,
        keyring=keyring,
        clients=[
            registration(),
            registration(
                client_id="partner",
                scopes=frozenset({"orders:read"}),
                audiences=frozenset({"strata-erp", "strata-orders"}),
            ),
        ],
    )
    async with AsyncTestClient(app=app) as client:
        yield client


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def test_client_credentials_with_basic_auth(
    issuer: AsyncTestClient[Litestar], signing_keys: SigningKeys
) -> None:
    response = await issuer.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "erp:read"},
        headers=basic("orders", SECRET),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "erp:read"
    assert body["expires_in"] == 900
    token = parse_compact(body["access_token"], max_bytes=8192)
    assert token.header == {"alg": "RS256", "typ": "at+jwt", "kid": signing_keys.current.kid}
    claims = token.claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "strata-erp"
    assert claims["sub"] == claims["client_id"] == "orders"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]
    # And the resource server accepts it.
    authentication = build_authentication(
        AuthSettings(issuer=ISSUER, audience="strata-erp", jwks=signing_keys.public_jwks())
    )
    principal = await authentication.authenticate(body["access_token"])
    assert principal.scopes == frozenset({"erp:read"})


async def test_client_credentials_with_form_fields_and_default_scopes(
    issuer: AsyncTestClient[Litestar],
) -> None:
    response = await issuer.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "orders", "client_secret": SECRET},
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "erp:read erp:write"


@pytest.mark.parametrize(
    ("headers", "form"),
    [
        (basic("orders", "wrong"), {}),
        (basic("nobody", SECRET), {}),
        ({}, {"client_id": "orders", "client_secret": "wrong"}),
        ({}, {}),
        ({"Authorization": "Basic !!!"}, {}),
        ({"Authorization": "Bearer abc"}, {}),
    ],
)
async def test_bad_client_authentication_is_invalid_client(
    issuer: AsyncTestClient[Litestar], headers: dict[str, str], form: dict[str, str]
) -> None:
    response = await issuer.post(
        "/oauth/token", data={"grant_type": "client_credentials", **form}, headers=headers
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_scope_not_allowed_is_invalid_scope(issuer: AsyncTestClient[Litestar]) -> None:
    response = await issuer.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "erp:read orders:replay"},
        headers=basic("orders", SECRET),
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_scope"
    assert "orders:replay" in body["error_description"]


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": "client_credentials", "audience": "strata-shopify"}, "invalid_target"),
    ],
)
async def test_rfc6749_errors(
    issuer: AsyncTestClient[Litestar], form: dict[str, str], error: str
) -> None:
    response = await issuer.post("/oauth/token", data=form, headers=basic("orders", SECRET))
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_repeated_parameters_and_json_bodies_are_invalid_requests(
    issuer: AsyncTestClient[Litestar],
) -> None:
    repeated = await issuer.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&scope=erp:read&scope=erp:write",
        headers={**basic("orders", SECRET), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code == 400
    assert repeated.json()["error"] == "invalid_request"
    as_json = await issuer.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, headers=basic("orders", SECRET)
    )
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


async def test_client_may_ask_for_an_allowed_audience(issuer: AsyncTestClient[Litestar]) -> None:
    response = await issuer.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "resource": "strata-orders"},
        headers=basic("partner", SECRET),
    )
    assert response.status_code == 200, response.text
    claims = parse_compact(response.json()["access_token"], max_bytes=8192).claims
    assert claims["aud"] == "strata-orders"


async def test_jwks_publishes_both_live_keys(
    issuer: AsyncTestClient[Litestar], keyring: KeyRing
) -> None:
    response = await issuer.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert len(keys) == 2
    assert [k["kid"] for k in keys] == [k.kid for k in keyring.keys.keys]
    assert all(k["kty"] == "RSA" and "d" not in k and "p" not in k for k in keys)


async def test_rotation_signs_with_the_new_key_and_keeps_the_previous(
    issuer: AsyncTestClient[Litestar], keyring: KeyRing
) -> None:
    before = [k.kid for k in keyring.keys.keys]
    keyring.rotate()
    after = (await issuer.get("/.well-known/jwks.json")).json()["keys"]
    assert next(k["kid"] for k in after) == before[1]
    assert len(after) == 2
    response = await issuer.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("orders", SECRET)
    )
    header = parse_compact(response.json()["access_token"], max_bytes=8192).header
    assert header["kid"] == after[1]["kid"]


async def test_metadata_documents(issuer: AsyncTestClient[Litestar]) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        metadata = (await issuer.get(path)).json()
        assert metadata["issuer"] == ISSUER
        assert metadata["token_endpoint"] == f"{ISSUER}/oauth/token"
        assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
        assert metadata["grant_types_supported"] == ["client_credentials"]


# --- secrets, keys, registries, the CLI hook -------------------------------------------------


def test_client_secret_hashes_are_salted_and_verifiable() -> None:
    first, second = hash_client_secret("s3cret", n=2**10), hash_client_secret("s3cret", n=2**10)
    assert first != second
    assert "s3cret" not in first
    assert verify_client_secret("s3cret", first)
    assert not verify_client_secret("s3cret!", first)
    assert not verify_client_secret("s3cret", "md5$nonsense")


def test_signing_keys_file_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "signing-keys.json"
    created = load_or_create_signing_keys(path)
    again = load_or_create_signing_keys(path)
    assert [k.kid for k in created.keys] == [k.kid for k in again.keys]
    assert len(created.keys) == 2
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_mint_token_refuses_scopes_beyond_the_client(signing_keys: SigningKeys) -> None:
    with pytest.raises(ValueError, match=r"orders:replay"):
        mint_token(signing_keys, registration(), ["orders:replay"], "strata-erp", 60, issuer=ISSUER)


async def test_issue_token_cli_uses_the_issuers_keys_file(tmp_path: Path) -> None:
    settings = load_issuer_settings(
        {
            "STRATA_AUTH_ISSUER_ISSUER": ISSUER,
            "STRATA_AUTH_ISSUER_KEYS_PATH": str(tmp_path / "keys.json"),
            "STRATA_AUTH_ISSUER_DEFAULT_AUDIENCE": "strata-orders",
        }
    )
    token = issue_token_cli("service-desk", "orders:read", settings=settings)
    keys = load_or_create_signing_keys(tmp_path / "keys.json")
    authentication = build_authentication(
        AuthSettings(issuer=ISSUER, audience="strata-orders", jwks=keys.public_jwks())
    )
    principal = await authentication.authenticate(token)
    assert principal.client_id == "service-desk"
    assert principal.scopes == frozenset({"orders:read"})
    with pytest.raises(ValueError, match="unknown client"):
        issue_token_cli("nobody", "orders:read", settings=settings)
    with pytest.raises(ValueError, match="may not have"):
        issue_token_cli("service-desk", "erp:write", settings=settings)


def test_client_registry_from_yaml_and_json(tmp_path: Path) -> None:
    entry = {"client_id": "orders", "secret_hash": "scrypt$1$8$1$AA==$AA==", "scopes": ["erp:read"]}
    (tmp_path / "clients.json").write_text(json.dumps([entry]))
    (tmp_path / "clients.yaml").write_text(
        "clients:\n  - client_id: orders\n    secret_hash: scrypt$1$8$1$AA==$AA==\n"
        "    scopes: [erp:read]\n"
    )
    for name in ("clients.json", "clients.yaml"):
        (client,) = load_client_registry(tmp_path / name)
        assert client.scopes == frozenset({"erp:read"})


def test_demo_registry_secrets_verify() -> None:
    registry = {c.client_id: c for c in demo_client_registry()}
    assert {"orders", "inventory", "returns", "storefront", "service-desk"} <= set(registry)
    assert verify_client_secret(demo_secret("orders"), registry["orders"].secret_hash)


async def test_static_keys_accept_issuer_tokens_for_previous_key(signing_keys: SigningKeys) -> None:
    keys = StaticKeys(signing_keys.public_jwks())
    for key in signing_keys.keys:
        assert (await keys.key_for(key.kid or "")).kid == key.kid
