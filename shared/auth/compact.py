"""Strict parsing of JWS compact tokens before any key is touched (RFC 7515, RFC 8725).

The header and claims are decoded here once, unverified, so that a token can be routed to the
verifier that owns its issuer; nothing read here is trusted until a verifier has checked the
signature over ``signing_input``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from typing import Any

import msgspec

from shared.auth.challenges import InvalidToken

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
# A kid is looked up, logged and maybe put in a URL by someone: keep it a plain identifier.
_KID = re.compile(r"[A-Za-z0-9_.:+=-]{1,128}")
# Headers that would let the token choose its own verification key or change the JWS rules.
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit", "b64", "zip", "enc")
_json_object = msgspec.json.Decoder(dict[str, Any])


class CompactToken:
    """A JWS compact token split and decoded, not yet verified."""

    __slots__ = ("claims", "header", "raw", "signature", "signing_input")

    def __init__(
        self,
        raw: str,
        header: dict[str, Any],
        claims: dict[str, Any],
        signing_input: bytes,
        signature: bytes,
    ) -> None:
        self.raw = raw
        self.header = header
        self.claims = claims
        self.signing_input = signing_input
        self.signature = signature

    @property
    def alg(self) -> str:
        alg = self.header.get("alg")
        return alg if isinstance(alg, str) else ""

    @property
    def issuer(self) -> str:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else ""


def _b64url_decode(segment: str) -> bytes:
    if not _B64URL.fullmatch(segment):
        raise InvalidToken("The token is not base64url-encoded")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("The token is not base64url-encoded") from None


def parse_compact(raw: str, *, max_bytes: int) -> CompactToken:
    """Split and decode ``raw``; reject oversized, malformed or unsigned tokens."""
    if len(raw) > max_bytes:
        raise InvalidToken(f"The token is larger than {max_bytes} bytes")
    parts = raw.split(".")
    if len(parts) != 3:
        raise InvalidToken("The token is not a signed JWT (JWS compact serialization)")
    header_b64, claims_b64, signature_b64 = parts
    if not signature_b64:
        raise InvalidToken("The token is not signed")
    try:
        header = _json_object.decode(_b64url_decode(header_b64))
        claims = _json_object.decode(_b64url_decode(claims_b64))
    except msgspec.DecodeError:
        raise InvalidToken("The token header or claims are not a JSON object") from None
    signature = _b64url_decode(signature_b64)
    signing_input = f"{header_b64}.{claims_b64}".encode("ascii")
    return CompactToken(raw, header, claims, signing_input, signature)


def check_header(
    token: CompactToken,
    *,
    algorithms: Collection[str],
    types: Collection[str] | None = None,
    require_kid: bool = False,
) -> None:
    """Check ``alg`` against an allow-list, ``typ`` (case-insensitive), ``kid`` and banned headers.

    ``types`` holds lower-case accepted values of ``typ`` (``""`` admits a token without one);
    ``None`` accepts any.
    """
    header = token.header
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise InvalidToken("The token's signing algorithm is not accepted")
    for name in _FORBIDDEN_HEADERS:
        if name in header:
            raise InvalidToken(f"The token header must not carry '{name}'")
    if types is not None:
        typ = header.get("typ", "")
        if not isinstance(typ, str) or typ.lower() not in types:
            raise InvalidToken("The token type (typ) is not accepted here")
    kid = header.get("kid")
    if kid is None:
        if require_kid:
            raise InvalidToken("The token header has no key id (kid)")
    elif not isinstance(kid, str) or not _KID.fullmatch(kid) or ".." in kid:
        raise InvalidToken("The token's key id (kid) is not a plain identifier")
