"""semantic-query on the demo through the real ktx-daemon, the SQL run with sqlite3 and checked
against hand-written SQL."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import compile_ok, daemon_exe, demo_rows, norm, query_request, run_compiled, run_op


def test_revenue_by_country_matches_hand_written_sql():
    out = compile_ok({"measures": ["orders.revenue"], "dimensions": ["customers.country"]})
    assert out["plan"]["output_columns"] == ["country", "revenue"]
    assert [c["name"] for c in out["columns"]] == ["customers.country", "orders.revenue"]
    expected = demo_rows(
        "SELECT c.country, SUM(o.amount) FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id "
        "GROUP BY c.country"
    )
    assert norm(run_compiled(out), 1) == norm(expected, 1)
    assert len(expected) >= 5


def test_customer_count_by_order_status_counts_customers_not_orders():
    out = compile_ok({"measures": ["customers.customer_count"], "dimensions": ["orders.status"]})
    assert out["plan"]["has_fan_out"] is True
    assert "customers -> orders is one_to_many" in out["plan"]["fan_out_description"]
    got = norm(run_compiled(out), 1)
    expected = demo_rows(
        "SELECT o.status, COUNT(DISTINCT c.customer_id) FROM customers c "
        "LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY o.status"
    )
    assert got == norm(expected, 1)
    by_status = dict(got)
    completed_orders = demo_rows("SELECT COUNT(*) FROM orders WHERE status = 'completed'")[0][0]
    assert by_status["completed"] < completed_orders
    assert by_status["completed"] == demo_rows(
        "SELECT COUNT(DISTINCT customer_id) FROM orders WHERE status = 'completed'"
    )[0][0]
    # customers without orders land in the NULL group (LEFT JOIN keeps them)
    assert by_status[None] == demo_rows(
        "SELECT COUNT(*) FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)"
    )[0][0]


def test_revenue_by_product_category_counts_each_order_once_per_category_unlike_the_naive_join():
    out = compile_ok({"measures": ["orders.revenue"], "dimensions": ["products.category"]})
    expected = demo_rows(
        "SELECT x.category, SUM(o.amount) FROM orders o JOIN ("
        "  SELECT DISTINCT oi.order_id, p.category FROM order_items oi JOIN products p ON p.product_id = oi.product_id"
        ") x ON x.order_id = o.order_id GROUP BY x.category"
    )
    got = norm(run_compiled(out), 1)
    assert got == norm(expected, 1)
    # the demo really has orders with two items of one category and orders spanning categories
    same_cat = demo_rows(
        "SELECT COUNT(*) FROM (SELECT oi.order_id FROM order_items oi JOIN products p USING (product_id) "
        "GROUP BY oi.order_id, p.category HAVING COUNT(*) > 1)"
    )[0][0]
    multi_cat = demo_rows(
        "SELECT COUNT(*) FROM (SELECT oi.order_id FROM order_items oi JOIN products p USING (product_id) "
        "GROUP BY oi.order_id HAVING COUNT(DISTINCT p.category) > 1)"
    )[0][0]
    assert same_cat > 0 and multi_cat > 0
    naive = demo_rows(
        "SELECT p.category, SUM(o.amount) FROM orders o JOIN order_items oi ON oi.order_id = o.order_id "
        "JOIN products p ON p.product_id = oi.product_id GROUP BY p.category"
    )
    assert got != norm(naive, 1)


def test_filters_order_by_and_limit_match_hand_written_sql():
    out = compile_ok(
        {
            "measures": ["orders.revenue", "orders.order_count"],
            "dimensions": ["customers.country"],
            "filters": ["orders.status IN ('completed', 'shipped')", "customers.segment = 'consumer'"],
            "order_by": [{"field": "orders.revenue", "direction": "desc"}],
            "limit": 3,
        }
    )
    expected = demo_rows(
        "SELECT c.country, SUM(o.amount) AS revenue, COUNT(*) FROM orders o "
        "LEFT JOIN customers c ON o.customer_id = c.customer_id "
        "WHERE o.status IN ('completed', 'shipped') AND c.segment = 'consumer' "
        "GROUP BY c.country ORDER BY revenue DESC LIMIT 3"
    )
    rows = run_compiled(out)
    assert out["plan"]["output_columns"] == ["country", "revenue", "order_count"]
    assert [r[0] for r in rows] == [r[0] for r in expected]
    assert [round(r[1], 2) for r in rows] == [round(r[1], 2) for r in expected]
    assert [r[2] for r in rows] == [r[2] for r in expected]
    assert out["plan"]["where_filters"] == ["orders.status IN ('completed', 'shipped')", "customers.segment = 'consumer'"]
    assert out["plan"]["order_by"] == [{"field": "orders.revenue", "direction": "desc"}]
    assert out["plan"]["limit"] == 3


def test_a_filter_on_a_measure_applies_after_aggregation():
    out = compile_ok(
        {
            "measures": ["orders.order_count"],
            "dimensions": ["customers.country"],
            "filters": ["orders.order_count > 150"],
            "order_by": ["customers.country"],
        }
    )
    assert out["plan"]["having_filters"] == ["orders.order_count > 150"]
    expected = demo_rows(
        "SELECT c.country, COUNT(*) FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id "
        "GROUP BY c.country HAVING COUNT(*) > 150 ORDER BY c.country"
    )
    assert run_compiled(out) == expected
    assert 0 < len(expected) < 8


def test_measures_from_several_sources_are_each_aggregated_at_their_own_grain():
    out = compile_ok(
        {
            "measures": ["orders.revenue", "order_items.quantity_sold", "products.product_count"],
            "dimensions": ["products.category"],
            "order_by": [{"field": "products.category", "direction": "asc"}],
        }
    )
    assert [g["source_name"] for g in out["plan"]["measure_groups"]] == ["orders", "order_items", "products"]
    revenue = dict(
        demo_rows(
            "SELECT x.category, SUM(o.amount) FROM orders o JOIN (SELECT DISTINCT oi.order_id, p.category "
            "FROM order_items oi JOIN products p USING (product_id)) x USING (order_id) GROUP BY x.category"
        )
    )
    qty = dict(
        demo_rows(
            "SELECT p.category, SUM(oi.quantity) FROM order_items oi JOIN products p USING (product_id) "
            "GROUP BY p.category"
        )
    )
    count = dict(demo_rows("SELECT category, COUNT(*) FROM products GROUP BY category"))
    rows = run_compiled(out)
    assert [r[0] for r in rows] == sorted(count)
    for cat, rev, q, n in rows:
        assert rev == pytest.approx(revenue[cat])
        assert q == qty[cat]
        assert n == count[cat]


def test_measures_without_dimensions_give_one_row():
    out = compile_ok({"measures": ["orders.revenue", "customers.customer_count", "order_items.item_revenue"]})
    rows = run_compiled(out)
    assert len(rows) == 1
    rev, customers, items = rows[0]
    assert rev == pytest.approx(demo_rows("SELECT SUM(amount) FROM orders")[0][0])
    assert customers == 300
    assert items == pytest.approx(demo_rows("SELECT SUM(quantity * unit_price) FROM order_items")[0][0])
    assert rev == pytest.approx(items, abs=0.01 * 1500)  # an order's amount is the sum of its items


def test_the_default_limit_is_ktxs_1000_and_null_means_no_limit():
    out = compile_ok({"measures": ["orders.order_count"], "dimensions": ["orders.order_id"]})
    assert out["plan"]["limit"] == 1000
    assert len(run_compiled(out)) == 1000
    out = compile_ok({"measures": ["orders.order_count"], "dimensions": ["orders.order_id"], "limit": None})
    assert len(run_compiled(out)) == 1500
    assert "LIMIT" not in out["sql"]


def test_the_output_dialect_changes_the_sql_only():
    out = compile_ok({"measures": ["orders.revenue"], "dimensions": ["customers.country"]}, dialect="tsql")
    assert out["dialect"] == "tsql"
    assert "[customers].[country]" in out["sql"]
    assert out["columns"] == compile_ok({"measures": ["orders.revenue"], "dimensions": ["customers.country"]})["columns"]


def test_dialect_defaults_to_postgres_like_ktx():
    req = query_request({"measures": ["orders.revenue"]})
    del req["dialect"]
    res = run_op("semantic-query", req)
    assert res.code == 0, res
    assert res.json["dialect"] == "postgres"


def test_source_dialect_reads_the_snippets_in_another_dialect_than_the_output():
    # the demo's order_month column is sqlite SQL (strftime); Postgres output needs the translation
    out = compile_ok(
        {"measures": ["orders.order_count"], "dimensions": ["orders.order_month"]},
        dialect="postgres",
        source_dialect="sqlite",
    )
    assert "TO_CHAR(" in out["sql"] and "STRFTIME" not in out["sql"].upper()


def test_python_dash_m_ktx_daemon_works_like_the_console_script():
    req = query_request({"measures": ["orders.revenue"]})
    res = run_op("semantic-query", req, argv=[sys.executable, "-m", "ktx_daemon", "semantic-query"])
    assert res.code == 0, res
    assert res.json == run_op("semantic-query", req).json


def test_version():
    out = subprocess.run([daemon_exe(), "--version"], capture_output=True, text=True, check=True).stdout
    import ktx_daemon
    import semantic_layer

    assert out.strip() == f"ktx-daemon {ktx_daemon.__version__}"
    assert ktx_daemon.__version__ == semantic_layer.__version__ == "0.1.0"


def test_one_shot_query_does_not_import_the_web_stack_nor_pydantic():
    req = query_request({"measures": ["orders.revenue"]})
    code = (
        "import sys, io, json; from ktx_daemon import cli; "
        f"sys.stdin = io.TextIOWrapper(io.BytesIO({json.dumps(json.dumps(req))}.encode())); "
        "rc = cli.main(['semantic-query']); "
        "bad = [m for m in ('fastapi', 'uvicorn', 'pydantic', 'starlette', 'yaml') if m in sys.modules]; "
        "sys.stderr.write(json.dumps(bad)); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("[]"), proc.stderr
