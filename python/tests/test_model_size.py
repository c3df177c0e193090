"""A model too large once its measures are inlined is refused in bounded time, in one line
naming the limit (exit 3 / HTTP 400); a request leaves nothing behind but the bounded model
cache. Times are the bench's business: these tests assert behaviour and retained memory."""

from __future__ import annotations

import gc
import json
import tracemalloc

import pytest

import bigmodel
from conftest import demo_sources, one_line_error, query_request, run_op
from semantic_layer import limits, model


def handle(op_name: str, payload):
    """What both transports run for a request: its answer, or its failure as classified."""
    from ktx_daemon import protocol

    op = protocol.BY_NAME[op_name]
    try:
        return protocol.handle(op, json.dumps(payload).encode(), "stdin"), None
    except Exception as exc:  # classified as the transports do
        return None, protocol.classify(exc, op.name)


def test_the_400_measure_chain_is_refused_whole_in_one_line_naming_the_limit():
    sources = bigmodel.wide_chain()
    assert len(sources[0]["measures"]) == 400 and 140_000 < len(json.dumps(sources)) < 150_000
    res = run_op("semantic-query", query_request({"measures": ["s.m10"]}, "postgres", sources))
    line = one_line_error(res, 3)
    assert res.json["error"]["kind"] == "rejected"
    assert line.startswith(
        "ktx-daemon: error: invalid semantic model (1 error): the model's measures hold more than 200,000 SQL "
        "syntax nodes once the measures they use are inlined (reached at source 's': measure 'm"
    ), line
    assert line.endswith("; the limit is 200,000")
    out = run_op("semantic-validate", {"sources": sources, "dialect": "postgres"})
    assert out.code == 0 and out.json["valid"] is False and len(out.json["errors"]) == 1


def test_a_measure_over_the_node_limit_is_an_error_of_its_source_only():
    # a computed column of about 400 nodes, summed 30 times: 12,000 nodes once inlined
    wide = " + ".join(f"coalesce(amount, {i})" for i in range(100))

    def edit(sources):
        orders = next(s for s in sources if s["name"] == "orders")
        orders["columns"].append({"name": "wide", "type": "number", "expr": wide})
        orders["measures"].append({"name": "huge", "expr": " + ".join(["sum(wide)"] * 30)})
        return sources

    sources = edit(demo_sources())
    line = one_line_error(run_op("semantic-query", query_request({"measures": ["orders.revenue"]}, sources=sources)), 3)
    assert "source 'orders': measure 'huge': expr 'sum(wide) + sum(wide)" in line
    assert (
        f"holds more than {limits.MAX_MEASURE_NODES:,} SQL syntax nodes once the measures, columns, filter and "
        f"segments it uses are inlined; the limit is {limits.MAX_MEASURE_NODES:,}"
    ) in line
    res = run_op("semantic-query", query_request({"measures": ["customers.customer_count"]}, sources=sources))
    assert res.code == 0, res


def test_a_query_whose_measures_hold_too_many_nodes_is_refused_naming_the_limit():
    # 60 measures of 2,000 nodes each: each within the measure limit, the query over its own
    wide = " + ".join(f"coalesce(amount, {i})" for i in range(120))  # about 480 nodes a copy

    def edit(sources):
        orders = next(s for s in sources if s["name"] == "orders")
        orders["columns"].append({"name": "wide", "type": "number", "expr": wide})
        orders["measures"] += [{"name": f"w{i}", "expr": f"sum(wide) * {i} + sum(wide) + sum(wide) + sum(wide)"} for i in range(60)]
        return sources

    sources = edit(demo_sources())
    out, failure = handle("semantic-query", query_request({"measures": ["orders.w1"]}, sources=sources))
    assert failure is None, failure
    out, failure = handle("semantic-query", query_request({"measures": [f"orders.w{i}" for i in range(60)]}, sources=sources))
    assert out is None
    assert (failure.kind, failure.exit_code, failure.http_status) == ("rejected", 3, 400)
    assert failure.message == (
        f"the query's measures hold more than {limits.MAX_QUERY_MEASURE_NODES:,} SQL syntax nodes once the measures, "
        f"columns, filters and segments they use are inlined; the limit is {limits.MAX_QUERY_MEASURE_NODES:,}"
    )
    adhoc = " + ".join(f"orders.w{i}" for i in range(60))
    out, failure = handle("semantic-query", query_request({"measures": [adhoc]}, sources=sources))
    assert out is None and failure.exit_code == 3
    assert failure.message.startswith(f"the query's measures hold more than {limits.MAX_QUERY_MEASURE_NODES:,}")


def test_many_plain_measures_within_the_limits_still_compile():
    sources = bigmodel.sources(40, measures=10)  # 400 measures over 40 sources
    out, failure = handle("semantic-query", query_request({"measures": ["s39.m9", "s39.m3"]}, "postgres", sources))
    assert failure is None, failure
    assert out["plan"]["measure_groups"] == [{"source_name": "s39", "measures": ["s39.m9", "s39.m3"]}]


@pytest.fixture
def no_cache():
    model.clear_cache()
    yield
    model.clear_cache()


def test_a_request_leaves_nothing_behind_but_the_bounded_model_cache(no_cache):
    big = bigmodel.sources(100, measures=10)
    for dialect in ("postgres", "duckdb", "snowflake"):  # imports and each dialect's own tables, once
        handle("semantic-query", query_request({"measures": ["s1.m1"]}, dialect, bigmodel.sources(2)))
    model.clear_cache()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _, failure = handle("semantic-query", query_request({"measures": ["s.m1"]}, "postgres", bigmodel.wide_chain()))
        assert failure is not None and failure.exit_code == 3
        for dialect in ("postgres", "duckdb", "snowflake"):
            out, failure = handle("semantic-query", query_request({"measures": ["s99.m9"]}, dialect, big))
            assert failure is None, failure
        del out
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        weights = [model._weight(m) for m in model._cache.values()]
        assert len(weights) <= model.CACHE_SIZE
        assert sum(weights) <= model.CACHE_WEIGHT or len(weights) == 1
        assert held > 0  # the cache holds the models it keeps
        model.clear_cache()
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # nothing keyed by the request outlives it once the cache is emptied (a few KB of
    # interned names and sqlglot's per-dialect state at most)
    assert left < 1_000_000, f"{left:,} bytes retained after the cache was cleared (held {held:,})"
