"""Admin GraphQL SDL for fulfillment changes (tracking updates, cancellations), added to
:mod:`sandbox.shopify.schema` (``extend type Mutation`` and the types it needs).

The text is %-formatted with the base SDL: ``%(page)s`` is the connection arguments.
"""

FULFILLMENT_SDL = """
enum FulfillmentDisplayStatus {
  ATTEMPTED_DELIVERY CANCELED CONFIRMED DELIVERED FAILURE FULFILLED IN_TRANSIT LABEL_PRINTED
  LABEL_PURCHASED LABEL_VOIDED MARKED_AS_FULFILLED NOT_DELIVERED OUT_FOR_DELIVERY PICKED_UP
  READY_FOR_PICKUP SUBMITTED
}

extend type Fulfillment {
  displayStatus: FulfillmentDisplayStatus
  deliveredAt: DateTime
  inTransitAt: DateTime
  estimatedDeliveryAt: DateTime
  requiresShipping: Boolean!
  fulfillmentOrders(%(page)s): FulfillmentOrderConnection!
}

type FulfillmentTrackingInfoUpdatePayload { fulfillment: Fulfillment userErrors: [UserError!]! }
type FulfillmentCancelPayload { fulfillment: Fulfillment userErrors: [UserError!]! }

extend type Mutation {
  fulfillmentTrackingInfoUpdate(
    fulfillmentId: ID!, trackingInfoInput: FulfillmentTrackingInput!, notifyCustomer: Boolean
  ): FulfillmentTrackingInfoUpdatePayload
  fulfillmentCancel(id: ID!): FulfillmentCancelPayload
}
"""
