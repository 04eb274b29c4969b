"""``strata orders``: arguments, requests sent and output, against a fake orders API."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from strata.orders_cli import Progress, format_exceptions, format_status, main, when

TOKEN = "tok-123"
AT = 1_777_622_400.25  # 2026-05-01 08:00:00.250 UTC


def exception(n: int, **overrides: Any) -> dict[str, Any]:
    record = {
        "id": f"{n:020x}",
        "state": "open",
        "kind": "mapping",
        "error": "mapping failed: email: the order has no customer email",
        "shop": "demo-eu.myshopify.com",
        "order_id": str(1000 + n),
        "topic": "orders/create",
        "correlation_id": f"corr-{n}",
        "created_at": AT + n,
        "updated_at": AT + n,
        "payload": {},
        "retry_history": [],
        "impact": {},
        "replays": 0,
    }
    return {**record, **overrides}


class FakeApi:
    """Records every request; answers from ``handler``."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler

    def transport(self) -> httpx.MockTransport:
        def respond(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        return httpx.MockTransport(respond)


def run(
    argv: list[str], api: FakeApi, *, env: dict[str, str] | None = None, stdin: str = ""
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        argv,
        environ={"STRATA_TOKEN": TOKEN} if env is None else env,
        transport=api.transport(),
        stdout=out,
        stderr=err,
        stdin=io.StringIO(stdin),
    )
    return code, out.getvalue(), err.getvalue()


STATUS = {
    "shop": "demo-eu.myshopify.com",
    "order_id": "1001",
    "state": "acknowledged",
    "erp_instance": "eu",
    "erp_order_id": "42",
    "erp_order_number": "SO0042",
    "correlation_id": "evt-1",
    "exception_id": None,
    "received_at": AT,
    "updated_at": AT + 1,
    "steps": [
        {"step": "received", "at": AT, "detail": "orders/create"},
        {"step": "posted", "at": AT + 0.4, "detail": "eu SO0042"},
        {"step": "acknowledged", "at": AT + 0.6, "detail": None},
    ],
}


def test_status_asks_for_the_order_with_the_token_and_prints_its_steps() -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=STATUS))
    code, out, err = run(["status", "demo-eu.myshopify.com", "1001"], api)
    assert (code, err) == (0, "")
    [request] = api.requests
    assert request.method == "GET"
    assert str(request.url) == "http://127.0.0.1:8120/orders/v1/orders/demo-eu.myshopify.com/1001"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    lines = out.splitlines()
    assert lines[0] == "demo-eu.myshopify.com order 1001: acknowledged"
    assert "  ERP          eu SO0042 (id 42)" in lines
    assert lines[-3].split() == ["2026-05-01", "08:00:00.250Z", "received", "orders/create"]
    assert lines[-1].split() == ["2026-05-01", "08:00:00.850Z", "acknowledged"]


def test_url_and_token_options_win_over_the_environment_before_or_after_the_command() -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=STATUS))
    env = {"STRATA_TOKEN": "from-env", "STRATA_ORDERS_URL": "http://env.example:1"}
    run(["--url", "http://a.example:9", "status", "s", "1", "--token", "cli-tok"], api, env=env)
    run(["status", "s", "1"], api, env=env)
    first, second = api.requests
    assert first.url.host == "a.example"
    assert first.url.port == 9
    assert first.headers["authorization"] == "Bearer cli-tok"
    assert second.url.host == "env.example"
    assert second.headers["authorization"] == "Bearer from-env"


def test_no_token_is_a_usage_error_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi(lambda r: httpx.Response(200, json=STATUS))
    with pytest.raises(SystemExit) as exited:
        run(["status", "s", "1"], api, env={})
    assert exited.value.code == 2
    assert "STRATA_TOKEN" in capsys.readouterr().err
    assert api.requests == []


def test_a_problem_answer_is_printed_on_stderr_with_status_1() -> None:
    problem = {
        "type": "https://strata.dev/problems/order-not-found",
        "title": "The pipeline has no record of this order",
        "status": 404,
        "detail": "No order 9 of s has entered the pipeline",
    }
    api = FakeApi(
        lambda r: httpx.Response(
            404, json=problem, headers={"content-type": "application/problem+json"}
        )
    )
    code, out, err = run(["status", "s", "9"], api)
    assert code == 1
    assert out == ""
    assert err == (
        "strata orders: The pipeline has no record of this order: "
        "No order 9 of s has entered the pipeline (HTTP 404)\n"
    )


