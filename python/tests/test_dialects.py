"""The compiled SQL in six dialects: it parses back with sqlglot, quotes every identifier and
uses each dialect's LIMIT and time truncation."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from conftest import compile_ok, demo_sources
from semantic_layer.model import build_model
from semantic_layer.planner import compile_query
from semantic_layer.query import parse_query

DIALECTS = ["duckdb", "postgres", "sqlite", "snowflake", "bigquery", "tsql"]
QUERY = {
    "measures": ["orders.revenue", "orders.completed_revenue", "customers.customer_count", "sum(order_items.quantity)"],
    "dimensions": ["customers.country", "products.category", {"field": "orders.ordered_at", "granularity": "month"}],
    "filters": ["orders.status IN ('completed', 'shipped')", "orders.revenue > 10"],
    "order_by": [{"field": "orders.revenue", "direction": "desc"}],
    "limit": 10,
}


@pytest.fixture(scope="module")
def model():
    return build_model(demo_sources(), "sqlite")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_sql_parses_back_in_its_dialect(model, dialect):
    sql = compile_query(model, parse_query(QUERY), dialect).sql
    tree = sqlglot.parse_one(sql, read=dialect)
    assert "\n" in sql  # pretty-printed
    assert {"orders", "customers", "order_items", "products"} <= {t.name for t in tree.find_all(exp.Table)}
    assert all(ident.quoted for ident in tree.find_all(exp.Identifier))


@pytest.mark.parametrize(
    "dialect, quoted, limit, month",
    [
        ("duckdb", '"customers"."country"', "LIMIT 10", """DATE_TRUNC('MONTH', "orders"."ordered_at")"""),
        ("postgres", '"customers"."country"', "LIMIT 10", """DATE_TRUNC('MONTH', "orders"."ordered_at")"""),
        ("sqlite", '"customers"."country"', "LIMIT 10", """DATE("orders"."ordered_at", 'start of month')"""),
        ("snowflake", '"customers"."country"', "LIMIT 10", """DATE_TRUNC('MONTH', "orders"."ordered_at")"""),
        ("bigquery", "`customers`.`country`", "LIMIT 10", "TIMESTAMP_TRUNC(`orders`.`ordered_at`, MONTH)"),
        ("tsql", "[customers].[country]", "TOP 10", "DATETRUNC(MONTH, [orders].[ordered_at])"),
    ],
)
def test_quoting_limit_and_month_truncation_per_dialect(model, dialect, quoted, limit, month):
    sql = compile_query(model, parse_query(QUERY), dialect).sql
    assert quoted in sql and limit in sql and month in sql
    if dialect == "tsql":
        assert "LIMIT" not in sql


@pytest.mark.parametrize(
    "dialect, week",
    [
        ("postgres", """DATE_TRUNC('WEEK', "orders"."ordered_at")"""),
        ("sqlite", """DATE("orders"."ordered_at", '-6 days', 'weekday 1')"""),
        ("bigquery", "TIMESTAMP_TRUNC(`orders`.`ordered_at`, WEEK(MONDAY))"),
        ("tsql", "DATETRUNC(ISO_WEEK, [orders].[ordered_at])"),
    ],
)
def test_weeks_start_on_monday_in_every_dialect(model, dialect, week):
    q = parse_query({"measures": ["orders.revenue"], "dimensions": [{"field": "orders.ordered_at", "granularity": "week"}]})
    sql = compile_query(model, q, dialect).sql
    assert week in sql
    sqlglot.parse_one(sql, read=dialect)


def test_one_shot_and_library_give_the_same_sql_in_every_dialect(model):
    for dialect in DIALECTS:
        out = compile_ok(QUERY, dialect=dialect)
        assert out["dialect"] == dialect
        assert out["sql"] == compile_query(model, parse_query(QUERY), dialect).sql


def test_qualified_table_names_are_quoted_part_by_part():
    sources = [
        {
            "name": "orders",
            "table": "analytics.public.orders",
            "grain": ["id"],
            "columns": [{"name": "id", "type": "number"}, {"name": "status", "type": "string"}],
            "measures": [{"name": "n", "expr": "count(*)"}],
        }
    ]
    model = build_model(sources, "snowflake")
    q = parse_query({"measures": ["orders.n"], "dimensions": ["orders.status"]})
    assert '"analytics"."public"."orders" AS "orders"' in compile_query(model, q, "snowflake").sql
    assert "`analytics`.`public`.`orders` AS `orders`" in compile_query(model, q, "bigquery").sql
    assert "[analytics].[public].[orders] AS [orders]" in compile_query(model, q, "tsql").sql
