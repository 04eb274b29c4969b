"""Request bodies: the contract marks each one required, so a request without one is a 400."""

from __future__ import annotations

import msgspec
from litestar import Litestar, post
from litestar.params import JSONBody
from litestar.testing import TestClient

from shared.problems import EXCEPTION_HANDLERS
from shared.strict_bodies import reject_lenient_bodies


class Edit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    body: dict[str, str] | None = None


@post("/replay", status_code=202)
async def replay(data: JSONBody[Edit | None] = None) -> dict[str, bool]:
    return {"edited": data is not None and data.body is not None}


def app() -> Litestar:
    return Litestar(
        [replay], before_request=reject_lenient_bodies, exception_handlers=EXCEPTION_HANDLERS
    )


def test_a_missing_body_is_refused_with_a_problem() -> None:
    with TestClient(app()) as client:
        answer = client.post("/replay")
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    [error] = answer.json()["errors"]
    assert error["key"] == "body"
    assert "request body is required" in error["message"]


def test_null_and_an_object_are_accepted() -> None:
    with TestClient(app()) as client:
        empty = client.post(
            "/replay", content=b"null", headers={"content-type": "application/json"}
        )
        edited = client.post("/replay", json={"body": {"email": "a@example.com"}})
    assert (empty.status_code, empty.json()) == (202, {"edited": False})
    assert (edited.status_code, edited.json()) == (202, {"edited": True})
