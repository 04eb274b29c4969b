"""The Shopify system API: webhook ingress into Redis Streams and the Admin GraphQL client."""
