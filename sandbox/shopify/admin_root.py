"""Root resolvers of the sandbox Admin API: the queries and mutations Strata uses."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from graphql import GraphQLError, get_directive_values

from sandbox.shopify import commerce
from sandbox.shopify.admin_views import (
    Info,
    Node,
    ShopViews,
    compare_digest,
    invalid_id,
    split_metafield_key,
)
from sandbox.shopify.commerce import CommerceError, ShopEvent
from sandbox.shopify.state import (
    InventoryLevel,
    Metafield,
    Order,
    Shop,
    ShopifyState,
    gid,
    now_utc,
    parse_gid,
)
from sandbox.shopify.versions import CONCURRENCY_PROTECTION_VERSION, at_least

# Mutations whose @idempotent key became mandatory in 2026-04 (of those the sandbox serves).
IDEMPOTENCY_REQUIRED = frozenset({"refundCreate", "inventoryAdjustQuantities"})
IDEMPOTENCY_SUPPORTED = IDEMPOTENCY_REQUIRED | {"inventorySetQuantities"}
METAFIELDS_PER_CALL = 25
METAFIELD_TYPES = frozenset(
    {
        "single_line_text_field",
        "multi_line_text_field",
        "number_integer",
        "number_decimal",
        "boolean",
        "json",
        "date",
        "date_time",
        "url",
        "id",
    }
)


class IdempotencyStore:
    """First results of ``@idempotent`` mutations, per shop, app, mutation and key."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, str, str, str], tuple[bytes, Any]] = {}

    def get(self, scope: tuple[str, str, str, str]) -> tuple[bytes, Any] | None:
        return self._results.get(scope)

    def put(self, scope: tuple[str, str, str, str], fingerprint: bytes, result: Any) -> None:
        self._results[scope] = (fingerprint, result)


