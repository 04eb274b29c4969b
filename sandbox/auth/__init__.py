"""A local OAuth2 client-credentials issuer: a stand-in for the identity provider."""
