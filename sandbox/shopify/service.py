"""The Shopify sandbox as one object: shops, Admin GraphQL, webhooks, buckets and faults.

The HTTP layer (``app.py``) is a thin shell over this; tests may drive it directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import httpx
import msgspec

from sandbox.shopify import commerce
from sandbox.shopify.admin_graphql import INVALID_TOKEN, GraphQLReply, run_admin_graphql
from sandbox.shopify.admin_root import IdempotencyStore
from sandbox.shopify.bulk import DEFAULT_BASE_URL, MAX_BULK_FILE_BYTES
from sandbox.shopify.bulk_runner import BulkRunner
from sandbox.shopify.catalogue import ProductRow, add_products, seed_demo_shop
from sandbox.shopify.clock import SandboxClock
from sandbox.shopify.commerce import CommerceError, OrderDraft, OrderPatch, ShopEvent
from sandbox.shopify.cost import CostBucket
from sandbox.shopify.session_tokens import mint_session_token
from sandbox.shopify.settings import SandboxSettings, ShopSpec
from sandbox.shopify.state import Order, Shop, ShopifyState, normalise_domain
from sandbox.shopify.versions import resolve_version
from sandbox.shopify.webhooks import Delivery, WebhookSender


class InjectedFailure(msgspec.Struct, kw_only=True):
    """The next ``remaining`` GraphQL calls (to ``shop``, or any) answer ``status``."""

    remaining: int
    status: int = 503
    shop: str | None = None
    retry_after: float | None = None


class UploadRefused(msgspec.Struct, kw_only=True, frozen=True):
    """The storage bucket's refusal of an upload: HTTP status, error code, message."""

    status: int
    code: str
    message: str


class UnknownShop(LookupError):
    """No sandbox shop by that domain."""


