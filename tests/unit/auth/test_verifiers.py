"""The pieces behind the middleware: cache, key sources, platform verifiers, tenancy, settings."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from shopify_app import ShopifyApp

from sandbox.auth.issuer import SigningKeys
from shared.auth import (
    AuthSettings,
    InvalidToken,
    Principal,
    ShopifyAppSettings,
    ShopifySessionTokenVerifier,
    Tenant,
    TokenAuthentication,
    VerifiedTokenCache,
    ensure_tenant_may_see,
)
from shared.auth.compact import CompactToken, parse_compact
from shared.auth.keys import KeyNotFound, RemoteKeys, StaticKeys, import_jwks
from shared.problems import Forbidden, NotFound, ServiceUnavailable
from shared.settings import SettingsError, load_settings
from tests.unit.auth.forgery import access_token, shopify_session_token


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def principal(subject: str = "orders") -> Principal:
    return Principal(
        subject=subject,
        client_id=subject,
        scopes=frozenset({"erp:read"}),
        tenant=None,
        kind="service",
    )


# --- verified-token cache --------------------------------------------------------------------


def test_cache_entry_lives_until_token_expiry() -> None:
    clock = FakeClock()
    cache = VerifiedTokenCache(ttl_s=300, clock=clock)
    cache.put("t", principal(), expires_at=clock.now + 60)
    assert cache.get("t") == principal()
    clock.now += 59
    assert cache.get("t") is not None
    clock.now += 1
    assert cache.get("t") is None


def test_cache_entry_lives_no_longer_than_the_ttl() -> None:
    clock = FakeClock()
    cache = VerifiedTokenCache(ttl_s=30, clock=clock)
    cache.put("t", principal(), expires_at=clock.now + 3600)
    clock.now += 30
    assert cache.get("t") is None


def test_cache_is_bounded() -> None:
    clock = FakeClock()
    cache = VerifiedTokenCache(max_entries=100, ttl_s=300, clock=clock)
    for i in range(1_000):
        cache.put(f"t{i}", principal(), expires_at=clock.now + 60)
    assert len(cache) <= 100
    assert cache.get("t999") is not None
    assert cache.get("t0") is None


def test_cache_drops_already_expired_tokens() -> None:
    clock = FakeClock()
    cache = VerifiedTokenCache(clock=clock)
    cache.put("t", principal(), expires_at=clock.now - 1)
    assert len(cache) == 0


class CountingAuthenticator:
    kind = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def recognises(self, token: CompactToken) -> bool:
        return True

    async def authenticate(self, token: CompactToken) -> tuple[Principal, float]:
        self.calls += 1
        return principal(), time.time() + 60


async def test_a_repeated_token_is_verified_once(signing_keys: SigningKeys) -> None:
    counting = CountingAuthenticator()
    authentication = TokenAuthentication([counting])
    token = access_token(signing_keys.current)
    for _ in range(5):
        assert await authentication.authenticate_header(f"Bearer {token}") == principal()
    assert counting.calls == 1


async def test_raw_header_bytes_hit_the_cache_without_a_coroutine(
    signing_keys: SigningKeys,
) -> None:
    counting = CountingAuthenticator()
    authentication = TokenAuthentication([counting])
    header = f"Bearer {access_token(signing_keys.current)}".encode()
    assert authentication.cached(header) is None
    first = await authentication.authenticate_header(header)
    assert authentication.cached(bytes(bytearray(header))) == first
    assert counting.calls == 1


async def test_failed_tokens_are_not_cached(signing_keys: SigningKeys) -> None:
    class Refusing(CountingAuthenticator):
        async def authenticate(self, token: CompactToken) -> tuple[Principal, float]:
            self.calls += 1
            raise InvalidToken("no")

    refusing = Refusing()
    authentication = TokenAuthentication([refusing])
    token = access_token(signing_keys.current)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await authentication.authenticate(token)
    assert refusing.calls == 2


def test_parse_compact_rejects_oversized_before_decoding() -> None:
    with pytest.raises(InvalidToken, match="larger than"):
        parse_compact("a" * 9000, max_bytes=8192)


# --- key sources -----------------------------------------------------------------------------


class JwksServer:
    """A JWKS endpoint as an httpx MockTransport that counts fetches."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys
        self.fetches = 0
        self.down = False
        self.delay = 0.0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            return httpx.Response(503)
        return httpx.Response(200, json=self.keys.public_jwks())

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


@pytest.fixture(scope="module")
def key_pairs() -> list[SigningKeys]:
    first = SigningKeys.generate()
    return [first, first.rotated(), first.rotated().rotated()]


async def test_remote_keys_fetch_once_then_serve_from_cache(key_pairs: list[SigningKeys]) -> None:
    server = JwksServer(key_pairs[0])
    clock = FakeClock()
    keys = RemoteKeys("https://issuer.test/jwks", client=server.client(), clock=clock)
    for key in key_pairs[0].keys:
        assert (await keys.key_for(key.kid or "")).kid == key.kid
    assert server.fetches == 1


