"""Settings of one ERP system-API deployment (one ERP instance), from ``STRATA_ERP_*``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from shared.settings import load_settings

PREFIX = "STRATA_ERP_"


class ErpSettings(msgspec.Struct, frozen=True, kw_only=True):
    instance: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,31}$")] = "eu"
    adapter: Literal["tryton"] = "tryton"
    redis_url: str = "redis://127.0.0.1:6379/0"
    tryton_url: str = "http://127.0.0.1:8000/"
    tryton_database: str = "strata_eu"
    tryton_user: str = "admin"
    tryton_password: str = "admin"  # noqa: S105 - the demo ERP's password; set it in production
    warehouse_code: str = "WH"
    connect_timeout: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    read_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    max_page_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


def load_erp_settings(environ: Mapping[str, str] | None = None) -> ErpSettings:
    return load_settings(ErpSettings, environ, prefix=PREFIX)