def test_an_unreachable_api_is_reported_not_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    code, _, err = run(["status", "s", "1"], FakeApi(refuse))
    assert code == 1
    assert err.startswith("strata orders: cannot reach the orders API at http://127.0.0.1:8120")


def test_exceptions_passes_the_filters_and_prints_a_table() -> None:
    page = {"items": [exception(2), exception(1, kind="validation")], "total": 7, "offset": 0}
    api = FakeApi(lambda r: httpx.Response(200, json={**page, "limit": 2}))
    code, out, _ = run(
        ["exceptions", "--state", "open", "--shop", "demo-eu.myshopify.com", "--limit", "2"], api
    )
    assert code == 0
    params = dict(api.requests[0].url.params)
    assert params == {
        "state": "open",
        "shop": "demo-eu.myshopify.com",
        "limit": "2",
        "offset": "0",
    }
    header, first, second, footer = out.splitlines()
    assert header.split() == ["ID", "STATE", "KIND", "SHOP", "ORDER", "CREATED", "REPLAYS", "ERROR"]
    assert first.startswith(f"{2:020x}  open   mapping ")
    assert "validation" in second
    assert "1001" in second
    assert footer == "1-2 of 7"
    # The columns line up: every row has the ERROR column at the same place.
    assert first.index("mapping failed") == header.index("ERROR")


def test_exceptions_rejects_a_limit_the_api_would_refuse() -> None:
    api = FakeApi(lambda r: httpx.Response(200, json={}))
    with pytest.raises(SystemExit) as exited:
        run(["exceptions", "--limit", "500"], api)
    assert exited.value.code == 2
    assert api.requests == []


def test_exceptions_json_prints_the_page_as_it_came() -> None:
    page = {"items": [exception(1)], "total": 1, "offset": 0, "limit": 50}
    api = FakeApi(lambda r: httpx.Response(200, json=page))
    code, out, _ = run(["exceptions", "--json"], api)
    assert code == 0
    assert json.loads(out) == page


def test_replay_one_sends_no_body_unless_given() -> None:
    answer = {"exception_id": "abc123", "state": "replayed", "entry_id": "1-0"}
    api = FakeApi(lambda r: httpx.Response(202, json=answer))
    code, out, _ = run(["replay", "abc123"], api)
    assert code == 0
    [request] = api.requests
    assert (request.method, request.url.path) == (
        "POST",
        "/orders/v1/exceptions/abc123/replay",
    )
    assert request.content in (b"", b"null")
    assert out == "replayed abc123: now replayed, stream entry 1-0\n"


