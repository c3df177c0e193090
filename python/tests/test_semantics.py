"""Measure semantics on the demo database: measure filters, time granularity, sql sources,
string joins with composite keys, derived and ad-hoc measures, segments, bare names."""

from __future__ import annotations

import copy

import pytest

from conftest import compile_ok, demo_rows, demo_sources, norm, one_line_error, query_request, run_compiled, run_op


def with_changes(edit):
    sources = {s["name"]: s for s in demo_sources()}
    edit(sources)
    return list(sources.values())


# ----------------------------------------------------------------------------- measure filter


def test_a_measure_filter_restricts_every_aggregate_of_the_measure():
    out = compile_ok(
        {"measures": ["orders.completed_revenue", "orders.revenue"], "dimensions": ["customers.country"]}
    )
    assert "CASE WHEN" in out["sql"]
    expected = demo_rows(
        "SELECT c.country, SUM(CASE WHEN o.status = 'completed' THEN o.amount END), SUM(o.amount) "
        "FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id GROUP BY c.country"
    )
    rows = norm(run_compiled(out), 1)
    assert rows == norm(expected, 1)
    assert all(completed < total for _, completed, total in rows)
    col = out["columns"][1]
    assert col == {
        "name": "orders.completed_revenue",
        "provenance": "verified",
        "expr": "sum(orders.amount)",
        "description": "Revenue of completed orders only.",
        "granularity": None,
    }


def test_a_filtered_count_star_counts_only_matching_rows():
    def edit(s):
        s["orders"]["measures"].append({"name": "cancelled_orders", "expr": "count(*)", "filter": "status = 'cancelled'"})

    out = compile_ok({"measures": ["orders.cancelled_orders", "orders.order_count"]}, sources=with_changes(edit))
    assert run_compiled(out) == [[142, 1500]]


def test_a_measure_filter_still_counts_each_row_once_across_a_fan_out():
    out = compile_ok({"measures": ["orders.completed_revenue"], "dimensions": ["products.category"]})
    expected = demo_rows(
        "SELECT x.category, SUM(o.amount) FROM orders o JOIN (SELECT DISTINCT oi.order_id, p.category "
        "FROM order_items oi JOIN products p USING (product_id)) x USING (order_id) "
        "WHERE o.status = 'completed' GROUP BY x.category"
    )
    assert norm(run_compiled(out), 1) == norm(expected, 1)


# ----------------------------------------------------------------------------- granularity


@pytest.mark.parametrize(
    "granularity, hand",
    [
        ("month", "strftime('%Y-%m-01', ordered_at)"),
        ("year", "strftime('%Y-01-01', ordered_at)"),
        ("day", "substr(ordered_at, 1, 10)"),
        (
            "quarter",
            "strftime('%Y', ordered_at) || '-' || printf('%02d', ((CAST(strftime('%m', ordered_at) AS INTEGER) - 1) / 3) * 3 + 1) || '-01'",
        ),
        ("week", "date(julianday(date(ordered_at)) - ((CAST(strftime('%w', ordered_at) AS INTEGER) + 6) % 7))"),
    ],
)
def test_time_granularity_on_sqlite_truncates_to_the_periods_first_day(granularity, hand):
    out = compile_ok(
        {
            "measures": ["orders.revenue", "orders.order_count"],
            "dimensions": [{"field": "orders.ordered_at", "granularity": granularity}],
            "limit": None,
        }
    )
    assert out["columns"][0] == {
        "name": "orders.ordered_at",
        "provenance": "dimension",
        "expr": "orders.ordered_at",
        "description": None,
        "granularity": granularity,
    }
    assert out["plan"]["output_columns"][0] == f"ordered_at_{granularity}"
    expected = demo_rows(f"SELECT {hand} AS p, SUM(amount), COUNT(*) FROM orders GROUP BY p")
    assert norm(run_compiled(out), 1) == norm(expected, 1)


def test_one_time_column_at_two_granularities_gives_two_columns():
    out = compile_ok(
        {
            "measures": ["orders.order_count"],
            "dimensions": [{"field": "orders.ordered_at", "granularity": "year"}, {"field": "orders.ordered_at", "granularity": "month"}],
            "order_by": ["ordered_at_month"],
            "limit": 2,
        }
    )
    assert run_compiled(out) == demo_rows(
        "SELECT strftime('%Y-01-01', ordered_at) y, strftime('%Y-%m-01', ordered_at) m, COUNT(*) FROM orders "
        "GROUP BY y, m ORDER BY m LIMIT 2"
    )


@pytest.mark.parametrize(
    "dimension, needle",
    [
        ({"field": "orders.status", "granularity": "month"}, "needs a time column; orders.status is of type string"),
        ({"field": "orders.ordered_at", "granularity": "hour"}, "unknown granularity 'hour' for orders.ordered_at"),
    ],
)
def test_granularity_on_a_non_time_column_or_an_unknown_unit_is_refused(dimension, needle):
    line = one_line_error(run_op("semantic-query", query_request({"measures": ["orders.revenue"], "dimensions": [dimension]})), 3)
    assert needle in line


