"""Limits with names: every input over a limit of ``semantic_layer.limits`` is refused in one line
naming the input and the limit (exit 3 one-shot, the very same line as HTTP 400 ``detail``),
never a crash; inputs at the limits are accepted; validation reports limits as errors."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

import bigmodel
from conftest import demo_sources, one_line_error, query_request, run_op
from test_http import Daemon
from semantic_layer import limits


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("daemon"))
    yield d
    d.stop()


def tiny(name: str, **extra):
    base = {"name": name, "table": name, "grain": ["id"], "columns": [{"name": "id", "type": "number"}]}
    base.update(extra)
    return base


def nested(depth: int, inner: str) -> str:
    return "(" * depth + inner + ")" * depth


def head(text: str) -> str:
    """How a refusal shows a long input: its first characters, then ' ...'."""
    return limits.clip(text)


DEEP_FILTER = nested(5000, "orders.status = 'completed'")
DEEP_SUM = "sum" + nested(300, "orders.amount")
DEEP_AMOUNT = "sum" + nested(300, "amount")
DEEP_SELECT = "select * from " + nested(300, "select * from orders")


def demo_with(edit) -> list:
    sources = demo_sources()
    edit({s["name"]: s for s in sources})
    return sources


def chain_of_measures(n: int) -> list:
    """orders with measures m0 = sum(amount), m<i> = m<i-1> + 1, declared last first."""
    def edit(s):
        ms = [{"name": "m0", "expr": "sum(amount)"}] + [{"name": f"m{i}", "expr": f"m{i - 1}"} for i in range(1, n)]
        s["orders"]["measures"] = s["orders"]["measures"] + list(reversed(ms))

    return demo_with(edit)


def query(q: dict, sources=None, dialect: str = "sqlite") -> dict:
    return query_request(q, dialect=dialect, sources=sources)


REVENUE = {"measures": ["orders.revenue"]}

# (id, op, request, the refusal's one line); each is refused alike by one-shot and HTTP
REFUSALS = [
    (
        "sources",
        "semantic-query",
        lambda: query(REVENUE, [tiny(f"s{i}") for i in range(limits.MAX_SOURCES + 1)]),
        "invalid semantic model (1 error): the model has 2,001 sources; the limit is 2,000",
    ),
    (
        "columns per source",
        "semantic-query",
        lambda: query(REVENUE, demo_with(lambda s: s["orders"]["columns"].extend(
            {"name": f"x{i}", "type": "string"} for i in range(limits.MAX_COLUMNS_PER_SOURCE)))),
        "invalid semantic model (1 error): source 'orders' has 2,006 columns; the limit is 2,000 per source",
    ),
    (
        "measures per source",
        "semantic-query",
        lambda: query(REVENUE, demo_with(lambda s: s["orders"]["measures"].extend(
            {"name": f"x{i}", "expr": "count(*)"} for i in range(limits.MAX_MEASURES_PER_SOURCE)))),
        "invalid semantic model (1 error): source 'orders' has 1,004 measures; the limit is 1,000 per source",
    ),
    (
        "columns",
        "semantic-query",
        lambda: query(REVENUE, demo_sources() + [
            tiny(f"w{i}", columns=[{"name": f"c{j}", "type": "string"} for j in range(2000)]) for i in range(25)]),
        "invalid semantic model (1 error): the model has 50,020 columns; the limit is 50,000",
    ),
    (
        "measures",
        "semantic-query",
        lambda: query(REVENUE, demo_sources() + [
            tiny(f"w{i}", measures=[{"name": f"m{j}", "expr": "count(*)"} for j in range(1000)]) for i in range(10)]),
        "invalid semantic model (1 error): the model has 10,010 measures; the limit is 10,000",
    ),
    (
        "snippets",
        "semantic-query",
        lambda: query(REVENUE, demo_sources() + [
            tiny(f"w{i}", columns=[{"name": "id", "type": "number"}] + [
                {"name": f"c{j}", "type": "number", "expr": f"id + {j}"} for j in range(1200)]) for i in range(10)]),
        "invalid semantic model (1 error): the model has 12,015 SQL snippets (column exprs, measure exprs and "
        "filters, segments, join conditions, sql sources); the limit is 12,000",
    ),
    (
        "snippet characters",
        "semantic-query",
        lambda: query(REVENUE, demo_with(lambda s: s["orders"]["measures"].append(
            {"name": "big", "expr": "sum(" + " + ".join(["amount"] * 15_000) + ")"}))),
        "invalid semantic model (1 error): source 'orders' has a SQL snippet of 135,002 characters "
        "('sum(amount + amount + amount + amount + amount + amount ...'); the limit is 100,000",
    ),
    (
        "SQL characters",
        "semantic-query",
        lambda: query(REVENUE, demo_sources() + [
            tiny(f"q{i}", table=None, sql="select " + ", ".join(f"{j} as c{j}" for j in range(6_500)) + ", 1 as id")
            for i in range(6)]),
        "invalid semantic model (1 error): the model has 572,020 characters of SQL; the limit is 500,000",
    ),
    (
        "filter depth",
        "semantic-query",
        lambda: query({"measures": ["orders.revenue"], "filters": [DEEP_FILTER]}),
        f"filter '{head(DEEP_FILTER)}' nests 5,000 levels deep; the limit is 256",
    ),
    (
        "unbracketed depth",
        "semantic-query",
        lambda: query({"measures": ["orders.revenue"], "filters": ["NOT " * 5000 + "orders.status = 'completed'"]}),
        "filter 'NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT ...' nests too deeply to parse; "
        "the limit is 256 levels",
    ),
    (
        "ad-hoc measure depth",
        "semantic-query",
        lambda: query({"measures": [DEEP_SUM]}),
        f"measure '{head(DEEP_SUM)}' nests 300 levels deep; the limit is 256",
    ),
    (
        "model measure depth",
        "semantic-query",
        lambda: query(REVENUE, demo_with(lambda s: s["orders"]["measures"][1].update(expr=DEEP_AMOUNT))),
        f"invalid semantic model (1 error): source 'orders': measure 'revenue': expr '{head(DEEP_AMOUNT)}' "
        "nests 300 levels deep; the limit is 256",
    ),
    (
        "column expr depth",
        "semantic-query",
        lambda: query(REVENUE, demo_with(lambda s: s["orders"]["columns"].append(
            {"name": "deep", "type": "number", "expr": nested(300, "amount")}))),
        f"invalid semantic model (1 error): source 'orders': column 'deep': expr '{head(nested(300, 'amount'))}' "
        "nests 300 levels deep; the limit is 256",
    ),
    (
        "sql source depth",
        "semantic-query",
        lambda: query(REVENUE, demo_with(lambda s: s["orders"].update(table=None, sql=DEEP_SELECT))),
        f"invalid semantic model (1 error): source 'orders': sql '{head(DEEP_SELECT)}' nests 300 levels deep; "
        "the limit is 256",
    ),
    (
        "measures built on measures",
        "semantic-query",
        lambda: query({"measures": ["orders.m299"]}, chain_of_measures(300)),
        "invalid semantic model (44 errors): source 'orders': measure 'm256': builds on measures 257 levels deep; "
        "the limit is 256; source 'orders': measure 'm257': uses measure 'm256', which is invalid (in expr 'm256'); ",
    ),
    (
        "measures inlined",
        "semantic-query",
        lambda: query({"measures": ["orders.m2"]}, demo_with(lambda s: s["orders"]["measures"].extend([
            {"name": "m0", "expr": nested(200, "sum(amount)")},
            {"name": "m1", "expr": nested(100, "m0")},
            {"name": "m2", "expr": "m1 * 2"},
        ]))),
        f"invalid semantic model (2 errors): source 'orders': measure 'm1': expr '{head(nested(100, 'm0'))}' "
        "nests 301 levels deep once the measures, "
        "filter and segments it uses are inlined; the limit is 256; source 'orders': measure 'm2': uses measure "
        "'m1', which is invalid (in expr 'm1 * 2')",
    ),
    ("query measures", "semantic-query", lambda: query({"measures": ["orders.revenue"] * 201}),
     "the query has 201 measures; the limit is 200"),
    ("query dimensions", "semantic-query", lambda: query({**REVENUE, "dimensions": ["customers.country"] * 51}),
     "the query has 51 dimensions; the limit is 50"),
    ("query filters", "semantic-query", lambda: query({**REVENUE, "filters": ["orders.amount > 1"] * 101}),
     "the query has 101 filters; the limit is 100"),
    ("query segments", "semantic-query", lambda: query({**REVENUE, "segments": ["orders.paid"] * 101}),
     "the query has 101 segments; the limit is 100"),
    ("query order_by", "semantic-query", lambda: query({**REVENUE, "order_by": ["orders.revenue"] * 251}),
     "the query has 251 order_by items; the limit is 250"),
    ("limit 2**53", "semantic-query", lambda: query({**REVENUE, "limit": 2**53}),
     "limit 9007199254740992 is too large; the limit is 9,007,199,254,740,991 (2**53 - 1)"),
    ("limit 2**64-1", "semantic-query", lambda: query({**REVENUE, "limit": 18446744073709551615}),
     "limit 18446744073709551615 is too large; the limit is 9,007,199,254,740,991 (2**53 - 1)"),
    ("limit 10**40", "semantic-query", lambda: query({**REVENUE, "limit": 10**40}),
     "limit 100000000000... (41 digits) is too large; the limit is 9,007,199,254,740,991 (2**53 - 1)"),
    (
        "measure sources",
        "semantic-query",
        lambda: query({"measures": [f"s{i}.record_count" for i in range(1, 52)]}, bigmodel.sources(60, joins=1)),
        "the query has measures of 51 sources; the limit is 50",
    ),
    (
        "joins",
        "semantic-query",
        lambda: query({"measures": ["s1100.m1"], "dimensions": ["s0.c3"]}, bigmodel.sources(1101, columns=4, measures=2)),
        "the query needs 1,100 joins (1 measure source, each joined along its path to the sources of the "
        "dimensions and filters); the limit is 1,000",
    ),
    (
        "JSON depth",
        "semantic-query",
        lambda: {"__raw__": '{"sources": ' + "[" * 30_000 + "]" * 30_000 + ', "query": {}}'},
        "{where} nests JSON arrays or objects deeper than Python's recursion limit allows; "
        "the limit is about 20,000 levels",
    ),
    ("sql text depth", "sql-table-identifiers", lambda: {"sql": "select * from " + nested(3000, "select * from t")},
     f"sql '{head('select * from ' + nested(3000, 'select * from t'))}' nests 3,000 levels deep; the limit is 256"),
    ("sql text characters", "sql-table-identifiers", lambda: {"sql": "select 1" + " " * 1_000_000},
     "sql 'select 1 ...' is 1,000,008 characters long; the limit is 1,000,000"),
    ("table items", "sql-parse-table-identifier",
     lambda: {"items": [{"key": str(i), "sql_table_name": "a.b", "dialect": "postgres"} for i in range(10_001)]},
     "the request has 10,001 items; the limit is 10,000"),
    ("generated tables", "semantic-generate-sources",
     lambda: {"tables": [{"name": f"t{i}", "columns": [{"name": "id", "type": "int"}]} for i in range(2001)]},
     "the request has 2,001 tables; the limit is 2,000"),
    ("generated columns", "semantic-generate-sources",
     lambda: {"tables": [{"name": "t", "columns": [{"name": f"c{i}", "type": "int"} for i in range(2001)]}]},
     "table 't' has 2,001 columns; the limit is 2,000"),
]


def _send(op: str, payload: dict):
    raw = payload.pop("__raw__", None)
    return run_op(op, payload, raw=raw), raw


@pytest.mark.parametrize("case, op, make, expected", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_every_limit_is_refused_in_one_line_naming_the_input_and_the_limit_alike_one_shot_and_over_http(
    daemon, case, op, make, expected
):
    payload = make()
    res, raw = _send(op, payload)
    line = one_line_error(res, 3)
    message = res.json["error"]["message"]
    assert res.json["error"]["kind"] == "rejected"
    if case == "JSON depth":
        assert message == expected.format(where="stdin")
    elif expected.endswith("; "):  # the first errors of a long list
        assert message.startswith(expected), message
    else:
        assert message == expected, message
    assert line == f"ktx-daemon: error: {message}"

    from ktx_daemon.protocol import BY_NAME

    body = raw.encode() if raw is not None else json.dumps(payload).encode()
    r = httpx.post(
        f"{daemon.url}{BY_NAME[op].route}", content=body, timeout=60,
        headers={**daemon.auth(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    if case == "JSON depth":  # the runtime host refuses it before the payload parses it
        assert r.json() == {
            "detail": "the request body nests JSON arrays or objects at least 30,001 levels deep; the limit is 512"
        }
    else:
        assert r.json() == {"detail": message}


def test_a_request_body_over_the_byte_limit_is_refused_before_it_is_read(daemon):
    res = run_op("semantic-query", None, raw=" " * (limits.MAX_REQUEST_BYTES + 1))
    one_line_error(res, 3)
    assert res.json["error"]["message"] == "stdin has 67,108,865 bytes; the limit is 67,108,864"
    with socket.create_connection(("127.0.0.1", daemon.ready["port"]), timeout=30) as s:
        s.sendall(
            f"POST /semantic-layer/query HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {daemon.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {limits.MAX_REQUEST_BYTES + 1}\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), answer[:200]  # the runtime host's answer
    assert json.loads(body) == {"detail": "the request body has 67,108,865 bytes; the limit is 67,108,864"}


@pytest.mark.parametrize(
    "q",
    [
        {**REVENUE, "limit": 2147483647},
        {**REVENUE, "limit": limits.MAX_LIMIT},
        {**REVENUE, "limit": 0},
        {"measures": ["orders.revenue"], "filters": [nested(limits.MAX_DEPTH, "orders.status = 'completed'")]},
        {"measures": ["sum" + nested(limits.MAX_DEPTH - 1, "orders.amount")]},
        {"measures": ["orders.revenue"], "filters": ["abs(" * 200 + "orders.amount" + ")" * 200 + " > 1"]},
        {"measures": ["orders.revenue"] * 200, "filters": ["orders.amount > 1"] * 100},
    ],
    ids=["limit 2**31-1", "limit 2**53-1", "limit 0", "filter at the depth limit", "measure at the depth limit",
         "200 nested calls", "measures and filters at their limits"],
)
def test_inputs_at_the_limits_are_accepted(q):
    res = run_op("semantic-query", query(q))
    assert res.code == 0, res
    if "limit" in q:
        assert res.json["plan"]["limit"] == q["limit"]
        assert res.json["sql"].rstrip().endswith(f"LIMIT {q['limit']}")


def test_a_chain_of_measures_at_the_depth_limit_is_accepted():
    res = run_op("semantic-query", query({"measures": ["orders.m255"]}, chain_of_measures(256)))
    assert res.code == 0, res


def test_a_model_at_every_size_limit_is_accepted_and_answers_a_query_in_seconds():
    sources = bigmodel.at_caps()
    assert limits.model_size_error(sources) is None
    assert sum(len(s["columns"]) for s in sources) == limits.MAX_COLUMNS
    assert sum(len(s["measures"]) for s in sources) == limits.MAX_MEASURES
    start = time.monotonic()
    res = run_op("semantic-query", query({"measures": ["s1999.m1"], "dimensions": ["s1998.c3"]}, sources, "postgres"))
    assert res.code == 0, res
    assert time.monotonic() - start < 60  # about 5 s here; generous for slow CI machines


def test_validation_reports_a_limit_as_an_error_not_a_crash():
    def validate(sources):
        res = run_op("semantic-validate", {"sources": sources, "dialect": "sqlite"})
        assert res.code == 0, res
        return res.json

    out = validate([tiny(f"s{i}") for i in range(limits.MAX_SOURCES + 1)])
    assert out == {
        "valid": False,
        "errors": ["the model has 2,001 sources; the limit is 2,000"],
        "warnings": [],
        "per_source_warnings": {},
    }
    deep = "sum" + nested(5000, "amount")
    out = validate(demo_with(lambda s: s["orders"]["measures"].append({"name": "deep", "expr": deep})))
    assert out["valid"] is False
    assert out["errors"] == [f"source 'orders': measure 'deep': expr '{head(deep)}' nests 5,000 levels deep; the limit is 256"]


def test_a_too_deep_source_stops_only_the_queries_that_use_it():
    sources = demo_with(lambda s: s["products"]["columns"].append({"name": "deep", "type": "number", "expr": nested(999, "1")}))
    assert run_op("semantic-query", query({"measures": ["customers.customer_count"]}, sources)).code == 0
    line = one_line_error(run_op("semantic-query", query({"measures": ["products.product_count"]}, sources)), 3)
    assert "nests 999 levels deep; the limit is 256" in line


def test_a_recursion_or_overflow_error_anywhere_is_a_named_refusal_never_an_internal_error():
    from ktx_daemon import protocol

    def deep(req):
        raise RecursionError("maximum recursion depth exceeded")

    def overflow(req):
        raise OverflowError("int too large to convert to float")

    for handler, message in (
        (deep, "the request to semantic-query nests too deeply to process; the limit is 256 levels of nesting in a "
               "SQL snippet and in measures built on measures"),
        (overflow, "a number in the request to semantic-query is out of range (int too large to convert to float)"),
    ):
        op = protocol.Op("semantic-query", "/x", handler, "")
        with pytest.raises(protocol.LimitError) as info:
            protocol.run(op, {})
        failure = protocol.classify(info.value, op.name)
        assert (failure.kind, failure.exit_code, failure.http_status, failure.message) == ("rejected", 3, 400, message)


def test_every_limit_lives_in_the_limits_module_with_its_reason():
    doc = limits.__doc__
    names = [n for n in dir(limits) if n.startswith("MAX_") or n in ("RECURSION_LIMIT", "THREAD_STACK_BYTES")]
    assert len(names) >= 20
    for name in names:
        assert f"``{name}``" in doc, f"{name} is not explained in the limits docstring"


def test_the_model_cache_holds_a_bounded_number_of_columns_and_measures_whatever_its_slots(monkeypatch):
    from semantic_layer import model

    model.clear_cache()
    demo = demo_sources()
    weight = model._weight(model.get_model(demo, "sqlite"))
    monkeypatch.setattr(model, "CACHE_WEIGHT", 2 * weight)
    for dialect in ("postgres", "duckdb", "snowflake"):
        model.get_model(demo, dialect)
    assert len(model._cache) == 2  # eight slots, but only two models' worth of weight
    assert [json.loads(k)[1] for k in model._cache] == ["duckdb", "snowflake"]
    model.clear_cache()