def test_replay_with_a_body_file_sends_the_edited_order(tmp_path: Path) -> None:
    answer = {"exception_id": "abc123", "state": "replayed", "entry_id": "1-0"}
    api = FakeApi(lambda r: httpx.Response(202, json=answer))
    edited = {"id": 1001, "email": "fixed@example.com", "line_items": []}
    path = tmp_path / "order.json"
    path.write_text(json.dumps(edited))
    assert run(["replay", "abc123", "--body", str(path)], api)[0] == 0
    assert run(["replay", "abc123", "--body", "-"], api, stdin=json.dumps(edited))[0] == 0
    for request in api.requests:
        assert json.loads(request.content) == {"body": edited}


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("{not json", "is not JSON"), ("[1, 2]", "must hold a JSON object")],
)
def test_replay_with_an_unusable_body_file_sends_nothing(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "order.json"
    if content is not None:
        path.write_text(content)
    api = FakeApi(lambda r: httpx.Response(202, json={}))
    code, _, err = run(["replay", "abc123", "--body", str(path)], api)
    assert code == 1
    assert message in err
    assert api.requests == []


@pytest.mark.parametrize(
    "argv",
    [
        ["replay"],
        ["replay", "abc123", "--all"],
        ["replay", "--all", "--body", "x.json"],
        ["replay", "abc123", "--kind", "mapping"],
        ["replay", "abc123", "--dry-run"],
    ],
)
def test_replay_argument_combinations_that_make_no_sense_are_usage_errors(
    argv: list[str],
) -> None:
    api = FakeApi(lambda r: httpx.Response(202, json={}))
    with pytest.raises(SystemExit) as exited:
        run(argv, api)
    assert exited.value.code == 2
    assert api.requests == []


def bulk_api(open_ids: list[str], gone: frozenset[str] = frozenset()) -> FakeApi:
    """Lists ``open_ids`` in pages as the API does; replays all but ``gone``."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            offset = int(request.url.params["offset"])
            limit = int(request.url.params["limit"])
            items = [exception(int(i, 16), id=i) for i in open_ids[offset : offset + limit]]
            return httpx.Response(
                200, json={"items": items, "total": len(open_ids), "offset": offset, "limit": limit}
            )
        ids = json.loads(request.content)["ids"]
        return httpx.Response(
            202,
            json={
                "replayed": [
                    {"exception_id": i, "state": "replayed", "entry_id": "1-0"}
                    for i in ids
                    if i not in gone
                ],
                "skipped": [i for i in ids if i in gone],
            },
        )

    return FakeApi(handle)


def test_replay_all_gathers_every_page_first_then_replays_in_batches() -> None:
    ids = [f"{n:020x}" for n in range(1, 451)]
    api = bulk_api(ids, gone=frozenset({ids[7]}))
    code, out, err = run(["replay", "--all", "--kind", "mapping", "--shop", "s.example"], api)
    assert code == 0
    gets = [r for r in api.requests if r.method == "GET"]
    posts = [r for r in api.requests if r.method == "POST"]
    assert [r.url.params["offset"] for r in gets] == ["0", "200", "400"]
    assert all(r.url.params["state"] == "open" for r in gets)
    assert all(r.url.params["kind"] == "mapping" for r in gets)
    assert all(r.url.params["shop"] == "s.example" for r in gets)
    # Every GET comes before the first POST: replays must not shift the pages being read.
    assert api.requests.index(posts[0]) == len(gets)
    sent = [i for r in posts for i in json.loads(r.content)["ids"]]
    assert sent == ids
    assert max(len(json.loads(r.content)["ids"]) for r in posts) == 20
    assert out == f"replayed 449 of 450 open exceptions; 1 gone meanwhile: {ids[7]}\n"
    # Not a terminal: no redrawing, just the final bar.
    assert err == "[" + "#" * 30 + "] 450/450 replayed\n"


def test_replay_all_dry_run_lists_without_replaying() -> None:
    ids = [f"{n:020x}" for n in range(1, 4)]
    api = bulk_api(ids)
    code, out, _ = run(["replay", "--all", "--dry-run"], api)
    assert code == 0
    assert all(r.method == "GET" for r in api.requests)
    assert out.splitlines() == [*ids, "3 would be replayed"]


def test_replay_all_with_nothing_open_says_so() -> None:
    api = bulk_api([])
    code, out, err = run(["replay", "--all"], api)
    assert (code, out, err) == (0, "nothing to replay\n", "")
    assert all(r.method == "GET" for r in api.requests)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_terminal() -> None:
    screen = Terminal()
    bar = Progress(4, screen, label="replayed", width=8)
    bar.advance(1)
    bar.advance(2)
    bar.advance(5)  # never past the total
    bar.finish()
    frames = screen.getvalue().split("\r")[1:]
    assert frames == [
        "[##------] 1/4 replayed",
        "[######--] 3/4 replayed",
        "[########] 4/4 replayed",
        "[########] 4/4 replayed\n",
    ]


def test_formatters_cope_with_sparse_records() -> None:
    sparse = {"shop": "pos", "order_id": "7", "state": "received", "steps": []}
    assert format_status(sparse) == "pos order 7: received\n  steps"
    assert format_exceptions({"items": [], "total": 0, "offset": 0}) == "no exceptions match"
    long_error = exception(1, error="x " * 100)
    row = format_exceptions({"items": [long_error], "total": 1, "offset": 0}).splitlines()[1]
    assert row.endswith("…")
    assert len(row.split("  ")[-1]) <= 60
    assert when(AT) == "2026-05-01 08:00:00.250Z"
