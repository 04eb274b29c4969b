"""The catalogue of Strata's services: where each app factory lives and where its contract goes.

Factories are named by dotted path and imported only when asked for, so ``shared`` never
imports a layer (the import contracts forbid it) while the CLI can still serve any service.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import msgspec


class ServiceSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    factory: str
    layer: str | None = None
    contract: str | None = None
    default_port: int = 8000


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            name="erp",
            factory="system_apis.erp.app:create_app",
            layer="system",
            contract="openapi/system/erp/v1.yaml",
            default_port=8101,
        ),
        ServiceSpec(
            name="shopify",
            factory="system_apis.shopify.app:create_app",
            layer="system",
            contract="openapi/system/shopify/v1.yaml",
            default_port=8110,
        ),
        ServiceSpec(
            name="orders",
            factory="process_apis.orders.app:create_app",
            layer="process",
            contract="openapi/process/orders/v1.yaml",
            default_port=8120,
        ),
        ServiceSpec(
            name="inventory",
            factory="process_apis.inventory.app:create_app",
            layer="process",
            contract="openapi/process/inventory/v1.yaml",
            default_port=8130,
        ),
        ServiceSpec(
            name="service-desk",
            factory="experience_apis.service_desk.app:create_app",
            layer="experience",
            contract="openapi/experience/service-desk/v1.yaml",
            default_port=8140,
        ),
        ServiceSpec(
            name="storefront",
            factory="experience_apis.storefront.app:create_app",
            layer="experience",
            contract="openapi/experience/storefront/v1.yaml",
            default_port=8150,
        ),
        ServiceSpec(name="auth", factory="shared.auth.issuer:create_app", default_port=8100),
        ServiceSpec(
            name="shopify-sandbox", factory="sandbox.shopify.app:create_app", default_port=8190
        ),
    )
}


def load_factory(spec: ServiceSpec) -> Callable[..., Any]:
    module_name, _, attr = spec.factory.partition(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return factory