async def test_unknown_kid_refetches_at_most_once_a_minute(key_pairs: list[SigningKeys]) -> None:
    server = JwksServer(key_pairs[0])
    clock = FakeClock()
    keys = RemoteKeys(
        "https://issuer.test/jwks", client=server.client(), clock=clock, min_refetch_interval_s=60
    )
    await keys.key_for(key_pairs[0].current.kid or "")
    assert server.fetches == 1
    clock.now += 61
    for _ in range(20):
        with pytest.raises(KeyNotFound):
            await keys.key_for("forged-kid")
    assert server.fetches == 2  # one refetch for the first unknown kid, none for the rest
    # The issuer rotates; within the minute the new kid is still unknown ...
    server.keys = key_pairs[1]
    new_kid = key_pairs[1].current.kid or ""
    clock.now += 30
    with pytest.raises(KeyNotFound):
        await keys.key_for(new_kid)
    assert server.fetches == 2
    # ... and found by the next refetch once the minute has passed.
    clock.now += 31
    assert (await keys.key_for(new_kid)).kid == new_kid
    assert server.fetches == 3


async def test_concurrent_unknown_kids_share_one_fetch(key_pairs: list[SigningKeys]) -> None:
    server = JwksServer(key_pairs[2])
    server.delay = 0.05
    keys = RemoteKeys("https://issuer.test/jwks", client=server.client())
    kid = key_pairs[2].current.kid or ""
    found = await asyncio.gather(*(keys.key_for(kid) for _ in range(20)))
    assert {key.kid for key in found} == {kid}
    assert server.fetches == 1


async def test_stale_keys_are_refreshed_after_the_ttl(key_pairs: list[SigningKeys]) -> None:
    server = JwksServer(key_pairs[0])
    clock = FakeClock()
    keys = RemoteKeys("https://issuer.test/jwks", client=server.client(), clock=clock, ttl_s=600)
    old_kid = key_pairs[0].keys[0].kid or ""
    await keys.key_for(old_kid)
    server.keys = key_pairs[2]  # two rotations later the old key is gone
    clock.now += 601
    with pytest.raises(KeyNotFound):
        await keys.key_for(old_kid)
    assert server.fetches == 2


async def test_issuer_down_keeps_the_last_good_keys(key_pairs: list[SigningKeys]) -> None:
    server = JwksServer(key_pairs[0])
    clock = FakeClock()
    keys = RemoteKeys("https://issuer.test/jwks", client=server.client(), clock=clock, ttl_s=10)
    kid = key_pairs[0].current.kid or ""
    await keys.key_for(kid)
    server.down = True
    clock.now += 100
    assert (await keys.key_for(kid)).kid == kid
    assert server.fetches == 2


async def test_issuer_down_with_no_keys_is_503() -> None:
    server = JwksServer(SigningKeys.generate(1))
    server.down = True
    keys = RemoteKeys("https://issuer.test/jwks", client=server.client())
    with pytest.raises(ServiceUnavailable):
        await keys.key_for("any")


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
def test_jwks_import_skips_weak_symmetric_and_encryption_keys() -> None:
    weak = RSAKey.generate_key(1024, parameters={"kid": "weak"})
    strong = RSAKey.generate_key(2048, parameters={"kid": "strong"})
    enc = RSAKey.generate_key(2048, parameters={"kid": "enc", "use": "enc"})
    jwks = {
        "keys": [
            weak.as_dict(private=False),
            strong.as_dict(private=False),
            enc.as_dict(private=False),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        ]
    }
    assert set(import_jwks(jwks)) == {"strong"}


async def test_static_keys_never_fetch(signing_keys: SigningKeys) -> None:
    keys = StaticKeys(signing_keys.public_jwks())
    assert (await keys.key_for(signing_keys.current.kid or "")).kid == signing_keys.current.kid
    with pytest.raises(KeyNotFound):
        await keys.key_for("other")


# --- Shopify: compatible with Shopify's own library -------------------------------------------

CLIENT_ID = "3f1b2c"
SECRET = "shpss_" + "5e" * 16
OLD_SECRET = "shpss_" + "0d" * 16


def shopify_library_verdict(token: str, secret: str = SECRET, old: str | None = None) -> Any:
    app = ShopifyApp(client_id=CLIENT_ID, client_secret=secret, old_client_secret=old)
    request = {
        "method": "GET",
        "headers": {"Authorization": f"Bearer {token}"},
        "url": "https://strata.example/storefront/v1/availability",
        "body": "",
    }
    return app.verify_app_home_req(request, app_home_patch_id_token_path="/auth/patch-id-token")


async def strata_verdict(token: str, old: str | None = None) -> Principal:
    verifier = ShopifySessionTokenVerifier(
        [ShopifyAppSettings(client_id=CLIENT_ID, client_secret=SECRET, old_client_secret=old)]
    )
    parsed = parse_compact(token, max_bytes=8192)
    assert verifier.recognises(parsed)
    found, _ = await verifier.authenticate(parsed)
    return found