def test_a_computed_column_is_substituted_by_its_expression():
    out = compile_ok({"measures": ["orders.revenue"], "dimensions": ["orders.order_month"], "order_by": ["order_month"]})
    assert run_compiled(out) == demo_rows(
        "SELECT strftime('%Y-%m', ordered_at) m, SUM(amount) FROM orders GROUP BY m ORDER BY m"
    )


# ----------------------------------------------------------------------------- sql sources, composite joins

PAIRS_SQL = (
    "SELECT order_id, product_id, COUNT(*) AS line_count FROM order_items GROUP BY order_id, product_id"
)


def pairs_sources(on: str):
    def edit(s):
        s["pairs"] = {
            "name": "pairs",
            "sql": PAIRS_SQL,
            "grain": ["order_id", "product_id"],
            "columns": [
                {"name": "order_id", "type": "number"},
                {"name": "product_id", "type": "number"},
                {"name": "line_count", "type": "number"},
                {"name": "repeated", "type": "boolean", "expr": "line_count > 1"},
            ],
            "measures": [{"name": "pair_count", "expr": "count(*)"}],
        }
        s["order_items"]["joins"].append({"to": "pairs", "on": on, "relationship": "many_to_one"})

    return with_changes(edit)


def test_a_sql_source_is_a_subquery_named_after_the_source():
    out = compile_ok({"measures": ["pairs.pair_count"], "dimensions": ["pairs.line_count"]}, sources=pairs_sources("order_id = pairs.order_id AND product_id = pairs.product_id"))
    assert 'AS "pairs"' in out["sql"] and 'GROUP BY\n' in out["sql"]
    assert norm(run_compiled(out), 1) == norm(
        demo_rows(f"SELECT line_count, COUNT(*) FROM ({PAIRS_SQL}) GROUP BY line_count"), 1
    )


@pytest.mark.parametrize(
    "on",
    [
        "order_id = pairs.order_id AND product_id = pairs.product_id",
        "pairs.product_id = product_id AND pairs.order_id = order_items.order_id",
        "(pairs.order_id = order_id) and (order_items.product_id = pairs.product_id)",
    ],
)
def test_a_string_join_with_a_composite_key_joins_on_every_pair_in_either_side_order(on):
    sources = pairs_sources(on)
    out = compile_ok({"measures": ["order_items.item_count", "order_items.quantity_sold"], "dimensions": ["pairs.line_count"]}, sources=sources)
    join = out["plan"]["joins"][0]
    assert (join["from_source"], join["to_source"]) == ("order_items", "pairs")
    assert sorted(zip(join["from_column"].split(", "), join["to_column"].split(", "))) == [
        ("order_id", "order_id"),
        ("product_id", "product_id"),
    ]
    expected = demo_rows(
        f"SELECT p.line_count, COUNT(*), SUM(oi.quantity) FROM order_items oi LEFT JOIN ({PAIRS_SQL}) p "
        "ON oi.order_id = p.order_id AND oi.product_id = p.product_id GROUP BY p.line_count"
    )
    assert norm(run_compiled(out), 1) == norm(expected, 1)
    # the inverse direction fans out: each pair counted once per order status
    out = compile_ok({"measures": ["pairs.pair_count"], "dimensions": ["orders.status"]}, sources=sources)
    assert out["plan"]["has_fan_out"] is True
    expected = demo_rows(
        f"SELECT o.status, COUNT(DISTINCT p.order_id || '-' || p.product_id) FROM ({PAIRS_SQL}) p "
        "JOIN orders o ON o.order_id = p.order_id GROUP BY o.status"
    )
    assert norm(run_compiled(out), 1) == norm(expected, 1)


def test_a_boolean_column_with_an_expr_filters_on_its_own():
    out = compile_ok(
        {"measures": ["order_items.item_count"], "filters": ["pairs.repeated"]},
        sources=pairs_sources("order_id = pairs.order_id AND product_id = pairs.product_id"),
    )
    assert run_compiled(out) == demo_rows(
        f"SELECT COUNT(*) FROM order_items oi JOIN ({PAIRS_SQL}) p USING (order_id, product_id) WHERE p.line_count > 1"
    )


# ----------------------------------------------------------------------------- derived and ad-hoc measures


def derived_sources():
    def edit(s):
        s["orders"]["measures"] += [
            {"name": "revenue_per_order", "expr": "revenue / order_count"},
            {"name": "completed_share", "expr": "completed_revenue / revenue"},
            {"name": "avg_completed", "expr": "sum(amount) / count(*)", "filter": "status = 'completed'"},
        ]

    return with_changes(edit)


