"""Redis lost under a request (a restart, a failover) answers 503 with Retry-After, a problem
document, never a 500."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.testing import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.problems import EXCEPTION_HANDLERS


@get("/state", sync_to_thread=False)
def state() -> dict[str, str]:
    raise RedisConnectionError("Error UNKNOWN while writing to socket. Connection lost.")


def test_a_lost_redis_connection_is_a_503_problem_with_retry_after() -> None:
    app = Litestar(route_handlers=[state], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app) as client:
        response = client.get("/state")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "2"
    body = response.json()
    assert body["type"].endswith("/service-unavailable")
    assert "Redis" in body["detail"]