async def test_session_token_accepted_by_shopify_library_and_by_strata() -> None:
    token = shopify_session_token("acme.myshopify.com", CLIENT_ID, SECRET)
    verdict = shopify_library_verdict(token)
    assert verdict.ok, verdict.log
    found = await strata_verdict(token)
    assert found.tenant == Tenant(
        kind="shop", id="acme.myshopify.com", shops=frozenset({"acme.myshopify.com"})
    )
    # Shopify's library names the shop without the suffix and the user by sub; so do we.
    assert f"{verdict.shop}.myshopify.com" == found.tenant.id
    assert verdict.user_id == found.subject


async def test_old_secret_accepted_by_both_during_rotation() -> None:
    token = shopify_session_token("acme.myshopify.com", CLIENT_ID, OLD_SECRET)
    assert shopify_library_verdict(token, old=OLD_SECRET).ok
    assert (await strata_verdict(token, old=OLD_SECRET)).kind == "shopify"


@pytest.mark.parametrize(
    ("name", "secret", "claims"),
    [
        ("forged", "shpss_wrong", {}),
        ("expired", SECRET, {"exp": int(time.time()) - 120, "nbf": int(time.time()) - 180}),
        ("other app", SECRET, {"aud": "another-app"}),
    ],
)
async def test_bad_session_tokens_refused_by_both(
    name: str, secret: str, claims: dict[str, Any]
) -> None:
    token = shopify_session_token("acme.myshopify.com", CLIENT_ID, secret, **claims)
    assert not shopify_library_verdict(token).ok, name
    with pytest.raises(InvalidToken):
        await strata_verdict(token)


async def test_strata_is_stricter_than_the_library_on_mismatched_shops() -> None:
    token = shopify_session_token(
        "acme.myshopify.com", CLIENT_ID, SECRET, iss="https://globex.myshopify.com/admin"
    )
    # Shopify's library trusts dest alone; Strata also insists that iss names the same shop.
    assert shopify_library_verdict(token).ok
    with pytest.raises(InvalidToken, match="different shops"):
        await strata_verdict(token)


# --- tenancy ---------------------------------------------------------------------------------


def shop_principal(shop: str) -> Principal:
    return Principal(
        subject="7",
        client_id="app",
        scopes=frozenset(),
        tenant=Tenant(kind="shop", id=shop, shops=frozenset({shop})),
        kind="shopify",
    )


def test_tenant_sees_its_own_shop_in_any_spelling() -> None:
    ensure_tenant_may_see(shop_principal("acme.myshopify.com"), "ACME.myshopify.com")
    ensure_tenant_may_see(shop_principal("acme.myshopify.com"), "acme")


def test_tenant_never_sees_another_tenants_shop() -> None:
    with pytest.raises(Forbidden):
        ensure_tenant_may_see(shop_principal("acme.myshopify.com"), "globex.myshopify.com")
    with pytest.raises(NotFound):
        ensure_tenant_may_see(shop_principal("acme.myshopify.com"), "globex", conceal=True)


def test_a_platform_principal_without_tenant_sees_nothing() -> None:
    lost = Principal(subject="x", client_id="x", scopes=frozenset(), tenant=None, kind="zendesk")
    with pytest.raises(Forbidden):
        ensure_tenant_may_see(lost, "acme.myshopify.com")


def test_service_principal_sees_every_shop() -> None:
    ensure_tenant_may_see(principal(), "globex.myshopify.com")


# --- settings --------------------------------------------------------------------------------


def test_auth_settings_load_from_the_environment() -> None:
    settings = load_settings(
        AuthSettings,
        {
            "STRATA_AUTH_ISSUER": "https://issuer.strata.test",
            "STRATA_AUTH_AUDIENCE": "strata-orders",
            "STRATA_AUTH_AUTHENTICATORS": '["oauth2", "shopify"]',
            "STRATA_AUTH_SHOPIFY_APPS": (
                '[{"client_id": "a", "client_secret": "s", "shops": ["acme.myshopify.com"],'
                ' "scopes": ["orders:read"]}]'
            ),
            "STRATA_AUTH_LEEWAY_S": "5",
        },
        prefix="STRATA_AUTH_",
    )
    assert settings.audience == "strata-orders"
    assert settings.leeway_s == 5
    assert settings.shopify_apps[0].scopes == frozenset({"orders:read"})
    assert settings.resolved_jwks_url == "https://issuer.strata.test/.well-known/jwks.json"
    assert settings.resolved_token_url == "https://issuer.strata.test/oauth/token"


@pytest.mark.parametrize(
    "environ",
    [
        {"STRATA_AUTH_ALGORITHMS": '["HS256"]'},
        {"STRATA_AUTH_ALGORITHMS": '["RS256", "none"]'},
        {"STRATA_AUTH_AUTHENTICATORS": '["shopify"]'},
        {"STRATA_AUTH_LEEWAY_S": "3600"},
    ],
)
def test_unsafe_auth_settings_stop_start_up(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(AuthSettings, environ, prefix="STRATA_AUTH_")