def test_a_derived_measure_combines_other_measures_of_its_source():
    out = compile_ok(
        {"measures": ["orders.revenue_per_order", "orders.completed_share"], "dimensions": ["customers.segment"]},
        sources=derived_sources(),
    )
    expected = demo_rows(
        "SELECT c.segment, SUM(o.amount) / COUNT(*), SUM(CASE WHEN o.status = 'completed' THEN o.amount END) / SUM(o.amount) "
        "FROM orders o JOIN customers c USING (customer_id) GROUP BY c.segment"
    )
    assert norm(run_compiled(out), 1) == norm(expected, 1)
    assert out["columns"][1]["expr"] == "orders.revenue / orders.order_count"


def test_several_aggregates_in_one_measure_share_its_filter():
    out = compile_ok({"measures": ["orders.avg_completed"]}, sources=derived_sources())
    [[value]] = run_compiled(out)
    assert value == pytest.approx(demo_rows("SELECT AVG(amount) FROM orders WHERE status = 'completed'")[0][0])


def test_ad_hoc_measures_are_named_after_their_expression_or_given_a_name():
    out = compile_ok(
        {
            "measures": [
                "sum(orders.amount)",
                {"name": "distinct_customers", "expr": "count(distinct orders.customer_id)"},
                "max(amount) - min(amount)",
            ],
            "dimensions": ["orders.status"],
            "order_by": [{"field": "distinct_customers", "direction": "desc"}],
        }
    )
    assert [c["name"] for c in out["columns"]] == [
        "orders.status",
        "sum_orders_amount",
        "distinct_customers",
        "max_amount_min_amount",
    ]
    assert [c["provenance"] for c in out["columns"][1:]] == ["composed"] * 3
    assert out["columns"][2]["expr"] == "count(distinct orders.customer_id)"
    expected = demo_rows(
        "SELECT status, SUM(amount), COUNT(DISTINCT customer_id), MAX(amount) - MIN(amount) FROM orders "
        "GROUP BY status ORDER BY 3 DESC"
    )
    assert [tuple(r) for r in norm(run_compiled(out), 0)] == [tuple(r) for r in norm(expected, 0)]
    assert [r[0] for r in run_compiled(out)] == [r[0] for r in expected]


def test_an_ad_hoc_measure_over_two_sources_is_refused():
    res = run_op("semantic-query", query_request({"measures": ["sum(orders.amount) / count(customers.customer_id)"]}))
    line = one_line_error(res, 3)
    assert "mixes sources orders, customers" in line


def test_an_ad_hoc_measure_can_filter_and_order_by_its_name():
    out = compile_ok(
        {
            "measures": [{"name": "n", "expr": "count(orders.order_id)"}],
            "dimensions": ["customers.country"],
            "filters": ["n > 150"],
            "order_by": ["n:desc"],
        }
    )
    assert run_compiled(out) == demo_rows(
        "SELECT c.country, COUNT(o.order_id) n FROM orders o JOIN customers c USING (customer_id) "
        "GROUP BY c.country HAVING n > 150 ORDER BY n DESC"
    )


# ----------------------------------------------------------------------------- segments


def segment_sources():
    def edit(s):
        s["orders"]["segments"] = [
            {"name": "completed", "expr": "status = 'completed'"},
            {"name": "big", "expr": "amount > 500"},
        ]
        s["orders"]["measures"].append({"name": "big_completed_count", "expr": "count(*)", "segments": ["completed", "big"]})

    return with_changes(edit)


def test_a_measures_segments_are_anded_into_its_filter():
    out = compile_ok({"measures": ["orders.big_completed_count"]}, sources=segment_sources())
    assert run_compiled(out) == demo_rows("SELECT COUNT(*) FROM orders WHERE status = 'completed' AND amount > 500")


def test_query_segments_apply_to_every_measure_of_their_source_only():
    out = compile_ok(
        {
            "measures": ["orders.revenue", "orders.order_count", "customers.customer_count"],
            "segments": ["orders.big"],
        },
        sources=segment_sources(),
    )
    [[revenue, count, customers]] = run_compiled(out)
    assert revenue == pytest.approx(demo_rows("SELECT SUM(amount) FROM orders WHERE amount > 500")[0][0])
    assert count == demo_rows("SELECT COUNT(*) FROM orders WHERE amount > 500")[0][0]
    assert customers == 300


@pytest.mark.parametrize(
    "segments, needle",
    [
        (["orders.nope"], "unknown segment 'orders.nope'; known segments of orders: completed, big"),
        (["products.x"], "unknown segment 'products.x'; known segments of products: (none)"),
        (["big"], "segment 'big' must be source.segment"),
    ],
)
def test_unknown_query_segments_are_refused(segments, needle):
    res = run_op("semantic-query", query_request({"measures": ["orders.revenue"], "segments": segments}, sources=segment_sources()))
    assert needle in one_line_error(res, 3)


