"""Which regional ERP instance takes an order."""

from __future__ import annotations

from process_apis.orders.settings import RoutingRule
from shared.models import SalesOrderDraft


class NoRoute(LookupError):
    """No rule matched and the default instance is not configured."""


def choose_instance(
    draft: SalesOrderDraft,
    shop: str,
    rules: list[RoutingRule],
    default: str,
    known: set[str],
) -> str:
    """The first rule whose every given condition matches, else the default instance."""
    address = draft.shipping_address or (
        draft.customer.addresses[0] if draft.customer.addresses else None
    )
    country = address.country if address else None
    for rule in rules:
        if rule.countries and country not in rule.countries:
            continue
        if rule.shops and shop not in rule.shops:
            continue
        if rule.currencies and draft.currency not in rule.currencies:
            continue
        if rule.sku_prefixes and not all(
            line.sku.startswith(tuple(rule.sku_prefixes)) for line in draft.lines
        ):
            continue
        return _known(rule.instance, known)
    return _known(default, known)


def _known(instance: str, known: set[str]) -> str:
    if instance not in known:
        raise NoRoute(f"routing chose ERP instance {instance!r}, which is not configured")
    return instance
