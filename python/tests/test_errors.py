"""Failures of the one-shot CLI: refusals exit 3, malformed requests exit 1, usage errors exit 2,
each with one line naming the culprit and no traceback."""

from __future__ import annotations

import pytest

from conftest import demo_sources, one_line_error, query_request, run_op


def test_an_unknown_measure_is_refused_naming_it_and_the_known_ones():
    res = run_op("semantic-query", query_request({"measures": ["orders.revnue"]}))
    line = one_line_error(res, 3)
    assert res.json["error"]["kind"] == "rejected"
    assert "unknown measure 'orders.revnue'; known measures of orders: order_count, revenue, avg_order_value, completed_revenue" in line


@pytest.mark.parametrize(
    "query, needle",
    [
        ({"measures": ["nosuch.revenue"]}, "unknown source 'nosuch'"),
        ({"measures": ["orders.amount"]}, "'orders.amount' is a column: aggregate it, e.g. sum(orders.amount)"),
        ({"measures": ["orders.revenue"], "dimensions": ["customers.contry"]}, "unknown column 'customers.contry'"),
        ({"measures": ["orders.revenue"], "dimensions": ["orders.revenue"]}, "'orders.revenue' is a measure, not a column"),
        ({"measures": ["orders.revenue"], "filters": ["customers.contry = 'US'"]}, "customers.contry"),
        ({"measures": ["orders.revenue"], "filters": ["orders.status = = 'x'"]}, "cannot parse filter 'orders.status = = 'x''"),
        ({"measures": ["orders.revenue"], "filters": ['orders.status = "completed"']}, "string literals use single quotes"),
        ({"measures": ["orders.revenue"], "filters": ["nosuch.field = 1"]}, "unknown source 'nosuch'"),
        ({"measures": ["orders.revenue"], "filters": ["orders.status"]}, "is not a boolean condition"),
        ({"measures": ["orders.revenue"], "filters": ["sum(orders.amount) > 1"]}, "aggregates; filter on a measure instead"),
        (
            {"measures": ["orders.revenue"], "filters": ["orders.revenue > 1 OR customers.segment = 'x'"]},
            "compares a measure with 'customers.segment', which is not among the query's dimensions",
        ),
        ({"measures": ["orders.revenue"], "order_by": ["orders.status"]}, "cannot order by 'orders.status'"),
        ({"measures": ["orders.revenue"], "order_by": ["orders.order_count"]}, "not among the query's measures"),
        ({"measures": []}, "a query needs at least one measure"),
        ({"measures": ["orders.revenue"], "limit": -1}, "limit must be >= 0, got -1"),
        ({"measures": ["sum(orders.amount"]}, "cannot parse measure 'sum(orders.amount'"),
        ({"measures": ["count(*)"]}, "references no source"),
        ({"measures": ["stddev(orders.amount)"]}, "unsupported aggregate"),
        ({"measures": ["orders.a.b"]}, "bad reference 'orders.a.b' in measure 'orders.a.b'"),
    ],
)
def test_a_bad_query_is_refused_with_one_line_naming_the_reference(query, needle):
    line = one_line_error(run_op("semantic-query", query_request(query)), 3)
    assert needle in line


def test_an_unknown_dialect_is_refused():
    line = one_line_error(run_op("semantic-query", query_request({"measures": ["orders.revenue"]}, dialect="nosql")), 3)
    assert "unknown SQL dialect 'nosql'" in line


def test_a_dimension_without_a_join_path_is_refused():
    sources = demo_sources()
    sources.append(
        {"name": "weather", "table": "weather", "grain": ["city"], "columns": [{"name": "city", "type": "string"}]}
    )
    line = one_line_error(
        run_op("semantic-query", query_request({"measures": ["orders.revenue"], "dimensions": ["weather.city"]}, sources=sources)), 3
    )
    assert "no join path from 'orders' to 'weather'" in line


def test_a_query_is_refused_with_the_errors_of_the_sources_it_uses():
    sources = demo_sources()
    sources[2]["measures"][1]["expr"] = "sum(amout)"
    sources[0]["grain"] = ["id"]
    request = query_request({"measures": ["orders.order_count"], "dimensions": ["customers.country"]}, sources=sources)
    line = one_line_error(run_op("semantic-query", request), 3)
    assert "invalid semantic model (1 error): source 'orders': measure 'revenue': unknown column 'amout'" in line
    sources[2]["measures"][1]["expr"] = "sum(amount)"
    line = one_line_error(run_op("semantic-query", request), 3)
    assert "invalid semantic model (1 error): source 'customers': grain column 'id' is not among the columns" in line


