from __future__ import annotations

import pytest
import sqlglot

from conftest import DEMO_DIR, run_op
from semantic_layer.model import load_project
from semantic_layer.planner import compile_query
from semantic_layer.query import parse_query

DIALECTS = ["duckdb", "postgres", "sqlite", "snowflake", "bigquery", "tsql"]
QUERY = {
    "measures": ["orders.revenue", "customers.customer_count"],
    "dimensions": ["customers.country", "products.category"],
    "filters": ["orders.status IN ('completed', 'shipped')", "orders.revenue > 10"],
    "order_by": [{"field": "orders.revenue", "direction": "desc"}],
    "limit": 10,
}


@pytest.fixture(scope="module")
def project():
    return load_project(str(DEMO_DIR))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_compiles_and_parses_back(project, dialect):
    sql = compile_query(project, parse_query(QUERY), dialect).sql
    tree = sqlglot.parse_one(sql, read=dialect)
    assert tree is not None
    assert "\n" in sql  # pretty-printed
    tables = {t.name for t in tree.find_all(sqlglot.exp.Table)}
    assert {"orders", "customers", "order_items", "products"} <= tables


@pytest.mark.parametrize(
    "dialect, quoted, limit",
    [
        ("duckdb", '"customers"."country"', "LIMIT 10"),
        ("postgres", '"customers"."country"', "LIMIT 10"),
        ("sqlite", '"customers"."country"', "LIMIT 10"),
        ("snowflake", '"customers"."country"', "LIMIT 10"),
        ("bigquery", "`customers`.`country`", "LIMIT 10"),
        ("tsql", "[customers].[country]", "TOP 10"),
    ],
)
def test_identifier_quoting_and_limit(project, dialect, quoted, limit):
    sql = compile_query(project, parse_query(QUERY), dialect).sql
    assert quoted in sql
    assert limit in sql
    if dialect == "tsql":
        assert "LIMIT" not in sql


def test_one_shot_dialect_override_matches_library(project):
    for dialect in DIALECTS:
        res = run_op("semantic-query", {"project_dir": str(DEMO_DIR), "query": QUERY, "dialect": dialect})
        assert res.code == 0, res
        assert res.json["dialect"] == dialect
        assert res.json["sql"] == compile_query(project, parse_query(QUERY), dialect).sql


def test_qualified_table_names(tmp_path):
    (tmp_path / "sources").mkdir()
    (tmp_path / "ktx.yaml").write_text("name: t\ndialect: snowflake\n")
    (tmp_path / "sources" / "orders.yaml").write_text(
        "name: orders\ntable: analytics.public.orders\nprimary_key: id\n"
        "dimensions: [{name: status}]\nmeasures: [{name: n, agg: count}]\n"
    )
    project = load_project(str(tmp_path))
    q = parse_query({"measures": ["orders.n"], "dimensions": ["orders.status"]})
    assert '"analytics"."public"."orders"' in compile_query(project, q, "snowflake").sql
    assert "`analytics`.`public`.`orders`" in compile_query(project, q, "bigquery").sql
    assert "[analytics].[public].[orders]" in compile_query(project, q, "tsql").sql