def test_a_query_segment_without_a_measure_of_its_source_is_refused():
    res = run_op(
        "semantic-query",
        query_request({"measures": ["customers.customer_count"], "segments": ["orders.big"]}, sources=segment_sources()),
    )
    assert "segment(s) on 'orders'" in one_line_error(res, 3)


# ----------------------------------------------------------------------------- bare names


def test_bare_measure_and_column_names_resolve_when_one_source_has_them():
    out = compile_ok({"measures": ["revenue"], "dimensions": ["country"], "filters": ["status = 'completed'"], "order_by": ["country"]})
    assert [c["name"] for c in out["columns"]] == ["customers.country", "orders.revenue"]
    assert run_compiled(out) == demo_rows(
        "SELECT c.country, SUM(o.amount) FROM orders o JOIN customers c USING (customer_id) "
        "WHERE o.status = 'completed' GROUP BY c.country ORDER BY c.country"
    )


@pytest.mark.parametrize(
    "query, needle",
    [
        ({"measures": ["orders.revenue"], "dimensions": ["name"]}, "ambiguous name 'name': customers.name, products.name"),
        ({"measures": ["orders.revenue"], "filters": ["name = 'x'"]}, "ambiguous name 'name': customers.name, products.name"),
    ],
)
def test_an_ambiguous_bare_name_is_refused_naming_the_candidates(query, needle):
    assert needle in one_line_error(run_op("semantic-query", query_request(query)), 3)


def test_an_ambiguous_bare_measure_name_is_refused_naming_the_candidates():
    def edit(s):
        s["products"]["measures"].append({"name": "revenue", "expr": "sum(price)"})

    res = run_op("semantic-query", query_request({"measures": ["revenue"]}, sources=with_changes(edit)))
    assert "ambiguous name 'revenue': order_items" not in one_line_error(res, 3)
    assert "ambiguous name 'revenue': orders.revenue, products.revenue" in res.stderr


def test_two_outputs_with_one_name_get_source_prefixed_aliases():
    out = compile_ok({"measures": ["orders.order_count"], "dimensions": ["customers.name", "products.name"], "limit": 1})
    assert out["plan"]["output_columns"] == ["customers_name", "products_name", "order_count"]


def test_hidden_columns_cannot_be_queried():
    def edit(s):
        s["customers"]["columns"][1]["visibility"] = "hidden"  # name

    res = run_op("semantic-query", query_request({"measures": ["orders.revenue"], "dimensions": ["customers.name"]}, sources=with_changes(edit)))
    assert "column 'customers.name' is hidden" in one_line_error(res, 3)


def test_unknown_keys_in_sources_do_not_stop_a_query():
    def edit(s):
        s["orders"]["owner"] = "data team"
        s["orders"]["columns"][0]["pii"] = False
        s["orders"]["measures"][0]["format"] = "0,0"

    out = compile_ok({"measures": ["orders.order_count"]}, sources=with_changes(edit))
    assert run_compiled(out) == [[1500]]


def test_the_same_sources_in_another_order_compile_to_the_same_sql():
    a = compile_ok({"measures": ["orders.revenue"], "dimensions": ["products.category"]})
    b = compile_ok({"measures": ["orders.revenue"], "dimensions": ["products.category"]}, sources=list(reversed(demo_sources())))
    assert a == b


def test_requests_do_not_see_each_others_sources_in_one_process():
    from semantic_layer.model import get_model
    from semantic_layer.planner import Planner
    from semantic_layer.query import parse_query

    base = demo_sources()
    changed = copy.deepcopy(base)
    changed[2]["measures"][1]["expr"] = "max(amount)"  # orders.revenue
    q = parse_query({"measures": ["orders.revenue"]})
    first = Planner(get_model(base, "sqlite")).compile(q, "sqlite").sql
    second = Planner(get_model(changed, "sqlite")).compile(q, "sqlite").sql
    assert "SUM(" in first and "MAX(" in second
    assert get_model(base, "sqlite") is get_model(copy.deepcopy(base), "sqlite")  # cached by content


def test_the_model_cache_keeps_the_most_recent_models_only():
    from semantic_layer import model as model_module

    model_module.clear_cache()
    variants = []
    for i in range(model_module.CACHE_SIZE + 1):
        sources = demo_sources()
        sources[0]["descriptions"] = {"user": f"variant {i}"}
        variants.append(sources)
    built = [model_module.get_model(v, "sqlite") for v in variants]
    assert model_module.get_model(variants[-1], "sqlite") is built[-1]
    assert model_module.get_model(variants[0], "sqlite") is not built[0]  # evicted, built again
    assert model_module.get_model(variants[0], "postgres") is not model_module.get_model(variants[0], "sqlite")