def test_the_errors_of_sources_a_query_does_not_use_do_not_stop_it():
    sources = demo_sources()
    sources[0]["grain"] = ["id"]  # customers
    res = run_op("semantic-query", query_request({"measures": ["products.product_count"]}, sources=sources))
    assert res.code == 0, res
    # orders joins customers on the way to nothing here; a query through customers is refused
    line = one_line_error(
        run_op("semantic-query", query_request({"measures": ["orders.revenue"], "dimensions": ["customers.country"]}, sources=sources)), 3
    )
    assert "invalid semantic model (1 error)" in line and "grain column 'id'" in line


@pytest.mark.parametrize(
    "payload, raw, needle",
    [
        (None, "{not json", "invalid JSON on stdin"),
        (None, "", "expected one JSON object on stdin, got nothing"),
        ([1, 2], None, "the request must be a JSON object"),
        ({"query": {"measures": ["orders.revenue"]}}, None, "'sources' is required"),
        ({"sources": []}, None, "'query' is required"),
        ({"sources": {}, "query": {}}, None, "'sources' must be a list"),
        (
            {"sources": [], "query": {"measures": []}, "project_dir": "/x"},
            None,
            "unknown request key 'project_dir'; allowed: sources, query, dialect, projectId, source_dialect",
        ),
        ({"sources": [], "query": {"measures": "orders.revenue"}}, None, "query.measures must be a list"),
        (
            {"sources": [], "query": {"measures": [], "execute": True}},
            None,
            "unknown key 'execute' in the query; allowed: measures, dimensions, filters, segments, order_by, limit, include_empty",
        ),
        ({"sources": [], "query": {"measures": [], "limit": "10"}}, None, "query.limit must be an integer"),
        ({"sources": [], "query": {"measures": [], "order_by": [{"field": "x", "direction": "up"}]}}, None, "direction"),
        ({"sources": [], "query": {"measures": [{"expr": 1}]}}, None, 'needs "expr"'),
        ({"sources": [], "query": {"measures": []}, "dialect": 5}, None, "'dialect' must be a string"),
    ],
)
def test_a_malformed_request_exits_1_with_kind_malformed(payload, raw, needle):
    res = run_op("semantic-query", payload, raw=raw)
    line = one_line_error(res, 1)
    assert res.json["error"]["kind"] == "malformed"
    assert needle in line


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["no-such-op"], "unknown op 'no-such-op'; known ops: semantic-query"),
        (["semantic-query", "extra"], "op 'semantic-query' takes no arguments"),
        ([], "missing op"),
    ],
)
def test_usage_errors_exit_2(argv, needle):
    from conftest import daemon_exe

    res = run_op("", {}, argv=[daemon_exe(), *argv])
    assert res.code == 2, res
    assert "Traceback" not in res.stderr
    assert needle in res.stderr.splitlines()[-1]
    assert res.json["error"]["kind"] == "malformed"


def test_ktx_debug_adds_the_traceback():
    res = run_op("semantic-query", query_request({"measures": ["orders.revnue"]}), env={"KTX_DEBUG": "1"})
    assert res.code == 3
    assert "Traceback" in res.stderr
    assert res.stderr.splitlines()[-1].startswith("ktx-daemon: error: unknown measure")


def test_an_internal_fault_exits_1_with_kind_internal_in_one_line(monkeypatch, capsys):
    from ktx_daemon import cli, protocol

    def boom(req):
        raise KeyError("oops")

    monkeypatch.setitem(protocol.BY_NAME, "semantic-query", protocol.Op("semantic-query", "/x", boom, ""))
    monkeypatch.setattr("sys.stdin", type("S", (), {"buffer": type("B", (), {"read": staticmethod(lambda *size: b"{}")})()})())
    assert cli.main(["semantic-query"]) == 1
    out, err = capsys.readouterr()
    assert '"kind": "internal"' in out
    assert err == "ktx-daemon: error: internal error in semantic-query: KeyError: 'oops'\n"


def test_classify_is_the_one_mapping_of_exceptions():
    from ktx_daemon.protocol import UsageError, classify
    from semantic_layer.errors import MalformedError, RejectedError

    assert classify(RejectedError("no\nway")) == classify(RejectedError("no way"))
    assert (classify(RejectedError("x")).kind, classify(RejectedError("x")).exit_code, classify(RejectedError("x")).http_status) == ("rejected", 3, 400)
    assert (classify(MalformedError("x")).kind, classify(MalformedError("x")).exit_code, classify(MalformedError("x")).http_status) == ("malformed", 1, 422)
    assert (classify(UsageError("x")).exit_code, classify(UsageError("x")).http_status) == (2, 404)
    f = classify(ValueError("bad\nthing"), "semantic-query")
    assert (f.kind, f.exit_code, f.http_status, f.message) == ("internal", 1, 500, "internal error in semantic-query: ValueError: bad thing")
