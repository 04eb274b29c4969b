"""The Admin GraphQL documents the Shopify system API sends, with the sizes they ask for."""

from __future__ import annotations

_MONEY = "shopMoney { amount currencyCode }"
# Plain lists (not connections) on Order: their cost does not grow with ``first``.
FULFILLMENTS_MAX = 20
TRACKING_MAX = 10
REFUNDS_MAX = 50
_FULFILLMENT = (
    f"id name status createdAt trackingInfo(first: {TRACKING_MAX}) {{ number url company }}"
)
_REFUND = f"id createdAt note totalRefundedSet {{ {_MONEY} }}"

ORDER = f"""
query StrataOrder($id: ID!) {{
  order(id: $id) {{
    id name email tags createdAt updatedAt cancelledAt
    displayFinancialStatus displayFulfillmentStatus currencyCode
    totalPriceSet {{ {_MONEY} }}
    customer {{ firstName lastName }}
    shippingAddress {{ name address1 address2 city zip countryCodeV2 }}
    lineItems(first: 50) {{
      nodes {{
        id sku title quantity currentQuantity unfulfilledQuantity refundableQuantity
        originalUnitPriceSet {{ {_MONEY} }}
      }}
    }}
    fulfillmentOrders(first: 5) {{
      nodes {{
        id status
        assignedLocation {{ name location {{ id }} }}
        lineItems(first: 25) {{
          nodes {{ id totalQuantity remainingQuantity sku lineItem {{ id }} }}
        }}
      }}
    }}
    fulfillments(first: {FULFILLMENTS_MAX}) {{ {_FULFILLMENT} }}
    metafields(first: 10) {{ nodes {{ namespace key type value }} }}
  }}
}}
"""

REFUNDS = f"""
query StrataOrderRefunds($id: ID!) {{
  order(id: $id) {{
    id
    refunds(first: {REFUNDS_MAX}) {{ {_REFUND} }}
  }}
}}
"""

