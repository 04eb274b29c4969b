"""OAuth2 clients of the local issuer: registrations with hashed secrets (scrypt, salted)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

import msgspec
import yaml

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_DKLEN = 32


class ClientRegistration(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A client allowed to use the client-credentials grant, and what it may ask for."""

    client_id: str
    # ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` from :func:`hash_client_secret`.
    secret_hash: str
    scopes: frozenset[str]
    # Audiences it may ask tokens for; empty means the issuer's default audience only.
    audiences: frozenset[str] = frozenset()
    description: str = ""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_client_secret(secret: str, *, n: int = _SCRYPT_N) -> str:
    """Hash ``secret`` with scrypt and a random salt, in a self-describing string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_DKLEN)
    return f"scrypt${n}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_client_secret(secret: str, encoded: str) -> bool:
    """True when ``secret`` matches ``encoded``; compared in constant time."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        digest = hashlib.scrypt(
            secret.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


@functools.cache
def dummy_secret_hash() -> str:
    """A hash to check against when the client id is unknown, so timing hides which ids exist."""
    return hash_client_secret(secrets.token_urlsafe(16))


DEMO_SCOPES: Mapping[str, frozenset[str]] = {
    "orders": frozenset({"erp:read", "erp:write", "shopify:read", "shopify:write"}),
    "inventory": frozenset({"erp:read", "shopify:read", "shopify:write"}),
    "catalog": frozenset({"erp:read", "shopify:read", "shopify:write"}),
    "returns": frozenset({"erp:read", "erp:write", "shopify:read", "shopify:write"}),
    "storefront": frozenset({"inventory:read", "orders:read", "returns:read", "returns:write"}),
    "service-desk": frozenset({"orders:read", "returns:read", "returns:write"}),
    "partner": frozenset({"orders:read", "inventory:read"}),
    "operator": frozenset(
        {
            "erp:read",
            "erp:write",
            "shopify:read",
            "shopify:write",
            "orders:read",
            "orders:write",
            "orders:replay",
            "inventory:read",
            "inventory:write",
            "catalog:read",
            "catalog:publish",
            "returns:read",
            "returns:write",
        }
    ),
}


def demo_secret(client_id: str) -> str:
    """The well-known secret of a demo client (local stacks and tests only)."""
    return f"demo-{client_id}-secret"


def demo_client_registry(*, n: int = 2**10) -> list[ClientRegistration]:
    """Clients for the local demo: one per Strata service plus an operator, demo secrets.

    Their secrets are :func:`demo_secret` and their hashes are cheap: never use them in production.
    """
    return [
        ClientRegistration(
            client_id=client_id,
            secret_hash=hash_client_secret(demo_secret(client_id), n=n),
            scopes=scopes,
            description=f"demo client for {client_id}",
        )
        for client_id, scopes in DEMO_SCOPES.items()
    ]


def load_client_registry(path: str | Path) -> list[ClientRegistration]:
    """Read registrations from a JSON or YAML file holding a list (or ``{"clients": [...]}``)."""
    text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text)  # YAML is a superset of JSON
    if isinstance(data, dict):
        data = data.get("clients", [])
    return msgspec.convert(data, list[ClientRegistration])


def registry_by_id(clients: Iterable[ClientRegistration]) -> dict[str, ClientRegistration]:
    """Index registrations by client id, refusing duplicates."""
    registry: dict[str, ClientRegistration] = {}
    for client in clients:
        if client.client_id in registry:
            raise ValueError(f"client {client.client_id!r} is registered twice")
        registry[client.client_id] = client
    return registry
