"""The subset of the Admin GraphQL schema Strata uses, in SDL, per API version.

Type and field names follow Shopify's Admin API (``QueryRoot``, ``Mutation``, ``MoneyBag``,
``...Connection`` with ``edges``/``nodes``/``pageInfo``). From ``2026-04`` the
``InventoryQuantityInput.compareQuantity`` and ``InventorySetQuantitiesInput.ignoreCompareQuantity``
fields are gone, as in Shopify's schema.
"""

from __future__ import annotations

from functools import cache

from graphql import GraphQLSchema, build_schema

from sandbox.shopify.publications import PUBLICATIONS_SDL
from sandbox.shopify.sdl_bulk import BULK_SDL
from sandbox.shopify.sdl_fulfillment import FULFILLMENT_SDL

CURRENCIES = "AUD CAD CHF CNY CZK DKK EUR GBP HKD JPY NOK NZD PLN SEK SGD USD"
COUNTRIES = (
    "AT AU BE BG CA CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IT JP LT LU LV MT NL NO NZ "
    "PL PT RO SE SG SI SK US"
)

_CONNECTED = (
    "Order",
    "LineItem",
    "FulfillmentOrder",
    "FulfillmentOrderLineItem",
    "FulfillmentLineItem",
    "RefundLineItem",
    "InventoryItem",
    "InventoryLevel",
    "ProductVariant",
    "Location",
    "Metafield",
    "Product",
    "Publication",
)


def _connections() -> str:
    return "\n".join(
        f"""
type {name}Connection {{
  edges: [{name}Edge!]!
  nodes: [{name}!]!
  pageInfo: PageInfo!
}}
type {name}Edge {{
  cursor: String!
  node: {name}!
}}"""
        for name in _CONNECTED
    )


_PAGE_ARGS = "first: Int, after: String, last: Int, before: String, reverse: Boolean = false"

