"""Fulfillment: ERP shipments to Shopify fulfillments, and every fulfillment of an order."""
