"""Every way in that must fail: each request gets 401 or 403 with a problem body, and the handler
is never reached. Then the ways in that must work."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from joserfc.jwk import RSAKey
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sandbox.auth.issuer import SigningKeys
from tests.unit.auth.conftest import (
    GLOBEX_ZENDESK_SECRET,
    SHOPIFY_APP,
    SHOPIFY_OLD_SECRET,
    SHOPIFY_RESTRICTED_APP,
    SHOPIFY_RESTRICTED_SECRET,
    SHOPIFY_SECRET,
    ZAF_AUDIENCE,
    ZENDESK_SECRET,
    Reached,
)
from tests.unit.auth.forgery import (
    AUDIENCE,
    access_claims,
    access_header,
    access_token,
    b64url,
    hs256,
    segment,
    shopify_claims,
    shopify_session_token,
    sign,
    unsigned,
    zendesk_claims,
)

STOCK = "/erp/v1/stock"
ACME_ORDERS = "/shops/acme.myshopify.com/orders"
GLOBEX_ORDERS = "/shops/globex.myshopify.com/orders"


@dataclass
class Keys:
    ours: RSAKey
    attacker: RSAKey
    zaf: RSAKey


Request = tuple[str, dict[str, str] | list[tuple[str, str]]]


def bearer(token: str, path: str = STOCK) -> Request:
    return path, {"Authorization": f"Bearer {token}"}


def now() -> int:
    return int(time.time())


def _hs256_with_public_key(k: Keys) -> Request:
    pem = k.ours.as_pem(private=False)
    header = access_header(k.ours, alg="HS256")
    return bearer(hs256(header, access_claims(), pem))


def _embedded_jwk(k: Keys) -> Request:
    header = access_header(k.attacker, jwk=k.attacker.as_dict(private=False))
    return bearer(sign(header, access_claims(), k.attacker))


def _oversized(k: Keys) -> Request:
    return bearer(access_token(k.ours, padding="x" * 9000))


def _tampered(k: Keys) -> Request:
    token = access_token(k.ours)
    head, _, sig = token.split(".")
    return bearer(f"{head}.{segment(access_claims(scope='erp:read erp:write'))}.{sig}")


def _alg_key_mismatch(k: Keys) -> Request:
    header = access_header(k.ours, alg="ES256")
    return bearer(unsigned(header, access_claims(), b64url(b"\x01" * 64)))


def _zendesk_hs256_with_our_issuer(k: Keys) -> Request:
    return bearer(hs256({"alg": "HS256", "typ": "at+jwt"}, access_claims(), ZENDESK_SECRET))


def _two_authorization_headers(k: Keys) -> Request:
    good = access_token(k.ours)
    return STOCK, [("Authorization", f"Bearer {good}"), ("Authorization", f"Bearer {good}")]


def _zaf(k: Keys, key: RSAKey, **claims: Any) -> Request:
    token = sign(
        {"alg": "RS256", "typ": "JWT"}, zendesk_claims("acme-support", ZAF_AUDIENCE, **claims), key
    )
    return bearer(token, ACME_ORDERS)


@dataclass
class Attack:
    name: str
    make: Callable[[Keys], Request]
    status: int = 401
    error: str | None = "invalid_token"


ATTACKS = [
    Attack("no token", lambda k: (STOCK, {}), error=None),
    Attack(
        "basic scheme",
        lambda k: (STOCK, {"Authorization": "Basic b3JkZXJzOnNlY3JldA=="}),
        error=None,
    ),
    Attack("empty bearer", lambda k: (STOCK, {"Authorization": "Bearer "})),
    Attack(
        "alg none, no signature",
        lambda k: bearer(unsigned(access_header(k.ours, alg="none"), access_claims())),
    ),
    Attack(
        "alg none, junk signature",
        lambda k: bearer(unsigned(access_header(k.ours, alg="none"), access_claims(), "AAAA")),
    ),
    Attack(
        "alg None (case games)",
        lambda k: bearer(unsigned(access_header(k.ours, alg="None"), access_claims(), "AAAA")),
    ),
    Attack("HS256 signed with the RSA public key", _hs256_with_public_key),
    Attack("missing typ", lambda k: bearer(access_token(k.ours, access_header(k.ours, typ=None)))),
    Attack("typ JWT", lambda k: bearer(access_token(k.ours, access_header(k.ours, typ="JWT")))),
    Attack("wrong iss", lambda k: bearer(access_token(k.ours, iss="https://evil.test"))),
    Attack(
        "iss with trailing slash",
        lambda k: bearer(access_token(k.ours, iss="https://issuer.strata.test/")),
    ),
    Attack("wrong aud", lambda k: bearer(access_token(k.ours, aud="strata-shopify"))),
    Attack("aud list without ours", lambda k: bearer(access_token(k.ours, aud=["a", "b"]))),
    Attack(
        "expired",
        lambda k: bearer(access_token(k.ours, iat=now() - 900, nbf=now() - 900, exp=now() - 60)),
    ),
    Attack("nbf in the future", lambda k: bearer(access_token(k.ours, nbf=now() + 120))),
    Attack(
        "iat in the future",
        lambda k: bearer(access_token(k.ours, iat=now() + 120, exp=now() + 400)),
    ),
    Attack("lifetime too long", lambda k: bearer(access_token(k.ours, exp=now() + 90_000))),
    Attack("exp as a string", lambda k: bearer(access_token(k.ours, exp=str(now() + 300)))),
    Attack(
        "unknown kid",
        lambda k: bearer(access_token(k.ours, access_header(k.ours, kid="no-such-key"))),
    ),
    Attack(
        "kid with a path",
        lambda k: bearer(access_token(k.ours, access_header(k.ours, kid="../../keys/ours"))),
    ),
    Attack(
        "kid with whitespace",
        lambda k: bearer(access_token(k.ours, access_header(k.ours, kid="key 1"))),
    ),
    Attack(
        "kid too long", lambda k: bearer(access_token(k.ours, access_header(k.ours, kid="k" * 300)))
    ),
    Attack(
        "kid not a string", lambda k: bearer(access_token(k.ours, access_header(k.ours, kid=7)))
    ),
    Attack("no kid", lambda k: bearer(access_token(k.ours, access_header(k.ours, kid=None)))),
    Attack(
        "jku header",
        lambda k: bearer(access_token(k.ours, access_header(k.ours, jku="https://evil.test/jwks"))),
    ),
    Attack(
        "x5u header",
        lambda k: bearer(access_token(k.ours, access_header(k.ours, x5u="https://evil.test/cert"))),
    ),
    Attack("embedded jwk", _embedded_jwk),
    Attack(
        "x5c header", lambda k: bearer(access_token(k.ours, access_header(k.ours, x5c=["MIIB"])))
    ),
    Attack(
        "crit header", lambda k: bearer(access_token(k.ours, access_header(k.ours, crit=["exp"])))
    ),
    Attack("oversized token", _oversized),
    Attack("garbage", lambda k: bearer("not-a-token")),
    Attack("two segments", lambda k: bearer("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0")),
    Attack("JWE shape", lambda k: bearer("a.b.c.d.e")),
    Attack(
        "header not JSON", lambda k: bearer(f"{b64url(b'[1]')}.{segment(access_claims())}.AAAA")
    ),
    Attack("bad base64", lambda k: bearer("e$$.e$$.e$$")),
    Attack("tampered claims", _tampered),
    Attack(
        "signed by the attacker's key",
        lambda k: bearer(sign(access_header(k.ours), access_claims(), k.attacker)),
    ),
    Attack("attacker key under its own kid", lambda k: bearer(access_token(k.attacker))),
    Attack("ES256 header on an RSA key", _alg_key_mismatch),
    Attack("HS256 with a Zendesk secret, our issuer", _zendesk_hs256_with_our_issuer),
    Attack("missing scope claim", lambda k: bearer(access_token(k.ours, scope=None))),
    Attack("missing sub", lambda k: bearer(access_token(k.ours, sub=None))),
    Attack("missing exp", lambda k: bearer(access_token(k.ours, exp=None))),
    Attack("missing iat", lambda k: bearer(access_token(k.ours, iat=None))),
    Attack(
        "untrusted issuer family",
        lambda k: bearer(access_token(k.ours, iss="https://accounts.example.com")),
    ),
    Attack("two Authorization headers", _two_authorization_headers),
    Attack(
        "scope escalation: erp:read calls an erp:write route",
        lambda k: bearer(access_token(k.ours, scope="erp:read"), "/erp/v1/orders"),
        status=403,
        error="insufficient_scope",
    ),
    Attack(
        "scope claim as a list",
        lambda k: bearer(access_token(k.ours, scope=["erp:read"])),
    ),
    # Shopify session tokens
    Attack(
        "forged Shopify session token (wrong secret)",
        lambda k: bearer(
            shopify_session_token("acme.myshopify.com", SHOPIFY_APP, "not-the-secret"), ACME_ORDERS
        ),
    ),
    Attack(
        "expired Shopify session token",
        lambda k: bearer(
            shopify_session_token(
                "acme.myshopify.com",
                SHOPIFY_APP,
                SHOPIFY_SECRET,
                exp=now() - 120,
                nbf=now() - 180,
                iat=now() - 180,
            ),
            ACME_ORDERS,
        ),
    ),
    Attack(
        "Shopify iss and dest name different shops",
        lambda k: bearer(
            shopify_session_token(
                "acme.myshopify.com",
                SHOPIFY_APP,
                SHOPIFY_SECRET,
                iss="https://globex.myshopify.com/admin",
            ),
            GLOBEX_ORDERS,
        ),
    ),
    Attack(
        "Shopify dest not a shop",
        lambda k: bearer(
            shopify_session_token(
                "acme.myshopify.com",
                SHOPIFY_APP,
                SHOPIFY_SECRET,
                dest="https://acme.myshopify.com.evil.test",
            ),
            ACME_ORDERS,
        ),
    ),
    Attack(
        "Shopify session token for another shop's data",
        lambda k: bearer(
            shopify_session_token("acme.myshopify.com", SHOPIFY_APP, SHOPIFY_SECRET), GLOBEX_ORDERS
        ),
        status=403,
        error=None,
    ),
    Attack(
        "Shopify session token for an unknown app",
        lambda k: bearer(
            shopify_session_token("acme.myshopify.com", "some-other-app", SHOPIFY_SECRET),
            ACME_ORDERS,
        ),
    ),
    Attack(
        "Shopify shop not allowed for the app",
        lambda k: bearer(
            shopify_session_token(
                "globex.myshopify.com", SHOPIFY_RESTRICTED_APP, SHOPIFY_RESTRICTED_SECRET
            ),
            GLOBEX_ORDERS,
        ),
        status=403,
        error=None,
    ),
    Attack(
        "Shopify session token lacks the route's scope",
        lambda k: bearer(
            shopify_session_token("acme.myshopify.com", SHOPIFY_APP, SHOPIFY_SECRET), STOCK
        ),
        status=403,
        error="insufficient_scope",
    ),
    Attack(
        "Shopify session token typed as an access token",
        lambda k: bearer(
            hs256(
                {"alg": "HS256", "typ": "at+jwt"},
                shopify_claims("acme.myshopify.com", SHOPIFY_APP),
                SHOPIFY_SECRET,
            ),
            ACME_ORDERS,
        ),
    ),
    # Zendesk
    Attack(
        "forged Zendesk signed request (wrong secret)",
        lambda k: bearer(
            hs256(
                {"alg": "HS256", "typ": "JWT"}, zendesk_claims("acme-support", AUDIENCE), "guess"
            ),
            ACME_ORDERS,
        ),
    ),
    Attack(
        "Zendesk token signed with another account's secret",
        lambda k: bearer(
            hs256(
                {"alg": "HS256", "typ": "JWT"},
                zendesk_claims("acme-support", AUDIENCE),
                GLOBEX_ZENDESK_SECRET,
            ),
            ACME_ORDERS,
        ),
    ),
    Attack(
        "Zendesk token for another account's shop",
        lambda k: bearer(
            hs256(
                {"alg": "HS256", "typ": "JWT"},
                zendesk_claims("globex", AUDIENCE),
                GLOBEX_ZENDESK_SECRET,
            ),
            ACME_ORDERS,
        ),
        status=403,
        error=None,
    ),
    Attack(
        "Zendesk token of an unknown account",
        lambda k: bearer(
            hs256({"alg": "HS256"}, zendesk_claims("initech", AUDIENCE), ZENDESK_SECRET),
            ACME_ORDERS,
        ),
    ),
    Attack(
        "Zendesk signed request for another service",
        lambda k: bearer(
            hs256(
                {"alg": "HS256", "typ": "JWT"},
                zendesk_claims("acme-support", "strata-shopify"),
                ZENDESK_SECRET,
            ),
            ACME_ORDERS,
        ),
    ),
    Attack(
        "expired Zendesk signed request",
        lambda k: bearer(
            hs256(
                {"alg": "HS256"},
                zendesk_claims("acme-support", AUDIENCE, exp=now() - 100),
                ZENDESK_SECRET,
            ),
            ACME_ORDERS,
        ),
    ),
    Attack("ZAF app token signed by another key", lambda k: _zaf(k, k.attacker)),
    Attack(
        "ZAF app token for another installation",
        lambda k: _zaf(
            k, k.zaf, aud="https://acme-support.zendesk.com/api/v2/apps/installations/999.json"
        ),
    ),
    Attack("ZAF app token expired", lambda k: _zaf(k, k.zaf, exp=now() - 100, iat=now() - 400)),
]


def _assert_refused(response: Any, attack: Attack, reached: Reached) -> None:
    assert response.status_code == attack.status, (attack.name, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == attack.status
    assert problem["type"].startswith("https://strata.dev/problems/")
    assert reached.calls == [], f"{attack.name}: the handler was reached"
    challenge = response.headers.get("www-authenticate")
    if attack.status == 401:
        assert challenge is not None
        assert challenge.startswith("Bearer realm=")
        if attack.error is None:
            assert "error=" not in challenge
        else:
            assert f'error="{attack.error}"' in challenge
            assert "error_description=" in challenge
    elif attack.error is not None:
        assert challenge is not None
        assert f'error="{attack.error}"' in challenge


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_attack_is_refused_before_the_handler(
    attack: Attack,
    client: AsyncTestClient[Litestar],
    reached: Reached,
    signing_key: RSAKey,
    attacker_key: RSAKey,
    zaf_key: RSAKey,
) -> None:
    path, headers = attack.make(Keys(signing_key, attacker_key, zaf_key))
    response = await client.get(path, headers=headers)
    _assert_refused(response, attack, reached)


def test_the_matrix_is_large_enough() -> None:
    assert len(ATTACKS) >= 30


async def test_insufficient_scope_names_the_missing_scope(
    client: AsyncTestClient[Litestar], signing_key: RSAKey
) -> None:
    response = await client.get(
        "/erp/v1/orders", headers={"Authorization": f"Bearer {access_token(signing_key)}"}
    )
    assert response.status_code == 403
    assert 'scope="erp:write"' in response.headers["www-authenticate"]
    assert response.json()["type"].endswith("/insufficient-scope")


# --- the ways in that must work -------------------------------------------------------------


async def test_valid_access_token_reaches_the_handler(
    client: AsyncTestClient[Litestar], reached: Reached, signing_key: RSAKey
) -> None:
    token = access_token(signing_key, scope="erp:read orders:read")
    response = await client.get(STOCK, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"subject": "orders", "kind": "service"}
    ((name, principal),) = reached.calls
    assert name == "read_stock"
    assert principal is not None
    assert principal.client_id == "orders"
    assert principal.scopes == frozenset({"erp:read", "orders:read"})
    assert principal.tenant is None


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
async def test_access_token_types_accepted(
    typ: str, client: AsyncTestClient[Litestar], signing_key: RSAKey
) -> None:
    token = access_token(signing_key, access_header(signing_key, typ=typ))
    response = await client.get(STOCK, headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200, response.text


async def test_previous_signing_key_still_verifies(
    client: AsyncTestClient[Litestar], signing_keys: SigningKeys
) -> None:
    older = signing_keys.keys[0]
    response = await client.get(STOCK, headers={"Authorization": f"Bearer {access_token(older)}"})
    assert response.status_code == 200, response.text


async def test_clock_skew_within_leeway_is_accepted(
    client: AsyncTestClient[Litestar], signing_key: RSAKey
) -> None:
    token = access_token(signing_key, iat=now() + 5, nbf=now() + 5, exp=now() + 300)
    response = await client.get(STOCK, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


async def test_service_token_may_read_any_shop(
    client: AsyncTestClient[Litestar], signing_key: RSAKey
) -> None:
    token = access_token(signing_key, scope="orders:read")
    response = await client.get(GLOBEX_ORDERS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["kind"] == "service"


async def test_shopify_session_token_reads_its_own_shop(
    client: AsyncTestClient[Litestar], reached: Reached
) -> None:
    token = shopify_session_token("acme.myshopify.com", SHOPIFY_APP, SHOPIFY_SECRET)
    response = await client.get(ACME_ORDERS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "shop": "acme.myshopify.com",
        "tenant": "acme.myshopify.com",
        "kind": "shopify",
    }
    principal = reached.calls[0][1]
    assert principal is not None
    assert principal.subject == "42"
    assert principal.client_id == SHOPIFY_APP


async def test_shopify_session_token_signed_with_the_old_secret(
    client: AsyncTestClient[Litestar],
) -> None:
    token = shopify_session_token("acme.myshopify.com", SHOPIFY_APP, SHOPIFY_OLD_SECRET)
    response = await client.get(ACME_ORDERS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


async def test_restricted_shopify_app_serves_its_shop(client: AsyncTestClient[Litestar]) -> None:
    token = shopify_session_token(
        "acme.myshopify.com", SHOPIFY_RESTRICTED_APP, SHOPIFY_RESTRICTED_SECRET
    )
    response = await client.get(ACME_ORDERS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


async def test_zendesk_signed_request_reads_its_shops(client: AsyncTestClient[Litestar]) -> None:
    token = hs256(
        {"alg": "HS256", "typ": "JWT"}, zendesk_claims("acme-support", AUDIENCE), ZENDESK_SECRET
    )
    for path in (ACME_ORDERS, "/shops/acme-eu.myshopify.com/orders"):
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.json()["tenant"] == "acme-support"


async def test_zaf_app_token_is_accepted(
    client: AsyncTestClient[Litestar], reached: Reached, zaf_key: RSAKey
) -> None:
    path, headers = _zaf(
        Keys(zaf_key, zaf_key, zaf_key),
        zaf_key,
        sub="https://acme-support.zendesk.com/api/v2/users/1.json",
    )
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    principal = reached.calls[0][1]
    # The app token only says which installation sent it; its sub is not trusted.
    assert principal is not None
    assert principal.subject == "zendesk:acme-support"


async def test_health_needs_no_token(client: AsyncTestClient[Litestar], reached: Reached) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert reached.calls == [("live", None)]


async def test_unknown_path_is_404_not_401(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
