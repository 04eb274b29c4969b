"""Who is calling: the authenticated principal and the tenant whose data it may see."""

from __future__ import annotations

from typing import Literal

import msgspec

from shared.problems import Forbidden, NotFound

PrincipalKind = Literal["service", "shopify", "zendesk"]
TenantKind = Literal["shop", "zendesk_account"]


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    """A Shopify shop or a Zendesk account, with the shops (``acme.myshopify.com``) it may see."""

    kind: TenantKind
    id: str
    shops: frozenset[str]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The verified caller put on ``request.user`` by the authentication middleware.

    ``tenant`` is ``None`` for service principals (OAuth2 client credentials): they act for
    every tenant and are limited by their scopes alone.
    """

    subject: str
    client_id: str
    scopes: frozenset[str]
    tenant: Tenant | None
    kind: PrincipalKind

    def has_scopes(self, *scopes: str) -> bool:
        """True when the principal was granted every one of ``scopes``."""
        return self.scopes.issuperset(scopes)


def normalise_shop(shop: str) -> str:
    """``ACME.myshopify.com`` and ``acme`` both become ``acme.myshopify.com``."""
    shop = shop.strip().lower()
    return shop if shop.endswith(".myshopify.com") else f"{shop}.myshopify.com"


def ensure_tenant_may_see(principal: Principal, shop: str, *, conceal: bool = False) -> None:
    """Raise unless ``principal`` may read data of ``shop``.

    Service principals may see every shop. A Shopify or Zendesk principal sees only its
    tenant's shops; any other shop gets 403 Forbidden, or 404 NotFound with ``conceal=True``
    so that the existence of another tenant's data is not revealed.
    """
    if principal.kind == "service" and principal.tenant is None:
        return
    tenant = principal.tenant
    if tenant is not None and normalise_shop(shop) in tenant.shops:
        return
    if conceal:
        raise NotFound(f"No shop {shop!r} for this caller")
    raise Forbidden(f"This caller may not see data of shop {shop!r}")
