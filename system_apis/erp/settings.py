"""Settings of one ERP system-API deployment (one ERP instance): one object, read once at
start-up from ``STRATA_ERP_*``.

Nested parts are read under their own variables: ``ratelimit`` from
``STRATA_ERP_RATELIMIT_*``, and ``auth`` (shared by every service) from ``STRATA_AUTH_*``.
``strata serve erp --instance eu`` sets ``STRATA_ERP_INSTANCE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from shared.app import SERVICE_REDIS, service_rate_limits
from shared.auth import AuthSettings
from shared.ratelimit import RateLimitSettings
from shared.settings import load_settings, own_prefix
from system_apis.erp.adapters.tryton_settings import DEFAULT_CALL_TIMEOUT, TrytonSettings

PREFIX = "STRATA_ERP_"
#: The API paths the default rate-limit policy covers.
API_PATHS = "/erp/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ErpSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one ERP deployment reads from its environment (tests build it directly)."""

    instance: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,31}$")] = "eu"
    adapter: Literal["tryton"] = "tryton"
    redis_url: str = DEFAULT_REDIS_URL
    # The Redis at ``redis_url`` is a Redis Cluster (every key of the idempotency store and
    # its locks carries its own hash tag, so a cluster client routes each one whole).
    redis_cluster: bool = False
    tryton_url: str = "http://127.0.0.1:8000/"
    tryton_database: str = "strata_eu"
    tryton_user: str = "admin"
    tryton_password: str = "admin"  # noqa: S105 - the demo ERP's password; set it in production
    warehouse_code: str = "WH"
    # Seconds to wait for a connection to the ERP; past it the ERP is unreachable (503).
    connect_timeout: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    # The one timeout of an ERP call: seconds one call to the ERP may take from start to last
    # byte (connecting included) before the API answers 504.
    read_timeout: Annotated[float, msgspec.Meta(gt=0)] = DEFAULT_CALL_TIMEOUT
    # Inbound rate limits (``STRATA_ERP_RATELIMIT_*``): on this service's Redis unless
    # ``STRATA_ERP_RATELIMIT_REDIS_URL`` names another, and the default policy of
    # :func:`shared.app.service_rate_limits` unless policies are configured.
    ratelimit: RateLimitSettings = msgspec.field(
        default_factory=lambda: RateLimitSettings(redis_url=SERVICE_REDIS)
    )
    # How callers' tokens are checked, shared by every service (``STRATA_AUTH_*``).
    auth: Annotated[AuthSettings, own_prefix("STRATA_AUTH_")] = msgspec.field(
        default_factory=AuthSettings
    )

    def __post_init__(self) -> None:
        # The rate limits' defaults are the service's (its Redis, its API paths), known only
        # once the other fields are.
        msgspec.structs.force_setattr(
            self,
            "ratelimit",
            service_rate_limits(self.ratelimit, redis_url=self.redis_url, api_prefix=API_PATHS),
        )

    def tryton(self) -> TrytonSettings:
        """The Tryton adapter's settings: its one call timeout is ``read_timeout``."""
        return TrytonSettings(
            url=self.tryton_url,
            database=self.tryton_database,
            user=self.tryton_user,
            password=self.tryton_password,
            warehouse_code=self.warehouse_code,
            timeout=self.read_timeout,
        )


def load_erp_settings(environ: Mapping[str, str] | None = None) -> ErpSettings:
    """Read :class:`ErpSettings` once, at start-up; a ``STRATA_ERP_*`` variable that is no
    setting stops start-up (a misspelt variable would otherwise leave its default in force)."""
    import os

    env = dict(os.environ if environ is None else environ)
    # The rate limiter uses the service's Redis unless told otherwise.
    service_redis = env.get(f"{PREFIX}REDIS_URL", DEFAULT_REDIS_URL)
    env.setdefault(f"{PREFIX}RATELIMIT_REDIS_URL", service_redis)
    return load_settings(ErpSettings, env, prefix=PREFIX, reject_unknown=True)
