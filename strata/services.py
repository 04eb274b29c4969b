"""The registry of Strata's services: each one's app factory, layer, contract and default port.

Factories are plain callables. Each is imported when first asked for, so ``strata token``
does not pay for importing every service, yet every import is a real one that mypy and the
import contracts see (the launcher may import every layer; nothing imports the launcher).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

AppFactory = Callable[..., Any]


class ServiceSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    load: Callable[[], AppFactory]
    layer: str | None = None
    contract: str | None = None
    default_port: int = 8000


def _erp() -> AppFactory:
    from system_apis.erp.app import create_app

    return create_app


def _shopify() -> AppFactory:
    from system_apis.shopify.app import create_app

    return create_app


def _orders() -> AppFactory:
    from process_apis.orders.app import create_app

    return create_app


def _inventory() -> AppFactory:
    from process_apis.inventory.app import create_app

    return create_app


def _catalog() -> AppFactory:
    from process_apis.catalog.app import create_app

    return create_app


def _service_desk() -> AppFactory:
    from experience_apis.service_desk.app import create_app

    return create_app


def _storefront() -> AppFactory:
    from experience_apis.storefront.app import create_app

    return create_app


def _issuer() -> AppFactory:
    from sandbox.auth.issuer import create_app

    return create_app


def _shopify_sandbox() -> AppFactory:
    from sandbox.shopify.app import create_app

    return create_app


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            name="erp",
            load=_erp,
            layer="system",
            contract="openapi/system/erp/v1.yaml",
            default_port=8101,
        ),
        ServiceSpec(
            name="shopify",
            load=_shopify,
            layer="system",
            contract="openapi/system/shopify/v1.yaml",
            default_port=8110,
        ),
        ServiceSpec(
            name="orders",
            load=_orders,
            layer="process",
            contract="openapi/process/orders/v1.yaml",
            default_port=8120,
        ),
        ServiceSpec(
            name="inventory",
            load=_inventory,
            layer="process",
            contract="openapi/process/inventory/v1.yaml",
            default_port=8130,
        ),
        ServiceSpec(
            name="catalog",
            load=_catalog,
            layer="process",
            contract="openapi/process/catalog/v1.yaml",
            default_port=8135,
        ),
        ServiceSpec(
            name="service-desk",
            load=_service_desk,
            layer="experience",
            contract="openapi/experience/service-desk/v1.yaml",
            default_port=8140,
        ),
        ServiceSpec(
            name="storefront",
            load=_storefront,
            layer="experience",
            contract="openapi/experience/storefront/v1.yaml",
            default_port=8150,
        ),
        ServiceSpec(name="auth", load=_issuer, default_port=8100),
        ServiceSpec(name="shopify-sandbox", load=_shopify_sandbox, default_port=8190),
    )
}


def load_factory(spec: ServiceSpec) -> AppFactory:
    """The service's ``create_app``, imported now."""
    return spec.load()
