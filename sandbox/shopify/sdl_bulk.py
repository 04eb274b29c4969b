"""Admin GraphQL SDL for bulk operations and staged uploads, added to :mod:`sandbox.shopify.schema`
(``extend type QueryRoot``/``extend type Mutation`` and the types they need)."""

BULK_SDL = ""
