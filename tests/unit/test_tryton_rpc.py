"""Tryton JSON-RPC value encoding, fault mapping and session handling (no server needed)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.problems import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from system_apis.erp.adapters.tryton_rpc import (
    TrytonRpc,
    decode_body,
    encode_request,
    fault_error,
    from_tryton,
    read_fault,
    to_tryton,
)
from system_apis.erp.port import ErpRejected


def test_values_are_encoded_as_tryton_classes() -> None:
    sent = to_tryton(
        {
            "price": Decimal("19.90"),
            "day": dt.date(2025, 3, 9),
            "at": dt.datetime(2025, 3, 9, 14, 5, 7, 12),
            "time": dt.time(8, 30),
            "wait": dt.timedelta(minutes=2),
            "blob": b"\x00\xffhi",
            "ids": (1, 2),
            "flags": [True, None, 1.5, "x"],
        }
    )
    assert sent["price"] == {"__class__": "Decimal", "decimal": "19.90"}
    assert sent["day"] == {"__class__": "date", "year": 2025, "month": 3, "day": 9}
    assert sent["at"] == {
        "__class__": "datetime",
        "year": 2025,
        "month": 3,
        "day": 9,
        "hour": 14,
        "minute": 5,
        "second": 7,
        "microsecond": 12,
    }
    assert sent["time"] == {
        "__class__": "time",
        "hour": 8,
        "minute": 30,
        "second": 0,
        "microsecond": 0,
    }
    assert sent["wait"] == {"__class__": "timedelta", "seconds": 120.0}
    assert sent["blob"] == {
        "__class__": "bytes",
        "base64": base64.b64encode(b"\x00\xffhi").decode(),
    }
    assert sent["ids"] == [1, 2]
    assert sent["flags"] == [True, None, 1.5, "x"]


def test_aware_datetimes_travel_as_naive_utc() -> None:
    cest = dt.timezone(dt.timedelta(hours=2))
    sent = to_tryton(dt.datetime(2025, 6, 1, 10, 0, tzinfo=cest))
    assert (sent["hour"], sent["day"]) == (8, 1)


def test_decimal_keeps_its_exponent() -> None:
    assert to_tryton(Decimal("1E+2")) == {"__class__": "Decimal", "decimal": "1E+2"}
    assert from_tryton({"__class__": "Decimal", "decimal": "1E+2"}) == Decimal(100)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("0.0001"),
        Decimal("-12.50"),
        dt.date(1999, 12, 31),
        dt.datetime(2030, 1, 2, 3, 4, 5, 678901),
        dt.time(23, 59, 59, 1),
        dt.timedelta(days=2, seconds=3),
        b"binary \x00 data",
        {"nested": [Decimal("1.1"), {"d": dt.date(2024, 2, 29)}]},
    ],
)
def test_values_round_trip_through_the_wire(value: Any) -> None:
    body = encode_request(7, "model.x.y", [value])
    wire = json.loads(body)
    assert wire["id"] == 7
    assert wire["method"] == "model.x.y"
    answer = json.dumps({"id": 7, "result": wire["params"][0]}).encode()
    assert decode_body(answer)["result"] == value


def test_decoding_leaves_plain_answers_alone() -> None:
    body = b'{"id":1,"result":[{"id":3,"code":"TSHIRT-BLK-M","quantity":12.0}]}'
    assert decode_body(body) == {
        "id": 1,
        "result": [{"id": 3, "code": "TSHIRT-BLK-M", "quantity": 12.0}],
    }


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError):
        to_tryton(object())


def test_user_error_becomes_erp_rejected_naming_fields() -> None:
    error = [
        "UserError",
        [
            'The value "X" for field "Unit" in "Sale Line" is not valid.',
            "",
            [[["unit", "=", 1]], {"unit": {"string": "Unit"}}],
        ],
    ]
    fault = read_fault(error)
    assert fault.kind == "UserError"
    assert fault.fields == ["unit"]
    exc = fault_error(fault, "model.sale.sale.create")
    assert isinstance(exc, ErpRejected)
    assert exc.status == 422
    assert "Unit" in str(exc.detail)
    assert exc.errors == [{"field": "unit", "message": fault.message}]


def test_user_error_without_domain_has_no_field_errors() -> None:
    exc = fault_error(
        read_fault(["UserError", ["You cannot delete", "it is confirmed", None]]), "m"
    )
    assert isinstance(exc, ErpRejected)
    assert exc.detail == "You cannot delete - it is confirmed"
    assert exc.errors is None


def test_user_warning_is_rejected_too() -> None:
    exc = fault_error(read_fault(["UserWarning", ["key", "Stock is short", "details"]]), "m")
    assert isinstance(exc, ErpRejected)
    assert exc.detail == "Stock is short - details"


def test_concurrency_and_server_faults() -> None:
    busy = fault_error(read_fault(["ConcurrencyException", "Record modified"]), "m")
    assert isinstance(busy, UpstreamUnavailable)
    assert busy.retry_after == 1
    crash = fault_error(read_fault(["division by zero", "Traceback ..."]), "model.a.b")
    assert isinstance(crash, UpstreamError)
    assert "division by zero" in str(crash.detail)


# -- the session, against a scripted transport --------------------------------------------


class FakeTryton:
    """Answers JSON-RPC like trytond: login, preferences, one model method, expiring sessions."""

    def __init__(self) -> None:
        self.logins = 0
        self.valid: set[str] = set()
        self.seen: list[tuple[str, list[Any]]] = []
        self.login_delay = 0.0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        method, params = body["method"], body["params"]
        self.seen.append((method, params))
        if method == "common.db.login":
            await asyncio.sleep(self.login_delay)
            self.logins += 1
            if params[1]["password"] != "pw":
                return httpx.Response(401)
            session = f"s{self.logins}"
            self.valid = {session}
            return self._result(body, [1, session, None])
        auth = request.headers.get("Authorization", "")
        token = base64.b64decode(auth.removeprefix("Session ")).decode() if auth else ""
        if token.split(":")[-1] not in self.valid:
            return httpx.Response(401)
        if method == "model.res.user.get_preferences":
            return self._result(body, {"company": 1, "language": "en", "company.rec_name": "X"})
        if method == "model.product.product.read":
            return self._result(
                body, [{"id": 3, "quantity": {"__class__": "Decimal", "decimal": "4.5"}}]
            )
        if method == "model.ir.rule.write":
            return httpx.Response(403)
        if method == "model.sale.sale.delete":
            return self._result(body, None, error=["UserError", ["Cannot delete", "", None]])
        return httpx.Response(404)

    @staticmethod
    def _result(body: dict[str, Any], result: Any, error: Any = None) -> httpx.Response:
        payload = (
            {"id": body["id"], "error": error} if error else {"id": body["id"], "result": result}
        )
        return httpx.Response(200, json=payload)


def make_rpc(fake: FakeTryton, password: str | None = None, **kw: Any) -> TrytonRpc:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return TrytonRpc(
        client, url="http://erp/", database="db", user="admin", password=password or "pw", **kw
    )


async def test_logs_in_once_and_sends_the_context() -> None:
    fake = FakeTryton()
    rpc = make_rpc(fake)
    rows = await rpc.execute(
        "product.product", "read", [3], ["quantity"], context={"locations": [5]}
    )
    assert rows == [{"id": 3, "quantity": Decimal("4.5")}]
    await rpc.execute("product.product", "read", [3], ["quantity"])
    assert fake.logins == 1
    first_context = fake.seen[2][1][-1]
    assert first_context == {"company": 1, "language": "en", "locations": [5]}
    assert fake.seen[3][1][-1] == {"company": 1, "language": "en"}  # extras don't stick


async def test_concurrent_first_calls_share_one_login() -> None:
    fake = FakeTryton()
    fake.login_delay = 0.05
    rpc = make_rpc(fake)
    await asyncio.gather(*(rpc.execute("product.product", "read", [3], []) for _ in range(10)))
    assert fake.logins == 1


async def test_expired_session_logs_in_again_once() -> None:
    fake = FakeTryton()
    rpc = make_rpc(fake)
    await rpc.execute("product.product", "read", [3], [])
    fake.valid.clear()  # the server forgot every session
    results = await asyncio.gather(
        *(rpc.execute("product.product", "read", [3], []) for _ in range(5))
    )
    assert all(r == [{"id": 3, "quantity": Decimal("4.5")}] for r in results)
    assert fake.logins == 2


async def test_a_method_refused_to_a_fresh_session_is_an_upstream_error() -> None:
    fake = FakeTryton()
    rpc = make_rpc(fake)
    with pytest.raises(UpstreamError, match=r"refused model\.ir\.rule\.write"):
        await rpc.execute("ir.rule", "write", [1], {})
    assert fake.logins == 2  # one retry with a new session, then give up


async def test_wrong_password_is_an_upstream_error() -> None:
    rpc = make_rpc(FakeTryton(), password="nope")
    with pytest.raises(UpstreamError, match="credentials"):
        await rpc.execute("product.product", "read", [3], [])


async def test_user_error_raises_erp_rejected() -> None:
    rpc = make_rpc(FakeTryton())
    with pytest.raises(ErpRejected, match="Cannot delete"):
        await rpc.execute("sale.sale", "delete", [1])


async def test_connection_refused_is_unavailable_with_retry_after() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    rpc = TrytonRpc(client, url="http://erp", database="db", user="a", password="b", retry_after=9)
    with pytest.raises(UpstreamUnavailable) as caught:
        await rpc.execute("product.product", "read", [1], [])
    assert caught.value.retry_after == 9
    assert caught.value.headers == {"Retry-After": "9"}


async def test_timeout_is_upstream_timeout() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    rpc = TrytonRpc(client, url="http://erp", database="db", user="a", password="b")
    with pytest.raises(UpstreamTimeout):
        await rpc.call("common.db.login", "a", {"password": "b"})


async def test_server_errors_map_by_status() -> None:
    statuses = iter([503, 500])

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(statuses))

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    rpc = TrytonRpc(client, url="http://erp", database="db", user="a", password="b")
    with pytest.raises(UpstreamUnavailable):
        await rpc.login()
    with pytest.raises(UpstreamError):
        await rpc.login()
