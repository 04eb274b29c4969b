"""The storefront experience API: what Shopify custom apps show customers."""
