"""semantic-query through the real ktx-daemon console script, checked against hand SQL."""

from __future__ import annotations

import pytest

from conftest import DEMO_DIR, demo_rows, run_op


def _query(measures, dimensions=(), filters=(), order_by=(), limit=None, dialect=None, execute=True, max_rows=None):
    return {
        "project_dir": str(DEMO_DIR),
        "query": {
            "measures": list(measures),
            "dimensions": list(dimensions),
            "filters": list(filters),
            "order_by": list(order_by),
            "limit": limit,
        },
        "dialect": dialect,
        "execute": execute,
        "max_rows": max_rows,
    }


def _norm(rows, ndims):
    """Rows as tuples with rounded floats, sorted (NULL dims first)."""
    out = []
    for row in rows:
        out.append(tuple(round(v, 4) if isinstance(v, float) else v for v in row))
    return sorted(out, key=lambda r: tuple((v is not None, v) for v in r[:ndims]))


def _ok(payload):
    res = run_op("semantic-query", payload)
    assert res.code == 0, res
    assert res.stderr == "", res
    out = res.json
    assert set(out) == {"sql", "dialect", "columns", "rows", "row_count", "truncated"}
    return out


def test_compile_only(demo_dir):
    out = _ok(_query(["orders.revenue"], ["customers.country"], execute=False))
    assert out["dialect"] == "sqlite"
    assert '"customers"."country"' in out["sql"]
    assert out["columns"] is None and out["rows"] is None and out["row_count"] is None
    assert out["truncated"] is False


def test_revenue_by_country(demo_dir):
    out = _ok(_query(["orders.revenue"], ["customers.country"]))
    assert out["columns"] == ["country", "revenue"]
    expected = demo_rows(
        "SELECT c.country, SUM(o.amount) FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id "
        "GROUP BY c.country"
    )
    assert _norm(out["rows"], 1) == _norm(expected, 1)
    assert out["row_count"] == len(expected) >= 5


def test_customer_count_by_order_status_is_not_fanned_out(demo_dir):
    out = _ok(_query(["customers.customer_count"], ["orders.status"]))
    expected = demo_rows(
        "SELECT o.status, COUNT(DISTINCT c.customer_id) FROM customers c "
        "LEFT JOIN orders o ON o.customer_id = c.customer_id GROUP BY o.status"
    )
    got = _norm(out["rows"], 1)
    assert got == _norm(expected, 1)
    by_status = dict(got)
    # customers with an order in that status, not orders
    completed_orders = demo_rows("SELECT COUNT(*) FROM orders WHERE status = 'completed'")[0][0]
    assert by_status["completed"] < completed_orders
    assert by_status["completed"] == demo_rows(
        "SELECT COUNT(DISTINCT customer_id) FROM orders WHERE status = 'completed'"
    )[0][0]
    # customers without orders land in the NULL group (LEFT JOIN keeps them)
    assert by_status[None] == demo_rows(
        "SELECT COUNT(*) FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)"
    )[0][0]


def test_revenue_by_product_category_counts_each_order_once_per_category(demo_dir):
    out = _ok(_query(["orders.revenue"], ["products.category"]))
    expected = demo_rows(
        "SELECT x.category, SUM(o.amount) FROM orders o JOIN ("
        "  SELECT DISTINCT oi.order_id, p.category FROM order_items oi JOIN products p ON p.product_id = oi.product_id"
        ") x ON x.order_id = o.order_id GROUP BY x.category"
    )
    assert _norm(out["rows"], 1) == _norm(expected, 1)
    # the demo really exercises both cases
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
    assert _norm(out["rows"], 1) != _norm(naive, 1)


def test_filters_order_by_limit(demo_dir):
    out = _ok(
        _query(
            ["orders.revenue", "orders.order_count"],
            ["customers.country"],
            filters=["orders.status IN ('completed', 'shipped')", "customers.segment = 'consumer'"],
            order_by=[{"field": "orders.revenue", "direction": "desc"}],
            limit=3,
        )
    )
    expected = demo_rows(
        "SELECT c.country, SUM(o.amount) AS revenue, COUNT(*) FROM orders o "
        "LEFT JOIN customers c ON o.customer_id = c.customer_id "
        "WHERE o.status IN ('completed', 'shipped') AND c.segment = 'consumer' "
        "GROUP BY c.country ORDER BY revenue DESC LIMIT 3"
    )
    assert out["columns"] == ["country", "revenue", "order_count"]
    assert [r[0] for r in out["rows"]] == [r[0] for r in expected]
    assert [round(r[1], 2) for r in out["rows"]] == [round(r[1], 2) for r in expected]
    assert [r[2] for r in out["rows"]] == [r[2] for r in expected]
    assert out["row_count"] == 3


def test_measure_filter_goes_after_aggregation(demo_dir):
    out = _ok(
        _query(
            ["orders.order_count"],
            ["customers.country"],
            filters=["orders.order_count > 150"],
            order_by=[{"field": "customers.country", "direction": "asc"}],
        )
    )
    expected = demo_rows(
        "SELECT c.country, COUNT(*) FROM orders o LEFT JOIN customers c ON o.customer_id = c.customer_id "
        "GROUP BY c.country HAVING COUNT(*) > 150 ORDER BY c.country"
    )
    assert out["rows"] == expected
    assert 0 < len(expected) < 8


