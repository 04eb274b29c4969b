"""API contract governance: breaking-change checks, release lookup, Spectral linting, deprecation.

Each service's OpenAPI 3.1 document is committed at ``openapi/<layer>/<service>/v<N>.yaml``.
``python -m strata.contracts.check`` compares every one with its last released version,
``python -m strata.contracts.lint`` runs the Spectral ruleset over them, and
:mod:`shared.deprecation` announces a major's retirement on the wire.
"""
