"""Admin GraphQL SDL for fulfillment changes (tracking updates, cancellations), added to
:mod:`sandbox.shopify.schema` (``extend type Mutation`` and the types it needs)."""

FULFILLMENT_SDL = ""