class ShopifySandbox:
    """Everything the sandbox simulates, for one app (one client id and secret)."""

    def __init__(
        self,
        settings: SandboxSettings | None = None,
        *,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or SandboxSettings()
        self.clock = SandboxClock(self.settings.time_scale)
        self.state = ShopifyState()
        self.idempotency = IdempotencyStore()
        self.failures: list[InjectedFailure] = []
        self.client_id = self.settings.client_id
        self._buckets: dict[tuple[str, str], CostBucket] = {}
        self.webhooks = WebhookSender(
            client_secret=self.settings.client_secret,
            clock=self.clock,
            retries=self.settings.webhook_retries,
            retry_window=self.settings.webhook_retry_window,
            timeout=self.settings.webhook_timeout,
            connect_timeout=self.settings.webhook_connect_timeout,
            remove_failing_subscriptions=self.settings.remove_failing_subscriptions,
            default_api_version=self.settings.api_version,
            transport=webhook_transport,
        )
        self.bulk = BulkRunner(
            self.state,
            self.clock,
            self.webhooks.publish,
            self.idempotency,
            self.settings.bulk_objects_per_second,
        )
        if self.settings.seed_demo:
            for spec in self.settings.shops:
                self.add_shop(spec, self.settings.demo_products)

    @property
    def client_secret(self) -> str:
        return self.webhooks.client_secret

    async def close(self) -> None:
        await self.bulk.close()
        await self.webhooks.close()

    # -- shops -------------------------------------------------------------------------------

    def add_shop(self, spec: ShopSpec | str, products: Iterable[ProductRow] = ()) -> Shop:
        """Create a shop selling ``products``; subscribe it to ``webhook_address`` if set."""
        shop = seed_demo_shop(self.state, spec, products, access_token=self.settings.access_token)
        if self.settings.webhook_address:
            for topic in self.settings.webhook_topics:
                self.webhooks.subscribe(shop.domain, topic, self.settings.webhook_address)
        return shop

    def add_products(self, domain: str, products: Iterable[ProductRow], stock: int = 100) -> None:
        shop = self.shop(domain)
        add_products(self.state, shop, products, {loc: stock for loc in shop.locations})

    def shop(self, domain: str) -> Shop:
        found = self.state.shop(domain)
        if found is None:
            raise UnknownShop(domain)
        return found

    def find_shop(
        self,
        *,
        path_shop: str | None = None,
        host: str | None = None,
        header_shop: str | None = None,
        token: str | None = None,
    ) -> Shop | None:
        """Which shop a request is for: path, then Host, then header, then a unique token."""
        for hint in (path_shop, (host or "").split(":")[0] or None, header_shop):
            if hint:
                found = self.state.shop(hint)
                if found is not None:
                    return found
        if token:
            owners = self.state.shop_for_token(token)
            if len(owners) == 1:
                return owners[0]
        return None

    def bucket(self, domain: str, app: str | None = None) -> CostBucket:
        """The cost bucket of ``app`` (an access token) on ``domain``."""
        shop = self.shop(domain)
        key = (shop.domain, app or sorted(shop.access_tokens)[0])
        if key not in self._buckets:
            self._buckets[key] = CostBucket(
                self.settings.bucket_size, self.settings.restore_rate, self.clock
            )
        return self._buckets[key]

    def configure_buckets(
        self,
        domain: str | None = None,
        *,
        maximum: float | None = None,
        restore_rate: float | None = None,
        currently_available: float | None = None,
    ) -> list[CostBucket]:
        """Resize or refill the buckets of one shop (or all shops), for every app."""
        domains = [self.shop(domain).domain] if domain else list(self.state.shops)
        buckets = []
        for name in domains:
            for token in self.state.shops[name].access_tokens:
                bucket = self.bucket(name, token)
                bucket.configure(
                    maximum=maximum,
                    restore_rate=restore_rate,
                    currently_available=currently_available,
                )
                buckets.append(bucket)
        return buckets

    # -- Admin GraphQL -----------------------------------------------------------------------

    def inject_graphql_failures(
        self,
        count: int,
        status: int = 503,
        shop: str | None = None,
        retry_after: float | None = None,
    ) -> InjectedFailure:
        """Make the next ``count`` GraphQL calls (to ``shop`` or any) answer ``status``."""
        failure = InjectedFailure(
            remaining=count,
            status=status,
            shop=normalise_domain(shop) if shop else None,
            retry_after=retry_after,
        )
        self.failures.append(failure)
        return failure

    def _take_failure(self, shop: str | None) -> InjectedFailure | None:
        for failure in self.failures:
            if failure.remaining > 0 and (failure.shop is None or failure.shop == shop):
                failure.remaining -= 1
                return failure
        return None

    def admin_graphql(
        self,
        *,
        version: str,
        token: str | None,
        body: bytes,
        path_shop: str | None = None,
        host: str | None = None,
        header_shop: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
    ) -> tuple[GraphQLReply, dict[str, str]]:
        """Answer ``POST /admin/api/<version>/graphql.json``; return reply and headers.

        ``base_url`` is where the request reached the sandbox: staged upload targets and bulk
        result files are served there. Bulk operations the request created start running
        once it is answered."""
        shop = self.find_shop(path_shop=path_shop, host=host, header_shop=header_shop, token=token)
        failure = self._take_failure(shop.domain if shop else None)
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            status_text = {429: "Too Many Requests", 502: "Bad Gateway", 504: "Gateway Timeout"}
            message = status_text.get(
                failure.status,
                "Service Unavailable" if failure.status == 503 else "Internal Server Error",
            )
            return GraphQLReply(status=failure.status, body={"errors": message}), headers
        served = resolve_version(version)
        if served is None or shop is None:
            return GraphQLReply(status=404, body={"errors": "Not Found"}), {}
        headers = {"X-Shopify-API-Version": served}
        if not token or token not in shop.access_tokens:
            return GraphQLReply(status=401, body={"errors": INVALID_TOKEN}), headers
        try:
            payload = msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            return GraphQLReply(status=400, body={"errors": "Bad Request: invalid JSON"}), headers
        reply = run_admin_graphql(
            state=self.state,
            shop=shop,
            version=served,
            app=token,
            bucket=self.bucket(shop.domain, token),
            idempotency=self.idempotency,
            payload=payload,
            max_query_cost=self.settings.max_query_cost,
            base_url=base_url,
        )
        if reply.events:
            self.webhooks.publish(shop.domain, reply.events)
        for op in reply.bulk_started:
            self.bulk.start(shop, op)
        return reply, headers

    # -- staged uploads and files ------------------------------------------------------------

    def receive_upload(self, key: str, content: bytes) -> UploadRefused | None:
        """Store the file POSTed to a staged upload target; why not, if it was refused."""
        upload = self.state.staged_uploads.get(key)
        if upload is None:
            return UploadRefused(
                status=403, code="AccessDenied", message="No upload target has this key."
            )
        if len(content) > MAX_BULK_FILE_BYTES:
            return UploadRefused(
                status=400,
                code="EntityTooLarge",
                message="Your proposed upload exceeds the maximum allowed size",
            )
        upload.content = content
        return None

    def file(self, key: str) -> bytes | None:
        """A file the sandbox serves (a bulk operation's result), or None."""
        return self.state.files.get(key)

    # -- merchant and buyer actions (control API) --------------------------------------------

    def _publish(self, shop: Shop, events: Sequence[ShopEvent]) -> list[Delivery]:
        return self.webhooks.publish(shop.domain, events)

    def create_order(self, domain: str, draft: OrderDraft) -> Order:
        """A buyer checks out: the order is created and ``orders/create`` goes out."""
        shop = self.shop(domain)
        order, events = commerce.create_order(self.state, shop, draft)
        self._publish(shop, events)
        return order

    def order(self, domain: str, order_id: int) -> Order:
        return commerce.find_order(self.shop(domain), order_id)

    def pay_order(self, domain: str, order_id: int) -> Order:
        shop = self.shop(domain)
        order = commerce.find_order(shop, order_id)
        self._publish(shop, commerce.mark_paid(self.state, shop, order))
        return order

    def cancel_order(self, domain: str, order_id: int, reason: str = "CUSTOMER") -> Order:
        shop = self.shop(domain)
        order = commerce.find_order(shop, order_id)
        self._publish(shop, commerce.cancel_order(shop, order, reason))
        return order

    def update_order(self, domain: str, order_id: int, patch: OrderPatch) -> Order:
        shop = self.shop(domain)
        order = commerce.find_order(shop, order_id)
        self._publish(shop, commerce.update_order(shop, order, patch))
        return order

    def set_stock(
        self, domain: str, sku: str, available: int, location_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Set ``available`` of a SKU at one location (or all); ``inventory_levels/update``."""
        shop = self.shop(domain)
        item = shop.item_by_sku(sku)
        if item is None:
            raise CommerceError(
                f"No inventory item with SKU {sku}", field=["sku"], code="NOT_FOUND"
            )
        levels = [
            lv
            for lv in shop.levels_of(item.id)
            if location_id is None or lv.location_id == location_id
        ]
        if not levels:
            raise CommerceError(
                "Not stocked at that location", field=["location_id"], code="NOT_FOUND"
            )
        for level in levels:
            commerce.set_quantity(level, "available", available)
        self._publish(shop, commerce.level_events(levels))
        return self.inventory(domain, sku=sku)

    def inventory(self, domain: str, sku: str | None = None) -> list[dict[str, Any]]:
        """Inventory levels as rows: SKU, location and every named quantity."""
        shop = self.shop(domain)
        rows = []
        for (item_id, location_id), level in shop.levels.items():
            item = shop.inventory_items[item_id]
            if sku is not None and item.sku != sku:
                continue
            rows.append(
                {
                    "sku": item.sku,
                    "inventory_item_id": item_id,
                    "location_id": location_id,
                    "location_name": shop.locations[location_id].name,
                    **{name: level.get(name) for name in ("available", "on_hand", "committed")},
                    **{
                        k: v
                        for k, v in level.quantities.items()
                        if k not in ("available", "on_hand", "committed")
                    },
                }
            )
        return rows

    def session_token(self, domain: str, user_id: str | int = "42", **kwargs: Any) -> str:
        """A session token for ``domain`` signed with the app's current client secret."""
        return mint_session_token(
            shop=self.shop(domain).domain,
            client_id=self.client_id,
            client_secret=self.client_secret,
            user_id=user_id,
            **kwargs,
        )