_SDL = """
directive @idempotent(key: String!) on FIELD

scalar DateTime
scalar Decimal
scalar Money
scalar URL
scalar UnsignedInt64

enum CurrencyCode { %(currencies)s }
enum CountryCode { %(countries)s }
enum OrderDisplayFinancialStatus {
  AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING REFUNDED VOIDED
}
enum OrderDisplayFulfillmentStatus {
  FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED PENDING_FULFILLMENT REQUEST_DECLINED
  RESTOCKED SCHEDULED UNFULFILLED
}
enum OrderCancelReason { CUSTOMER DECLINED FRAUD INVENTORY OTHER STAFF }
enum FulfillmentOrderStatus { CANCELLED CLOSED INCOMPLETE IN_PROGRESS ON_HOLD OPEN SCHEDULED }
enum FulfillmentStatus { CANCELLED ERROR FAILURE SUCCESS OPEN PENDING }
enum RefundLineItemRestockType { CANCEL LEGACY_RESTOCK NO_RESTOCK RETURN }
enum OrderTransactionKind {
  AUTHORIZATION CAPTURE CHANGE EMV_AUTHORIZATION REFUND SALE SUGGESTED_REFUND VOID
}
enum OrderTransactionStatus { AWAITING_RESPONSE ERROR FAILURE PENDING SUCCESS UNKNOWN }
enum OrderSortKeys {
  CREATED_AT CUSTOMER_NAME FINANCIAL_STATUS FULFILLMENT_STATUS ID ORDER_NUMBER PROCESSED_AT
  RELEVANCE TOTAL_PRICE UPDATED_AT
}
enum MetafieldsSetUserErrorCode {
  APP_NOT_AUTHORIZED BLANK INCLUSION INVALID INVALID_COMPARE_DIGEST INVALID_TYPE INVALID_VALUE
  LESS_THAN_OR_EQUAL_TO PRESENT STALE_OBJECT TAKEN TOO_LONG TOO_SHORT
}
enum InventorySetQuantitiesUserErrorCode {
  CHANGE_FROM_QUANTITY_STALE COMPARE_QUANTITY_REQUIRED COMPARE_QUANTITY_STALE
  IDEMPOTENCY_CONCURRENT_REQUEST IDEMPOTENCY_KEY_PARAMETER_MISMATCH
  IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED INVALID_INVENTORY_ITEM INVALID_LOCATION INVALID_NAME
  INVALID_QUANTITY_NEGATIVE INVALID_QUANTITY_TOO_HIGH INVALID_QUANTITY_TOO_LOW INVALID_REASON
  INVALID_REFERENCE_DOCUMENT ITEM_NOT_STOCKED_AT_LOCATION
  NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR NON_MUTABLE_INVENTORY_ITEM
}
enum InventoryAdjustQuantitiesUserErrorCode {
  ADJUST_QUANTITIES_FAILED IDEMPOTENCY_CONCURRENT_REQUEST IDEMPOTENCY_KEY_PARAMETER_MISMATCH
  INTERNAL_LEDGER_DOCUMENT INVALID_AVAILABLE_DOCUMENT INVALID_INVENTORY_ITEM
  INVALID_LEDGER_DOCUMENT INVALID_LOCATION INVALID_QUANTITY_DOCUMENT INVALID_QUANTITY_NAME
  INVALID_QUANTITY_NEGATIVE INVALID_QUANTITY_TOO_HIGH INVALID_QUANTITY_TOO_LOW INVALID_REASON
  INVALID_REFERENCE_DOCUMENT ITEM_NOT_STOCKED_AT_LOCATION MAX_ONE_LEDGER_DOCUMENT
  NON_MUTABLE_INVENTORY_ITEM
}

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}
type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }

type UserError { field: [String!] message: String! }
type MetafieldsSetUserError {
  field: [String!] message: String! code: MetafieldsSetUserErrorCode elementIndex: Int
}
type InventorySetQuantitiesUserError {
  field: [String!] message: String! code: InventorySetQuantitiesUserErrorCode
}
type InventoryAdjustQuantitiesUserError {
  field: [String!] message: String! code: InventoryAdjustQuantitiesUserErrorCode
}

type Shop {
  id: ID!
  name: String!
  myshopifyDomain: String!
  currencyCode: CurrencyCode!
}

type MailingAddress {
  id: ID!
  firstName: String
  lastName: String
  name: String
  company: String
  address1: String
  address2: String
  city: String
  province: String
  provinceCode: String
  zip: String
  country: String
  countryCode: CountryCode
  countryCodeV2: CountryCode
  phone: String
}

type Customer {
  id: ID!
  legacyResourceId: UnsignedInt64!
  email: String
  firstName: String
  lastName: String
  displayName: String!
  phone: String
  numberOfOrders: UnsignedInt64!
  createdAt: DateTime!
}

type Location {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  isActive: Boolean!
  fulfillsOnlineOrders: Boolean!
  address: LocationAddress!
  inventoryLevel(inventoryItemId: ID!): InventoryLevel
}
type LocationAddress {
  address1: String city: String zip: String country: String countryCode: String
}

enum ProductStatus { ACTIVE ARCHIVED DRAFT UNLISTED }
enum ProductOperationStatus { ACTIVE COMPLETE CREATED }
enum ProductSortKeys { CREATED_AT ID INVENTORY_TOTAL PRODUCT_TYPE TITLE UPDATED_AT VENDOR }
enum CountPrecision { AT_LEAST EXACT }
enum WeightUnit { GRAMS KILOGRAMS OUNCES POUNDS }
enum ProductSetUserErrorCode {
  DUPLICATED_OPTION_NAME DUPLICATED_OPTION_VALUE GENERIC_ERROR HANDLE_NOT_UNIQUE ID_NOT_ALLOWED
  INPUT_MISMATCH INVALID_INPUT INVALID_PRODUCT INVALID_VARIANT MISSING_FIELD_REQUIRED NOT_FOUND
  OPTIONS_OVER_LIMIT OPTION_DOES_NOT_EXIST OPTION_VALUES_MISSING OPTION_VALUES_OVER_LIMIT
  OPTION_VALUE_DOES_NOT_EXIST PRODUCT_DOES_NOT_EXIST PRODUCT_OPTIONS_INPUT_MISSING
  PRODUCT_VARIANT_DOES_NOT_EXIST VARIANTS_INPUT_MISSING VARIANTS_OVER_LIMIT
}
enum ProductChangeStatusUserErrorCode { PRODUCT_NOT_FOUND }

type Count { count: Int! precision: CountPrecision! }
type Weight { unit: WeightUnit! value: Float! }
type InventoryItemMeasurement { id: ID! weight: Weight }
type ProductOptionValue { id: ID! name: String! hasVariants: Boolean! }
type ProductOption {
  id: ID!
  name: String!
  position: Int!
  values: [String!]!
  optionValues: [ProductOptionValue!]!
}
type SelectedOption { name: String! value: String! }

type Product {
  id: ID!
  legacyResourceId: UnsignedInt64!
  title: String!
  vendor: String!
  handle: String!
  status: ProductStatus!
  descriptionHtml: String!
  productType: String!
  tags: [String!]!
  createdAt: DateTime!
  updatedAt: DateTime!
  options(first: Int): [ProductOption!]!
  variants(%(page)s): ProductVariantConnection!
  variantsCount: Count
}

type ProductSetUserError { field: [String!] message: String! code: ProductSetUserErrorCode }
type ProductChangeStatusUserError {
  field: [String!] message: String! code: ProductChangeStatusUserErrorCode
}
type ProductSetOperation {
  id: ID!
  status: ProductOperationStatus!
  product: Product
  userErrors: [ProductSetUserError!]!
}

type ProductVariant {
  id: ID!
  legacyResourceId: UnsignedInt64!
  sku: String
  title: String!
  displayName: String!
  price: Money!
  compareAtPrice: Money
  barcode: String
  position: Int!
  taxable: Boolean!
  selectedOptions: [SelectedOption!]!
  createdAt: DateTime!
  updatedAt: DateTime!
  product: Product!
  inventoryItem: InventoryItem!
  inventoryQuantity: Int
}

type InventoryItem {
  id: ID!
  legacyResourceId: UnsignedInt64!
  sku: String
  tracked: Boolean!
  measurement: InventoryItemMeasurement!
  variant: ProductVariant!
  inventoryLevel(locationId: ID!): InventoryLevel
  inventoryLevels(%(page)s): InventoryLevelConnection!
}

type InventoryQuantity { id: ID! name: String! quantity: Int! updatedAt: DateTime }

type InventoryLevel {
  id: ID!
  item: InventoryItem!
  location: Location!
  quantities(names: [String!]!): [InventoryQuantity!]!
  updatedAt: DateTime!
}

type InventoryChange {
  name: String!
  delta: Int!
  quantityAfterChange: Int
  item: InventoryItem
  location: Location
  ledgerDocumentUri: String
}

type InventoryAdjustmentGroup {
  id: ID!
  createdAt: DateTime!
  reason: String!
  referenceDocumentUri: String
  changes(
    inventoryItemIds: [ID!], locationIds: [ID!], quantityNames: [String!]
  ): [InventoryChange!]!
}

type Metafield {
  id: ID!
  legacyResourceId: UnsignedInt64!
  namespace: String!
  key: String!
  type: String!
  value: String!
  ownerType: String!
  compareDigest: String!
  createdAt: DateTime!
  updatedAt: DateTime!
}

type LineItem {
  id: ID!
  name: String!
  title: String!
  sku: String
  vendor: String
  quantity: Int!
  currentQuantity: Int!
  unfulfilledQuantity: Int!
  refundableQuantity: Int!
  requiresShipping: Boolean!
  originalUnitPriceSet: MoneyBag!
  discountedUnitPriceSet: MoneyBag!
  originalTotalSet: MoneyBag!
  variant: ProductVariant
  product: Product
}

type FulfillmentOrderAssignedLocation { name: String! countryCode: CountryCode location: Location }

type FulfillmentOrderLineItem {
  id: ID!
  totalQuantity: Int!
  remainingQuantity: Int!
  sku: String
  lineItem: LineItem!
  inventoryItemId: ID
}

type FulfillmentOrder {
  id: ID!
  status: FulfillmentOrderStatus!
  createdAt: DateTime!
  orderId: ID!
  assignedLocation: FulfillmentOrderAssignedLocation!
  lineItems(%(page)s): FulfillmentOrderLineItemConnection!
}

type FulfillmentTrackingInfo { number: String url: URL company: String }

type FulfillmentLineItem { id: ID! quantity: Int lineItem: LineItem! }

type Fulfillment {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  status: FulfillmentStatus!
  createdAt: DateTime!
  updatedAt: DateTime!
  location: Location
  order: Order!
  trackingInfo(first: Int): [FulfillmentTrackingInfo!]!
  fulfillmentLineItems(%(page)s): FulfillmentLineItemConnection!
  totalQuantity: Int!
}

type OrderTransaction {
  id: ID!
  kind: OrderTransactionKind!
  status: OrderTransactionStatus!
  gateway: String
  amountSet: MoneyBag!
  createdAt: DateTime!
}

type RefundLineItem {
  id: ID
  quantity: Int!
  restockType: RefundLineItemRestockType!
  restocked: Boolean!
  location: Location
  lineItem: LineItem!
  subtotalSet: MoneyBag!
}

type Refund {
  id: ID!
  legacyResourceId: UnsignedInt64!
  note: String
  createdAt: DateTime
  order: Order!
  totalRefundedSet: MoneyBag!
  refundLineItems(%(page)s): RefundLineItemConnection!
  transactions(first: Int): [OrderTransaction!]!
}

type Order {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  email: String
  phone: String
  note: String
  tags: [String!]!
  createdAt: DateTime!
  updatedAt: DateTime!
  processedAt: DateTime!
  cancelledAt: DateTime
  cancelReason: OrderCancelReason
  closed: Boolean!
  closedAt: DateTime
  confirmed: Boolean!
  test: Boolean!
  sourceName: String
  currencyCode: CurrencyCode!
  presentmentCurrencyCode: CurrencyCode!
  displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  fullyPaid: Boolean!
  taxesIncluded: Boolean!
  subtotalPriceSet: MoneyBag
  totalPriceSet: MoneyBag!
  totalTaxSet: MoneyBag
  totalShippingPriceSet: MoneyBag!
  totalRefundedSet: MoneyBag!
  currentTotalPriceSet: MoneyBag!
  customer: Customer
  shippingAddress: MailingAddress
  billingAddress: MailingAddress
  lineItems(%(page)s): LineItemConnection!
  fulfillmentOrders(%(page)s, displayable: Boolean = false): FulfillmentOrderConnection!
  fulfillments(first: Int): [Fulfillment!]!
  refunds(first: Int): [Refund!]!
  transactions(first: Int): [OrderTransaction!]!
  metafield(namespace: String, key: String!): Metafield
  metafields(%(page)s, namespace: String, keys: [String!]): MetafieldConnection!
}

%(connections)s

type QueryRoot {
  shop: Shop!
  order(id: ID!): Order
  orders(%(page)s, query: String, sortKey: OrderSortKeys = ID): OrderConnection!
  customer(id: ID!): Customer
  location(id: ID): Location
  locations(%(page)s, query: String, includeInactive: Boolean = false): LocationConnection!
  inventoryItem(id: ID!): InventoryItem
  inventoryItems(%(page)s, query: String): InventoryItemConnection!
  inventoryLevel(id: ID!): InventoryLevel
  productVariant(id: ID!): ProductVariant
  productVariants(%(page)s, query: String): ProductVariantConnection!
  product(id: ID!): Product
  productByIdentifier(identifier: ProductIdentifierInput!): Product
  products(%(page)s, query: String, sortKey: ProductSortKeys = ID): ProductConnection!
  productOperation(id: ID!): ProductSetOperation
  fulfillmentOrder(id: ID!): FulfillmentOrder
  fulfillment(id: ID!): Fulfillment
  refund(id: ID!): Refund
}

type TagsAddPayload { node: Order userErrors: [UserError!]! }
type TagsRemovePayload { node: Order userErrors: [UserError!]! }
type MetafieldsSetPayload { metafields: [Metafield!] userErrors: [MetafieldsSetUserError!]! }
type InventorySetQuantitiesPayload {
  inventoryAdjustmentGroup: InventoryAdjustmentGroup
  userErrors: [InventorySetQuantitiesUserError!]!
}
type InventoryAdjustQuantitiesPayload {
  inventoryAdjustmentGroup: InventoryAdjustmentGroup
  userErrors: [InventoryAdjustQuantitiesUserError!]!
}
type ProductSetPayload {
  product: Product
  productSetOperation: ProductSetOperation
  userErrors: [ProductSetUserError!]!
}
type ProductChangeStatusPayload {
  product: Product
  userErrors: [ProductChangeStatusUserError!]!
}
type FulfillmentCreatePayload { fulfillment: Fulfillment userErrors: [UserError!]! }
type RefundCreatePayload { refund: Refund order: Order userErrors: [UserError!]! }

input MetafieldsSetInput {
  ownerId: ID!
  namespace: String
  key: String!
  value: String!
  type: String
  compareDigest: String
}

input InventoryQuantityInput {
  inventoryItemId: ID!
  locationId: ID!
  quantity: Int!
  %(compare_quantity)s
  changeFromQuantity: Int
}

input InventorySetQuantitiesInput {
  name: String!
  reason: String!
  referenceDocumentUri: String
  quantities: [InventoryQuantityInput!]!
  %(ignore_compare)s
}

input InventoryChangeInput {
  delta: Int!
  inventoryItemId: ID!
  locationId: ID!
  ledgerDocumentUri: String
}

input InventoryAdjustQuantitiesInput {
  name: String!
  reason: String!
  referenceDocumentUri: String
  changes: [InventoryChangeInput!]!
}

input ProductIdentifierInput { id: ID handle: String }
input ProductSetIdentifiers { id: ID handle: String }
input OptionValueSetInput { id: ID name: String }
input OptionSetInput { id: ID name: String position: Int values: [OptionValueSetInput!] }
input VariantOptionValueInput { id: ID name: String optionId: ID optionName: String }
input WeightInput { value: Float! unit: WeightUnit! }
input InventoryItemMeasurementInput { weight: WeightInput }
input InventoryItemInput { sku: String tracked: Boolean measurement: InventoryItemMeasurementInput }
input ProductVariantSetInput {
  id: ID
  sku: String
  barcode: String
  price: Money
  compareAtPrice: Money
  position: Int
  taxable: Boolean
  inventoryItem: InventoryItemInput
  optionValues: [VariantOptionValueInput!]!
}
input ProductSetInput {
  id: ID
  handle: String
  title: String
  descriptionHtml: String
  vendor: String
  productType: String
  status: ProductStatus
  tags: [String!]
  productOptions: [OptionSetInput!]
  variants: [ProductVariantSetInput!]
}

input FulfillmentOrderLineItemInput { id: ID! quantity: Int! }
input FulfillmentOrderLineItemsInput {
  fulfillmentOrderId: ID!
  fulfillmentOrderLineItems: [FulfillmentOrderLineItemInput!]
}
input FulfillmentTrackingInput {
  number: String
  numbers: [String!]
  url: URL
  urls: [URL!]
  company: String
}
input FulfillmentOriginAddressInput {
  address1: String address2: String city: String zip: String provinceCode: String
  countryCode: String!
}
input FulfillmentInput {
  lineItemsByFulfillmentOrder: [FulfillmentOrderLineItemsInput!]!
  trackingInfo: FulfillmentTrackingInput
  notifyCustomer: Boolean = false
  originAddress: FulfillmentOriginAddressInput
}

input RefundLineItemInput {
  lineItemId: ID!
  quantity: Int!
  restockType: RefundLineItemRestockType = RETURN
  locationId: ID
}
input ShippingRefundInput { amount: Money fullRefund: Boolean }
input OrderTransactionInput {
  amount: Money!
  gateway: String!
  kind: OrderTransactionKind!
  orderId: ID!
  parentId: ID
}
input RefundInput {
  orderId: ID!
  note: String
  notify: Boolean
  currency: CurrencyCode
  refundLineItems: [RefundLineItemInput!]
  shipping: ShippingRefundInput
  transactions: [OrderTransactionInput!]
}

type Mutation {
  tagsAdd(id: ID!, tags: [String!]!): TagsAddPayload
  tagsRemove(id: ID!, tags: [String!]!): TagsRemovePayload
  metafieldsSet(metafields: [MetafieldsSetInput!]!): MetafieldsSetPayload
  inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload
  inventoryAdjustQuantities(
    input: InventoryAdjustQuantitiesInput!
  ): InventoryAdjustQuantitiesPayload
  fulfillmentCreate(fulfillment: FulfillmentInput!, message: String): FulfillmentCreatePayload
  refundCreate(input: RefundInput!): RefundCreatePayload
  productSet(
    input: ProductSetInput!, synchronous: Boolean = true, identifier: ProductSetIdentifiers
  ): ProductSetPayload
  productChangeStatus(productId: ID!, status: ProductStatus!): ProductChangeStatusPayload
}

schema { query: QueryRoot mutation: Mutation }
"""


def sdl(*, compare_and_swap_2026_04: bool) -> str:
    """The schema's SDL, with or without the pre-2026-04 compare-quantity fields."""
    return (_SDL + BULK_SDL + FULFILLMENT_SDL + PUBLICATIONS_SDL) % {
        "currencies": CURRENCIES,
        "countries": COUNTRIES,
        "page": _PAGE_ARGS,
        "connections": _connections(),
        "compare_quantity": "" if compare_and_swap_2026_04 else "compareQuantity: Int",
        "ignore_compare": ""
        if compare_and_swap_2026_04
        else "ignoreCompareQuantity: Boolean = false",
    }


@cache
def admin_schema(compare_and_swap_2026_04: bool) -> GraphQLSchema:
    """The built (and cached) schema for versions before or from 2026-04."""
    return build_schema(sdl(compare_and_swap_2026_04=compare_and_swap_2026_04))
