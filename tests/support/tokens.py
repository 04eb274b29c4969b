"""Access tokens for tests, signed by a throwaway key set the services are told to trust."""

from __future__ import annotations

from typing import Any

from sandbox.auth.issuer import SigningKeys, mint_token
from shared.auth import AuthSettings
from shared.auth.clients import ClientRegistration

ISSUER = "https://issuer.test"
AUDIENCE = "strata"


class TokenMint:
    def __init__(self) -> None:
        self.keys = SigningKeys.generate()

    def settings(self, **overrides: Any) -> AuthSettings:
        return AuthSettings(
            issuer=ISSUER, audience=AUDIENCE, jwks=self.keys.public_jwks(), **overrides
        )

    def token(self, *scopes: str, client_id: str = "test-client", ttl: int = 600) -> str:
        client = ClientRegistration(
            client_id=client_id, secret_hash="unused", scopes=frozenset(scopes)
        )
        return mint_token(self.keys, client, scopes, AUDIENCE, ttl, issuer=ISSUER)

    def headers(self, *scopes: str, client_id: str = "test-client") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*scopes, client_id=client_id)}"}