def test_measures_from_several_sources(demo_dir):
    out = _ok(
        _query(
            ["orders.revenue", "order_items.quantity_sold", "products.product_count"],
            ["products.category"],
            order_by=[{"field": "products.category", "direction": "asc"}],
        )
    )
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
    assert [r[0] for r in out["rows"]] == sorted(count)
    for cat, rev, q, n in out["rows"]:
        assert rev == pytest.approx(revenue[cat])
        assert q == qty[cat]
        assert n == count[cat]


def test_measures_without_dimensions(demo_dir):
    out = _ok(_query(["orders.revenue", "customers.customer_count", "order_items.item_revenue"]))
    assert len(out["rows"]) == 1
    rev, customers, items = out["rows"][0]
    assert rev == pytest.approx(demo_rows("SELECT SUM(amount) FROM orders")[0][0])
    assert customers == 300
    assert items == pytest.approx(demo_rows("SELECT SUM(quantity * unit_price) FROM order_items")[0][0])
    # orders.amount is the sum of its items (rounded to cents)
    assert rev == pytest.approx(items, abs=0.01 * 1500)


def test_max_rows_truncates(demo_dir):
    out = _ok(_query(["orders.order_count"], ["customers.name"], max_rows=5))
    assert out["row_count"] == 5 and len(out["rows"]) == 5
    assert out["truncated"] is True


def test_execute_with_display_dialect(demo_dir):
    out = _ok(_query(["orders.revenue"], ["customers.country"], dialect="tsql"))
    assert out["dialect"] == "tsql"
    assert "[customers].[country]" in out["sql"]
    assert out["rows"] and out["columns"] == ["country", "revenue"]


def _one_line_error(res, code):
    assert res.code == code, res
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("ktx-daemon: error: ")
    return lines[0]


def test_unknown_measure_is_refused(demo_dir):
    res = run_op("semantic-query", _query(["orders.revnue"]))
    line = _one_line_error(res, 3)
    assert "orders.revnue" in line and "revenue" in line
    assert res.json["error"]["kind"] == "rejected"
    assert res.json["error"]["message"] in line


@pytest.mark.parametrize(
    "bad_filter, needle",
    [
        ("customers.contry = 'US'", "customers.contry"),
        ("orders.status = = 'x'", "orders.status = = 'x'"),
        ("status = 'completed'", "status"),
        ("nosuch.field = 1", "nosuch"),
        ("orders.status", "not a boolean"),
    ],
)
def test_bad_filter_is_refused(demo_dir, bad_filter, needle):
    res = run_op("semantic-query", _query(["orders.revenue"], filters=[bad_filter]))
    line = _one_line_error(res, 3)
    assert needle in line


def test_unknown_dimension_and_dialect_are_refused(demo_dir):
    line = _one_line_error(run_op("semantic-query", _query(["orders.revenue"], ["customers.contry"])), 3)
    assert "customers.contry" in line and "country" in line
    line = _one_line_error(run_op("semantic-query", _query(["orders.revenue"], dialect="nosql")), 3)
    assert "nosql" in line


def test_malformed_requests_exit_1(demo_dir):
    res = run_op("semantic-query", None, raw="{not json")
    _one_line_error(res, 1)
    assert res.json["error"]["kind"] == "malformed"
    res = run_op("semantic-query", {"project_dir": str(DEMO_DIR), "query": {"measures": "orders.revenue"}})
    _one_line_error(res, 1)
    res = run_op("semantic-query", [1, 2])
    _one_line_error(res, 1)
    res = run_op("semantic-query", None, raw="")
    _one_line_error(res, 1)


def test_usage_errors_exit_2():
    res = run_op("no-such-op", {})
    line = _one_line_error(res, 2)
    assert "no-such-op" in line


def test_missing_project_is_refused(tmp_path):
    res = run_op("semantic-query", {"project_dir": str(tmp_path / "nope"), "query": {"measures": ["a.b"]}})
    line = _one_line_error(res, 3)
    assert "nope" in line


def test_version():
    import subprocess

    from conftest import daemon_exe

    out = subprocess.run([daemon_exe(), "--version"], capture_output=True, text=True, check=True).stdout
    import ktx_daemon
    import semantic_layer

    assert out.strip() == f"ktx-daemon {ktx_daemon.__version__}"
    assert ktx_daemon.__version__ == semantic_layer.__version__ == "0.1.0"


def test_one_shot_does_not_import_web_stack(demo_dir):
    import subprocess
    import sys

    code = (
        "import sys, io, json; from ktx_daemon import cli; "
        f"sys.stdin = io.TextIOWrapper(io.BytesIO(json.dumps({{'project_dir': {str(DEMO_DIR)!r}, "
        "'query': {'measures': ['orders.revenue']}}).encode())); "
        "rc = cli.main(['semantic-query']); "
        "bad = [m for m in ('fastapi', 'uvicorn', 'pydantic', 'starlette') if m in sys.modules]; "
        "sys.stderr.write(json.dumps(bad)); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("[]"), proc.stderr
