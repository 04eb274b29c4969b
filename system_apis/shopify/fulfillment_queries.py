"""The Admin GraphQL documents of fulfillments: reads of an order's fulfillments and
fulfillment orders, and the three mutations (create, tracking update, cancel)."""

from __future__ import annotations

# Plain lists on Order and Fulfillment: their cost does not grow with ``first``.
FULFILLMENTS_MAX = 50
TRACKING_MAX = 50
LINES_MAX = 100
# Connections: the send context asks for at most this many fulfillment orders and lines each.
FULFILLMENT_ORDERS_MAX = 5
FULFILLMENT_ORDER_LINES_MAX = 25

_FULFILLMENT = f"""
  id name status displayStatus createdAt updatedAt
  order {{ id }}
  location {{ id }}
  trackingInfo(first: {TRACKING_MAX}) {{ number url company }}
  fulfillmentLineItems(first: {LINES_MAX}) {{ nodes {{ quantity lineItem {{ id sku }} }} }}
"""

ORDER_FULFILLMENTS = f"""
query StrataOrderFulfillments($id: ID!) {{
  order(id: $id) {{
    id displayFulfillmentStatus
    fulfillments(first: {FULFILLMENTS_MAX}) {{ {_FULFILLMENT} }}
  }}
}}
"""

FULFILLMENT = f"""
query StrataFulfillment($id: ID!) {{
  fulfillment(id: $id) {{ {_FULFILLMENT} }}
}}
"""

_FULFILLMENT_ORDER = f"""
  id orderId status
  assignedLocation {{ location {{ id }} }}
  lineItems(first: {FULFILLMENT_ORDER_LINES_MAX}) {{
    nodes {{ id remainingQuantity lineItem {{ id }} }}
  }}
"""

SEND_CONTEXT = f"""
query StrataFulfillmentSendContext($id: ID!) {{
  order(id: $id) {{
    id
    fulfillmentOrders(first: {FULFILLMENT_ORDERS_MAX}) {{ nodes {{ {_FULFILLMENT_ORDER} }} }}
    fulfillments(first: {FULFILLMENTS_MAX}) {{ id }}
  }}
}}
"""

FULFILLMENT_ORDER = f"""
query StrataFulfillmentOrder($id: ID!) {{
  fulfillmentOrder(id: $id) {{ {_FULFILLMENT_ORDER} }}
}}
"""

FULFILLMENT_CREATE = f"""
mutation StrataFulfillmentSend($fulfillment: FulfillmentInput!) {{
  fulfillmentCreate(fulfillment: $fulfillment) {{
    fulfillment {{ {_FULFILLMENT} }}
    userErrors {{ field message }}
  }}
}}
"""

TRACKING_UPDATE = f"""
mutation StrataFulfillmentTrackingUpdate(
  $id: ID!, $tracking: FulfillmentTrackingInput!, $notify: Boolean
) {{
  fulfillmentTrackingInfoUpdate(
    fulfillmentId: $id, trackingInfoInput: $tracking, notifyCustomer: $notify
  ) {{
    fulfillment {{ {_FULFILLMENT} }}
    userErrors {{ field message }}
  }}
}}
"""

FULFILLMENT_CANCEL = f"""
mutation StrataFulfillmentCancel($id: ID!) {{
  fulfillmentCancel(id: $id) {{
    fulfillment {{ {_FULFILLMENT} }}
    userErrors {{ field message }}
  }}
}}
"""

ORDER_FULFILLMENT_ORDERS = f"""
query StrataOrderFulfillmentOrders($id: ID!) {{
  order(id: $id) {{
    id displayFulfillmentStatus
    fulfillmentOrders(first: {FULFILLMENT_ORDERS_MAX}) {{
      nodes {{
        id status
        assignedLocation {{ location {{ id }} }}
        lineItems(first: {FULFILLMENT_ORDER_LINES_MAX}) {{
          nodes {{ id totalQuantity remainingQuantity sku lineItem {{ id sku }} }}
        }}
      }}
    }}
  }}
}}
"""
