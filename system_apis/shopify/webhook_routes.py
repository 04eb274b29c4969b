"""``POST /shopify/v1/webhooks``: where Shopify delivers every subscribed topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, post
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.types import ASGIApp, Receive, Scope, Send

from shared.problems import problem_responses
from shared.ratelimit import ROUTE_OPT_KEY
from shared.streams import TOPIC_FAMILIES
from system_apis.shopify.appender import Appended
from system_apis.shopify.fast_path import (
    DUPLICATE_HEADER,
    ENTRY_HEADER,
    WEBHOOK_PATH,
    send_accepted,
)
from system_apis.shopify.ingress import WebhookIngress

_STRING = Schema(type=OpenAPIType.STRING)
_HEADER_DOCS = (
    ("X-Shopify-Hmac-Sha256", True, "Base64 HMAC-SHA256 of the raw body (also without `X-`)"),
    ("X-Shopify-Shop-Domain", True, "The shop, e.g. `demo-eu.myshopify.com`"),
    ("X-Shopify-Topic", True, "One of: " + ", ".join(TOPIC_FAMILIES)),
    ("X-Shopify-Event-Id", False, "Same on every duplicate of one event (de-duplication)"),
    ("X-Shopify-Webhook-Id", False, "Used for de-duplication when there is no event id"),
    ("X-Shopify-Triggered-At", False, "When the event happened"),
    ("X-Shopify-API-Version", False, "The payload's Admin API version"),
    ("traceparent", False, "W3C trace context, carried into the stream entry"),
)


@dataclass
class WebhookOperation(Operation):
    """The OpenAPI operation, with the headers the handler reads from ASGI directly."""

    def __post_init__(self) -> None:
        self.parameters = [
            Parameter(name=name, param_in="header", required=required, description=text,
                      schema=_STRING)
            for name, required, text in _HEADER_DOCS
        ]  # fmt: skip
        self.request_body = RequestBody(
            required=True,
            description="The topic's JSON payload, exactly as Shopify signed it",
            content={"application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT))},
        )
        if self.responses is not None:
            self.responses["200"] = OpenAPIResponse(
                description="Appended to the topic's stream, or a repeat of an appended event",
                headers={
                    DUPLICATE_HEADER: OpenAPIHeader(
                        schema=_STRING, description="`true` on a repeat (nothing appended)"
                    ),
                    ENTRY_HEADER: OpenAPIHeader(
                        schema=_STRING, description="The stream entry id of the event"
                    ),
                },
            )


class Accepted:
    """The 200 answer as an ASGI app (see :func:`send_accepted`)."""

    __slots__ = ("appended",)

    def __init__(self, appended: Appended) -> None:
        self.appended = appended

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_accepted(send, self.appended)


WEBHOOK_HMAC_SCHEME = "shopifyWebhookHmac"
WEBHOOK_HMAC = SecurityScheme(
    type="apiKey",
    name="X-Shopify-Hmac-Sha256",
    security_scheme_in="header",
    description="Base64 HMAC-SHA256 of the raw body with the shop's app secret (Shopify's "
    "webhook signature; `shopify-hmac-sha256` is accepted too).",
)


class WebhookController(Controller):
    """The documented route; deliveries are normally taken by ``WebhookFastPath`` before
    routing, and this handler answers the ones it does not take, the same way."""

    tags = ["webhooks"]

    @post(
        WEBHOOK_PATH,
        operation_id="receiveShopifyWebhook",
        summary="Receive a Shopify webhook",
        status_code=200,
        operation_class=WebhookOperation,
        responses=problem_responses(400, 401, 413, 503),
        # Shopify signs the body (HMAC) and carries no bearer token, and must never be
        # refused for volume.
        opt={"exclude_from_auth": True, ROUTE_OPT_KEY: False},
        security=[{WEBHOOK_HMAC_SCHEME: []}],
    )
    async def receive_webhook(self, request: Request[Any, Any, Any]) -> ASGIApp:
        """Verify the HMAC over the raw body with the shop's current or previous secret, drop
        a repeat of an event already taken, and append the event to its topic's Redis Stream.
        200 only once the append succeeded; 401 for a missing or forged signature or an
        unknown shop; 400 for a malformed delivery or a topic not accepted; 413 for a body
        over the limit; 503 with `Retry-After` when the event store is down."""
        ingress: WebhookIngress = request.app.state.ingress
        appended = await ingress.receive(request.scope["headers"], request.receive)
        return Accepted(appended)