ORDERS = f"""
query StrataOrders($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    nodes {{
      id name createdAt updatedAt cancelledAt displayFinancialStatus displayFulfillmentStatus
      totalPriceSet {{ {_MONEY} }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""

TAGS_ADD = """
mutation StrataTagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { ... on Order { id tags } }
    userErrors { field message }
  }
}
"""

METAFIELDS_SET = """
mutation StrataMetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { namespace key type value }
    userErrors { field message code }
  }
}
"""

_CHANGES = """
inventoryAdjustmentGroup {
  id
  changes { name delta quantityAfterChange item { id } location { id } }
}
"""

INVENTORY_SET = f"""
mutation StrataInventorySet($input: InventorySetQuantitiesInput!, $key: String!) {{
  inventorySetQuantities(input: $input) @idempotent(key: $key) {{
    {_CHANGES}
    userErrors {{ field message code }}
  }}
}}
"""

INVENTORY_ADJUST = f"""
mutation StrataInventoryAdjust($input: InventoryAdjustQuantitiesInput!, $key: String!) {{
  inventoryAdjustQuantities(input: $input) @idempotent(key: $key) {{
    {_CHANGES}
    userErrors {{ field message code }}
  }}
}}
"""

FULFILLMENT_CREATE = f"""
mutation StrataFulfillmentCreate($fulfillment: FulfillmentInput!) {{
  fulfillmentCreate(fulfillment: $fulfillment) {{
    fulfillment {{ {_FULFILLMENT} }}
    userErrors {{ field message }}
  }}
}}
"""

REFUND_CREATE = f"""
mutation StrataRefundCreate($input: RefundInput!, $key: String!) {{
  refundCreate(input: $input) @idempotent(key: $key) {{
    refund {{ {_REFUND} }}
    userErrors {{ field message }}
  }}
}}
"""

# -- products ------------------------------------------------------------------------------
# 100 variants a page keeps a product read (about 5 points a variant) under the single-query
# limit of 1,000 points; longer products are read on with PRODUCT_VARIANTS.
VARIANTS_PAGE = 100
_VARIANT = """
id sku title price compareAtPrice barcode position
selectedOptions { name value }
inventoryItem { id measurement { weight { unit value } } }
"""
_VARIANTS = f"""
variants(first: {VARIANTS_PAGE}, after: $after) {{
  nodes {{ {_VARIANT} }}
  pageInfo {{ hasNextPage endCursor }}
}}
"""
_PRODUCT = f"""
id handle title status vendor productType tags descriptionHtml updatedAt
options(first: 3) {{ name values }}
{_VARIANTS}
"""

PRODUCT = f"""
query StrataProduct($id: ID!, $after: String) {{
  product(id: $id) {{ {_PRODUCT} }}
}}
"""

PRODUCT_BY_HANDLE = f"""
query StrataProductByHandle($handle: String!, $after: String) {{
  productByIdentifier(identifier: {{handle: $handle}}) {{ {_PRODUCT} }}
}}
"""

PRODUCT_VARIANTS = f"""
query StrataProductVariants($id: ID!, $after: String) {{
  product(id: $id) {{ id {_VARIANTS} }}
}}
"""

VARIANTS_BY_SKU = """
query StrataVariantsBySku($query: String!) {
  productVariants(first: 50, query: $query) {
    nodes { id sku product { id handle status } inventoryItem { id } }
  }
}
"""

PRODUCT_SET = f"""
mutation StrataProductSet(
  $input: ProductSetInput!, $identifier: ProductSetIdentifiers, $after: String
) {{
  productSet(input: $input, identifier: $identifier, synchronous: true) {{
    product {{ {_PRODUCT} }}
    userErrors {{ field message code }}
  }}
}}
"""

PRODUCT_CHANGE_STATUS = f"""
mutation StrataProductChangeStatus($id: ID!, $status: ProductStatus!, $after: String) {{
  productChangeStatus(productId: $id, status: $status) {{
    product {{ {_PRODUCT} }}
    userErrors {{ field message code }}
  }}
}}
"""

PUBLICATIONS = """
query StrataPublications($after: String) {
  publications(first: 250, after: $after) {
    nodes { id name }
    pageInfo { hasNextPage endCursor }
  }
}
"""

PUBLISHABLE_PUBLISH = """
mutation StrataPublishablePublish($id: ID!, $input: [PublicationInput!]!) {
  publishablePublish(id: $id, input: $input) {
    userErrors { field message }
  }
}
"""

# Shopify's limit of products one publicationUpdate adds.
PUBLICATION_UPDATE_MAX = 50
PUBLICATION_UPDATE = """
mutation StrataPublicationUpdate($id: ID!, $input: PublicationUpdateInput!) {
  publicationUpdate(id: $id, input: $input) {
    userErrors { field message code }
  }
}
"""

VARIANTS_ALL = """
query StrataVariantsPage($first: Int!, $after: String) {
  productVariants(first: $first, after: $after) {
    nodes { id sku product { id handle status } inventoryItem { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# -- bulk operations ------------------------------------------------------------------------
# The mutation each line of a bulk productSet runs (a line's variables: input, identifier).
# Its variants page is Shopify's largest (250); longer products are read on afterwards.
BULK_VARIANTS_PAGE = 250
BULK_PRODUCT_SET = f"""
mutation StrataBulkProductSet($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {{
  productSet(input: $input, identifier: $identifier, synchronous: true) {{
    product {{
      id handle status
      variants(first: {BULK_VARIANTS_PAGE}) {{
        nodes {{ id sku inventoryItem {{ id }} }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }}
    userErrors {{ field message code }}
  }}
}}
"""

BULK_VARIANTS_AFTER = f"""
query StrataBulkVariants($id: ID!, $after: String) {{
  product(id: $id) {{
    id
    variants(first: {BULK_VARIANTS_PAGE}, after: $after) {{
      nodes {{ id sku inventoryItem {{ id }} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""

STAGED_UPLOADS_CREATE = """
mutation StrataStagedUpload($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}
"""

_BULK_OPERATION = "id status errorCode createdAt completedAt objectCount url partialDataUrl"

BULK_RUN_MUTATION = f"""
mutation StrataBulkRun($mutation: String!, $path: String!, $client: String) {{
  bulkOperationRunMutation(
    mutation: $mutation, stagedUploadPath: $path, clientIdentifier: $client
  ) {{
    bulkOperation {{ {_BULK_OPERATION} }}
    userErrors {{ field message code }}
  }}
}}
"""

BULK_OPERATION = f"""
query StrataBulkOperation($id: ID!) {{
  node(id: $id) {{ ... on BulkOperation {{ {_BULK_OPERATION} }} }}
}}
"""

CURRENT_BULK_MUTATION = f"""
query StrataCurrentBulkMutation {{
  currentBulkOperation(type: MUTATION) {{ {_BULK_OPERATION} }}
}}
"""
