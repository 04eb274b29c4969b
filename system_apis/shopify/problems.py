"""The conditions the Shopify system API answers with, as Strata problem types."""

from __future__ import annotations

from shared.problems import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    UpstreamError,
    UpstreamUnavailable,
    ValidationFailed,
)

# -- webhook ingress ---------------------------------------------------------------------


class WebhookSignatureInvalid(Unauthorized):
    slug = "webhook-signature-invalid"
    title = "The webhook's HMAC signature is missing or does not match its body"


class WebhookShopUnknown(Unauthorized):
    slug = "webhook-shop-unknown"
    title = "The webhook comes from a shop this deployment does not serve"


class WebhookHeaderMissing(BadRequest):
    slug = "webhook-header-missing"
    title = "A required Shopify webhook header is missing"


class WebhookTopicUnsupported(BadRequest):
    slug = "webhook-topic-unsupported"
    title = "This webhook topic is not accepted"


class WebhookBodyMalformed(BadRequest):
    slug = "webhook-body-malformed"
    title = "The webhook body is not a JSON object"


class WebhookBodyTooLarge(PayloadTooLarge):
    slug = "webhook-body-too-large"
    title = "The webhook body is larger than allowed"


class EventStoreUnavailable(ServiceUnavailable):
    slug = "event-store-unavailable"
    title = "The webhook could not be stored; retry later"


# -- Admin GraphQL -----------------------------------------------------------------------


class ShopNotConfigured(NotFound):
    slug = "shop-not-configured"
    title = "This deployment has no Admin API access to the shop"


class ShopifyRecordNotFound(NotFound):
    slug = "shopify-record-not-found"
    title = "Shopify has no such record"


class ShopifyUserErrors(ValidationFailed):
    """A mutation answered with ``userErrors``: Shopify refused the change as asked."""

    slug = "shopify-user-errors"
    title = "Shopify refused the change"


class ShopifyQueryRejected(UpstreamError):
    """GraphQL ``errors`` on an HTTP 200: the query itself was wrong or not allowed."""

    slug = "shopify-query-rejected"
    title = "Shopify rejected the GraphQL request"


class ShopifyThrottled(RateLimited):
    """Still THROTTLED after the retries allowed: the shop's cost bucket is exhausted."""

    slug = "shopify-throttled"
    title = "The shop's Admin API cost bucket is exhausted"


class ShopifyUnavailable(UpstreamUnavailable):
    slug = "shopify-unavailable"
    title = "Shopify's Admin API is unavailable"