class AdminRoot:
    """``root_value`` of one request: one shop, one API version, one app."""

    def __init__(
        self,
        state: ShopifyState,
        shop: Shop,
        version: str,
        app: str,
        idempotency: IdempotencyStore,
    ) -> None:
        self.state = state
        self._shop = shop
        self.version = version
        self.app = app
        self.idempotency = idempotency
        self.views = ShopViews(shop)
        self.events: list[ShopEvent] = []

    # -- lookups -----------------------------------------------------------------------------

    def _id(self, value: str, kind: str) -> int:
        number = parse_gid(value, kind)
        if number is None:
            raise invalid_id(value)
        return number

    def _order(self, value: str) -> Order | None:
        return self._shop.orders.get(self._id(value, "Order"))

    # -- queries -----------------------------------------------------------------------------

    def shop(self, info: Info) -> Node:
        return self.views.shop_node()

    def order(self, info: Info, id: str) -> Node | None:
        return self.views.order(self._order(id))

    def orders(self, info: Info, query: str | None = None, **page: Any) -> list[Any]:
        chosen = [o for o in self._shop.orders.values() if order_matches(o, query)]
        return [self.views.order(o) for o in sorted(chosen, key=lambda o: o.id)]

    def customer(self, info: Info, id: str) -> Node | None:
        return self.views.customer(self._shop.customers.get(self._id(id, "Customer")))

    def location(self, info: Info, id: str | None = None) -> Node | None:
        if id is None:
            return self.views.location(self._shop.default_location())
        return self.views.location(self._shop.locations.get(self._id(id, "Location")))

    def locations(self, info: Info, includeInactive: bool = False, **page: Any) -> list[Any]:
        return [
            self.views.location(loc)
            for loc in self._shop.locations.values()
            if loc.active or includeInactive
        ]

    def inventoryItem(self, info: Info, id: str) -> Node | None:
        return self.views.inventory_item(
            self._shop.inventory_items.get(self._id(id, "InventoryItem"))
        )

    def inventoryItems(self, info: Info, query: str | None = None, **page: Any) -> list[Any]:
        wanted = search_terms(query)
        return [
            self.views.inventory_item(item)
            for item in self._shop.inventory_items.values()
            if _matches_sku_or_id(wanted, item.sku, item.id)
        ]

    def inventoryLevel(self, info: Info, id: str) -> Node | None:
        match = re.fullmatch(r"gid://shopify/InventoryLevel/(\d+)\?inventory_item_id=(\d+)", id)
        if match is None:
            raise invalid_id(id)
        level = self._shop.levels.get((int(match[2]), int(match[1])))
        return self.views.level(level) if level else None

    def productVariant(self, info: Info, id: str) -> Node | None:
        return self.views.variant(self._id(id, "ProductVariant"))

    def productVariants(self, info: Info, query: str | None = None, **page: Any) -> list[Any]:
        wanted = search_terms(query)
        return [
            self.views.variant(p.variant_id)
            for p in self._shop.products.values()
            if _matches_sku_or_id(wanted, p.sku, p.variant_id)
        ]

    def fulfillmentOrder(self, info: Info, id: str) -> Node | None:
        number = self._id(id, "FulfillmentOrder")
        for order in self._shop.orders.values():
            for fo in order.fulfillment_orders:
                if fo.id == number:
                    return self.views.fulfillment_order(order, fo)
        return None

    def fulfillment(self, info: Info, id: str) -> Node | None:
        number = self._id(id, "Fulfillment")
        for order in self._shop.orders.values():
            for f in order.fulfillments:
                if f.id == number:
                    return self.views.fulfillment(order, f)
        return None

    def refund(self, info: Info, id: str) -> Node | None:
        number = self._id(id, "Refund")
        for order in self._shop.orders.values():
            for r in order.refunds:
                if r.id == number:
                    return self.views.refund(order, r)
        return None

    # -- @idempotent -------------------------------------------------------------------------

    def _idempotent(
        self,
        info: Info,
        args: dict[str, Any],
        run: Callable[[], Node],
        mismatch: Callable[[str], Node],
    ) -> Node:
        mutation = info.field_name
        directive = info.schema.get_directive("idempotent")
        values = (
            get_directive_values(directive, info.field_nodes[0], info.variable_values)
            if directive
            else None
        )
        key = values.get("key") if values else None
        if key is None:
            if mutation in IDEMPOTENCY_REQUIRED and at_least(
                self.version, CONCURRENCY_PROTECTION_VERSION
            ):
                raise GraphQLError(
                    f"The @idempotent directive is required for {mutation} "
                    f"from API version {CONCURRENCY_PROTECTION_VERSION}.",
                    extensions={"code": "IDEMPOTENCY_KEY_REQUIRED"},
                )
            return run()
        scope = (self._shop.domain, self.app, mutation, str(key))
        fingerprint = msgspec.json.encode(args, order="sorted")
        stored = self.idempotency.get(scope)
        if stored is not None:
            if stored[0] != fingerprint:
                return mismatch(
                    "The same idempotency key cannot be used with different operation parameters."
                )
            return stored[1]  # type: ignore[no-any-return]
        result = run()
        self.idempotency.put(scope, fingerprint, result)
        return result

    # -- mutations ---------------------------------------------------------------------------

    def tagsAdd(self, info: Info, id: str, tags: list[str]) -> Node:
        order = self._order(id)
        if order is None:
            return {
                "node": None,
                "userErrors": [{"field": ["id"], "message": "Order does not exist"}],
            }
        self.events += commerce.add_tags(self._shop, order, tags)
        return {"node": self.views.order(order), "userErrors": []}

    def tagsRemove(self, info: Info, id: str, tags: list[str]) -> Node:
        order = self._order(id)
        if order is None:
            return {
                "node": None,
                "userErrors": [{"field": ["id"], "message": "Order does not exist"}],
            }
        self.events += commerce.remove_tags(self._shop, order, tags)
        return {"node": self.views.order(order), "userErrors": []}

    def metafieldsSet(self, info: Info, metafields: list[dict[str, Any]]) -> Node:
        if len(metafields) > METAFIELDS_PER_CALL:
            return {
                "metafields": None,
                "userErrors": [
                    _error(
                        ["metafields"],
                        f"Exceeded the maximum metafields input limit of {METAFIELDS_PER_CALL}.",
                        "LESS_THAN_OR_EQUAL_TO",
                    )
                ],
            }
        errors: list[Node] = []
        planned: list[tuple[Order, dict[str, Any], str, str, str]] = []
        for index, entry in enumerate(metafields):
            field = ["metafields", str(index)]
            order_id = parse_gid(entry["ownerId"], "Order")
            order = self._shop.orders.get(order_id) if order_id else None
            if order is None:
                errors.append(
                    _error([*field, "ownerId"], "Owner does not exist.", "INVALID", index)
                )
                continue
            namespace, key = split_metafield_key(entry.get("namespace"), entry["key"])
            existing = order.metafields.get((namespace, key))
            kind = entry.get("type") or (existing.type if existing else None)
            if kind is None:
                errors.append(_error([*field, "type"], "Type can't be blank.", "BLANK", index))
                continue
            if kind not in METAFIELD_TYPES:
                errors.append(
                    _error(
                        [*field, "type"], f"Type '{kind}' is not supported.", "INVALID_TYPE", index
                    )
                )
                continue
            if not _value_fits(kind, entry["value"]):
                errors.append(
                    _error(
                        [*field, "value"],
                        f"Value is invalid for type {kind}.",
                        "INVALID_VALUE",
                        index,
                    )
                )
                continue
            digest = entry.get("compareDigest")
            if digest is not None and (
                existing is None or compare_digest(existing.value) != digest
            ):
                errors.append(
                    _error(
                        [*field, "compareDigest"],
                        "The resource has been updated since it was loaded.",
                        "STALE_OBJECT",
                        index,
                    )
                )
                continue
            planned.append((order, entry, namespace, key, kind))
        if errors:
            return {"metafields": None, "userErrors": errors}
        saved: list[Metafield] = []
        for order, entry, namespace, key, kind in planned:
            existing = order.metafields.get((namespace, key))
            if existing is None:
                existing = Metafield(
                    id=self.state.ids.next("Metafield"),
                    namespace=namespace,
                    key=key,
                    type=kind,
                    value=entry["value"],
                    owner_gid=gid("Order", order.id),
                )
                order.metafields[(namespace, key)] = existing
            else:
                existing.value, existing.type, existing.updated_at = entry["value"], kind, now_utc()
            saved.append(existing)
        return {"metafields": [self.views.metafield(m) for m in saved], "userErrors": []}

    def inventorySetQuantities(self, info: Info, input: dict[str, Any]) -> Node:
        return self._idempotent(
            info,
            {"input": input},
            lambda: self._set_quantities(input),
            lambda message: {
                "userErrors": [_error([], message, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")]
            },
        )

    def _set_quantities(self, data: dict[str, Any]) -> Node:
        name, reason = data["name"], data["reason"]
        errors = _name_and_reason_errors(name, reason, commerce.SETTABLE_NAMES, "INVALID_NAME")
        cas_2026_04 = at_least(self.version, CONCURRENCY_PROTECTION_VERSION)
        planned: list[tuple[InventoryLevel, int]] = []
        seen: set[tuple[int, int]] = set()
        for index, quantity in enumerate(data["quantities"]):
            field = ["input", "quantities", str(index)]
            try:
                level = commerce.level_for(
                    self._shop,
                    self._id(quantity["inventoryItemId"], "InventoryItem"),
                    self._id(quantity["locationId"], "Location"),
                    field,
                )
            except CommerceError as exc:
                errors.append(_error(exc.field, exc.message, exc.code))
                continue
            pair = (level.inventory_item_id, level.location_id)
            if pair in seen:
                errors.append(
                    _error(
                        field,
                        "The combination of inventoryItemId and locationId must be unique.",
                        "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    )
                )
                continue
            seen.add(pair)
            target = quantity["quantity"]
            if target > commerce.MAX_QUANTITY:
                errors.append(
                    _error(
                        [*field, "quantity"],
                        "The quantity can't be higher than 1,000,000,000.",
                        "INVALID_QUANTITY_TOO_HIGH",
                    )
                )
                continue
            if target < 0 and name == "on_hand":
                errors.append(
                    _error(
                        [*field, "quantity"],
                        "The quantity can't be negative.",
                        "INVALID_QUANTITY_NEGATIVE",
                    )
                )
                continue
            current = level.get(name)
            stale = self._compare_error(quantity, data, current, field, cas_2026_04)
            if stale is not None:
                errors.append(stale)
                continue
            planned.append((level, target))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        changes: list[Node] = []
        for level, target in planned:
            delta = commerce.set_quantity(level, name, target)
            other = "on_hand" if name == "available" else "available"
            changes += [self._change(level, name, delta), self._change(level, other, delta)]
        self.events += commerce.level_events([lv for lv, _ in planned])
        return {"inventoryAdjustmentGroup": self._group(data, changes), "userErrors": []}

    def _compare_error(
        self,
        quantity: dict[str, Any],
        data: dict[str, Any],
        current: int,
        field: list[str],
        cas_2026_04: bool,
    ) -> Node | None:
        if "changeFromQuantity" in quantity:
            expected = quantity["changeFromQuantity"]
            if expected is not None and expected != current:
                return _error(
                    [*field, "changeFromQuantity"],
                    "The changeFromQuantity value does not match persisted value.",
                    "CHANGE_FROM_QUANTITY_STALE",
                )
            return None
        if cas_2026_04:
            # Shopify rejects an omitted changeFromQuantity; null is the explicit opt-out.
            return _error(
                [*field, "changeFromQuantity"],
                "The changeFromQuantity argument must be given to each quantity "
                "(null to skip the check).",
                "COMPARE_QUANTITY_REQUIRED",
            )
        if data.get("ignoreCompareQuantity"):
            return None
        compare = quantity.get("compareQuantity")
        if compare is None:
            return _error(
                [*field, "compareQuantity"],
                "The compareQuantity argument must be given to each quantity or ignored using "
                "ignoreCompareQuantity.",
                "COMPARE_QUANTITY_REQUIRED",
            )
        if compare != current:
            return _error(
                [*field, "compareQuantity"],
                "The compareQuantity value does not match persisted value.",
                "COMPARE_QUANTITY_STALE",
            )
        return None

    def inventoryAdjustQuantities(self, info: Info, input: dict[str, Any]) -> Node:
        return self._idempotent(
            info,
            {"input": input},
            lambda: self._adjust_quantities(input),
            lambda message: {
                "userErrors": [_error([], message, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")]
            },
        )

    def _adjust_quantities(self, data: dict[str, Any]) -> Node:
        name, reason = data["name"], data["reason"]
        errors = _name_and_reason_errors(
            name, reason, commerce.ADJUSTABLE_NAMES, "INVALID_QUANTITY_NAME"
        )
        planned: list[tuple[InventoryLevel, int]] = []
        for index, change in enumerate(data["changes"]):
            field = ["input", "changes", str(index)]
            try:
                level = commerce.level_for(
                    self._shop,
                    self._id(change["inventoryItemId"], "InventoryItem"),
                    self._id(change["locationId"], "Location"),
                    field,
                )
            except CommerceError as exc:
                errors.append(_error(exc.field, exc.message, exc.code))
                continue
            if abs(level.get(name) + change["delta"]) > commerce.MAX_QUANTITY:
                errors.append(
                    _error(
                        [*field, "delta"],
                        "The quantity can't be higher than 1,000,000,000.",
                        "INVALID_QUANTITY_TOO_HIGH",
                    )
                )
                continue
            planned.append((level, change["delta"]))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        changes: list[Node] = []
        for level, delta in planned:
            commerce.adjust_quantity(level, name, delta)
            changes.append(self._change(level, name, delta))
            if name in commerce.ON_HAND_PARTS:
                changes.append(self._change(level, "on_hand", delta))
        self.events += commerce.level_events([lv for lv, _ in planned])
        return {"inventoryAdjustmentGroup": self._group(data, changes), "userErrors": []}

    def _change(self, level: InventoryLevel, name: str, delta: int) -> Node:
        return {
            "name": name,
            "delta": delta,
            "quantityAfterChange": level.get(name),
            "item": self.views.inventory_item(
                self._shop.inventory_items.get(level.inventory_item_id)
            ),
            "location": self.views.location(self._shop.locations.get(level.location_id)),
            "ledgerDocumentUri": None,
        }

    def _group(self, data: dict[str, Any], changes: list[Node]) -> Node:
        def filtered(
            info: Info,
            inventoryItemIds: list[str] | None = None,
            locationIds: list[str] | None = None,
            quantityNames: list[str] | None = None,
        ) -> list[Node]:
            return [
                c
                for c in changes
                if (quantityNames is None or c["name"] in quantityNames)
                and (inventoryItemIds is None or c["item"]["id"] in inventoryItemIds)
                and (locationIds is None or c["location"]["id"] in locationIds)
            ]

        return {
            "id": gid("InventoryAdjustmentGroup", self.state.ids.next("InventoryAdjustmentGroup")),
            "createdAt": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reason": data["reason"],
            "referenceDocumentUri": data.get("referenceDocumentUri"),
            "changes": filtered,
        }

    def refundCreate(self, info: Info, input: dict[str, Any]) -> Node:
        return self._idempotent(
            info,
            {"input": input},
            lambda: self._refund(input),
            lambda message: {
                "refund": None,
                "order": None,
                "userErrors": [{"field": None, "message": message}],
            },
        )

    def _refund(self, data: dict[str, Any]) -> Node:
        order = self._order(data["orderId"])
        if order is None:
            return {
                "refund": None,
                "order": None,
                "userErrors": [{"field": ["input", "orderId"], "message": "Order does not exist"}],
            }
        try:
            lines = [
                commerce.RefundLineRequest(
                    line_item_id=self._id(line["lineItemId"], "LineItem"),
                    quantity=line["quantity"],
                    restock_type=line.get("restockType") or "NO_RESTOCK",
                    location_id=self._id(line["locationId"], "Location")
                    if line.get("locationId")
                    else None,
                )
                for line in data.get("refundLineItems") or ()
            ]
            shipping = data.get("shipping") or {}
            transactions = [
                (_decimal(t["amount"], ["input", "transactions", str(i), "amount"]), t["gateway"])
                for i, t in enumerate(data.get("transactions") or ())
            ]
            refund, events = commerce.create_refund(
                self.state,
                self._shop,
                order,
                lines,
                note=data.get("note"),
                shipping_amount=_decimal(shipping["amount"], ["input", "shipping", "amount"])
                if shipping.get("amount") is not None
                else None,
                full_shipping=bool(shipping.get("fullRefund")),
                transactions=transactions,
            )
        except CommerceError as exc:
            return {
                "refund": None,
                "order": None,
                "userErrors": [{"field": exc.field, "message": exc.message}],
            }
        self.events += events
        return {
            "refund": self.views.refund(order, refund),
            "order": self.views.order(order),
            "userErrors": [],
        }


def _error(field: list[str], message: str, code: str | None, index: int | None = None) -> Node:
    error: Node = {"field": field or None, "message": message, "code": code}
    if index is not None:
        error["elementIndex"] = index
    return error


def _name_and_reason_errors(
    name: str, reason: str, names: tuple[str, ...], name_code: str
) -> list[Node]:
    errors = []
    if name not in names:
        errors.append(
            _error(
                ["input", "name"],
                f"The quantity name must be one of {', '.join(names)}.",
                name_code,
            )
        )
    if reason not in commerce.INVENTORY_REASONS:
        errors.append(
            _error(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON")
        )
    return errors


def _decimal(value: Any, field: list[str]) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise CommerceError(f"Invalid amount {value!r}", field=field) from None


def _value_fits(kind: str, value: str) -> bool:
    try:
        if kind == "number_integer":
            int(value)
        elif kind == "number_decimal":
            Decimal(value)
        elif kind == "boolean":
            return value in ("true", "false")
        elif kind == "json":
            msgspec.json.decode(value)
        elif kind == "date_time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, InvalidOperation, msgspec.DecodeError):
        return False
    return True


def search_terms(query: str | None) -> list[tuple[str | None, str]]:
    """Shopify search syntax, simplified: ``key:value`` terms joined by spaces or AND."""
    if not query:
        return []
    terms: list[tuple[str | None, str]] = []
    for token in re.findall(r'(?:[^\s"]+:)?"[^"]*"|\S+', query):
        if token in ("AND", "OR"):
            continue
        key, sep, value = token.partition(":")
        if sep:
            terms.append((key.lower(), value.strip('"')))
        else:
            terms.append((None, token.strip('"')))
    return terms


def _matches_sku_or_id(terms: list[tuple[str | None, str]], sku: str, number: int) -> bool:
    for key, value in terms:
        if key == "sku" and value != sku:
            return False
        if key == "id" and value != str(number):
            return False
    return True


_COMPARE = re.compile(r"^(>=|<=|>|<)?(.*)$")


def _compare_time(moment: datetime, expression: str) -> bool:
    match = _COMPARE.match(expression)
    assert match is not None
    operator, raw = match.groups()
    try:
        bound = datetime.fromisoformat(raw.replace("Z", "+00:00").strip("'"))
    except ValueError:
        return True
    if bound.tzinfo is None:
        bound = bound.replace(tzinfo=moment.tzinfo)
    return {
        ">": moment > bound,
        ">=": moment >= bound,
        "<": moment < bound,
        "<=": moment <= bound,
    }.get(operator or "", moment.date() == bound.date())


def order_matches(order: Order, query: str | None) -> bool:
    """Whether ``order`` matches an ``orders(query:)`` search string."""
    for key, value in search_terms(query):
        lowered = value.lower()
        if key is None:
            if lowered not in order.name.lower() and lowered not in order.email.lower():
                return False
        elif (
            (key == "name" and lowered.lstrip("#") != str(order.order_number))
            or (key == "email" and lowered != order.email.lower())
            or (key == "tag" and value not in order.tags)
            or (key == "id" and value != str(order.id))
            or (key == "sku" and value not in {li.sku for li in order.line_items})
            or (key == "financial_status" and lowered != order.financial_status.lower())
            or (key == "fulfillment_status" and not _fulfillment_matches(order, lowered))
            or (key == "status" and not _status_matches(order, lowered))
            or (key == "created_at" and not _compare_time(order.created_at, value))
            or (key == "updated_at" and not _compare_time(order.updated_at, value))
        ):
            return False
    return True


def _fulfillment_matches(order: Order, wanted: str) -> bool:
    status = order.fulfillment_status
    return {
        "unfulfilled": status == "UNFULFILLED",
        "unshipped": status == "UNFULFILLED",
        "shipped": status == "FULFILLED",
        "fulfilled": status == "FULFILLED",
        "partial": status == "PARTIALLY_FULFILLED",
        "any": True,
    }.get(wanted, False)


def _status_matches(order: Order, wanted: str) -> bool:
    return {
        "open": order.closed_at is None and order.cancelled_at is None,
        "closed": order.closed_at is not None,
        "cancelled": order.cancelled_at is not None,
        "any": True,
    }.get(wanted, False)
